//! `cargo xtask sparse-qemu [--model ic|ic_full|...] [--mote PATH] [--samples N]
//! [--verbose]`: a `tests/data` model with a float ONNX (default the ResNet-8
//! stand-in `ic`; `ic_full` has ResNet-8's exact shapes) pruned to 50 %
//! global sparsity, its
//! filters stored dense and stored sparse (`--sparse-weights`), each run on
//! the emulated Cortex-M4 (`mps2-an386`) by the golden firmware.
//!
//! Both models are compressed from the float ONNX with the stored inputs as
//! calibration; the inputs are quantized with the model's input scale and
//! the *dense* model's host outputs (`mote run`) are the goldens of both
//! firmwares, so a pass means the sparse kernels on the M4 agree bit for
//! bit with the dense kernels on the host. The host outputs of the sparse
//! model are compared too. Prints both instruction counts, per layer and
//! per inference, and their ratio.
//!
//! The firmware is built in its own target directory
//! (`boards/target/sparse-bench`) so that concurrent `cargo xtask qemu`
//! runs with other models cannot swap the ELF. `--mote PATH` uses an
//! already built `mote` tool instead of building it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use npyz::WriterBuilder;
use serde_json::Value;

use crate::models::{self, Compiled, Source};
use crate::qemu::{self, Flavour, MACHINES};
use crate::util::{root, run, s, target_dir};

/// The golden firmware for Cortex-M4/M7 in a target directory of its own.
const V7EM_SPARSE: Flavour = Flavour {
    name: "thumbv7em",
    target: "thumbv7em-none-eabihf",
    features: &[],
    rustflags: &[],
    target_subdir: Some("sparse-bench"),
};

/// The stack boards and `mote sim` reserve for one inference.
const STACK_BUDGET: u64 = 16 * 1024;

