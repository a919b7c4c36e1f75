//! `cargo xtask dsp-tests`: the kernels' property tests with the Cortex-M
//! DSP `asm!` compiled in, run under qemu-arm.
//!
//! The `mote_dsp` kernels (SMLAD, SXTB16, LDM, TBB, IT blocks) are Thumb-2
//! code for Armv7E-M. Armv7-A Linux has the same instructions, so the
//! kernels' host tests (`fast_equiv`, `fast_tiles`, `sparse_int4`, the unit
//! tests) are
//! built for `armv7-unknown-linux-gnueabihf` in Thumb mode (the root
//! `.cargo/config.toml` sets `+thumb-mode`, the cross linker and the
//! qemu-arm runner) and compare every optimised kernel bit for bit with the
//! reference on random shapes, odd sizes and extreme zero points. The
//! emulated Cortex-M firmware runs check the same code on whole models.

use anyhow::{bail, Result};

use crate::util::{cargo, have, run};

/// The Armv7-A Linux target whose Thumb-2 build runs the DSP kernels.
const TARGET: &str = "armv7-unknown-linux-gnueabihf";

pub fn dsp_tests() -> Result<()> {
    if !have("qemu-arm") || !have("arm-linux-gnueabihf-gcc") {
        bail!("needs qemu-arm and arm-linux-gnueabihf-gcc (apt-get install qemu-user gcc-arm-linux-gnueabihf libc6-dev-armhf-cross; .ci/run does it)");
    }
    let mut c = cargo();
    c.args([
        "test",
        "--release",
        "-p",
        "mote-kernels",
        "--target",
        TARGET,
        "--lib",
        "--test",
        "fast_equiv",
        "--test",
        "fast_tiles",
        "--test",
        "sparse_int4",
    ]);
    run(
        c,
        "cargo test -p mote-kernels (DSP asm kernels, Thumb-2) on armv7-unknown-linux-gnueabihf under qemu-arm",
    )
}
