//! Does a model fit a board, and about how long will it take there.
//! Budgets come from the board profiles in `mote-board`; code size and
//! instructions per MAC from the firmware benchmark on the emulated core of
//! the board's family (`bench/results/qemu.json`, written by
//! `cargo xtask bench-qemu`). Cortex-A cores have no such measurement: their
//! estimate is an assumed MACs-per-cycle range, and says so.

use anyhow::{anyhow, bail, Result};
use mote_board::profile::{Board, Core, BOARDS};
use mote_runtime::Model;
use serde::Serialize;

/// The firmware benchmark results this build was made with.
const QEMU_RESULTS: &str = include_str!("../../../../bench/results/qemu.json");

/// Stack the runtime needs at most (bytes): the deepest stack measured by
/// `cargo xtask size` on the emulated Cortex-M4 was 15,276 B (the optimized
/// convolution's pixel tiles; 2.2 KB for a fully connected model), rounded
/// up.
pub const STACK_ESTIMATE: usize = 16 * 1024;

/// Cycles per instruction assumed per core: (low, high). Instruction counts
/// come from QEMU; real cores stall on loads, branches and multi-cycle MACs
/// (M4, M33) or dual-issue (M7, M55), hence a range.
/// Cortex-A cores are not emulated, so their range is only a placeholder
/// (their estimate uses [`a_class_macs_per_cycle`]).
pub fn cpi(core: Core) -> (f64, f64) {
    match core {
        Core::CortexM4 | Core::CortexM33 => (1.0, 1.6),
        Core::CortexM7 => (0.6, 1.2),
        Core::CortexM55 => (0.8, 1.4),
        Core::CortexA53 | Core::CortexA72 => (1.0, 1.0),
    }
}

/// Assumed int8 MACs per cycle, whole model, of the portable (auto-
/// vectorised NEON) kernels on a Cortex-A core: (low, high). Not measured:
/// no instruction counts exist for aarch64 yet. A53 is in-order with one
/// 64-bit NEON pipe for multiplies; A72 is out-of-order with two 128-bit
/// pipes.
pub fn a_class_macs_per_cycle(core: Core) -> Option<(f64, f64)> {
    match core {
        Core::CortexA53 => Some((0.5, 2.0)),
        Core::CortexA72 => Some((1.0, 4.0)),
        _ => None,
    }
}

/// Code size assumed for the runtime in a Linux process on a Cortex-A
/// gateway (bytes): no firmware size report exists for aarch64.
pub const A_CLASS_CODE_ESTIMATE: usize = 256 * 1024;

/// What the firmware benchmark measured on one emulated core.
#[derive(Debug, Clone, Serialize)]
pub struct Family {
    /// The QEMU machine.
    pub machine: String,
    /// Largest firmware code size over the benchmarked models (bytes).
    pub code_bytes: usize,
    /// Lowest and highest MACs per instruction over the models.
    pub macs_per_instruction: (f64, f64),
    /// Per op kind with MACs: instructions per MAC over all benchmarked
    /// layers of that kind (total instructions / total MACs).
    pub instructions_per_mac: Vec<(String, f64)>,
    /// Instructions of the benchmarked layers without MACs (mean per layer).
    pub instructions_per_other_op: f64,
}

/// The benchmark figures of the emulated board with `core`.
pub fn family(core: Core) -> Result<Family> {
    let machine = Board::emulated_with(core)
        .ok_or_else(|| anyhow!("no emulated board for {}", core.name()))?
        .name;
    let v: serde_json::Value = serde_json::from_str(QEMU_RESULTS)?;
    let runs: Vec<&serde_json::Value> = v["runs"]
        .as_array()
        .map(|r| r.iter().filter(|x| x["machine"] == machine).collect())
        .unwrap_or_default();
    if runs.is_empty() {
        bail!("no firmware benchmark for {machine}: run `cargo xtask bench-qemu`");
    }
    let code = runs
        .iter()
        .filter_map(|r| r["firmware_code_bytes"].as_u64())
        .max()
        .unwrap_or(0) as usize;
    let mpi: Vec<f64> = runs
        .iter()
        .filter_map(|r| r["macs_per_instruction"].as_f64())
        .filter(|x| *x > 0.0)
        .collect();
    let lo = mpi.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = mpi.iter().copied().fold(0.0, f64::max);
    // Per-layer rates: the models' op lists line up with each run's layers.
    let mut per_mac: Vec<(String, f64, f64)> = Vec::new(); // kind, instructions, MACs
    let (mut other, mut n_other) = (0.0, 0usize);
    for run in &runs {
        let Some(m) = v["models"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["model"] == run["model"]))
        else {
            continue;
        };
        let (Some(ops), Some(layers)) = (m["ops"].as_array(), run["layer_instructions"].as_array())
        else {
            continue;
        };
        for (op, ins) in ops.iter().zip(layers) {
            let (kind, macs, ins) = (
                op["op"].as_str().unwrap_or(""),
                op["macs"].as_f64().unwrap_or(0.0),
                ins.as_f64().unwrap_or(0.0),
            );
            if macs > 0.0 {
                match per_mac.iter_mut().find(|(k, _, _)| k == kind) {
                    Some(e) => {
                        e.1 += ins;
                        e.2 += macs;
                    }
                    None => per_mac.push((kind.to_string(), ins, macs)),
                }
            } else {
                other += ins;
                n_other += 1;
            }
        }
    }
    Ok(Family {
        machine: machine.to_string(),
        code_bytes: code,
        macs_per_instruction: (lo, hi),
        instructions_per_mac: per_mac.into_iter().map(|(k, i, m)| (k, i / m)).collect(),
        instructions_per_other_op: other / n_other.max(1) as f64,
    })
}

