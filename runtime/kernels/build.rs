//! Enables the `mote_dsp` cfg (Cortex-M `SXTB16`/`SMLAD` kernels) for
//! targets whose cores have the DSP extension.
//!
//! Stable Rust does not expose `target_feature = "dsp"` to `cfg` (the Arm
//! target features are unstable), so the target is recognised here:
//! `thumbv7em-*` (Cortex-M4/M7, DSP always present), and `thumbv8m.main-*`
//! when the build names a core whose DSP extension is mandatory
//! (`-C target-cpu=cortex-m55` or `cortex-m85`) or asks for
//! `-C target-feature=+dsp` (a Cortex-M33/M35P built with DSP).
//!
//! It also enables `mote_mve` (the Helium kernels in `src/mve`) for
//! `thumbv8m.main-*` built for `cortex-m55` or `cortex-m85`, whose LLVM
//! models include the MVE integer extension.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mote_dsp)");
    println!("cargo::rustc-check-cfg=cfg(mote_mve)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let flags: Vec<&str> = flags.split('\x1f').collect();
    let mut cpu = "";
    let mut dsp_feature = false;
    let mut no_mve = false;
    for (i, f) in flags.iter().enumerate() {
        let next = flags.get(i + 1).copied().unwrap_or("");
        let value = |key: &str| -> Option<String> {
            if let Some(v) = f.strip_prefix(&format!("-C{key}=")) {
                Some(v.to_string())
            } else if *f == "-C" {
                next.strip_prefix(&format!("{key}=")).map(str::to_string)
            } else {
                f.strip_prefix(&format!("--codegen={key}="))
                    .map(str::to_string)
            }
        };
        if let Some(c) = value("target-cpu") {
            cpu = flags_cpu(&c);
        }
        if let Some(t) = value("target-feature") {
            for part in t.split(',') {
                match part {
                    "+dsp" => dsp_feature = true,
                    "-dsp" => dsp_feature = false,
                    "-mve" => no_mve = true,
                    _ => {}
                }
            }
        }
    }
    let dsp = if target.starts_with("thumbv7em") || target.starts_with("armv7") {
        // Armv7-A/R (e.g. armv7-unknown-linux-gnueabihf, used to run the
        // kernel tests under qemu-arm) have the same instructions.
        true
    } else if target.starts_with("thumbv8m.main") {
        dsp_feature || !cpu.is_empty()
    } else {
        false
    };
    if dsp {
        println!("cargo::rustc-cfg=mote_dsp");
    }
    // Helium (MVE integer): the Cortex-M55 and M85 as LLVM models them.
    // A part built without Helium (`-C target-feature=-mve`) gets the DSP
    // kernels only.
    if target.starts_with("thumbv8m.main") && !cpu.is_empty() && !no_mve {
        println!("cargo::rustc-cfg=mote_mve");
    }
}

/// The Armv8-M Mainline cores that always have the DSP extension ("" otherwise).
fn flags_cpu(cpu: &str) -> &'static str {
    match cpu {
        "cortex-m55" => "cortex-m55",
        "cortex-m85" => "cortex-m85",
        _ => "",
    }
}
