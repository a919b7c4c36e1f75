//! `cargo xtask qemu` and `cargo xtask bench-qemu`: the golden firmware
//! (`boards/qemu`) on emulated Cortex-M4, M7, M33 and M55 cores.
//!
//! For each model: compress it with `mote`, build the firmware once per
//! firmware flavour (from inside `boards/qemu`, whose `.cargo/config.toml`
//! sets the target and runner), run it on each machine of that flavour
//! through `boards/qemu/qemu-run.sh` (QEMU with `-icount shift=0`, defmt
//! decoded by `defmt-print`) and collect what it reports. Counts are
//! instructions executed by QEMU, never cycles or time.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::elf;
use crate::models::{self, Compiled};
use crate::util::{have, root, s, target_dir};

/// One firmware build: target, features, rustflags.
#[derive(Debug)]
pub struct Flavour {
    /// Short name, used in file names.
    pub name: &'static str,
    /// Rust target.
    pub target: &'static str,
    /// Cargo features of `mote-qemu`.
    pub features: &'static [&'static str],
    /// Extra rustflags for the target (on top of boards/qemu/.cargo/config.toml).
    pub rustflags: &'static [&'static str],
    /// Its own target dir under boards/target (different rustflags must not
    /// share artifacts), or `None` for boards/target.
    pub target_subdir: Option<&'static str>,
}

/// An emulated board.
#[derive(Debug)]
pub struct Machine {
    /// QEMU machine name.
    pub name: &'static str,
    /// Core, for reports.
    pub core: &'static str,
    /// The firmware it runs.
    pub flavour: &'static Flavour,
}

pub const V7EM: Flavour = Flavour {
    name: "thumbv7em",
    target: "thumbv7em-none-eabihf",
    features: &[],
    rustflags: &[],
    target_subdir: None,
};
const V8M: Flavour = Flavour {
    name: "thumbv8m",
    target: "thumbv8m.main-none-eabihf",
    features: &[],
    rustflags: &[],
    target_subdir: None,
};
const M55: Flavour = Flavour {
    name: "thumbv8m-m55",
    target: "thumbv8m.main-none-eabihf",
    features: &["mps3-an547"],
    rustflags: &["-C", "target-cpu=cortex-m55"],
    target_subdir: Some("m55"),
};

/// The four emulated boards. mps2-an386 and mps2-an500 run the same ELF.
pub const MACHINES: &[Machine] = &[
    Machine {
        name: "mps2-an386",
        core: "Cortex-M4F",
        flavour: &V7EM,
    },
    Machine {
        name: "mps2-an500",
        core: "Cortex-M7",
        flavour: &V7EM,
    },
    Machine {
        name: "mps2-an505",
        core: "Cortex-M33",
        flavour: &V8M,
    },
    Machine {
        name: "mps3-an547",
        core: "Cortex-M55",
        flavour: &M55,
    },
];

/// Options of `qemu` and `bench-qemu`.
#[derive(Debug, Default)]
pub struct Options {
    /// Only these models (default: all).
    pub models: Vec<String>,
    /// Only these machines (default: all four).
    pub machines: Vec<String>,
    /// Golden samples embedded per model (default: 8 for `tests/data`, 4
    /// for the bench; fewer if the file has fewer).
    pub samples: Option<usize>,
    /// Print the firmware's whole log.
    pub verbose: bool,
}

impl Options {
    /// Parses `--model a[,b]`, `--machine m[,n]`, `--samples N`, `--verbose`.
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| {
                it.next()
                    .cloned()
                    .with_context(|| format!("{flag} needs a value"))
            };
            match a.as_str() {
                "--model" | "--models" => o
                    .models
                    .extend(value(a)?.split(',').map(|x| x.trim().to_lowercase())),
                "--machine" | "--machines" => o
                    .machines
                    .extend(value(a)?.split(',').map(|x| x.trim().to_lowercase())),
                "--samples" => o.samples = Some(value(a)?.parse().context("--samples")?),
                "-v" | "--verbose" => o.verbose = true,
                other => bail!("unknown option {other}"),
            }
        }
        for m in &o.machines {
            if !MACHINES.iter().any(|x| x.name == m) {
                let names: Vec<&str> = MACHINES.iter().map(|x| x.name).collect();
                bail!("unknown machine {m}; known: {}", names.join(", "));
            }
        }
        Ok(o)
    }
}

