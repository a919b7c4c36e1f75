//! `cargo xtask examples [--model a,b] [--samples N] [--update-readme]`: the
//! example models of `models/` on the emulated Cortex-M4 (mps2-an386).
//!
//! For each model: compress the float ONNX with its calibration set, quantize
//! the first test inputs with the model's input scale and zero point, run
//! them through the host runtime (`mote run`) and embed inputs and host
//! outputs in the golden firmware. The firmware checks its outputs bit for bit
//! against the host's and counts instructions. The measured counts must agree
//! with the "Cortex-M4 instructions" column of `models/README.md` (within 1%,
//! so a toolchain update that moves them a little does not fail CI);
//! `--update-readme` rewrites that column instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use npyz::WriterBuilder;

use crate::models::{self, Compiled, Source};
use crate::qemu::{self, RunResult, MACHINES};
use crate::util::{root, run, s, target_dir};

/// The example models, in the order of `models/README.md`.
pub const EXAMPLES: &[&str] = &[
    "digits",
    "medmnist_cnn",
    "breast_cancer",
    "pig_cvp",
    "imu_motions",
];

/// Relative difference allowed between the README and a new measurement.
const TOLERANCE: f64 = 0.01;

/// Options of `examples`.
#[derive(Debug, Default)]
struct Options {
    models: Vec<String>,
    samples: usize,
    update: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        samples: 8,
        ..Options::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" | "--models" => {
                let v = it.next().context("--model needs a value")?;
                o.models.extend(v.split(',').map(|x| x.trim().to_string()));
            }
            "--samples" => {
                let v = it.next().context("--samples needs a value")?;
                o.samples = v.parse().context("--samples: not a number")?;
            }
            "--update-readme" => o.update = true,
            other => bail!("examples: unknown option {other}"),
        }
    }
    if let Some(bad) = o.models.iter().find(|m| !EXAMPLES.contains(&m.as_str())) {
        bail!(
            "unknown example model {bad}; known: {}",
            EXAMPLES.join(", ")
        );
    }
    Ok(o)
}

/// Entry point of `cargo xtask examples`.
pub fn examples(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let results = run_examples(&o.models, o.samples)?;
    qemu::report(&results)?;
    let readme = root().join("models/README.md");
    let text = std::fs::read_to_string(&readme)
        .with_context(|| format!("cannot read {}", readme.display()))?;
    if o.update {
        let mut text = text;
        for r in &results {
            text = set_instructions(&text, &r.model, r.insns)?;
        }
        std::fs::write(&readme, text)?;
        eprintln!("    models/README.md: Cortex-M4 column updated");
        return Ok(());
    }
    check_readme(&text, &results)
}

/// Builds, runs and checks the given examples (all when empty) on the
/// emulated Cortex-M4.
pub fn run_examples(only: &[String], samples: usize) -> Result<Vec<RunResult>> {
    qemu::require_tools()?;
    let m4 = &MACHINES[0];
    let out_dir = target_dir().join("xtask/examples");
    std::fs::create_dir_all(&out_dir)?;
    let mote = models::mote_tool()?;
    let mut results = Vec::new();
    for name in EXAMPLES
        .iter()
        .filter(|n| only.is_empty() || only.iter().any(|o| o == *n))
    {
        let model = prepare(&mote, name, samples, &out_dir)?;
        let elf = qemu::build(m4.flavour, &model, samples, &out_dir)?;
        eprintln!("==> run {name} on {} ({})", m4.name, m4.core);
        let r = qemu::run_one(m4, &model, &elf, false)?;
        eprintln!(
            "    {}: {} samples bit-exact with the host runtime, {} instructions per inference",
            if r.pass { "ok" } else { "FAILED" },
            r.samples,
            r.insns
        );
        results.push(r);
    }
    Ok(results)
}

