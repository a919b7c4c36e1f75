//! `cargo xtask size [--model a,b]`: the code Mote adds to a firmware.
//!
//! For each model it builds `boards/qemu`'s `size` probe (parse the embedded
//! model, one inference, exit; no logging, no golden vectors) for thumbv7em
//! at the firmware profile (opt-level "s", fat LTO), once with the runtime
//! and once with `size-baseline` (the same program without it). The
//! difference of the two `.text` sections is what the runtime, the kernels
//! and the model decoder cost. The runtime is built without default
//! features and with only the op features the model needs (from
//! `mote inspect --features`). Writes `bench/results/size.md` and
//! `size.json`; the `.text` per crate comes from the symbol table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use serde_json::json;

use crate::models::{self, Compiled};
use crate::qemu::{build_bin, V7EM};
use crate::util::{root, s, target_dir};

/// `.text` bytes of one build.
#[derive(Debug, Clone, Default)]
pub struct Text {
    /// The whole `.text` section.
    pub total: u64,
    /// Function bytes per crate (first path segment of the symbol).
    pub by_crate: BTreeMap<String, u64>,
}

/// The crate a legacy-mangled Rust symbol (`_ZN<len><name>...`) belongs to;
/// other symbols (C, compiler-builtins' `__aeabi_*`) are named as they are.
fn crate_of(symbol: &str) -> String {
    // v0 mangling: `_R...Cs<hash>_<len><crate>...`.
    if let Some(at) = symbol.strip_prefix("_R").and_then(|r| r.find("Cs")) {
        let after = &symbol[2 + at..];
        if let Some(us) = after.find('_') {
            let tail = &after[us + 1..];
            let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
            let len: usize = digits.parse().unwrap_or(0);
            if let Some(name) = tail.get(digits.len()..digits.len() + len) {
                return name.to_string();
            }
        }
    }
    let Some(rest) = symbol.strip_prefix("_ZN") else {
        let builtin = ["__aeabi", "__divmod", "__udivmod", "mem"];
        return if builtin.iter().any(|p| symbol.starts_with(p)) {
            "compiler_builtins".into()
        } else {
            symbol.into()
        };
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let len: usize = digits.parse().unwrap_or(0);
    let name = rest.get(digits.len()..digits.len() + len).unwrap_or("?");
    // `<T as Trait>::f` is mangled `_$LT$path..T$u20$as$u20$...`, and
    // `<impl Trait for T>` as `_$LT$impl$u20$...$u20$for$u20$path..T...`:
    // name T's crate.
    let name = name.trim_start_matches("_$LT$");
    let name = match name.find("$u20$for$u20$") {
        Some(at) if name.starts_with("impl$u20$") => &name[at + "$u20$for$u20$".len()..],
        _ => name,
    };
    let name = name.trim_start_matches("$RF$");
    // `<str as Trait>::f`, `<[T; N] as Trait>::f`: a type of no crate, so
    // the trait's crate.
    let name = match name.find("$u20$as$u20$") {
        Some(at) if !name[..at].contains("..") => &name[at + "$u20$as$u20$".len()..],
        _ => name,
    };
    let end = name
        .find("..")
        .or_else(|| name.find("$GT$"))
        .unwrap_or(name.len());
    name[..end].to_string()
}

/// `.text` of `elf`, in total and per crate.
pub fn text(elf: &Path) -> Result<Text> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let file = object::File::parse(&*bytes)
        .with_context(|| format!("{} is not an object file", elf.display()))?;
    let section = file
        .section_by_name(".text")
        .with_context(|| format!("{} has no .text", elf.display()))?;
    let mut t = Text {
        total: section.size(),
        ..Text::default()
    };
    for sym in file.symbols() {
        if sym.kind() == SymbolKind::Text && sym.section_index() == Some(section.index()) {
            let name = sym.name().unwrap_or("?");
            *t.by_crate.entry(crate_of(name)).or_default() += sym.size();
        }
    }
    Ok(t)
}

/// What a size probe did on QEMU's mps2-an386 (Cortex-M4F).
struct ProbeRun {
    /// It exited with success (the inference ran).
    ok: bool,
    /// The deepest stack it used (its `STACK <bytes>` line).
    stack: Option<u64>,
}

/// Runs a size probe on QEMU's mps2-an386.
fn run_probe(elf: &Path) -> Result<ProbeRun> {
    let out = Command::new("timeout")
        .args([
            "120",
            "qemu-system-arm",
            "-machine",
            "mps2-an386",
            "-nographic",
        ])
        .args([
            "-monitor",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
        ])
        .arg("-kernel")
        .arg(elf)
        .output()
        .context("cannot run qemu-system-arm")?;
    let stack = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("STACK ")?.parse().ok());
    Ok(ProbeRun {
        ok: out.status.success(),
        stack,
    })
}