/// The verdict for one model on one board.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// Board name.
    pub board: String,
    /// Core name.
    pub core: String,
    /// Core clock the estimate assumes (Hz).
    pub clock_hz: u32,
    /// Flash needed: model file plus runtime code (bytes).
    pub flash_needed: usize,
    /// Flash of the part.
    pub flash_bytes: usize,
    /// RAM needed: arena, pipeline buffers and stack estimate.
    pub ram_needed: usize,
    /// The model's arena (bytes).
    pub arena_bytes: usize,
    /// The replay pipeline's buffers outside the arena (bytes): the stream
    /// window or the source frame. 0 without `--sensor`.
    pub pipeline_bytes: usize,
    /// What the pipeline buffers are.
    pub pipeline: String,
    /// The stack estimate (bytes).
    pub stack_bytes: usize,
    /// RAM of the part.
    pub ram_bytes: usize,
    /// Op whose live tensors set the arena peak, and those bytes.
    pub peak_op: String,
    /// Bytes live at the peak op.
    pub peak_bytes: usize,
    /// Total MACs of one inference.
    pub macs: u64,
    /// Estimated instructions per inference (low, high); `None` on cores
    /// with no instruction counts (Cortex-A).
    pub instructions: Option<(f64, f64)>,
    /// Estimated milliseconds per inference (low, high): an estimate.
    pub latency_ms: (f64, f64),
    /// How the estimate was made: its inputs and assumptions.
    pub basis: String,
    /// Whether flash and RAM fit.
    pub fits: bool,
}

/// Checks `model_bytes` against `board`.
pub fn check(model_bytes: &[u8], board: &Board) -> Result<Fit> {
    let model = Model::parse(model_bytes).map_err(|e| anyhow!("invalid model: {e}"))?;
    let timeline = crate::eval::memory_timeline(&model);
    let (peak_i, peak_bytes) = timeline
        .iter()
        .copied()
        .enumerate()
        .max_by_key(|&(_, b)| b)
        .unwrap_or((0, 0));
    let peak_op = model
        .ops()
        .nth(peak_i)
        .map(|o| {
            format!(
                "#{peak_i} {} '{}'",
                crate::inspect::kind_name(&o.kind),
                o.name
            )
        })
        .unwrap_or_default();
    // Instructions: each op's MACs at the benchmarked rate of its kind (the
    // model-wide range for a kind never benchmarked), plus the mean cost of a
    // layer without MACs for each such op.
    let report = crate::inspect::report(model_bytes)?;
    let flash_needed_with = |code: usize| model_bytes.len() + code;
    let ram_needed = model.arena_len() + STACK_ESTIMATE;
    let arena_bytes = model.arena_len();
    let mut fit = Fit {
        board: board.name.into(),
        core: board.core.name().into(),
        clock_hz: board.clock_hz,
        flash_needed: 0,
        flash_bytes: board.flash_bytes as usize,
        ram_needed,
        arena_bytes,
        pipeline_bytes: 0,
        pipeline: "not counted (no --sensor: no pipeline given)".into(),
        stack_bytes: STACK_ESTIMATE,
        ram_bytes: board.ram_bytes as usize,
        peak_op,
        peak_bytes,
        macs: report.macs,
        instructions: None,
        latency_ms: (0.0, 0.0),
        basis: String::new(),
        fits: false,
    };
    if let Some((lo, hi)) = a_class_macs_per_cycle(board.core) {
        // Plus one microsecond per op of overhead at the low end.
        let macs = report.macs as f64;
        let n_ops = report.ops.len() as f64;
        let cyc = (
            macs / hi,
            macs / lo + n_ops * 1e-6 * f64::from(board.clock_hz),
        );
        let ms = |c: f64| c / f64::from(board.clock_hz) * 1e3;
        fit.latency_ms = (ms(cyc.0), ms(cyc.1));
        fit.flash_needed = flash_needed_with(A_CLASS_CODE_ESTIMATE);
        fit.basis = format!(
            "{} MACs at an ASSUMED {lo}-{hi} MACs/cycle (no aarch64 instruction counts measured), at {} MHz",
            report.macs,
            board.clock_hz / 1_000_000
        );
        fit.fits = fit.flash_needed <= fit.flash_bytes && fit.ram_needed <= fit.ram_bytes;
        return Ok(fit);
    }
    let fam = family(board.core)?;
    let (mlo, mhi) = fam.macs_per_instruction;
    let mut instructions = (0.0, 0.0);
    for op in &report.ops {
        let macs = op.macs as f64;
        if macs > 0.0 {
            // Layers of one kind vary with their shapes: +-25% around the mean.
            let (lo, hi) = fam
                .instructions_per_mac
                .iter()
                .find(|(k, _)| *k == op.op)
                .map(|&(_, r)| (r * 0.8, r * 1.25))
                .unwrap_or((1.0 / mhi, 1.0 / mlo));
            instructions.0 += macs * lo;
            instructions.1 += macs * hi;
        } else {
            instructions.0 += fam.instructions_per_other_op;
            instructions.1 += fam.instructions_per_other_op;
        }
    }
    let (clo, chi) = cpi(board.core);
    let ms = |i: f64, c: f64| i * c / f64::from(board.clock_hz) * 1e3;
    fit.flash_needed = flash_needed_with(fam.code_bytes);
    fit.instructions = Some(instructions);
    fit.latency_ms = (ms(instructions.0, clo), ms(instructions.1, chi));
    fit.basis = format!(
        "{} instructions (per-op-kind instructions/MAC measured on QEMU {}, +-25%) x ASSUMED {clo}-{chi} cycles/instruction, at {} MHz",
        count_range(instructions),
        fam.machine,
        board.clock_hz / 1_000_000
    );
    fit.fits = fit.flash_needed <= fit.flash_bytes && fit.ram_needed <= fit.ram_bytes;
    Ok(fit)
}

