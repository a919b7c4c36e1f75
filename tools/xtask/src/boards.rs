//! `cargo xtask boards`: builds the real-board firmware (build only: CI
//! cannot flash) with its model and checks that it fits the part.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{bail, Context, Result};

use mote_board::Board;

use crate::elf;
use crate::models::{self, Compiled};
use crate::util::{have, root, run, target_dir};

/// A real board's firmware package.
struct Firmware {
    /// Package directory under `boards/` (and the board name in `mote-board`).
    dir: &'static str,
    /// Its binary.
    bin: &'static str,
    /// The model it embeds.
    model: &'static str,
    /// `probe-rs` chip name (for the report).
    chip: &'static str,
}

const FIRMWARE: &[Firmware] = &[
    Firmware {
        dir: "stm32f746g-disco",
        bin: "imaging",
        model: "vww",
        chip: "STM32F746NGHx",
    },
    Firmware {
        dir: "nrf52840-dk",
        bin: "logistics",
        model: "ad",
        chip: "nRF52840_xxAA",
    },
    Firmware {
        dir: "pico2",
        bin: "imaging",
        model: "ic",
        chip: "RP235x",
    },
];

/// Stack the firmware needs on top of its static RAM (the arena is static):
/// the runtime's deepest stack measured by `cargo xtask size` is 15.3 KB
/// (the optimized convolution's pixel tiles), plus the firmware's own.
const STACK_RESERVE: u64 = 16 * 1024;

fn build(fw: &Firmware, board: &Board, model: &Compiled, clippy: bool) -> Result<elf::Sizes> {
    let dir = root().join("boards").join(fw.dir);
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(&dir)
        .args(["build", "--release", "--bin", fw.bin])
        .env("MOTE_MODEL", &model.mote)
        .env("MOTE_MODEL_NAME", &model.src.name)
        .env_remove("CARGO_TARGET_DIR");
    eprintln!(
        "==> build boards/{} ({}) with {}",
        fw.dir, board.target, model.src.name
    );
    let out = c
        .output()
        .with_context(|| format!("cannot build boards/{}", fw.dir))?;
    if !out.status.success() {
        bail!(
            "build of boards/{} failed:\n{}",
            fw.dir,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if clippy {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.current_dir(&dir)
            .args([
                "clippy",
                "--release",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
            .env("MOTE_MODEL", &model.mote)
            .env("MOTE_MODEL_NAME", &model.src.name)
            .env_remove("CARGO_TARGET_DIR");
        run(c, &format!("cargo clippy -D warnings (boards/{})", fw.dir))?;
    }
    let elf = root()
        .join("boards/target")
        .join(board.target)
        .join("release")
        .join(fw.bin);
    elf::sizes(&elf)
}

/// Builds every real-board firmware (and lints it when `clippy`), prints
/// the size report, fails if one does not fit its part.
pub fn boards(clippy: bool) -> Result<()> {
    if !have("cargo") {
        bail!("cargo not found");
    }
    let mote = models::mote_tool()?;
    let out_dir = target_dir().join("xtask/boards");
    let mut report = String::new();
    report.push_str("| board | chip | core | model | firmware flash (B) | flash budget (B) | flash used | static RAM (B) | RAM budget (B) | RAM used (+16 KiB stack) | fits |\n");
    report.push_str("|---|---|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    let mut misfits = Vec::new();
    for fw in FIRMWARE {
        let board = Board::by_name(fw.dir)
            .with_context(|| format!("{} is not in mote-board's BOARDS", fw.dir))?;
        let src = match models::sources(&[])?
            .into_iter()
            .find(|s| s.name == fw.model)
        {
            Some(s) => s,
            None => models::data_source(fw.model),
        };
        let model = models::compile(&mote, &src, &out_dir)?;
        let sizes = build(fw, board, &model, clippy)?;
        let ram = sizes.static_ram + STACK_RESERVE;
        let fits = sizes.flash <= u64::from(board.flash_bytes) && ram <= u64::from(board.ram_bytes);
        if !fits {
            misfits.push(fw.dir);
        }
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {} | {} | {:.1} % | {} | {} | {:.1} % | {} |",
            fw.dir,
            fw.chip,
            board.core.name(),
            model.src.name,
            sizes.flash,
            board.flash_bytes,
            100.0 * sizes.flash as f64 / f64::from(board.flash_bytes),
            sizes.static_ram,
            board.ram_bytes,
            100.0 * ram as f64 / f64::from(board.ram_bytes),
            if fits { "yes" } else { "NO" }
        );
    }
    println!("{report}");
    if !misfits.is_empty() {
        bail!("firmware does not fit: {}", misfits.join(", "));
    }
    Ok(())
}
