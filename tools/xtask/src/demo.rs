//! `cargo xtask demo`: compresses, inspects and runs the bundled digits model.

use anyhow::Result;

use crate::util::{cargo, root, run, s};

pub fn demo() -> Result<()> {
    let dir = root().join("models/digits");
    let out = std::env::temp_dir().join("mote-demo");
    std::fs::create_dir_all(&out)?;
    let mote = |args: &[&str], what: &str| -> Result<()> {
        let mut c = cargo();
        c.args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "mote-cli",
            "--bin",
            "mote",
            "--",
        ])
        .args(args);
        run(c, what)
    };
    let (m, p) = (s(&out.join("digits.mote")), s(&out.join("digits_out.npy")));
    let onnx = s(&dir.join("digits_int8.onnx"));
    let x = s(&dir.join("test_x.npy"));
    mote(
        &["compress", &onnx, "-o", &m],
        "mote compress models/digits/digits_int8.onnx",
    )?;
    mote(&["inspect", &m], "mote inspect")?;
    let y = s(&dir.join("test_y.npy"));
    mote(
        &["run", &m, "--input", &x, "--output", &p, "--labels", &y],
        "mote run on the held-out digits, scored against their labels",
    )?;
    Ok(())
}
