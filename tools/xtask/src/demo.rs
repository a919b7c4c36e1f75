//! `cargo xtask demo`: the bundled digits example end to end: quantize the
//! float model, evaluate it against the float model, simulate it on a board.

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
    let m = s(&out.join("digits.mote"));
    let file = |f: &str| s(&dir.join(f));
    mote(
        &[
            "compress",
            &file("digits_float.onnx"),
            "--calibration",
            &file("calib.npy"),
            "-o",
            &m,
        ],
        "mote compress: quantize the float digits model with its calibration images",
    )?;
    mote(
        &[
            "eval",
            &m,
            "--reference",
            &file("digits_float.onnx"),
            "--data",
            &file("test_x.npy"),
            "--labels",
            &file("test_y.npy"),
        ],
        "mote eval: int8 against the float model on the 360 held-out images",
    )?;
    mote(
        &["sim", "--board", "nrf52840-dk", "--model", &m],
        "mote sim: does it fit an nRF52840, and about how long does it take",
    )?;
    Ok(())
}
