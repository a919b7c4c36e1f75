//! `cargo xtask profile-qemu --model <name>`: where the instructions go.
//!
//! Builds the golden firmware of one model (one sample by default), runs it
//! under `qemu-system-arm` with `-d in_asm,exec,nochain` (every translated
//! block's instructions once, then one line per block executed) and counts
//! the instructions executed at each address. Each address is symbolised
//! from the ELF's DWARF (with inlining, so a kernel's inlined helpers get
//! their own line): the report ranks functions (as linked), inlined
//! functions and source lines. The run covers the whole firmware (model
//! parse, every op, the golden comparison); the per-op totals of
//! `cargo xtask qemu --verbose` split it by layer. Counts are instructions
//! executed, not cycles.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::models;
use crate::qemu::{self, MACHINES};
use crate::util::{root, target_dir};

/// Options of `profile-qemu`.
struct Options {
    model: String,
    /// A golden firmware already built (`--elf`), profiled as it is.
    elf: Option<std::path::PathBuf>,
    machine: String,
    samples: usize,
    top: usize,
    function: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut o = Options {
            model: String::new(),
            elf: None,
            machine: "mps2-an386".into(),
            samples: 1,
            top: 30,
            function: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--model" => o.model = value()?.clone(),
                "--elf" => o.elf = Some(value()?.into()),
                "--machine" => o.machine = value()?.clone(),
                "--samples" => o.samples = value()?.parse().context("--samples: not a number")?,
                "--top" => o.top = value()?.parse().context("--top: not a number")?,
                "--function" => o.function = Some(value()?.clone()),
                other => bail!("profile-qemu: unknown option {other}"),
            }
        }
        if o.model.is_empty() && o.elf.is_none() {
            bail!("profile-qemu needs --model <name> (ic, kws, vww, ad, sww or a tests/data op model) or --elf <golden firmware>");
        }
        if o.samples == 0 {
            bail!("--samples must be at least 1");
        }
        Ok(o)
    }
}

/// Instructions executed per address, from a QEMU `in_asm,exec,nochain`
/// log: an `IN:` block lists a translation's instruction addresses, and a
/// `Trace` line names the start address of each block executed.
pub fn count_log(log: &Path) -> Result<HashMap<u64, u64>> {
    let f = std::fs::File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
    let mut blocks: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut execs: HashMap<u64, u64> = HashMap::new();
    let mut pending: Option<Vec<u64>> = None;
    for line in BufReader::new(f).split(b'\n') {
        let line = line?;
        if line.starts_with(b"IN:") {
            pending = Some(Vec::new());
        } else if let Some(hex) = line.strip_prefix(b"0x") {
            if let (Some(block), Some(end)) =
                (pending.as_mut(), hex.iter().position(|&c| c == b':'))
            {
                if let Some(a) = parse_hex(&hex[..end]) {
                    block.push(a);
                }
            }
        } else if line.starts_with(b"Trace ") {
            // `Trace 0: 0x7f.. [00800408/0000809c/00000110/ff000200] name`:
            // the second field in brackets is the guest pc.
            let pc = line
                .iter()
                .position(|&c| c == b'[')
                .and_then(|at| line.get(at + 1..))
                .and_then(|rest| {
                    let mut fields = rest.split(|&c| c == b'/');
                    fields.next();
                    fields.next().and_then(parse_hex)
                });
            if let Some(pc) = pc {
                if let Some(block) = pending.take() {
                    if !block.is_empty() {
                        blocks.insert(pc, block);
                    }
                }
                *execs.entry(pc).or_default() += 1;
            }
        }
    }
    let mut per_addr: HashMap<u64, u64> = HashMap::new();
    for (pc, n) in execs {
        match blocks.get(&pc) {
            Some(insns) => {
                for &a in insns {
                    *per_addr.entry(a).or_default() += n;
                }
            }
            None => *per_addr.entry(pc).or_default() += n,
        }
    }
    Ok(per_addr)
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    u64::from_str_radix(std::str::from_utf8(s).ok()?.trim(), 16).ok()
}

/// Where one address is: its inlining chain, innermost first, as
/// `(function, "file:line")`.
fn frames(loader: &addr2line::Loader, addr: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(mut it) = loader.find_frames(addr) {
        while let Ok(Some(f)) = it.next() {
            let name = f
                .function
                .as_ref()
                .and_then(|n| n.demangle().ok().map(|c| c.into_owned()))
                .unwrap_or_else(|| "?".into());
            let loc = f
                .location
                .as_ref()
                .map(|l| {
                    let file = l.file.unwrap_or("?");
                    let file = file.rsplit('/').next().unwrap_or(file);
                    format!("{file}:{}", l.line.unwrap_or(0))
                })
                .unwrap_or_else(|| "?".into());
            out.push((strip_hash(&name), loc));
        }
    }
    if out.is_empty() {
        let name = loader.find_symbol(addr).unwrap_or("?");
        let name = rustc_demangle::demangle(name).to_string();
        out.push((strip_hash(&name), "?".into()));
    }
    out
}

/// `path::f::h0123456789abcdef` without the hash.
fn strip_hash(name: &str) -> String {
    match name.rsplit_once("::h") {
        Some((head, h)) if h.len() == 16 && h.bytes().all(|c| c.is_ascii_hexdigit()) => {
            head.to_string()
        }
        _ => name.to_string(),
    }
}

fn ranked(title: &str, counts: HashMap<String, u64>, total: u64, top: usize, md: &mut String) {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let _ = writeln!(
        md,
        "\n## By {title}\n\n| instructions | share | where |\n|---:|---:|---|"
    );
    for (k, n) in v.into_iter().take(top) {
        let share = 100.0 * n as f64 / total.max(1) as f64;
        let _ = writeln!(md, "| {n} | {share:.1} % | `{}` |", k.replace('|', "\\|"));
    }
}

