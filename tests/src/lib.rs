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
pub fn compress_and_run(onnx: &Path, shape: &[usize], input: &Array, dequantize: bool) -> Result<mote_cli::run::Output> {
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
