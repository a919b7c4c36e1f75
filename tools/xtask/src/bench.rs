//! `cargo xtask bench [--skip-qemu] [--skip-host] [qemu and host options]`:
//! the whole benchmark suite. It runs `bench-qemu` (instructions on the
//! emulated Cortex-M cores, bit-exact with TFLite Micro's goldens) and
//! `bench-host` (Mote against tract on this host, same run), then merges
//! their results into `benchmarks/RESULTS.md` and `benchmarks/results.json`.
//!
//! `results.json` is a contract: a list of records with exactly the keys
//! `model`, `target`, `instructions`, `macs`, `arena_bytes`, `text_bytes`,
//! `latency_ns`, `peer`, `peer_value` and `bit_exact` (null where a key does
//! not apply to the target).

use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::util::root;

/// TFLite Micro + CMSIS-NN on the emulated Cortex-M4 for the full-size
/// MLPerf Tiny models (`docs/PEERS.md` in the shared folder): instructions
/// per inference and arena_used_bytes. Only comparable when the bench's
/// models are the ones measured.
const TFLM_M4: [(&str, u64, u64); 5] = [
    ("ic", 29_864_124, 54_996),
    ("kws", 7_697_873, 22_820),
    ("vww", 24_101_941, 100_708),
    ("ad", 582_975, 2_580),
    ("sww", 2_227_078, 16_596),
];

/// Target names of the emulated cores, by the core name `bench-qemu` prints.
fn target_of(core: &str) -> Option<&'static str> {
    match core {
        "Cortex-M4F" => Some("cortex-m4"),
        "Cortex-M7" => Some("cortex-m7"),
        "Cortex-M33" => Some("cortex-m33"),
        "Cortex-M55" => Some("cortex-m55"),
        _ => None,
    }
}

/// Entry point.
pub fn bench(args: &[String]) -> Result<()> {
    let mut qemu_args = Vec::new();
    let mut host_args = Vec::new();
    let (mut skip_qemu, mut skip_host) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--skip-qemu" => skip_qemu = true,
            "--skip-host" => skip_host = true,
            "--seconds" => {
                host_args.push(a.clone());
                host_args.push(it.next().context("--seconds needs a number")?.clone());
            }
            "--model" | "--machine" | "--samples" => {
                qemu_args.push(a.clone());
                let v = it.next().with_context(|| format!("{a} needs a value"))?;
                qemu_args.push(v.clone());
            }
            other => bail!("bench: unknown option {other}"),
        }
    }
    if !skip_qemu {
        crate::qemu::bench(&qemu_args)?;
    }
    if !skip_host {
        crate::bench_host::bench_host(&host_args)?;
    }
    merge()
}

/// Reads one of the part results, naming the command that writes it.
fn part(name: &str, command: &str) -> Result<Value> {
    let path = root().join("bench/results").join(name);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("bench/results/{name} is missing: run `{command}` first"))?;
    serde_json::from_str(&text).with_context(|| format!("bench/results/{name}: not JSON"))
}

/// Builds the contract records from `qemu.json` and `host.json`.
fn records(qemu: &Value, host: &Value, from_bench: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for r in qemu["runs"].as_array().into_iter().flatten() {
        let Some(target) = r["core"].as_str().and_then(target_of) else {
            continue;
        };
        let model = r["model"].as_str().unwrap_or("?");
        // The published peer counts are for the full-size bench models on
        // the M4; they are given for those models and for the `*_full`
        // models of `tests/data`, which have their exact layers and shapes.
        // `<model>+<variant>` (same network, other flags) compares too.
        let base = model.split('+').next().unwrap_or(model);
        let full = base.strip_suffix("_full");
        let peer = TFLM_M4
            .iter()
            .find(|(m, ..)| Some(*m) == full.or(Some(base)))
            .filter(|_| (from_bench || full.is_some()) && target == "cortex-m4");
        out.push(json!({
            "model": model,
            "target": target,
            "instructions": r["instructions_per_inference"],
            "macs": r["macs"],
            "arena_bytes": r["arena_bytes"],
            "text_bytes": r["firmware_code_bytes"],
            "latency_ns": null,
            "peer": peer.map(|_| "tflm+cmsis-nn instructions (docs/PEERS.md)"),
            "peer_value": peer.map(|p| p.1),
            "bit_exact": r["bit_exact"],
        }));
    }
    let macs_of = |model: &str| {
        qemu["runs"]
            .as_array()
            .and_then(|runs| runs.iter().find(|r| r["model"] == model))
            .map(|r| r["macs"].clone())
            .unwrap_or(Value::Null)
    };
    for h in host["models"].as_array().into_iter().flatten() {
        let model = h["model"].as_str().unwrap_or("?");
        let ns = |k: &str| h[k].as_f64().map(|us| (us * 1000.0).round() as u64);
        for (variant, key, peer_key) in [
            ("int8", "mote_int8_us", "tract_optimized_us"),
            ("f32", "mote_f32_us", "tract_optimized_us_f32_run"),
        ] {
            out.push(json!({
                "model": if variant == "int8" { model.to_string() } else { format!("{model}-f32") },
                "target": "x86_64",
                "instructions": null,
                "macs": macs_of(model),
                "arena_bytes": null,
                "text_bytes": null,
                "latency_ns": ns(key),
                "peer": "tract-onnx into_optimized() float model, same run",
                "peer_value": ns(peer_key),
                // The host int8 model is checked bit-exact against TFLite
                // Micro's goldens by the test suite (tests/tests/tflm_goldens.rs);
                // the f32 model is float and has no bit-exact oracle.
                "bit_exact": if variant == "int8" { Value::Bool(true) } else { Value::Null },
            }));
        }
    }
    out
}

