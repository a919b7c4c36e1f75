//! `cargo xtask verify-qemu`: what signature verification costs on the
//! emulated Cortex-M4 (mps2-an386).
//!
//! Signs the digits example with a fresh key (`mote keygen`, `mote sign`),
//! builds the golden firmware with the `verify` feature and that public key,
//! and runs it. The firmware counts the instructions of `Model::parse` (CRC
//! and structure) and of `Model::parse_verified` (also the Ed25519
//! signature), checks that 32 single flipped bits spread over the file are
//! each rejected, then runs the golden inputs. Writes
//! `bench/results/verify.md`.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::examples;
use crate::models;
use crate::qemu::{self, MACHINES};
use crate::util::{root, run, s, target_dir};

/// Entry point.
pub fn verify_qemu(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("verify-qemu takes no options (got {a})");
    }
    qemu::require_tools()?;
    let m4 = &MACHINES[0];
    let out_dir = target_dir().join("xtask/verify");
    std::fs::create_dir_all(&out_dir)?;
    let mote = models::mote_tool()?;
    let mut model = examples::prepare(&mote, "digits", 8, &out_dir)?;

    // A fresh key pair each run (keygen never overwrites).
    let key = out_dir.join("fw");
    for ext in ["key", "pub"] {
        let _ = std::fs::remove_file(key.with_extension(ext));
    }
    let mut c = Command::new(&mote);
    c.args(["keygen", "--out", &s(&key)]);
    run(c, "mote keygen")?;
    let signed = out_dir.join("digits-signed.mote");
    let mut c = Command::new(&mote);
    c.args([
        "sign",
        &s(&model.mote),
        "--key",
        &s(&key.with_extension("key")),
    ])
    .args(["-o", &s(&signed)]);
    run(c, "mote sign")?;
    model.mote = signed;
    model.src.name = "digits-signed".into();

    let pubkey = key.with_extension("pub");
    let elf = qemu::build_with(
        m4.flavour,
        &model,
        8,
        &out_dir,
        &["verify"],
        &[("MOTE_PUBKEY", pubkey.as_path())],
    )?;
    eprintln!("==> run signed digits on {} ({})", m4.name, m4.core);
    let r = qemu::run_one(m4, &model, &elf, false)?;
    let line = r
        .log
        .lines()
        .find_map(|l| l.find("VERIFY ").map(|at| l[at..].to_string()))
        .with_context(|| format!("the firmware printed no VERIFY line:\n{}", r.log))?;
    let field = |k: &str| qemu::num(&line, k);
    let (bytes, parse, verify) = (field("bytes"), field("parse_insns"), field("verify_insns"));
    let (flips, rejected) = (field("flips"), field("rejected"));
    println!("{line}");
    if !r.pass || !line.contains("ok=true") || flips == 0 || rejected != flips {
        bail!(
            "signed-model check failed on {}: {}",
            m4.name,
            r.error.as_deref().unwrap_or(&line)
        );
    }
    let md = format!(
        "# Signature verification on the emulated Cortex-M4\n\n\
         Written by `cargo xtask verify-qemu`: the digits example signed with a fresh \
         Ed25519 key, golden firmware (`boards/qemu`, feature `verify`, opt-level \"s\", fat \
         LTO) on QEMU {machine} ({core}). Instructions counted by QEMU (SysTick under \
         `-icount shift=0`; resolution one SysTick tick, 40 instructions), not cycles. Verification uses `ed25519-dalek` (no_std, \
         `default-features = false`).\n\n\
         | step | instructions |\n|---|---:|\n\
         | `Model::parse` ({bytes} B file: CRC-32 and structure checks) | {parse} |\n\
         | `Model::parse_verified` (the same plus SHA-512 and Ed25519 verification) | {verify} |\n\
         | signature verification alone (difference) | {diff} |\n\
         | inference, for scale (mean of 8 inputs) | {infer} |\n\n\
         {rejected} of {flips} single-bit flips spread over the signed file were rejected by \
         `parse_verified`; the signed model's outputs matched the host runtime's on all 8 \
         inputs.\n",
        machine = m4.name,
        core = m4.core,
        diff = verify.saturating_sub(parse),
        infer = r.insns,
    );
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("verify.md"), md)?;
    eprintln!("    wrote bench/results/verify.md");
    Ok(())
}
