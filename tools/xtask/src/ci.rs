//! `cargo xtask ci`: everything CI checks.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::aarch64;
use crate::boards;
use crate::examples;
use crate::models::Compiled;
use crate::qemu;
use crate::util::{cargo, root, run};
use crate::verify;

/// The `tests/data` single-op oracles CI runs on the emulated cores.
const OP_MODELS: [&str; 8] = [
    "op_concat",
    "op_dwmult",
    "op_logistic",
    "op_maxpool",
    "op_mean",
    "op_mul",
    "op_pad",
    "op_tanh",
];

/// Crates that must build for a bare-metal target with no std anywhere.
const NO_STD_CRATES: &[&str] = &[
    "mote-format",
    "mote-kernels",
    "mote-runtime",
    "mote-store",
    "mote-board",
];
/// The Cortex-M target the no_std crates are checked on.
const TARGET: &str = "thumbv7em-none-eabihf";

fn no_std_checks() -> Result<()> {
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
    Ok(())
}

/// fmt and clippy of the firmware workspace (clippy needs a model to embed:
/// one that the QEMU step compressed).
fn boards_lints(model: &Compiled) -> Result<()> {
    let boards = root().join("boards");
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(&boards)
        .args(["fmt", "--all", "--", "--check"]);
    run(c, "cargo fmt --check (boards workspace)")?;
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(boards.join("qemu"))
        .args([
            "clippy",
            "--release",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .env("MOTE_MODEL", &model.mote)
        .env("MOTE_INPUTS", &model.src.inputs)
        .env("MOTE_OUTPUTS", &model.src.outputs)
        .env_remove("CARGO_TARGET_DIR");
    run(
        c,
        "cargo clippy -D warnings (boards/qemu, thumbv7em-none-eabihf)",
    )
}

pub fn ci() -> Result<()> {
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
    no_std_checks()?;
    let mut c = cargo();
    c.args(["test", "--workspace"]);
    run(c, "cargo test --workspace")?;

    // Firmware on the four emulated cores, every model, outputs compared.
    qemu::require_tools()?;
    eprintln!("==> firmware on emulated Cortex-M4F, M7, M33, M55 (cargo xtask qemu)");
    let start = std::time::Instant::now();
    let (compiled, results) = qemu::run_all(&qemu::Options::default())?;
    qemu::report(&results)?;
    eprintln!(
        "    firmware step done in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if let Some(model) = compiled.first() {
        boards_lints(model)?;
    }
    // The single-op oracles on the two cores with their own kernels (DSP
    // twins on the M4, Helium twins on the M55): shapes the five models do
    // not have (depth multiplier 2, dilation, concat, pad, pooling, ...).
    eprintln!(
        "==> single-op models on emulated Cortex-M4F and M55 (cargo xtask qemu --model op_*)"
    );
    let ops = qemu::Options {
        models: OP_MODELS.iter().map(|m| m.to_string()).collect(),
        machines: vec!["mps2-an386".into(), "mps3-an547".into()],
        ..qemu::Options::default()
    };
    let (_, results) = qemu::run_all(&ops)?;
    qemu::report(&results)?;
    eprintln!(
        "==> MLPerf Tiny-shaped models on emulated Cortex-M4F and M55 (cargo xtask qemu --model ic_full,...)"
    );
    let full = qemu::Options {
        models: crate::models::FULL_MODELS
            .iter()
            .chain(crate::models::VARIANT_MODELS)
            .map(|m| m.to_string())
            .collect(),
        machines: vec!["mps2-an386".into(), "mps3-an547".into()],
        samples: Some(4),
        ..qemu::Options::default()
    };
    let (_, results) = qemu::run_all(&full)?;
    qemu::report(&results)?;

    // The models/ examples on the emulated Cortex-M4: bit-exact with the
    // host runtime, instruction counts as models/README.md lists them.
    eprintln!("==> models/ examples on emulated Cortex-M4F (cargo xtask examples)");
    examples::examples(&[])?;

    // A firmware with only the kws model's op features runs it on the
    // emulated Cortex-M4, and one without an op it needs refuses it.
    eprintln!("==> op-feature firmware on emulated Cortex-M4F (cargo xtask size --model kws)");
    crate::size::size(&["--model".into(), "kws".into()])?;

    // A pruned model stored sparse on the emulated Cortex-M4: bit-exact with
    // the same model stored dense, within the 16 KiB stack boards reserve.
    eprintln!("==> sparse filters on emulated Cortex-M4F (cargo xtask sparse-qemu)");
    crate::sparse_bench::sparse_qemu(&[])?;

    // A signed model verified on the emulated Cortex-M4; flipped bits rejected.
    eprintln!("==> signature verification on emulated Cortex-M4F (cargo xtask verify-qemu)");
    verify::verify_qemu(&[])?;

    // Real boards: build, lint, size report against each part.
    boards::boards(true)?;

    // The DSP asm kernels against the reference, property tests under
    // qemu-arm (Thumb-2).
    crate::dsp_tests::dsp_tests()?;

    // aarch64 Linux: the runtime crates' tests and the golden test.
    aarch64::aarch64()
}