/// What one firmware run reported.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Model name.
    pub model: String,
    /// QEMU machine.
    pub machine: &'static str,
    /// Core.
    pub core: &'static str,
    /// Whether the firmware exited 0 and reported every sample matching.
    pub pass: bool,
    /// Samples checked.
    pub samples: usize,
    /// Samples whose output differed.
    pub failures: usize,
    /// Mean instructions per inference.
    pub insns: u64,
    /// Min and max over the samples.
    pub insns_min: u64,
    /// Max over the samples.
    pub insns_max: u64,
    /// Mean instructions per op.
    pub layers: Vec<u64>,
    /// MACs per inference.
    pub macs: u64,
    /// Arena bytes.
    pub arena: u64,
    /// Firmware sizes.
    pub sizes: elf::Sizes,
    /// `.mote` file bytes.
    pub model_bytes: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The firmware's decoded log.
    pub log: String,
}

impl RunResult {
    /// MACs per instruction.
    pub fn macs_per_insn(&self) -> f64 {
        if self.insns == 0 {
            0.0
        } else {
            self.macs as f64 / self.insns as f64
        }
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|t| t.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The number after `key=` in a firmware log line (0 when absent).
pub fn num(line: &str, key: &str) -> u64 {
    field(line, key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Builds the firmware for `flavour` with `model` embedded; returns a copy
/// of the ELF in `out_dir`.
pub fn build(
    flavour: &Flavour,
    model: &Compiled,
    samples: usize,
    out_dir: &Path,
) -> Result<PathBuf> {
    build_with(flavour, model, samples, out_dir, &[], &[])
}

/// [`build`] with extra `mote-qemu` features and environment variables.
pub fn build_with(
    flavour: &Flavour,
    model: &Compiled,
    samples: usize,
    out_dir: &Path,
    features: &[&str],
    envs: &[(&str, &Path)],
) -> Result<PathBuf> {
    build_bin(
        flavour, model, samples, out_dir, "golden", true, features, envs,
    )
}

/// Builds the `boards/qemu` binary `bin` for `flavour` with `model`
/// embedded, with or without `mote-qemu`'s default features (`float`), plus
/// `features` (which may name a dependency's: `mote-runtime/op-conv`).
#[allow(clippy::too_many_arguments)]
pub fn build_bin(
    flavour: &Flavour,
    model: &Compiled,
    samples: usize,
    out_dir: &Path,
    bin: &str,
    default_features: bool,
    features: &[&str],
    envs: &[(&str, &Path)],
) -> Result<PathBuf> {
    let boards = root().join("boards");
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (k, v) in envs {
        c.env(k, v);
    }
    c.current_dir(boards.join("qemu"))
        .args(["build", "--release", "--bin", bin, "--target"])
        .arg(flavour.target)
        .env("MOTE_MODEL", &model.mote)
        .env("MOTE_INPUTS", &model.src.inputs)
        .env("MOTE_OUTPUTS", &model.src.outputs)
        .env("MOTE_MODEL_NAME", &model.src.name)
        .env("MOTE_SAMPLES", samples.to_string())
        // The root workspace's target dir must not leak into the firmware build.
        .env_remove("CARGO_TARGET_DIR");
    let mut tdir = boards.join("target");
    if let Some(sub) = flavour.target_subdir {
        tdir = tdir.join(sub);
        c.arg("--target-dir").arg(&tdir);
    }
    if !default_features {
        c.arg("--no-default-features");
    }
    let all: Vec<&str> = flavour.features.iter().chain(features).copied().collect();
    if !all.is_empty() {
        c.arg("--features").arg(all.join(","));
    }
    if !flavour.rustflags.is_empty() {
        let quoted: Vec<String> = flavour.rustflags.iter().map(|f| format!("{f:?}")).collect();
        c.arg("--config").arg(format!(
            "target.{}.rustflags=[{}]",
            flavour.target,
            quoted.join(",")
        ));
    }
    let what = format!(
        "firmware {bin} {} for {} ({})",
        model.src.name, flavour.target, flavour.name
    );
    eprintln!("==> build {what}");
    let out = c.output().with_context(|| format!("cannot build {what}"))?;
    if !out.status.success() {
        bail!(
            "build of {what} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let elf = tdir.join(flavour.target).join("release").join(bin);
    let copy = if bin == "golden" {
        out_dir.join(format!("{}-{}.elf", model.src.name, flavour.name))
    } else {
        out_dir.join(format!("{}-{}-{bin}.elf", model.src.name, flavour.name))
    };
    std::fs::copy(&elf, &copy).with_context(|| format!("cannot copy {}", elf.display()))?;
    Ok(copy)
}

/// Runs `elf` on `machine` and parses its report.
pub fn run_one(
    machine: &'static Machine,
    model: &Compiled,
    elf: &Path,
    verbose: bool,
) -> Result<RunResult> {
    let script = root().join("boards/qemu/qemu-run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(elf)
        .env("QEMU_MACHINE", machine.name)
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if verbose {
        eprint!("{log}{err}");
    }
    let mut r = RunResult {
        model: model.src.name.clone(),
        machine: machine.name,
        core: machine.core,
        pass: false,
        samples: 0,
        failures: 0,
        insns: 0,
        insns_min: 0,
        insns_max: 0,
        layers: vec![0; model.ops.len()],
        macs: model.macs,
        arena: model.arena,
        sizes: elf::sizes(elf)?,
        model_bytes: model.file_bytes,
        error: None,
        log: String::new(),
    };
    let mut result_seen = false;
    for line in log.lines() {
        if let Some(at) = line.find("LAYER ") {
            let rest = &line[at + 6..];
            let index: usize = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX);
            if let Some(slot) = r.layers.get_mut(index) {
                *slot = num(rest, "insns");
            }
        } else if let Some(at) = line.find("RESULT ") {
            let rest = &line[at..];
            result_seen = true;
            r.samples = num(rest, "samples") as usize;
            r.failures = num(rest, "failures") as usize;
            r.insns = num(rest, "insns_mean");
            r.insns_min = num(rest, "insns_min");
            r.insns_max = num(rest, "insns_max");
        }
    }
    r.log.clone_from(&log);
    let code = out.status.code();
    r.pass = code == Some(0) && result_seen && r.failures == 0 && r.samples > 0;
    if !r.pass {
        let tail: Vec<&str> = log.lines().chain(err.lines()).collect();
        let tail = tail[tail.len().saturating_sub(12)..].join("\n");
        r.error = Some(format!(
            "exit code {code:?}, {} of {} samples differ; last lines:\n{tail}",
            r.failures, r.samples
        ));
    }
    Ok(r)
}

/// Fails unless QEMU and defmt-print, which every firmware run needs, are
/// installed.
pub fn require_tools() -> Result<()> {
    if !have("qemu-system-arm") {
        bail!("qemu-system-arm not found (apt-get install qemu-system-arm; .ci/run does it)");
    }
    if !have("defmt-print") {
        bail!("defmt-print not found (cargo install defmt-print; .ci/run does it)");
    }
    Ok(())
}

/// Builds and runs every selected model on every selected machine.
pub fn run_all(o: &Options) -> Result<(Vec<Compiled>, Vec<RunResult>)> {
    require_tools()?;
    let machines: Vec<&'static Machine> = MACHINES
        .iter()
        .filter(|m| o.machines.is_empty() || o.machines.iter().any(|x| x == m.name))
        .collect();
    let sources = models::sources(&o.models)?;
    let out_dir = target_dir().join("xtask/qemu");
    std::fs::create_dir_all(&out_dir)?;
    let mote = models::mote_tool()?;
    // 8 golden samples per model; 4 for the larger bench models, so that
    // model + goldens fit mps3-an547's 512 KiB of code memory.
    let from_bench = sources.iter().any(|m| m.origin.starts_with("MLPerf"));
    let full_size = sources.iter().any(|m| m.name.ends_with("_full"));
    let samples = o
        .samples
        .unwrap_or(if from_bench || full_size { 4 } else { 8 });
    let mut results = Vec::new();
    let mut compiled = Vec::new();
    for src in &sources {
        let model = models::compile(&mote, src, &out_dir)?;
        let mut built: Vec<(&str, PathBuf)> = Vec::new();
        for m in &machines {
            if !models::runs_on(&src.name, m.name) {
                eprintln!(
                    "==> skip {} on {} (not one of its machines)",
                    src.name, m.name
                );
                continue;
            }
            let elf = match built.iter().find(|(f, _)| *f == m.flavour.name) {
                Some((_, e)) => e.clone(),
                None => {
                    let e = build(m.flavour, &model, samples, &out_dir)?;
                    built.push((m.flavour.name, e.clone()));
                    e
                }
            };
            eprintln!("==> run {} on {} ({})", model.src.name, m.name, m.core);
            let r = run_one(m, &model, &elf, o.verbose)?;
            eprintln!(
                "    {}: {} samples, {} instructions per inference",
                if r.pass { "ok" } else { "FAILED" },
                r.samples,
                r.insns
            );
            results.push(r);
        }
        compiled.push(model);
    }
    Ok((compiled, results))
}

/// The summary table (markdown).
pub fn table(results: &[RunResult]) -> String {
    let mut t = String::new();
    t.push_str("| model | machine | core | samples | bit-exact | instructions / inference | MACs | MACs / instruction | arena (B) | model file (B) | firmware flash (B) | of which code (B) | static RAM (B) |\n");
    t.push_str("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {:.4} | {} | {} | {} | {} | {} |",
            r.model,
            r.machine,
            r.core,
            r.samples,
            if r.pass { "yes" } else { "NO" },
            r.insns,
            r.macs,
            r.macs_per_insn(),
            r.arena,
            r.model_bytes,
            r.sizes.flash,
            r.sizes.code(),
            r.sizes.static_ram
        );
    }
    t
}

/// `cargo xtask qemu`: runs, prints the table, fails on any mismatch.
pub fn qemu(args: &[String]) -> Result<()> {
    let o = Options::parse(args)?;
    let (_, results) = run_all(&o)?;
    report(&results)
}

/// Prints the table and the failures; fails if any run failed.
pub fn report(results: &[RunResult]) -> Result<()> {
    println!("{}", table(results));
    println!("Instructions are counted by QEMU (SysTick under -icount shift=0), not cycles.");
    let failed: Vec<&RunResult> = results.iter().filter(|r| !r.pass).collect();
    for r in &failed {
        eprintln!(
            "FAILED: {} on {}: {}",
            r.model,
            r.machine,
            r.error.as_deref().unwrap_or("")
        );
    }
    println!(
        "{} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        bail!("{} firmware runs failed", failed.len());
    }
    Ok(())
}

fn qemu_version() -> String {
    Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// `cargo xtask bench-qemu`: runs everything and writes
/// `bench/results/qemu.md` and `bench/results/qemu.json`.
pub fn bench(args: &[String]) -> Result<()> {
    let mut o = Options::parse(args)?;
    if o.models.is_empty() && !models::have_bench() {
        // Without the bench: the stand-ins and the models with the bench's
        // exact shapes, whose counts compare with TFLite Micro's.
        o.models = models::DATA_MODELS
            .iter()
            .chain(models::FULL_MODELS)
            .chain(models::VARIANT_MODELS)
            .map(|m| m.to_string())
            .collect();
    }
    let (compiled, results) = run_all(&o)?;
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir)?;
    let mut md = String::new();
    md.push_str("# Mote on emulated Cortex-M cores (QEMU)\n\n");
    md.push_str(concat!(
        "Written by `cargo xtask bench-qemu`. Each firmware (`boards/qemu`: opt-level \"s\", fat LTO)\n",
        "embeds one `.mote` model and its golden inputs, runs them and compares every output with\n",
        "TFLite Micro's, bit for bit. Instructions are counted with SysTick under QEMU\n",
        "`-icount shift=0` (one instruction = 1 ns of virtual time; resolution one core-clock tick,\n",
        "31-50 instructions): they are instructions executed, **not cycles or time**. mps2-an386\n",
        "(M4F) and mps2-an500 (M7) run the same ELF, and QEMU executes the same instructions on\n",
        "both, so their counts are equal; a real M7 would take fewer cycles.\n\n",
    ));
    let _ = writeln!(md, "- QEMU: {}", qemu_version());
    for src in compiled.iter().map(|c| &c.src) {
        let _ = writeln!(
            md,
            "- {}: {} ({})",
            src.name,
            src.onnx.strip_prefix(root()).unwrap_or(&src.onnx).display(),
            src.origin
        );
    }
    md.push_str("- firmware flash = .vector_table + .text + .rodata + .data (model and golden vectors included);\n  static RAM = .data + .bss (arena included), stack not included.\n\n");
    md.push_str(&table(&results));
    md.push_str("\n## Per layer (mean instructions per op over the samples)\n");
    let mut json_models = Vec::new();
    for model in &compiled {
        let src = &model.src;
        let rs: Vec<&RunResult> = results.iter().filter(|r| r.model == src.name).collect();
        let _ = writeln!(md, "\n### {}\n", src.name);
        md.push_str("| # | op | MACs |");
        for r in &rs {
            let _ = write!(md, " {} instr | MAC/instr |", r.core);
        }
        md.push_str("\n|---:|---|---:|");
        for _ in &rs {
            md.push_str("---:|---:|");
        }
        md.push('\n');
        for (i, (op, macs)) in model.ops.iter().enumerate() {
            let _ = write!(md, "| {i} | {op} | {macs} |");
            for r in &rs {
                let insns = r.layers.get(i).copied().unwrap_or(0);
                let ratio = if insns == 0 || *macs == 0 {
                    String::new()
                } else {
                    format!("{:.3}", *macs as f64 / insns as f64)
                };
                let _ = write!(md, " {insns} | {ratio} |");
            }
            md.push('\n');
        }
        json_models.push(json!({
            "model": src.name,
            "onnx": s(src.onnx.strip_prefix(root()).unwrap_or(&src.onnx)),
            "origin": src.origin,
            "ops": model.ops.iter().map(|(op, macs)| json!({"op": op, "macs": macs})).collect::<Vec<_>>(),
        }));
    }
    let runs: Vec<_> = results
        .iter()
        .map(|r| {
            json!({
                "model": r.model, "machine": r.machine, "core": r.core,
                "bit_exact": r.pass, "samples": r.samples, "failures": r.failures,
                "instructions_per_inference": r.insns,
                "instructions_min": r.insns_min, "instructions_max": r.insns_max,
                "macs": r.macs, "macs_per_instruction": r.macs_per_insn(),
                "arena_bytes": r.arena, "model_file_bytes": r.model_bytes,
                "firmware_flash_bytes": r.sizes.flash, "firmware_code_bytes": r.sizes.code(), "firmware_static_ram_bytes": r.sizes.static_ram,
                "layer_instructions": r.layers,
            })
        })
        .collect();
    let j = json!({
        "command": "cargo xtask bench-qemu",
        "qemu": qemu_version(),
        "unit": "instructions executed under QEMU -icount shift=0 (not cycles)",
        "models": json_models,
        "runs": runs,
    });
    std::fs::write(dir.join("qemu.md"), &md)?;
    std::fs::write(
        dir.join("qemu.json"),
        serde_json::to_string_pretty(&j)? + "\n",
    )?;
    println!("{}", table(&results));
    println!("wrote bench/results/qemu.md and bench/results/qemu.json");
    if results.iter().any(|r| !r.pass) {
        bail!("some firmware runs failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_firmware_report_fields() {
        let line = "RESULT model=ic machine=mps2-an386 core=cortex-m4 samples=8 failures=0 insns_mean=64508330";
        assert_eq!(field(line, "model"), Some("ic"));
        assert_eq!(num(line, "samples"), 8);
        assert_eq!(num(line, "insns_mean"), 64_508_330);
        assert_eq!(num(line, "missing"), 0);
        // A key is matched whole, not as a prefix of another key.
        assert_eq!(num(line, "insns"), 0);
    }

    #[test]
    fn parses_options() {
        let args: Vec<String> = [
            "--model",
            "ic,KWS",
            "--machine",
            "mps3-an547",
            "--samples",
            "4",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = Options::parse(&args).unwrap();
        assert_eq!(o.models, ["ic", "kws"]);
        assert_eq!(o.machines, ["mps3-an547"]);
        assert_eq!(o.samples, Some(4));
        assert!(Options::parse(&["--machine".into(), "lm3s6965evb".into()]).is_err());
        assert!(Options::parse(&["--bogus".into()]).is_err());
    }
}
