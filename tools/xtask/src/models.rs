//! The models the firmware runs: the MLPerf Tiny bench when present
//! (`MOTE_BENCH`, default `../shared/bench`), else the project's own TFLite
//! Micro oracles in `tests/data`. Each is compressed by the `mote` tool.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::util::{cargo, root, run, s, target_dir};

/// The five MLPerf-Tiny-shaped models of `tests/data`.
pub const DATA_MODELS: &[&str] = &["ic", "kws", "vww", "ad", "sww"];

/// The `tests/data` models with the exact MLPerf Tiny reference shapes
/// (`python tools/goldens/make_goldens.py ic_full ...`): their instruction
/// counts compare with TFLite Micro's on the bench models.
pub const FULL_MODELS: &[&str] = &["ic_full", "kws_full", "vww_full", "ad_full"];

/// Variants measured beside the [`FULL_MODELS`] (`cargo xtask bench-qemu`,
/// CI): the autoencoder with its FullyConnected filters widened.
pub const VARIANT_MODELS: &[&str] = &["ad_full+wide"];

/// Model variants: `<model>+<variant>` is `<model>` compressed with extra
/// `mote compress` flags, run only on the QEMU machines listed.
pub const VARIANTS: &[(&str, &[&str], &[&str])] = &[
    // FullyConnected filters widened to 16 bits (faster on the DSP cores,
    // 2x their flash: ad_full's 551 KB file does not fit the 512 KiB code
    // memory of mps3-an547, and the M33 build has no DSP kernels).
    ("wide", &["--wide-fc"], &["mps2-an386", "mps2-an500"]),
];

fn variant(
    name: &str,
) -> Option<&'static (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
)> {
    let (_, v) = name.split_once('+')?;
    VARIANTS.iter().find(|(n, ..)| *n == v)
}

/// The extra `mote compress` flags of a model name's variant (none for a
/// plain name).
fn variant_args(name: &str) -> &'static [&'static str] {
    variant(name).map_or(&[], |v| v.1)
}

/// Whether model `name` runs on QEMU machine `machine` (a variant only on
/// its machines).
pub fn runs_on(name: &str, machine: &str) -> bool {
    variant(name).is_none_or(|v| v.2.contains(&machine))
}

/// Whether the MLPerf Tiny bench is on this machine.
pub fn have_bench() -> bool {
    bench_dir().is_some_and(|b| !bench_sources(&b).is_empty())
}

/// A model with its golden vectors.
#[derive(Debug, Clone)]
pub struct Source {
    /// Short name (`ic`, `kws`, ...).
    pub name: String,
    /// The quantized ONNX model.
    pub onnx: PathBuf,
    /// int8 `.npy` inputs `[N, ...]`.
    pub inputs: PathBuf,
    /// int8 `.npy` TFLite Micro outputs `[N, ...]`.
    pub outputs: PathBuf,
    /// Where it came from, for reports.
    pub origin: String,
}

/// A compressed model and what `mote inspect --json` says about it.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The source.
    pub src: Source,
    /// The `.mote` file.
    pub mote: PathBuf,
    /// MACs per inference.
    pub macs: u64,
    /// Arena bytes.
    pub arena: u64,
    /// `.mote` file bytes.
    pub file_bytes: u64,
    /// (op kind, MACs) per op, in execution order.
    pub ops: Vec<(String, u64)>,
    /// The first input's (scale, zero point).
    pub input_quant: (f32, i32),
}

