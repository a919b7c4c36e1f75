//! `cargo xtask bench-host [--seconds S]`: Mote against tract on this host,
//! in the same run, for the four MLPerf-Tiny-shaped models (`tests/data`'s
//! stand-ins unless the bench is present). For each model it times, with
//! `mote bench --tract <float.onnx>` (median of repeated single-thread
//! inferences, release build): Mote's int8 model, Mote's f32 model
//! (`--weights f32`), tract typed and tract optimized on the float ONNX. It
//! writes `bench/results/RESULTS.md` and `host.json`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::util::{cargo, root, run, s, target_dir};

/// The four tasks' smaller stand-ins (the `*_full` models follow them).
const MODELS: [&str; 4] = ["ic", "kws", "vww", "ad"];

/// Entry point.
pub fn bench_host(args: &[String]) -> Result<()> {
    let mut seconds = 2.0f64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().context("--seconds needs a number")?;
                seconds = v.parse().context("--seconds: not a number")?;
            }
            other => bail!("bench-host: unknown option {other}"),
        }
    }
    let mut c = cargo();
    c.args(["build", "--release", "-p", "mote-cli", "--bin", "mote"]);
    run(c, "cargo build --release -p mote-cli (the mote tool)")?;
    let mote = target_dir().join("release/mote");
    let out = target_dir().join("xtask/bench-host");
    std::fs::create_dir_all(&out)?;
    let mut rows = Vec::new();
    for m in MODELS.iter().chain(crate::models::FULL_MODELS) {
        let dir = root().join("tests/data").join(m);
        let float = dir.join("model_float.onnx");
        let int8 = out.join(format!("{m}-int8.mote"));
        let f32m = out.join(format!("{m}-f32.mote"));
        tool(
            &mote,
            &["compress", &s(&dir.join("model_qdq.onnx")), "-o", &s(&int8)],
        )?;
        tool(
            &mote,
            &["compress", &s(&float), "--weights", "f32", "-o", &s(&f32m)],
        )?;
        let secs = seconds.to_string();
        let time = |model: &Path| -> Result<Value> {
            let o = Command::new(&mote)
                .args(["bench", &s(model), "--tract", &s(&float)])
                .args(["--seconds", &secs, "--json"])
                .output()
                .context("cannot run mote bench")?;
            if !o.status.success() {
                bail!("mote bench {m}: {}", String::from_utf8_lossy(&o.stderr));
            }
            Ok(serde_json::from_slice(&o.stdout)?)
        };
        eprintln!("==> time {m}: int8, f32, tract typed, tract optimized");
        let (a, b) = (time(&int8)?, time(&f32m)?);
        let us = |v: &Value, engine: &str| -> Result<f64> {
            v.as_array()
                .and_then(|e| e.iter().find(|x| x["engine"] == engine))
                .and_then(|x| x["median_us"].as_f64())
                .with_context(|| format!("no {engine} timing for {m}"))
        };
        // Batch throughput against worker threads (the int8 model).
        let o = Command::new(&mote)
            .args([
                "bench",
                &s(&int8),
                "--seconds",
                "0.01",
                "--threads",
                "0",
                "--json",
            ])
            .output()
            .context("cannot run mote bench --threads")?;
        if !o.status.success() {
            bail!(
                "mote bench --threads {m}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let scan: Value = serde_json::from_slice(&o.stdout)?;
        let row = json!({
            "model": m,
            "mote_int8_us": us(&a, "mote")?,
            "mote_f32_us": us(&b, "mote")?,
            // tract's own figures from the two runs; the int8 run's are used.
            "tract_typed_us": us(&a, "tract typed")?,
            "tract_optimized_us": us(&a, "tract optimized")?,
            "tract_optimized_us_f32_run": us(&b, "tract optimized")?,
            "throughput": scan["throughput"],
        });
        rows.push(row);
    }
    write(&rows, seconds)
}

/// Runs `mote` with `args`, failing with its stderr.
fn tool(mote: &Path, args: &[&str]) -> Result<()> {
    let o = Command::new(mote).args(args).output()?;
    if !o.status.success() {
        bail!(
            "mote {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(())
}

fn write(rows: &[Value], seconds: f64) -> Result<()> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mut md = format!(
        "# Host results (x86_64): Mote against tract, same run\n\n\
         Written by `cargo xtask bench-host` with `mote bench --tract` (release build): median \
         microseconds of repeated single-thread inferences, {seconds} s per engine, on one \
         deterministic input, CPU: {cpu}. Models: the `tests/data` stand-ins for the MLPerf \
         Tiny tasks (smaller networks of the same shapes; the bench is not on this machine). \
         Mote int8 is the model imported from the TFLite int8 model's QDQ form; Mote f32 is \
         the float ONNX compressed with `--weights f32`; tract runs the float ONNX, typed and \
         `into_optimized()`. A ratio above 1 means Mote is faster. Absolute times depend on \
         the machine; compare within one run.\n\n\
         | model | Mote int8 µs | Mote f32 µs | tract optimized µs | tract typed µs | tract optimized ÷ Mote int8 | tract optimized ÷ Mote f32 |\n\
         |---|---:|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}× | {:.2}× |",
            r["model"].as_str().unwrap_or("?"),
            f("mote_int8_us"),
            f("mote_f32_us"),
            f("tract_optimized_us"),
            f("tract_typed_us"),
            f("tract_optimized_us") / f("mote_int8_us"),
            f("tract_optimized_us_f32_run") / f("mote_f32_us"),
        );
    }
    md.push_str(
        "\nBatch throughput of the int8 model (`mote bench <model> --threads 0`: a batch of \
         64 inputs spread over worker threads that share one parsed model, each with its own \
         arena; best of three batches):\n\n| model | threads | inferences/s | speed-up |\n\
         |---|---:|---:|---:|\n",
    );
    for r in rows {
        for t in r["throughput"].as_array().into_iter().flatten() {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.2}× |",
                r["model"].as_str().unwrap_or("?"),
                t["threads"],
                t["inferences_per_s"].as_f64().unwrap_or(f64::NAN),
                t["speedup"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
    md.push_str(
        "\nThe f32 ratio uses tract's optimized time from the same `mote bench` call as \
         Mote f32. Emulated Cortex-M results: [qemu.md](qemu.md); signature \
         verification: [verify.md](verify.md).\n",
    );
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("RESULTS.md"), md)?;
    std::fs::write(
        dir.join("host.json"),
        serde_json::to_string_pretty(&json!({ "seconds": seconds, "cpu": cpu, "models": rows }))?
            + "\n",
    )?;
    eprintln!("    wrote bench/results/RESULTS.md and host.json");
    Ok(())
}
