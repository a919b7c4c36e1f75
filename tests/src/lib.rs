//! Shared helpers of the end-to-end tests: where the test data lives, and
//! compressing and running a model in one call.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use anyhow::Result;
use mote_cli::npy::{self, Array};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The project's own oracle data (`tests/data`, made by `tools/goldens`).
pub fn data_dir() -> PathBuf {
    root().join("tests/data")
}

/// The shared MLPerf Tiny bench: `MOTE_BENCH`, default `../shared/bench`
/// next to the workspace. `None` (with a message) when it is missing.
pub fn bench_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MOTE_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/bench"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: the MLPerf Tiny bench is not at {} (set MOTE_BENCH to its path)",
            dir.display()
        );
        None
    }
}

/// Model directories under `tests/data` that hold `file`.
pub fn data_models(file: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join(file).is_file());
    dirs.sort();
    dirs
}

/// Compresses `onnx` and runs it on the samples of `inputs` (a `.npy` path
/// or an in-memory array), returning the output shape and data.
pub fn compress_and_run(
    onnx: &Path,
    shape: &[usize],
    input: &Array,
    dequantize: bool,
) -> Result<mote_cli::run::Output> {
    let (bytes, _) = mote_cli::compress::compress_bytes(onnx)?;
    let aligned = mote_cli::AlignedBytes::new(&bytes);
    mote_cli::run::run(aligned.as_slice(), shape, input, dequantize)
}

/// Reads an int8 `.npy`.
pub fn read_i8(path: &Path) -> Result<(Vec<usize>, Vec<i8>)> {
    match npy::read(path)? {
        (s, Array::I8(v)) => Ok((s, v)),
        _ => anyhow::bail!("{} is not int8", path.display()),
    }
}

/// Reads a float32 `.npy`.
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    match npy::read(path)? {
        (s, Array::F32(v)) => Ok((s, v)),
        _ => anyhow::bail!("{} is not float32", path.display()),
    }
}

/// Output SQNR (dB) of `approx` against `reference` (`mote eval`'s measure).
pub fn sqnr(reference: &[f32], approx: &[f32]) -> f64 {
    let mut s = mote_cli::eval::Sqnr::default();
    s.add(reference, approx);
    s.db()
}

/// The float inputs of a `tests/data` model: its stored int8 inputs,
/// dequantized with the input scale and zero point of its `meta.json`.
pub fn float_inputs(name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let dir = data_dir().join(name);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json"))?)?;
    let (Some(s), Some(z)) = (
        meta["input"]["scale"].as_f64(),
        meta["input"]["zero_point"].as_i64(),
    ) else {
        anyhow::bail!(
            "{}/meta.json has no input scale and zero point",
            dir.display()
        );
    };
    let (shape, q) = read_i8(&dir.join("inputs.npy"))?;
    let x = q
        .iter()
        .map(|&v| (i32::from(v) - z as i32) as f32 * s as f32)
        .collect();
    Ok((shape, x))
}

/// How a model's outputs are judged against onnxruntime's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    /// Top-1 class must agree on every input.
    Classifier,
    /// Per-input reconstruction error (mean squared error between output
    /// and input) must agree within 1%.
    Autoencoder,
}

/// Compares Mote's dequantized outputs with onnxruntime's on the same float
/// inputs. Classifiers: top-1 must equal onnxruntime's on every input.
/// Autoencoders: the per-input reconstruction error (mean squared error
/// between output and input) must agree within `tolerance` (relative).
///
/// With `float` (the float model's outputs), an input on which onnxruntime's
/// own result contradicts the float model (top-1 differs, or its
/// reconstruction error is further than 1% from the float one) is judged
/// against the float model instead, and reported. Returns a summary line.
pub fn judge_against_ort(
    judge: Judge,
    inputs: &[f32],
    ours: &[f32],
    ort: &[f32],
    float: Option<&[f32]>,
    samples: usize,
    tolerance: f64,
) -> Result<String> {
    anyhow::ensure!(
        ours.len() == ort.len() && samples > 0,
        "output sizes differ: {} vs {}",
        ours.len(),
        ort.len()
    );
    let per = ours.len() / samples;
    let row = |v: &[f32], s: usize| v[s * per..][..per].to_vec();
    let max_diff = ours
        .iter()
        .zip(ort)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let mut against_float = 0;
    let mut worst = 0.0f64;
    for s in 0..samples {
        let (a, b) = (row(ours, s), row(ort, s));
        let f = float.map(|f| row(f, s));
        match judge {
            Judge::Classifier => {
                let argmax = |r: &[f32]| {
                    r.iter()
                        .enumerate()
                        .fold(0, |best, (i, &x)| if x > r[best] { i } else { best })
                };
                let mut reference = argmax(&b);
                if let Some(f) = &f {
                    if argmax(f) != reference {
                        against_float += 1;
                        reference = argmax(f);
                    }
                }
                anyhow::ensure!(
                    argmax(&a) == reference,
                    "sample {s}: top-1 {} but reference {reference}",
                    argmax(&a)
                );
            }
            Judge::Autoencoder => {
                anyhow::ensure!(
                    inputs.len() == ours.len(),
                    "autoencoder output size differs from its input"
                );
                let x = row(inputs, s);
                let mse = |y: &[f32]| -> f64 {
                    y.iter()
                        .zip(&x)
                        .map(|(&p, &q)| f64::from(p - q).powi(2))
                        .sum::<f64>()
                        / per as f64
                };
                let rel = |p: f64, q: f64| (p - q).abs() / q.max(1e-12);
                let mut reference = mse(&b);
                if let Some(f) = &f {
                    if rel(reference, mse(f)) > 0.01 {
                        against_float += 1;
                        reference = mse(f);
                    }
                }
                let r = rel(mse(&a), reference);
                worst = worst.max(r);
                anyhow::ensure!(
                    r <= tolerance,
                    "sample {s}: reconstruction error {:.6} vs reference {reference:.6} ({:.2}%)",
                    mse(&a),
                    r * 100.0
                );
            }
        }
    }
    Ok(format!(
        "{samples} inputs agree ({against_float} judged against the float model where onnxruntime contradicts it), worst reconstruction difference {:.2}%, largest element difference from onnxruntime {max_diff:.5}",
        worst * 100.0
    ))
}