fn bench_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MOTE_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/bench"));
    dir.is_dir().then_some(dir)
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn stem(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// The bench's golden models: directories holding `inputs.npy` and
/// `outputs_tflm.npy`, each with the tf2onnx int8 QDQ `.onnx` naming it
/// (not an onnxruntime form, the softmax repro or a float model).
fn bench_sources(bench: &Path) -> Vec<Source> {
    let mut onnx = Vec::new();
    files(bench, "onnx", &mut onnx);
    let mut npys = Vec::new();
    files(bench, "npy", &mut npys);
    let mut out = Vec::new();
    for p in npys.iter().filter(|p| stem(p) == "inputs.npy") {
        let Some(dir) = p.parent() else { continue };
        if !dir.join("outputs_tflm.npy").is_file() {
            continue;
        }
        let name = stem(dir);
        let mut c: Vec<&PathBuf> = onnx
            .iter()
            .filter(|p| {
                let full = p.to_string_lossy().to_lowercase();
                stem(p).contains(&name)
                    && !full.contains("ort_quant")
                    && !full.contains("repro")
                    && !stem(p).contains("float")
                    && !stem(p).contains("fp32")
            })
            .collect();
        c.sort_by_key(|p| {
            (
                !stem(p).contains("int8"),
                !stem(p).contains("qdq"),
                stem(p).len(),
            )
        });
        if let Some(model) = c.first() {
            out.push(Source {
                name,
                onnx: (*model).clone(),
                inputs: dir.join("inputs.npy"),
                outputs: dir.join("outputs_tflm.npy"),
                origin: format!("MLPerf Tiny bench ({})", bench.display()),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The `tests/data` model `name`.
pub fn data_source(name: &str) -> Source {
    let dir = root().join("tests/data").join(name);
    Source {
        name: name.to_string(),
        onnx: dir.join("model_qdq.onnx"),
        inputs: dir.join("inputs.npy"),
        outputs: dir.join("outputs_tflm.npy"),
        origin: "tests/data (TFLite Micro oracles)".into(),
    }
}

/// The models to run: the bench's when it is present (and has any), else
/// `tests/data`'s five. `only` filters by name, and may also name any other
/// `tests/data` oracle (the single-op models `op_*`).
pub fn sources(only: &[String]) -> Result<Vec<Source>> {
    let mut all = match bench_dir() {
        Some(b) => bench_sources(&b),
        None => Vec::new(),
    };
    if all.is_empty() {
        all = DATA_MODELS.iter().map(|m| data_source(m)).collect();
    }
    if !only.is_empty() {
        // `<model>+<variant>`: the model, compressed with the variant's flags.
        for o in only {
            let Some((base, v)) = o.split_once('+') else {
                continue;
            };
            if !VARIANTS.iter().any(|(n, ..)| *n == v) {
                let names: Vec<&str> = VARIANTS.iter().map(|(n, ..)| *n).collect();
                bail!("unknown variant +{v} in {o}; known: {}", names.join(", "));
            }
            let dir = root().join("tests/data").join(base);
            let found = all.iter().find(|m| m.name == base).cloned().or_else(|| {
                (dir.join("model_qdq.onnx").is_file() && dir.join("outputs_tflm.npy").is_file())
                    .then(|| data_source(base))
            });
            if let Some(mut m) = found {
                m.name = o.clone();
                all.push(m);
            }
        }
        // Any other `tests/data` oracle (the single-op models) by name.
        for o in only {
            let dir = root().join("tests/data").join(o);
            let oracle =
                dir.join("model_qdq.onnx").is_file() && dir.join("outputs_tflm.npy").is_file();
            if oracle && !all.iter().any(|m| &m.name == o) {
                all.push(data_source(o));
            }
        }
        let known: Vec<String> = all.iter().map(|m| m.name.clone()).collect();
        for o in only {
            if !known.iter().any(|k| k == o) {
                bail!(
                    "unknown model {o}; known: {} and the tests/data op models",
                    known.join(", ")
                );
            }
        }
        all.retain(|m| only.contains(&m.name));
    }
    Ok(all)
}

/// Builds the `mote` tool and returns its path. It is built the way
/// `cargo test --workspace` builds it (dev profile, workspace-wide feature
/// resolution with dev-dependencies), so that CI reuses the test build
/// instead of rebuilding tract with other features (minutes on 2 cores).
pub fn mote_tool() -> Result<PathBuf> {
    let mut c = cargo();
    c.args(["test", "--workspace", "--no-run", "--quiet"]);
    run(c, "cargo test --workspace --no-run (builds the mote tool)")?;
    let mote = target_dir().join("debug").join("mote");
    if !mote.is_file() {
        bail!("{} was not built", mote.display());
    }
    Ok(mote)
}

/// Compresses `src` into `out_dir` with `mote` and inspects the result.
pub fn compile(mote: &Path, src: &Source, out_dir: &Path) -> Result<Compiled> {
    compile_with(mote, src, out_dir, None)
}

/// [`compile`], quantizing a float model with `calibration` data.
pub fn compile_with(
    mote: &Path,
    src: &Source,
    out_dir: &Path,
    calibration: Option<&Path>,
) -> Result<Compiled> {
    std::fs::create_dir_all(out_dir)?;
    let file = out_dir.join(format!("{}.mote", src.name));
    let mut c = Command::new(mote);
    c.args(["compress", &s(&src.onnx), "-o", &s(&file)]);
    c.args(variant_args(&src.name));
    if let Some(cal) = calibration {
        c.arg("--calibration").arg(cal);
    }
    run(c, &format!("mote compress {}", src.onnx.display()))?;
    let out = Command::new(mote)
        .args(["inspect", &s(&file), "--json"])
        .output()
        .context("cannot run mote inspect")?;
    if !out.status.success() {
        bail!(
            "mote inspect {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let j: Value = serde_json::from_slice(&out.stdout).context("mote inspect --json output")?;
    let num = |k: &str| {
        j.get(k)
            .and_then(Value::as_u64)
            .with_context(|| format!("mote inspect --json has no {k}"))
    };
    let ops = j
        .get("ops")
        .and_then(Value::as_array)
        .context("mote inspect --json has no ops")?
        .iter()
        .map(|op| {
            (
                op.get("op")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
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
        input_quant,
        src: src.clone(),
        mote: file,
        macs: num("macs")?,
        arena: num("arena_bytes")?,
        file_bytes: num("file_bytes")?,
        ops,
    })
}