/// Writes `benchmarks/RESULTS.md` and `benchmarks/results.json`.
fn merge() -> Result<()> {
    let qemu = part("qemu.json", "cargo xtask bench-qemu")?;
    let host = part("host.json", "cargo xtask bench-host")?;
    let from_bench = qemu["models"].as_array().into_iter().flatten().any(|m| {
        m["origin"]
            .as_str()
            .is_some_and(|o| o.starts_with("MLPerf"))
    });
    let recs = records(&qemu, &host, from_bench);
    let dir = root().join("benchmarks");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&recs)? + "\n",
    )?;
    std::fs::write(
        dir.join("RESULTS.md"),
        markdown(&recs, &qemu, &host, from_bench),
    )?;
    println!("wrote benchmarks/RESULTS.md and benchmarks/results.json");
    Ok(())
}

/// The human summary, with the commands that produce every figure.
fn markdown(recs: &[Value], qemu: &Value, host: &Value, from_bench: bool) -> String {
    let origin = if from_bench {
        "the MLPerf Tiny bench models (int8 TFLite models imported from their QDQ form)"
    } else {
        "the `tests/data` models, because the MLPerf Tiny bench was not on the machine that \
         wrote this file: `ic`, `kws`, `vww`, `ad`, `sww` are smaller networks of the same \
         kinds, and `ic_full`, `kws_full`, `vww_full`, `ad_full` have the bench models' exact \
         layers and shapes (trained on synthetic data), each with its own TFLite Micro \
         goldens. The peer counts (TFLite Micro + CMSIS-NN on the bench models, shared \
         `docs/PEERS.md`) are given for the `_full` models only"
    };
    let origin = format!(
        "{origin}. `ad_full+wide` is `ad_full` compressed with `mote compress --wide-fc` \
         (FullyConnected filters stored widened to 16 bits: same outputs, twice the filter \
         flash)"
    );
    let mut md = format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench` (which runs `cargo xtask bench-qemu` and \
         `cargo xtask bench-host`; `--skip-qemu` / `--skip-host` reuse the last part \
         results in `bench/results/`). Models: {origin}.\n\n\
         ## Emulated Cortex-M\n\n\
         Instructions executed per inference under QEMU ({}), counted with `-icount shift=0`: \
         instructions, **not cycles or time**. Every output compared bit for bit with TFLite \
         Micro's golden outputs. `.text` is the whole golden firmware's code (runtime, kernels, \
         the model's parser and the test harness). Per-layer counts: \
         [bench/results/qemu.md](../bench/results/qemu.md).\n\n\
         | model | target | instructions | MACs | MACs / instruction | arena (B) | firmware .text (B) | bit-exact | peer | peer value |\n\
         |---|---|---:|---:|---:|---:|---:|---|---|---:|\n",
        qemu["qemu"].as_str().unwrap_or("version unknown")
    );
    let num = |v: &Value| v.as_u64().map_or("–".to_string(), |n| n.to_string());
    for r in recs.iter().filter(|r| r["target"] != "x86_64") {
        let ratio = match (r["macs"].as_f64(), r["instructions"].as_f64()) {
            (Some(m), Some(i)) if i > 0.0 => format!("{:.3}", m / i),
            _ => "–".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {ratio} | {} | {} | {} | {} | {} |",
            r["model"].as_str().unwrap_or("?"),
            r["target"].as_str().unwrap_or("?"),
            num(&r["instructions"]),
            num(&r["macs"]),
            num(&r["arena_bytes"]),
            num(&r["text_bytes"]),
            if r["bit_exact"] == true { "yes" } else { "NO" },
            r["peer"].as_str().unwrap_or("–"),
            num(&r["peer_value"]),
        );
    }
    let _ = write!(
        md,
        "\n## Host ({})\n\n\
         Median latency of repeated single-thread inferences ({} s per engine, release build, \
         `mote bench --tract`), Mote against tract-onnx's `into_optimized()` float model in the \
         same run. Ratio = tract ÷ Mote: above 1, Mote is faster. Details: \
         [bench/results/RESULTS.md](../bench/results/RESULTS.md).\n\n\
         | model | Mote (ns) | tract optimized float (ns) | tract ÷ Mote |\n\
         |---|---:|---:|---:|\n",
        host["cpu"].as_str().unwrap_or("unknown CPU"),
        host["seconds"].as_f64().unwrap_or(f64::NAN),
    );
    for r in recs.iter().filter(|r| r["target"] == "x86_64") {
        let ratio = match (r["peer_value"].as_f64(), r["latency_ns"].as_f64()) {
            (Some(p), Some(l)) if l > 0.0 => format!("{:.2}×", p / l),
            _ => "–".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {ratio} |",
            r["model"].as_str().unwrap_or("?"),
            num(&r["latency_ns"]),
            num(&r["peer_value"]),
        );
    }
    md.push_str(
        "\n`<model>` is Mote's int8 model, `<model>-f32` the float model compressed with \
         `--weights f32`.\n\n\
         `results.json` holds one record per row above with the keys `model`, `target`, \
         `instructions`, `macs`, `arena_bytes`, `text_bytes`, `latency_ns`, `peer`, \
         `peer_value`, `bit_exact` (null where a key does not apply).\n",
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_exactly_the_contract_keys() {
        let qemu = json!({"runs": [{"core": "Cortex-M4F", "model": "ic",
            "instructions_per_inference": 10, "macs": 5, "arena_bytes": 3,
            "firmware_code_bytes": 7, "bit_exact": true}], "models": []});
        let host = json!({"models": [{"model": "ic", "mote_int8_us": 1.5,
            "mote_f32_us": 2.0, "tract_optimized_us": 3.0,
            "tract_optimized_us_f32_run": 3.1}]});
        let recs = records(&qemu, &host, true);
        assert_eq!(recs.len(), 3);
        let keys = [
            "arena_bytes",
            "bit_exact",
            "instructions",
            "latency_ns",
            "macs",
            "model",
            "peer",
            "peer_value",
            "target",
            "text_bytes",
        ];
        for r in &recs {
            let mut k: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
            k.sort_unstable();
            assert_eq!(k, keys);
        }
        assert_eq!(recs[0]["target"], "cortex-m4");
        assert_eq!(recs[0]["peer_value"], 29_864_124);
        assert_eq!(recs[1]["latency_ns"], 1500);
        assert_eq!(recs[1]["peer_value"], 3000);
        assert_eq!(recs[1]["macs"], 5);
        assert_eq!(recs[2]["model"], "ic-f32");
        // Stand-ins get no peer: the published counts are for other models.
        assert!(records(&qemu, &host, false)[0]["peer"].is_null());
        // The exact-shape models do, on the M4 only.
        let full = json!({"runs": [
            {"core": "Cortex-M4F", "model": "kws_full", "instructions_per_inference": 10,
             "macs": 5, "arena_bytes": 3, "firmware_code_bytes": 7, "bit_exact": true},
            {"core": "Cortex-M55", "model": "kws_full", "instructions_per_inference": 9,
             "macs": 5, "arena_bytes": 3, "firmware_code_bytes": 7, "bit_exact": true}],
            "models": []});
        let r = records(&full, &json!({"models": []}), false);
        assert_eq!(r[0]["peer_value"], 7_697_873);
        assert!(r[1]["peer"].is_null());
    }
}
