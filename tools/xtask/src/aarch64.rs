//! `cargo xtask aarch64`: the runtime crates' tests and the golden
//! bit-exact test on aarch64 Linux, under qemu-aarch64 (the runner is set in
//! the root `.cargo/config.toml`).
//!
//! The ONNX importer (tract) is not cross-built: the models are compressed
//! on the host, and `runtime/tests/precompressed_goldens.rs` runs them on
//! the target against TFLite Micro's outputs.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::models::{self, Source};
use crate::util::{cargo, have, root, run, target_dir};

/// The aarch64 target.
const TARGET: &str = "aarch64-unknown-linux-gnu";

/// Every `tests/data` model (and the bench's, when present).
fn golden_sources() -> Result<Vec<Source>> {
    let mut all = models::sources(&[])?;
    let data = root().join("tests/data");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&data)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join("model_qdq.onnx").is_file() && d.join("outputs_tflm.npy").is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if all.iter().any(|s| s.name == name) {
            continue;
        }
        all.push(Source {
            name,
            onnx: d.join("model_qdq.onnx"),
            inputs: d.join("inputs.npy"),
            outputs: d.join("outputs_tflm.npy"),
            origin: "tests/data".into(),
        });
    }
    Ok(all)
}

pub fn aarch64() -> Result<()> {
    if !have("qemu-aarch64") || !have("aarch64-linux-gnu-gcc") {
        bail!("needs qemu-aarch64 and aarch64-linux-gnu-gcc (apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross; .ci/run does it)");
    }
    let dir = target_dir().join("xtask/aarch64-goldens");
    if dir.is_dir() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let mote = models::mote_tool()?;
    for src in golden_sources()? {
        let model = models::compile(&mote, &src, &dir)?;
        std::fs::copy(&src.inputs, dir.join(format!("{}.inputs.npy", src.name)))?;
        std::fs::copy(&src.outputs, dir.join(format!("{}.outputs.npy", src.name)))?;
        let _ = model;
    }
    let mut c = cargo();
    c.args([
        "test",
        "-p",
        "mote-format",
        "-p",
        "mote-kernels",
        "-p",
        "mote-runtime",
        "--features",
        "mote-kernels/std",
        "--target",
        TARGET,
    ])
    .env("MOTE_GOLDEN_DIR", &dir);
    run(
        c,
        "cargo test (mote-format, mote-kernels, mote-runtime) on aarch64-unknown-linux-gnu under qemu-aarch64",
    )
}