/// Compresses example `name` and writes its firmware goldens: int8 inputs
/// and the host runtime's int8 outputs.
pub fn prepare(mote: &Path, name: &str, samples: usize, out_dir: &Path) -> Result<Compiled> {
    let dir = root().join("models").join(name);
    let src = Source {
        name: name.to_string(),
        onnx: dir.join(format!("{name}_float.onnx")),
        inputs: out_dir.join(format!("{name}_inputs.npy")),
        outputs: out_dir.join(format!("{name}_host_outputs.npy")),
        origin: format!("models/{name} (outputs of the host runtime)"),
    };
    let compiled = models::compile_with(mote, &src, out_dir, Some(&dir.join("calib.npy")))?;
    let (scale, zero_point) = compiled.input_quant;
    quantize_inputs(
        &dir.join("test_x.npy"),
        samples,
        scale,
        zero_point,
        &src.inputs,
    )?;
    let mut c = Command::new(mote);
    c.args(["run", &s(&compiled.mote), "--input"])
        .arg(&src.inputs)
        .arg("--output")
        .arg(&src.outputs);
    run(c, &format!("mote run {name} on the host"))?;
    Ok(compiled)
}

/// Quantizes the first `samples` rows of a float32 `.npy` to int8 with the
/// runtime's own quantize kernel and writes them as `.npy`.
fn quantize_inputs(
    src: &Path,
    samples: usize,
    scale: f32,
    zero_point: i32,
    dst: &PathBuf,
) -> Result<()> {
    let bytes = std::fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a .npy file", src.display()))?;
    let mut shape: Vec<u64> = npy.shape().to_vec();
    let x: Vec<f32> = npy
        .into_vec()
        .with_context(|| format!("{}: expected float32 data", src.display()))?;
    let rows = shape.first().copied().unwrap_or(0) as usize;
    if rows == 0 {
        bail!("{} holds no samples", src.display());
    }
    let n = samples.min(rows);
    let per = x.len() / rows;
    shape[0] = n as u64;
    let mut q = vec![0i8; n * per];
    mote_kernels::quantize_f32_s8(&x[..n * per], scale, zero_point, &mut q)
        .map_err(|e| anyhow::anyhow!("quantizing {}: {e:?}", src.display()))?;
    let mut out = Vec::new();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut out)
        .begin_nd()?;
    w.extend(q.iter().copied())?;
    w.finish()?;
    std::fs::write(dst, out).with_context(|| format!("cannot write {}", dst.display()))?;
    Ok(())
}

/// The README table row of `model`: its cells, trimmed.
fn row_cells<'a>(text: &'a str, model: &str) -> Option<(usize, Vec<&'a str>)> {
    let key = format!("| [{model}](");
    text.lines().enumerate().find_map(|(i, l)| {
        l.starts_with(&key)
            .then(|| (i, l.trim_matches('|').split('|').map(str::trim).collect()))
    })
}

/// `text` with the last cell of `model`'s row set to `insns`.
fn set_instructions(text: &str, model: &str, insns: u64) -> Result<String> {
    let (line, mut cells) = row_cells(text, model)
        .with_context(|| format!("models/README.md has no row for {model}"))?;
    let value = group(insns);
    if let Some(last) = cells.last_mut() {
        *last = &value;
    }
    let new = format!("| {} |", cells.join(" | "));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[line] = new;
    Ok(lines.join("\n") + "\n")
}

/// Fails unless every measured count matches the README within `TOLERANCE`.
fn check_readme(text: &str, results: &[RunResult]) -> Result<()> {
    let mut bad = Vec::new();
    for r in results {
        let (_, cells) = row_cells(text, &r.model)
            .with_context(|| format!("models/README.md has no row for {}", r.model))?;
        let cell = cells.last().copied().unwrap_or("");
        let listed: Option<u64> = cell.replace(',', "").parse().ok();
        match listed {
            Some(v) if (v as f64 - r.insns as f64).abs() <= TOLERANCE * r.insns as f64 => {}
            _ => bad.push(format!(
                "{}: README says {cell:?}, measured {}",
                r.model,
                group(r.insns)
            )),
        }
    }
    if !bad.is_empty() {
        bail!(
            "models/README.md Cortex-M4 instructions do not reproduce (run `cargo xtask examples --update-readme`): {}",
            bad.join("; ")
        );
    }
    eprintln!("    models/README.md Cortex-M4 instructions reproduce within 1%");
    Ok(())
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
