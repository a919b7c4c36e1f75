//! Acceptance on the shared MLPerf Tiny bench (`MOTE_BENCH`, default
//! `../shared/bench`): TFLM bit-exactness of the tf2onnx QDQ models,
//! onnxruntime's QOperator/QDQ forms, arena and file size. Without the bench
//! these tests say so and skip.

use std::path::{Path, PathBuf};

use mote_cli::npy::Array;
use mote_tests::{bench_dir, compress_and_run, judge_against_ort, read_f32, read_i8, Judge};

/// Ideal layer-by-layer activation peaks (bytes) from the bench README.
const IDEAL_PEAKS: &[(&str, f64)] = &[("ic", 48.0), ("kws", 15.6), ("vww", 54.0), ("ad", 0.75)];

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn stem(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// The golden model directories and the bench's files.
struct Bench {
    golden: Vec<(String, PathBuf)>,
    onnx: Vec<PathBuf>,
    tflite: Vec<PathBuf>,
}

fn bench() -> Option<Bench> {
    let root = bench_dir()?;
    let mut onnx = Vec::new();
    files(&root, "onnx", &mut onnx);
    let mut tflite = Vec::new();
    files(&root, "tflite", &mut tflite);
    let mut golden = Vec::new();
    let mut inputs = Vec::new();
    files(&root, "npy", &mut inputs);
    for p in inputs.iter().filter(|p| stem(p) == "inputs.npy") {
        let dir = p.parent().unwrap().to_path_buf();
        if dir.join("outputs_tflm.npy").is_file() {
            golden.push((stem(&dir), dir));
        }
    }
    golden.sort();
    assert!(
        !golden.is_empty(),
        "the bench at {} has no golden/<model>/inputs.npy + outputs_tflm.npy",
        root.display()
    );
    Some(Bench {
        golden,
        onnx,
        tflite,
    })
}

/// The tf2onnx QDQ conversion of `model`: an .onnx naming the model that is
/// neither an onnxruntime form nor the softmax repro nor a float model.
fn tf2onnx_model<'a>(b: &'a Bench, model: &str) -> Option<&'a PathBuf> {
    let mut c: Vec<&PathBuf> = b
        .onnx
        .iter()
        .filter(|p| {
            let s = p.to_string_lossy().to_lowercase();
            stem(p).contains(model)
                && !s.contains("ort_quant")
                && !s.contains("repro")
                && !stem(p).contains("float")
                && !stem(p).contains("fp32")
        })
        .collect();
    c.sort_by_key(|p| {
        (
            !stem(p).contains("int8"),
            !stem(p).contains("qdq"),
            stem(p).len(),
        )
    });
    c.first().copied()
}

#[test]
fn bench_tf2onnx_models_are_bit_exact_with_tflite_micro() {
    let Some(b) = bench() else { return };
    let mut failures = Vec::new();
    for (model, dir) in &b.golden {
        let Some(onnx) = tf2onnx_model(&b, model) else {
            failures.push(format!("{model}: no tf2onnx .onnx found in the bench"));
            continue;
        };
        let (shape, input) = read_i8(&dir.join("inputs.npy")).unwrap();
        let (_, golden) = read_i8(&dir.join("outputs_tflm.npy")).unwrap();
        match compress_and_run(onnx, &shape, &Array::I8(input), false) {
            Ok(out) => {
                let Array::I8(got) = out.data else {
                    unreachable!()
                };
                let diff = got.iter().zip(&golden).filter(|(a, b)| a != b).count();
                eprintln!(
                    "{model:<6} {}: {} values, {diff} differ",
                    onnx.display(),
                    golden.len()
                );
                if diff != 0 || got.len() != golden.len() {
                    failures.push(format!("{model}: {diff} of {} values differ", golden.len()));
                }
            }
            Err(e) => failures.push(format!("{model} ({}): {e:#}", onnx.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bench_arena_and_file_size() {
    let Some(b) = bench() else { return };
    let mut failures = Vec::new();
    for (model, _) in &b.golden {
        let Some(onnx) = tf2onnx_model(&b, model) else {
            continue;
        };
        let (bytes, s) = mote_cli::compress::compress_bytes(onnx).unwrap();
        if let Some((_, kib)) = IDEAL_PEAKS.iter().find(|(m, _)| m == model) {
            let ratio = s.arena_bytes as f64 / (kib * 1024.0);
            eprintln!(
                "{model:<6} arena {} B = {ratio:.3} x ideal {kib} KiB",
                s.arena_bytes
            );
            if ratio > 1.10 {
                failures.push(format!("{model}: arena {ratio:.3}x the ideal peak"));
            }
        }
        if let Some(t) = b
            .tflite
            .iter()
            .find(|p| stem(p).contains(model) && !stem(p).contains("float"))
        {
            let t_len = std::fs::metadata(t).unwrap().len() as usize;
            eprintln!("{model:<6} .mote {} B vs .tflite {t_len} B", bytes.len());
            if bytes.len() > t_len {
                failures.push(format!(
                    "{model}: .mote {} B larger than {}",
                    bytes.len(),
                    t.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bench_onnxruntime_forms_agree_with_onnxruntime() {
    let Some(b) = bench() else { return };
    let mut failures = Vec::new();
    for (model, dir) in &b.golden {
        let Some(onnx) = tf2onnx_model(&b, model) else {
            continue;
        };
        // The float inputs onnxruntime saw: the golden int8 inputs dequantized
        // with the model's input quantization.
        let (bytes, _) = mote_cli::compress::compress_bytes(onnx).unwrap();
        let aligned = mote_cli::AlignedBytes::new(&bytes);
        let m = mote_runtime::Model::parse(aligned.as_slice()).unwrap();
        let inq = m.input(0).unwrap();
        let (shape, q) = read_i8(&dir.join("inputs.npy")).unwrap();
        let x: Vec<f32> = q
            .iter()
            .map(|&v| (i32::from(v) - inq.zero_point) as f32 * inq.scale)
            .collect();
        let judge = if model == "ad" {
            Judge::Autoencoder
        } else {
            Judge::Classifier
        };
        for form in ["_qop_std.onnx", "_ort_qdq.onnx"] {
            let Some(path) = b
                .onnx
                .iter()
                .find(|p| stem(p).contains(model) && stem(p).ends_with(form))
            else {
                eprintln!("{model}: no *{form} in the bench");
                continue;
            };
            let tag = if form.contains("qop") { "qop" } else { "qdq" };
            let mut refs = Vec::new();
            files(dir, "npy", &mut refs);
            let Some(reference) = refs
                .iter()
                .find(|p| stem(p).contains("ort") && stem(p).contains(tag))
            else {
                eprintln!(
                    "{model}: no onnxruntime {tag} outputs in {}; cannot judge {}",
                    dir.display(),
                    path.display()
                );
                continue;
            };
            let (_, ort) = read_f32(reference).unwrap();
            let result =
                compress_and_run(path, &shape, &Array::F32(x.clone()), true).and_then(|out| {
                    let Array::F32(ours) = out.data else {
                        anyhow::bail!("float output expected")
                    };
                    judge_against_ort(judge, &x, &ours, &ort, None, shape[0], 0.01)
                });
            match result {
                Ok(summary) => eprintln!("{model:<6} {}: {summary}", path.display()),
                Err(e) => failures.push(format!("{model} {}: {e:#}", path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
