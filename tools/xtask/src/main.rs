//! `cargo xtask <task>`: project automation.
//!
//! - `ci`: everything CI checks (format, lints, tests, no_std cross builds,
//!   tract kept out of the runtime crates).
//! - `demo`: compresses, inspects and runs the bundled digits model.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Crates that must build for a bare-metal target with no std anywhere.
const NO_STD_CRATES: &[&str] = &["mote-format", "mote-kernels", "mote-runtime", "mote-board"];
/// The Cortex-M target the no_std crates are checked on.
const TARGET: &str = "thumbv7em-none-eabihf";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut c: Command, what: &str) -> Result<()> {
    eprintln!("==> {what}");
    let status = c
        .status()
        .with_context(|| format!("cannot start: {what}"))?;
    if !status.success() {
        bail!("failed: {what}");
    }
    Ok(())
}

fn ci() -> Result<()> {
    let mut c = cargo();
    c.args(["fmt", "--all", "--", "--check"]);
    run(c, "cargo fmt --check")?;
    let mut c = cargo();
    c.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(c, "cargo clippy -D warnings")?;
    for krate in NO_STD_CRATES {
        let mut c = cargo();
        c.args(["build", "-p", krate, "--target", TARGET]);
        run(c, &format!("no_std build of {krate} for {TARGET}"))?;
        let out = cargo()
            .args([
                "tree", "-p", krate, "--target", TARGET, "-e", "normal", "--prefix", "none",
            ])
            .output()
            .context("cannot run cargo tree")?;
        if !out.status.success() {
            bail!("cargo tree failed for {krate}");
        }
        let tree = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = tree
            .lines()
            .find(|l| l.starts_with("tract") || l.starts_with("std "))
        {
            bail!("{krate} depends on {line}: the runtime crates must stay free of tract and std");
        }
        eprintln!(
            "    {krate}: {} crates in its tree, no tract",
            tree.lines().count()
        );
    }
    let mut c = cargo();
    c.args(["test", "--workspace"]);
    run(c, "cargo test --workspace")?;
    Ok(())
}

fn demo() -> Result<()> {
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
    let model = out.join("digits.mote");
    let preds = out.join("digits_out.npy");
    let (m, p) = (
        model.to_string_lossy().to_string(),
        preds.to_string_lossy().to_string(),
    );
    let onnx = dir.join("digits_int8.onnx").to_string_lossy().to_string();
    let x = dir.join("test_x.npy").to_string_lossy().to_string();
    mote(
        &["compress", &onnx, "-o", &m],
        "mote compress models/digits/digits_int8.onnx",
    )?;
    mote(&["inspect", &m], "mote inspect")?;
    let y = dir.join("test_y.npy").to_string_lossy().to_string();
    mote(
        &["run", &m, "--input", &x, "--output", &p, "--labels", &y],
        "mote run on the held-out digits, scored against their labels",
    )?;
    Ok(())
}

fn main() -> Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("ci") => ci(),
        Some("demo") => demo(),
        _ => bail!("usage: cargo xtask <ci|demo>"),
    }
}
