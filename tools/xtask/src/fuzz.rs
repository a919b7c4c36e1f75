//! `cargo xtask fuzz [--minutes N] [--target parse,invoke,mutate]`: runs each
//! cargo-fuzz target of `tests/fuzz` for N minutes (nightly toolchain and
//! cargo-fuzz needed) and records what libFuzzer reports (executions,
//! coverage, corpus, crashes) in `tests/fuzz/RESULTS.md` and `results.json`.
//!
//! New corpus entries go to `tests/fuzz/target/corpus/<target>` (not
//! committed); the committed seeds in `tests/fuzz/corpus/<target>` are read
//! only. A crash leaves its input in `tests/fuzz/artifacts/<target>/` and
//! fails the task after all targets ran.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::util::{root, s};

/// The targets, in the order they run.
const TARGETS: [&str; 3] = ["parse", "invoke", "mutate"];

/// What one run of one target reported.
#[derive(Debug, Default)]
struct Run {
    executions: u64,
    exec_per_sec: u64,
    coverage: u64,
    features: u64,
    corpus: u64,
    new_units: u64,
    peak_rss_mb: u64,
    crashes: Vec<String>,
}

/// Entry point.
pub fn fuzz(args: &[String]) -> Result<()> {
    let mut minutes = 1.0f64;
    let mut targets: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => {
                let v = it.next().context("--minutes needs a number")?;
                minutes = v
                    .parse()
                    .ok()
                    .filter(|m: &f64| *m > 0.0)
                    .with_context(|| format!("--minutes: not a positive number: {v}"))?;
            }
            "--target" => {
                let v = it.next().context("--target needs a name")?;
                targets = v.split(',').map(str::to_string).collect();
                if let Some(bad) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
                    bail!("unknown fuzz target {bad}: expected one of {TARGETS:?}");
                }
            }
            other => bail!("fuzz: unknown option {other}"),
        }
    }
    let dir = root().join("tests/fuzz");
    let nightly = tool_version(&["+nightly", "--version"])
        .context("cargo fuzz needs a nightly toolchain: rustup toolchain install nightly")?;
    tool_version(&["+nightly", "fuzz", "--version"])
        .context("cargo-fuzz is missing: cargo install cargo-fuzz")?;

    let results_path = dir.join("results.json");
    let mut results: Value = std::fs::read_to_string(&results_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({ "targets": {} }));
    let mut failed = Vec::new();
    for target in &targets {
        let run = run_target(&dir, target, minutes)?;
        eprintln!(
            "    {target}: {} executions ({} /s), cov {}, ft {}, corpus {}, {} crash(es)",
            run.executions,
            run.exec_per_sec,
            run.coverage,
            run.features,
            run.corpus,
            run.crashes.len()
        );
        if !run.crashes.is_empty() {
            failed.push(format!("{target}: {}", run.crashes.join(", ")));
        }
        results["targets"][target] = json!({
            "minutes": minutes,
            "executions": run.executions,
            "exec_per_sec": run.exec_per_sec,
            "coverage": run.coverage,
            "features": run.features,
            "corpus": run.corpus,
            "new_units": run.new_units,
            "peak_rss_mb": run.peak_rss_mb,
            "crashes": run.crashes,
            "date": today(),
            "toolchain": nightly,
        });
        write_results(&dir, &results)?;
    }
    if !failed.is_empty() {
        bail!(
            "fuzzing found crashes (inputs in tests/fuzz/artifacts): {}",
            failed.join("; ")
        );
    }
    Ok(())
}