struct Opts {
    model: String,
    mote: Option<PathBuf>,
    samples: usize,
    verbose: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        model: "ic".into(),
        mote: None,
        samples: 8,
        verbose: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => o.model = it.next().context("--model needs a name")?.clone(),
            "--mote" => o.mote = Some(PathBuf::from(it.next().context("--mote needs a path")?)),
            "--samples" => {
                o.samples = it
                    .next()
                    .context("--samples needs a value")?
                    .parse()
                    .context("--samples")?;
            }
            "-v" | "--verbose" => o.verbose = true,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

/// `cargo xtask sparse-qemu`.
pub fn sparse_qemu(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    qemu::require_tools()?;
    let out_dir = target_dir().join("xtask/sparse");
    std::fs::create_dir_all(&out_dir)?;
    let mote = match &o.mote {
        Some(m) => m.clone(),
        None => models::mote_tool()?,
    };
    let m = o.model.as_str();
    let data = root().join("tests/data").join(m);
    if !data.join("model_float.onnx").is_file() {
        bail!("tests/data/{m} has no model_float.onnx to prune");
    }
    let calib = out_dir.join(format!("{m}_calib_f32.npy"));
    let n = write_calibration(&data, &calib)?;
    let samples = o.samples.min(n);
    let inputs = out_dir.join(format!("{m}_pruned_inputs.npy"));
    let outputs = out_dir.join(format!("{m}_pruned_host_outputs.npy"));
    let mut compiled = Vec::new();
    for (kind, sparse) in [("dense", false), ("sparse", true)] {
        let src = Source {
            name: format!("{m}-pruned-{kind}"),
            onnx: data.join("model_float.onnx"),
            inputs: inputs.clone(),
            outputs: outputs.clone(),
            origin: format!("tests/data/{m}, 50 % pruned (outputs of the host runtime)"),
        };
        compiled.push(compress(&mote, src, &calib, sparse, &out_dir)?);
    }
    let (scale, zp) = compiled[0].input_quant;
    if compiled[1].input_quant != (scale, zp) {
        bail!("the dense and sparse models quantize their input differently");
    }
    quantize(&calib, samples, scale, zp, &inputs)?;
    // Goldens: the dense model's host outputs; the sparse model's must match.
    let sparse_out = out_dir.join(format!("{m}_pruned_sparse_host_outputs.npy"));
    for (c, dst) in [(&compiled[0], &outputs), (&compiled[1], &sparse_out)] {
        let mut cmd = Command::new(&mote);
        cmd.args(["run", &s(&c.mote), "--input"])
            .arg(&inputs)
            .arg("--output")
            .arg(dst);
        run(cmd, &format!("mote run {} on the host", c.src.name))?;
    }
    let host_equal = std::fs::read(&outputs)? == std::fs::read(&sparse_out)?;
    let m4 = &MACHINES[0];
    let mut results = Vec::new();
    for c in &compiled {
        let elf = qemu::build(&V7EM_SPARSE, c, samples, &out_dir)?;
        eprintln!("==> run {} on {} ({})", c.src.name, m4.name, m4.core);
        let r = qemu::run_one(m4, c, &elf, o.verbose)?;
        eprintln!(
            "    {}: {} samples, {} instructions per inference",
            if r.pass { "ok" } else { "FAILED" },
            r.samples,
            r.insns
        );
        results.push(r);
    }
    let (d, sp) = (&results[0], &results[1]);
    println!(
        "tests/data/{m} 50 % pruned on {} ({}), {} inputs:",
        m4.name, m4.core, d.samples
    );
    println!(
        "| # | op (dense) | op (sparse) | MACs | dense instr | sparse instr | sparse / dense |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|");
    for (i, ((op_d, macs), (op_s, _))) in compiled[0].ops.iter().zip(&compiled[1].ops).enumerate() {
        let (a, b) = (
            d.layers.get(i).copied().unwrap_or(0),
            sp.layers.get(i).copied().unwrap_or(0),
        );
        let ratio = if a == 0 {
            String::new()
        } else {
            format!("{:.3}", b as f64 / a as f64)
        };
        println!("| {i} | {op_d} | {op_s} | {macs} | {a} | {b} | {ratio} |");
    }
    let ratio = sp.insns as f64 / d.insns.max(1) as f64;
    println!(
        "instructions per inference: dense {}, sparse {} (sparse / dense {:.3}: {:.1} % {})",
        d.insns,
        sp.insns,
        ratio,
        100.0 * (1.0 - ratio).abs(),
        if ratio <= 1.0 { "fewer" } else { "more" }
    );
    println!(
        "model file: dense {} B, sparse {} B; bit-exact on the M4: dense {}, sparse {}; host sparse outputs = dense: {}",
        d.model_bytes,
        sp.model_bytes,
        if d.pass { "yes" } else { "NO" },
        if sp.pass { "yes" } else { "NO" },
        if host_equal { "yes" } else { "NO" },
    );
    for r in &results {
        if let Some(e) = &r.error {
            eprintln!("FAILED: {}: {e}", r.model);
        }
    }
    if !(d.pass && sp.pass && host_equal) {
        bail!("outputs differ");
    }
    // The stack: boards and `mote sim` reserve 16 KiB for an inference.
    let mut stacks = Vec::new();
    for c in &compiled {
        eprintln!("==> stack of {} (size probe on mps2-an386)", c.src.name);
        stacks.push(crate::size::probe_stack(&mote, c, &out_dir, &V7EM_SPARSE)?);
    }
    println!(
        "deepest stack of one inference: dense {} B, sparse {} B (budget {STACK_BUDGET} B)",
        stacks[0], stacks[1]
    );
    if stacks.iter().any(|&n| n > STACK_BUDGET) {
        bail!("an inference takes more than the {STACK_BUDGET} B of stack boards reserve");
    }
    Ok(())
}

/// Writes the stored int8 inputs dequantized with `meta.json`'s input
/// quantization as a float32 `.npy`; returns the sample count.
fn write_calibration(data: &Path, dst: &Path) -> Result<usize> {
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(data.join("meta.json"))?)
        .context("meta.json")?;
    let (Some(scale), Some(zp)) = (
        meta["input"]["scale"].as_f64(),
        meta["input"]["zero_point"].as_i64(),
    ) else {
        bail!("meta.json has no input scale and zero point");
    };
    let bytes = std::fs::read(data.join("inputs.npy"))?;
    let npy = npyz::NpyFile::new(&bytes[..]).context("inputs.npy")?;
    let shape: Vec<u64> = npy.shape().to_vec();
    let q: Vec<i8> = npy.into_vec().context("inputs.npy: expected int8")?;
    let x: Vec<f32> = q
        .iter()
        .map(|&v| (i64::from(v) - zp) as f32 * scale as f32)
        .collect();
    write_npy(dst, &shape, x)?;
    Ok(shape.first().copied().unwrap_or(0) as usize)
}