/// An instruction-count range in M or k, whichever keeps digits visible.
fn count_range((lo, hi): (f64, f64)) -> String {
    if hi >= 1e6 {
        format!("{:.2}-{:.2} M", lo / 1e6, hi / 1e6)
    } else {
        format!("{:.1}-{:.1} k", lo / 1e3, hi / 1e3)
    }
}

impl Fit {
    /// The verdict with the replay pipeline's buffers (`bytes`, described
    /// by `what`) counted in the RAM.
    pub fn with_pipeline(mut self, bytes: usize, what: String) -> Fit {
        self.pipeline_bytes = bytes;
        self.pipeline = what;
        self.ram_needed = self.arena_bytes + bytes + self.stack_bytes;
        self.fits = self.flash_needed <= self.flash_bytes && self.ram_needed <= self.ram_bytes;
        self
    }

    /// The one-line failure of a model that does not fit: the overruns in
    /// bytes and the op where the arena peaks.
    pub fn overrun(&self, model: &str) -> String {
        let over_flash = self.flash_needed.saturating_sub(self.flash_bytes);
        let over_ram = self.ram_needed.saturating_sub(self.ram_bytes);
        let pipeline = if self.pipeline_bytes > 0 {
            format!(
                " (arena {} B + pipeline buffers {} B + stack {} B)",
                self.arena_bytes, self.pipeline_bytes, self.stack_bytes
            )
        } else {
            String::new()
        };
        format!(
            "{model} does not fit {}: flash over by {over_flash} B, RAM over by {over_ram} B{pipeline}; the arena peaks at op {} ({} B live)",
            self.board, self.peak_op, self.peak_bytes
        )
    }
}

/// Human-readable verdict.
pub fn render(f: &Fit) -> String {
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    let mut s = format!("board {} ({}):\n", f.board, f.core);
    s += &format!(
        "  flash: {} B needed (model + runtime code) of {} B ({:.1}%)\n",
        f.flash_needed,
        f.flash_bytes,
        pct(f.flash_needed, f.flash_bytes)
    );
    s += &format!(
        "  RAM:   {} B needed of {} B ({:.1}%): arena {} B + pipeline buffers {} B + stack estimate {} B; arena peak at op {} ({} B live)\n",
        f.ram_needed,
        f.ram_bytes,
        pct(f.ram_needed, f.ram_bytes),
        f.arena_bytes,
        f.pipeline_bytes,
        f.stack_bytes,
        f.peak_op,
        f.peak_bytes
    );
    s += &format!("         pipeline buffers: {}\n", f.pipeline);
    s += &format!(
        "  latency ESTIMATE: {:.3}-{:.3} ms per inference (not a measurement): {}\n",
        f.latency_ms.0, f.latency_ms.1, f.basis
    );
    s
}

/// The `mote boards` table.
pub fn boards_table() -> String {
    let mut s = format!(
        "{:<18} {:<11} {:>9} {:>9} {:>9}  kind\n",
        "board", "core", "flash KiB", "RAM KiB", "MHz"
    );
    for b in BOARDS {
        s += &format!(
            "{:<18} {:<11} {:>9} {:>9} {:>9}  {}\n",
            b.name,
            b.core.name(),
            b.flash_bytes / 1024,
            b.ram_bytes / 1024,
            b.clock_hz / 1_000_000,
            if b.emulated {
                "emulated (QEMU)"
            } else if b.core.is_application() {
                "aarch64 Linux gateway (flash = storage budget)"
            } else {
                "real part"
            }
        );
    }
    s
}

/// A board by name, or an error listing the known ones.
pub fn board(name: &str) -> Result<&'static Board> {
    Board::by_name(name).ok_or_else(|| {
        let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
        anyhow!("unknown board '{name}'; known boards: {}", names.join(", "))
    })
}
