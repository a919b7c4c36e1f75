//! `cargo xtask <task>`: project automation.
//!
//! - `ci`: everything CI checks (format, lints, tests, no_std cross builds,
//!   tract kept out of the runtime crates, the golden firmware on four
//!   emulated Cortex-M cores, aarch64 tests under qemu-aarch64).
//! - `demo`: compresses, inspects and runs the bundled digits model.
//! - `qemu [--model a,b] [--machine m,n] [--samples N] [--verbose]`: builds the
//!   golden firmware per model, runs it under QEMU, prints the table.
//! - `aarch64`: the runtime crates' tests and the golden bit-exact test on
//!   aarch64 Linux under qemu-aarch64.
//! - `dsp-tests`: the kernels' property tests with the Cortex-M DSP `asm!`
//!   compiled in (Thumb-2 on armv7 Linux), under qemu-arm.
//! - `boards`: builds the real-board firmware (STM32F746G-DISCO,
//!   nRF52840-DK, Pico 2) and reports flash and RAM against each part;
//!   `--clippy` lints them too, as CI does.
//! - `bench-qemu [same options]`: the same, and writes
//!   `bench/results/qemu.md` and `.json`.
//! - `fuzz [--minutes N] [--target t,..]`: runs the cargo-fuzz targets and
//!   records the results in `tests/fuzz/RESULTS.md`.
//! - `examples [--model a,b] [--update-readme]`: the `models/` examples on the
//!   emulated Cortex-M4, bit-exact with the host runtime; checks the
//!   instruction column of `models/README.md`.
//! - `bench-host [--seconds S]`: Mote int8 and f32 against tract (typed and
//!   optimized) on this host; writes `bench/results/RESULTS.md`.
//! - `bench [--skip-qemu] [--skip-host] [options of both]`: `bench-qemu` and
//!   `bench-host`, merged into `benchmarks/RESULTS.md` and
//!   `benchmarks/results.json`.
//! - `size [--model a,b]`: `.text` the runtime, kernels and decoder add to
//!   a firmware built with only the model's op features (thumbv7em); writes
//!   `bench/results/size.md`.
//! - `verify-qemu`: instructions of signature verification on the emulated
//!   Cortex-M4; flipped bits rejected; writes `bench/results/verify.md`.

mod aarch64;
mod bench;
mod bench_host;
mod boards;
mod ci;
mod demo;
mod dsp_tests;
mod elf;
mod examples;
mod fuzz;
mod models;
mod profile;
mod qemu;
mod size;
mod sparse_bench;
mod util;
mod verify;

use anyhow::{bail, Result};

const USAGE: &str =
    "usage: cargo xtask <ci|demo|qemu|bench-qemu|aarch64|dsp-tests|boards|fuzz|examples|verify-qemu|bench-host|bench|size|profile-qemu|sparse-qemu> [options]
  qemu / bench-qemu options:
    --model <name[,name]>      ic, kws, vww, ad, sww (default: all)
    --machine <name[,name]>    mps2-an386, mps2-an500, mps2-an505, mps3-an547 (default: all)
    --samples <N>              golden samples per model (default: 8, or all if fewer)
    --verbose                  print the firmware logs (per-layer instructions)
  profile-qemu options (instructions per function and source line):
    --model <name>             the model to profile (required)
    --machine <name>           default mps2-an386
    --samples <N>              golden samples in the run (default: 1)
    --top <N>                  rows per table (default: 30)
    --function <substring>     only functions whose name contains it, with per-address counts
  fuzz options:
    --minutes <N>              minutes per target (default: 1)
    --target <name[,name]>     parse, invoke, mutate (default: all)
  examples options:
    --model <name[,name]>      models/ examples (default: all)
    --samples <N>              test inputs per model (default: 8)
    --update-readme            write the measured counts into models/README.md";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("ci") => ci::ci(),
        Some("demo") => demo::demo(),
        Some("aarch64") => aarch64::aarch64(),
        Some("dsp-tests") => dsp_tests::dsp_tests(),
        Some("boards") => boards::boards(rest.iter().any(|a| a == "--clippy")),
        Some("qemu") => qemu::qemu(rest),
        Some("bench-qemu") => qemu::bench(rest),
        Some("fuzz") => fuzz::fuzz(rest),
        Some("examples") => examples::examples(rest),
        Some("verify-qemu") => verify::verify_qemu(rest),
        Some("bench-host") => bench_host::bench_host(rest),
        Some("bench") => bench::bench(rest),
        Some("size") => size::size(rest),
        Some("profile-qemu") => profile::profile(rest),
        Some("sparse-qemu") => sparse_bench::sparse_qemu(rest),
        _ => bail!("{USAGE}"),
    }
}