/// `cargo <args>` output's first line, if it runs.
fn tool_version(args: &[&str]) -> Result<String> {
    let out = plain_cargo().args(args).output()?;
    if !out.status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The rustup proxy `cargo`, free of the variables the outer (stable) cargo
/// set, so `+nightly` takes effect.
fn plain_cargo() -> Command {
    let mut c = Command::new("cargo");
    for v in [
        "RUSTUP_TOOLCHAIN",
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "CARGO_TARGET_DIR",
    ] {
        c.env_remove(v);
    }
    c
}

/// Runs one target for `minutes` and parses libFuzzer's report.
fn run_target(dir: &Path, target: &str, minutes: f64) -> Result<Run> {
    let work = dir.join("target/corpus").join(target);
    std::fs::create_dir_all(&work)?;
    let artifacts = dir.join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts)?;
    let before = crash_files(&artifacts);
    let seconds = (minutes * 60.0).round().max(1.0) as u64;
    eprintln!("==> cargo fuzz run {target} for {seconds} s");
    let mut c = plain_cargo();
    c.current_dir(dir)
        .args(["+nightly", "fuzz", "run", "-O", target])
        .arg(s(&work))
        .arg(s(&dir.join("corpus").join(target)))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", s(&artifacts)))
        .arg("-print_final_stats=1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let out = c
        .output()
        .with_context(|| format!("cannot start cargo fuzz for {target}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let log_path = dir.join("target").join(format!("{target}.log"));
    std::fs::write(&log_path, log.as_bytes())?;
    let mut run = parse_log(&log);
    run.crashes = crash_files(&artifacts)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if !out.status.success() && run.crashes.is_empty() {
        bail!(
            "cargo fuzz {target} failed without a crash input; see {}",
            s(&log_path)
        );
    }
    if run.executions == 0 {
        bail!("no libFuzzer statistics for {target}; see {}", s(&log_path));
    }
    Ok(run)
}

/// Crash, OOM and timeout inputs in an artifact directory.
fn crash_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    ["crash-", "oom-", "timeout-", "leak-"]
                        .iter()
                        .any(|p| n.starts_with(p))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Reads libFuzzer's final `#N DONE cov: .. ft: .. corp: ..` line and its
/// `stat::` lines.
fn parse_log(log: &str) -> Run {
    let mut run = Run::default();
    let field = |line: &str, key: &str| -> Option<u64> {
        let rest = line.split(key).nth(1)?;
        let word = rest.split_whitespace().next()?;
        word.split('/').next()?.parse().ok()
    };
    for line in log.lines() {
        if line.starts_with('#') && (line.contains("DONE") || line.contains("pulse")) {
            run.coverage = field(line, "cov: ").unwrap_or(run.coverage);
            run.features = field(line, "ft: ").unwrap_or(run.features);
            run.corpus = field(line, "corp: ").unwrap_or(run.corpus);
        }
        let stat = |name: &str| {
            line.strip_prefix(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(v) = stat("stat::number_of_executed_units:") {
            run.executions = v;
        }
        if let Some(v) = stat("stat::average_exec_per_sec:") {
            run.exec_per_sec = v;
        }
        if let Some(v) = stat("stat::new_units_added:") {
            run.new_units = v;
        }
        if let Some(v) = stat("stat::peak_rss_mb:") {
            run.peak_rss_mb = v;
        }
    }
    run
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the `date` command.
fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Writes `results.json` and the table in `RESULTS.md`.
fn write_results(dir: &Path, results: &Value) -> Result<()> {
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(results)? + "\n",
    )?;
    let mut md = String::from(
        "# Fuzzing results\n\n\
         Written by `cargo xtask fuzz --minutes N` (libFuzzer through cargo-fuzz, \
         `-O`, one job per target). Executions, coverage (`cov`: edges), features \
         (`ft`) and corpus size are libFuzzer's final statistics. Crash inputs are \
         kept in `artifacts/<target>/` and become regression cases in \
         `tests/tests/fuzz_bounded.rs`.\n\n\
         | target | minutes | executions | exec/s | cov | ft | corpus | crashes | date |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for t in TARGETS {
        let Some(r) = results["targets"].get(t) else {
            continue;
        };
        let crashes = r["crashes"]
            .as_array()
            .map(|a| {
                if a.is_empty() {
                    "0".to_string()
                } else {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            })
            .unwrap_or_default();
        md += &format!(
            "| `{t}` | {} | {} | {} | {} | {} | {} | {crashes} | {} |\n",
            r["minutes"],
            r["executions"],
            r["exec_per_sec"],
            r["coverage"],
            r["features"],
            r["corpus"],
            r["date"].as_str().unwrap_or("")
        );
    }
    if let Some(tc) = TARGETS
        .iter()
        .find_map(|t| results["targets"][t]["toolchain"].as_str())
    {
        md += &format!("\nToolchain: {tc}.\n");
    }
    std::fs::write(dir.join("RESULTS.md"), md)?;
    Ok(())
}