pub fn profile(args: &[String]) -> Result<()> {
    let o = Options::parse(args)?;
    let machine = MACHINES
        .iter()
        .find(|m| m.name == o.machine)
        .with_context(|| {
            format!(
                "unknown machine {} (mps2-an386, mps2-an500, mps2-an505, mps3-an547)",
                o.machine
            )
        })?;
    qemu::require_tools()?;
    let out_dir = target_dir().join("xtask/profile");
    std::fs::create_dir_all(&out_dir)?;
    let (name, elf) = match &o.elf {
        // E.g. the sparse golden firmware `cargo xtask sparse-qemu` built.
        Some(elf) => (
            elf.file_name()
                .map_or("firmware".into(), |n| n.to_string_lossy().into_owned()),
            elf.clone(),
        ),
        None => {
            let sources = models::sources(std::slice::from_ref(&o.model))?;
            let src = sources.first().context("no such model")?;
            let mote = models::mote_tool()?;
            let model = models::compile(&mote, src, &out_dir)?;
            let elf = qemu::build(machine.flavour, &model, o.samples, &out_dir)?;
            (model.src.name, elf)
        }
    };
    let log = out_dir.join(format!("{name}-{}.qemu.log", machine.name));
    eprintln!(
        "==> run {name} on {} with an instruction trace",
        machine.name
    );
    let status = Command::new("qemu-system-arm")
        .args(["-machine", machine.name, "-nographic", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-d", "in_asm,exec,nochain", "-D"])
        .arg(&log)
        .arg("-kernel")
        .arg(&elf)
        .stdout(Stdio::null())
        .status()
        .context("cannot run qemu-system-arm")?;
    if !status.success() {
        bail!("the firmware failed under QEMU ({status}); `cargo xtask qemu --model {} --machine {} --verbose` shows its log", name, machine.name);
    }
    let per_addr = count_log(&log)?;
    // The trace is large (tens of MB per million instructions).
    let _ = std::fs::remove_file(&log);
    let total: u64 = per_addr.values().sum();
    let loader = addr2line::Loader::new(&elf)
        .map_err(|e| anyhow::anyhow!("cannot read the debug info of {}: {e}", elf.display()))?;
    let mut outer: HashMap<String, u64> = HashMap::new();
    let mut inner: HashMap<String, u64> = HashMap::new();
    let mut lines: HashMap<String, u64> = HashMap::new();
    let mut listing: Vec<(u64, u64)> = Vec::new();
    for (&a, &n) in &per_addr {
        let fr = frames(&loader, a);
        let (Some(first), Some(last)) = (fr.first(), fr.last()) else {
            continue;
        };
        if let Some(f) = &o.function {
            if !last.0.contains(f.as_str()) {
                continue;
            }
            listing.push((a, n));
        }
        *outer.entry(last.0.clone()).or_default() += n;
        *inner.entry(first.0.clone()).or_default() += n;
        *lines
            .entry(format!("{} @ {}", first.0, first.1))
            .or_default() += n;
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Instruction profile: {} on {} ({})\n\nWritten by `cargo xtask profile-qemu {} --machine {}{}`. \
         The whole firmware run ({} golden sample(s): model parse, inference, output check), \
         {total} instructions executed under QEMU (not cycles).",
        name,
        machine.name,
        machine.core,
        if o.elf.is_some() { format!("--elf {name}") } else { format!("--model {name}") },
        machine.name,
        o.function.as_ref().map(|f| format!(" --function {f}")).unwrap_or_default(),
        o.samples,
    );
    if let Some(f) = &o.function {
        let sub: u64 = outer.values().sum();
        let _ = writeln!(md, "\nOnly functions matching `{f}`: {sub} instructions.");
    }
    ranked("function (as linked)", outer, total, o.top, &mut md);
    ranked("inlined function", inner, total, o.top, &mut md);
    ranked("source line", lines, total, o.top, &mut md);
    if !listing.is_empty() {
        listing.sort_unstable();
        let _ = writeln!(md, "\n## Per address\n\n| address | executed |\n|---|---:|");
        for (a, n) in listing {
            let _ = writeln!(md, "| {a:#x} | {n} |");
        }
    }
    let report = out_dir.join(format!("{}-{}.md", name, machine.name));
    std::fs::write(&report, &md)?;
    print!("{md}");
    eprintln!(
        "wrote {}",
        report.strip_prefix(root()).unwrap_or(&report).display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_blocks_by_their_executions() {
        let dir = std::env::temp_dir().join(format!("mote-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("q.log");
        std::fs::write(
            &log,
            "----------------\nIN: f\n0x00000400:  f007 fe4c  bl #0x809c\n\n\
             Trace 0: 0x7f00 [00800408/00000400/00000110/ff000200] f\n\
             ----------------\nIN: g\n0x00000404:  480e  ldr r0, [pc]\n0x00000406:  490f  ldr r1, [pc]\n\n\
             Trace 0: 0x7f10 [00800408/00000404/00000110/ff000200] g\n\
             Trace 0: 0x7f10 [00800408/00000404/00000110/ff000200] g\n\
             Trace 0: 0x7f00 [00800408/00000400/00000110/ff000200] f\n",
        )
        .unwrap();
        let c = count_log(&log).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(c.get(&0x400), Some(&2));
        assert_eq!(c.get(&0x404), Some(&2));
        assert_eq!(c.get(&0x406), Some(&2));
        assert_eq!(c.values().sum::<u64>(), 6);
    }

    #[test]
    fn strips_only_a_rust_hash() {
        assert_eq!(strip_hash("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(strip_hash("a::hello"), "a::hello");
    }
}