/// The deepest stack one inference of `model` takes on the emulated
/// Cortex-M4: the size probe built with only the model's op features (in
/// `flavour`'s target directory) and run on mps2-an386.
pub fn probe_stack(
    mote: &Path,
    model: &Compiled,
    out_dir: &Path,
    flavour: &crate::qemu::Flavour,
) -> Result<u64> {
    let features: Vec<String> = op_features(mote, model)?
        .iter()
        .map(|f| format!("mote-runtime/{f}"))
        .collect();
    let deps: Vec<&str> = features.iter().map(String::as_str).collect();
    let elf = build_bin(flavour, model, 1, out_dir, "size", false, &deps, &[])?;
    let probe = run_probe(&elf)?;
    match (probe.ok, probe.stack) {
        (true, Some(n)) => Ok(n),
        _ => bail!(
            "the {} size probe failed on mps2-an386 (or printed no STACK line)",
            model.src.name
        ),
    }
}

/// The runtime op features `model` needs, from `mote inspect --features`.
fn op_features(mote: &Path, model: &Compiled) -> Result<Vec<String>> {
    let o = Command::new(mote)
        .args(["inspect", &s(&model.mote), "--features"])
        .output()
        .context("cannot run mote inspect")?;
    if !o.status.success() {
        bail!(
            "mote inspect --features: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .split(',')
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect())
}

/// Entry point.
pub fn size(args: &[String]) -> Result<()> {
    let mut only = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => {
                let v = it.next().context("--model needs a name")?;
                only.extend(v.split(',').map(str::to_string));
            }
            other => bail!("size: unknown option {other}"),
        }
    }
    let sources = models::sources(&only)?;
    let out_dir = target_dir().join("xtask/size");
    std::fs::create_dir_all(&out_dir)?;
    let mote = models::mote_tool()?;
    let mut rows = Vec::new();
    for src in &sources {
        let model = models::compile(&mote, src, &out_dir)?;
        let features = op_features(&mote, &model)?;
        let deps: Vec<String> = features
            .iter()
            .map(|f| format!("mote-runtime/{f}"))
            .collect();
        let mut deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        let with_elf = build_bin(&V7EM, &model, 1, &out_dir, "size", false, &deps, &[])?;
        let with = text(&with_elf)?;
        // Kept for symbol-level inspection (`llvm-nm --size-sort`): every
        // build below overwrites the probe's ELF copy.
        let keep = out_dir.join(format!("{}-thumbv7em-size-full.elf", model.src.name));
        std::fs::copy(&with_elf, &keep)
            .with_context(|| format!("cannot copy {}", with_elf.display()))?;
        // The probe must also work: one inference on the emulated M4 (run
        // now: every build below overwrites the same ELF copy).
        let probe = run_probe(&with_elf)?;
        if !probe.ok {
            bail!("the {} size probe failed on mps2-an386", model.src.name);
        }
        // The same with the reference kernels (the oracle): the smallest
        // build, and the slowest.
        deps.push("mote-runtime/reference");
        let small = build_bin(&V7EM, &model, 1, &out_dir, "size", false, &deps, &[])?;
        let small = text(&small)?;
        let base = build_bin(
            &V7EM,
            &model,
            1,
            &out_dir,
            "size",
            false,
            &["size-baseline"],
            &[],
        )?;
        let base = text(&base)?;
        // And a build without one of the model's ops must refuse the model
        // (Error::OpNotBuilt at parse): the probe exits with a failure.
        if let Some(drop) = features.first() {
            let fewer: Vec<String> = features
                .iter()
                .filter(|f| *f != drop)
                .map(|f| format!("mote-runtime/{f}"))
                .collect();
            let fewer: Vec<&str> = fewer.iter().map(String::as_str).collect();
            let elf = build_bin(&V7EM, &model, 1, &out_dir, "size", false, &fewer, &[])?;
            if run_probe(&elf)?.ok {
                bail!(
                    "the {} size probe built without {drop} ran the model instead of refusing it",
                    model.src.name
                );
            }
            eprintln!("    without {drop}: the probe refuses the model, as it should");
        }
        let mote_text = with.total.saturating_sub(base.total);
        eprintln!(
            "    {}: runtime + kernels + decoder .text {} B (probe {} B, baseline {} B), stack {:?} B",
            model.src.name, mote_text, with.total, base.total, probe.stack
        );
        rows.push(json!({
            "model": model.src.name,
            "origin": model.src.origin,
            "target": "thumbv7em-none-eabihf",
            "features": features,
            "text_bytes": mote_text,
            "probe_text_bytes": with.total,
            "baseline_text_bytes": base.total,
            "reference_kernels_text_bytes": small.total.saturating_sub(base.total),
            "stack_bytes": probe.stack,
            "by_crate": with.by_crate,
        }));
    }
    write(&rows)
}