fn write_npy<T: npyz::AutoSerialize + Copy>(dst: &Path, shape: &[u64], x: Vec<T>) -> Result<()> {
    let mut out = Vec::new();
    let mut w = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()?;
    w.extend(x)?;
    w.finish()?;
    std::fs::write(dst, out).with_context(|| format!("cannot write {}", dst.display()))
}

/// The first `samples` rows of float32 `src` quantized to int8.
fn quantize(src: &Path, samples: usize, scale: f32, zp: i32, dst: &Path) -> Result<()> {
    let bytes = std::fs::read(src)?;
    let npy = npyz::NpyFile::new(&bytes[..])?;
    let mut shape: Vec<u64> = npy.shape().to_vec();
    let x: Vec<f32> = npy.into_vec()?;
    let rows = shape.first().copied().unwrap_or(0) as usize;
    if rows == 0 {
        bail!("{} holds no samples", src.display());
    }
    let n = samples.min(rows);
    let per = x.len() / rows;
    shape[0] = n as u64;
    let mut q = vec![0i8; n * per];
    mote_kernels::quantize_f32_s8(&x[..n * per], scale, zp, &mut q)
        .map_err(|e| anyhow::anyhow!("quantizing: {e:?}"))?;
    write_npy(dst, &shape, q)
}

/// `mote compress --prune 0.5 [--sparse-weights]` and `mote inspect --json`.
fn compress(
    mote: &Path,
    src: Source,
    calib: &Path,
    sparse: bool,
    out_dir: &Path,
) -> Result<Compiled> {
    let file = out_dir.join(format!("{}.mote", src.name));
    let mut c = Command::new(mote);
    c.args(["compress", &s(&src.onnx), "-o", &s(&file)])
        .arg("--calibration")
        .arg(calib)
        .args(["--prune", "0.5"]);
    if sparse {
        c.arg("--sparse-weights");
    }
    run(c, &format!("mote compress {}", src.name))?;
    let out = Command::new(mote)
        .args(["inspect", &s(&file), "--json"])
        .output()
        .context("cannot run mote inspect")?;
    if !out.status.success() {
        bail!(
            "mote inspect failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let j: Value = serde_json::from_slice(&out.stdout).context("mote inspect --json output")?;
    let num = |k: &str| j.get(k).and_then(Value::as_u64).unwrap_or(0);
    let ops = j
        .get("ops")
        .and_then(Value::as_array)
        .context("mote inspect --json has no ops")?
        .iter()
        .map(|op| {
            let kind = op.get("op").and_then(Value::as_str).unwrap_or("?");
            let enc = op.get("encoding").and_then(Value::as_str);
            (
                match enc {
                    Some(e) => format!("{kind} ({e})"),
                    None => kind.to_string(),
                },
                op.get("macs").and_then(Value::as_u64).unwrap_or(0),
            )
        })
        .collect();
    let input = j.get("inputs").and_then(|v| v.get(0));
    let input_quant = (
        input
            .and_then(|i| i.get("scale"))
            .and_then(Value::as_f64)
            .unwrap_or(1.0) as f32,
        input
            .and_then(|i| i.get("zero_point"))
            .and_then(Value::as_i64)
            .unwrap_or(0) as i32,
    );
    Ok(Compiled {
        src,
        mote: file,
        macs: num("macs"),
        arena: num("arena_bytes"),
        file_bytes: num("file_bytes"),
        ops,
        input_quant,
    })
}