fn write(rows: &[serde_json::Value]) -> Result<()> {
    let mut md = String::from(
        "# Code size of the runtime (thumbv7em)\n\n\
         Written by `cargo xtask size`. `boards/qemu/src/bin/size.rs` parses the embedded \
         model, runs one inference and exits; it is built for `thumbv7em-none-eabihf` at the \
         firmware profile (opt-level \"s\", fat LTO) with `mote-runtime` without default \
         features and with only the op features the model needs (`mote inspect <model> \
         --features`), and again without the runtime (`size-baseline`). The difference of \
         the two `.text` sections is the runtime + kernels + model decoder. Per crate: \
         function symbols of the probe's `.text` (what LTO left out of line).\n\n\
         The last column builds the same with `mote-runtime/reference`: the reference \
         kernels (the bit-exact oracle; smaller, and several times slower) instead of the \
         optimized ones.\n\n\
         Stack: the deepest stack the optimized probe used for one inference on the emulated \
         Cortex-M4 (free RAM painted with a pattern before, the lowest changed word found \
         after), including the probe's own few frames.\n\n\
         | model | op features | runtime + kernels + decoder .text (B) | KiB | with reference kernels (B) | stack (B) |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let f: Vec<&str> = r["features"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        let b = r["text_bytes"].as_u64().unwrap_or(0);
        let _ = writeln!(
            md,
            "| {} | {} | {b} | {:.1} | {} | {} |",
            r["model"].as_str().unwrap_or("?"),
            f.join(", "),
            b as f64 / 1024.0,
            r["reference_kernels_text_bytes"],
            r["stack_bytes"]
        );
    }
    for r in rows {
        let _ = write!(
            md,
            "\n### {}: .text per crate (B)\n\n| crate | bytes |\n|---|---:|\n",
            r["model"].as_str().unwrap_or("?")
        );
        let mut crates: Vec<(&String, u64)> = r["by_crate"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k, v.as_u64().unwrap_or(0)))
            .collect();
        crates.sort_by_key(|c| std::cmp::Reverse(c.1));
        for (k, v) in crates.iter().filter(|c| c.1 >= 64) {
            let _ = writeln!(md, "| {k} | {v} |");
        }
    }
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("size.md"), md)?;
    std::fs::write(
        dir.join("size.json"),
        serde_json::to_string_pretty(&json!({ "command": "cargo xtask size", "models": rows }))?
            + "\n",
    )?;
    println!("wrote bench/results/size.md and bench/results/size.json");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::crate_of;

    #[test]
    fn crates_of_mangled_symbols() {
        assert_eq!(
            crate_of("_ZN12mote_kernels4fast4conv14conv2d_s8_fast17h343f59980893307aE"),
            "mote_kernels"
        );
        assert_eq!(crate_of("__aeabi_memcpy4"), "compiler_builtins");
        assert_eq!(crate_of("Reset"), "Reset");
        assert_eq!(crate_of("__divmoddi4"), "compiler_builtins");
        assert_eq!(
            crate_of("_ZN55_$LT$$RF$str$u20$as$u20$mote_format..decode..Decode$GT$6decode17hE"),
            "mote_format"
        );
        assert_eq!(
            crate_of("_ZN70_$LT$$u5b$T$u3b$$u20$N$u5d$$u20$as$u20$mote_format..decode..Decode$GT$6decode17hE"),
            "mote_format"
        );
        assert_eq!(
            crate_of("_RNvNtCs7NhdfSRABLd_17compiler_builtins3mem6memcpy"),
            "compiler_builtins"
        );
        assert_eq!(
            crate_of("_ZN66_$LT$mote_format..op..FloatOp$u20$as$u20$serde..Deserialize$GT$11deserialize17hE"),
            "mote_format"
        );
        assert_eq!(
            crate_of(
                "_ZN58_$LT$impl$u20$serde..Deserialize$u20$for$u20$$RF$str$GT$11deserialize17hE"
            ),
            "str"
        );
    }
}
