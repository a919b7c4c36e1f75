//! `mote compress --prune-channels` and `mote prune-scan` on bad values:
//! one clear `error:` line, a non-zero exit and no output file; and the
//! refit `mote compress --prune` does unless `--no-reconstruct`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn model(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/medmnist_cnn")
        .join(rel)
}

/// Runs `mote` and returns (success, stderr).
fn mote(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(args)
        .output()
        .expect("cannot start the mote binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_channel_fractions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.mote");
    let float = model("medmnist_cnn_float.onnx");
    let calib = model("calib.npy");
    for (value, says) in [
        ("-0.1", "at least 0 and below 1"),
        ("1", "at least 0 and below 1"),
        ("1.5", "at least 0 and below 1"),
        ("100%", "at least 0 and below 1"),
        ("half", "is not a number"),
        ("", "is not a number"),
    ] {
        let (ok, err) = mote(&[
            "compress",
            float.to_str().unwrap(),
            "--calibration",
            calib.to_str().unwrap(),
            &format!("--prune-channels={value}"),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(!ok, "--prune-channels {value:?} was accepted");
        assert!(
            err.starts_with("error: ") && err.contains("--prune-channels") && err.contains(says),
            "--prune-channels {value:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!out.exists());
    }
    // Without calibration data there is nothing to refit on.
    let (ok, err) = mote(&[
        "compress",
        float.to_str().unwrap(),
        "--prune-channels",
        "0.25",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("needs --calibration"), "{err}");
    let (ok, err) = mote(&[
        "compress",
        float.to_str().unwrap(),
        "--calibration",
        calib.to_str().unwrap(),
        "--no-reconstruct",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && err
            .contains("--no-reconstruct goes with --prune, --prune-layer or --prune-channels"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_scan_options_are_refused() {
    let float = model("medmnist_cnn_float.onnx");
    let calib = model("calib.npy");
    let data = model("test_x.npy");
    for (flag, value, says) in [
        ("--levels", "0.5,1.2", "below 1"),
        ("--levels", "0", "at least one sparsity above 0"),
        ("--target-size", "lots", "is not a size"),
        ("--target-size", "-5KB", "must be positive"),
    ] {
        let (ok, err) = mote(&[
            "prune-scan",
            float.to_str().unwrap(),
            "--calibration",
            calib.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            &format!("{flag}={value}"),
        ]);
        assert!(!ok, "{flag} {value} was accepted");
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{flag} {value}: {err}"
        );
    }
}

#[test]
fn prune_scan_meets_a_target_size() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/imu_motions");
    let out = Command::new(env!("CARGO_BIN_EXE_mote"))
        .arg("prune-scan")
        .arg(dir.join("imu_motions_float.onnx"))
        .arg("--calibration")
        .arg(dir.join("calib.npy"))
        .arg("--data")
        .arg(dir.join("test_x.npy"))
        .args(["--levels", "0.5", "--target-size", "5000", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["layers"].as_array().unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), layers.len());
    let total: u64 = layers.iter().map(|l| l["weights"].as_u64().unwrap()).sum();
    assert!(total > 5000, "{total}");
    let s = &v["suggestion"];
    assert_eq!(s["met"], true);
    assert!(s["weight_bytes"].as_u64().unwrap() <= 5000);
    // Pruning a layer costs SQNR; so does the suggestion.
    let base = v["baseline"]["sqnr_db"].as_f64().unwrap();
    for r in rows {
        assert!(r["measure"]["sqnr_db"].as_f64().unwrap() < base, "{r}");
    }
    assert!(s["measured"]["sqnr_db"].as_f64().unwrap() < base);
    assert!(!s["levels"].as_array().unwrap().is_empty());
}

#[test]
fn prune_refits_by_default_and_no_reconstruct_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let float = model("medmnist_cnn_float.onnx");
    let calib = model("calib.npy");
    let run = |extra: &[&str], name: &str| {
        let out = dir.path().join(name);
        let mut args = vec![
            "compress",
            float.to_str().unwrap(),
            "--calibration",
            calib.to_str().unwrap(),
            "--prune",
            "0.5",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (ok, err) = mote(&args);
        assert!(ok, "{err}");
        (std::fs::read(&out).unwrap(), err)
    };
    let (refitted, said) = run(&[], "refit.mote");
    // One line per pruned layer, the error falling.
    let lines: Vec<&str> = said
        .lines()
        .filter(|l| l.starts_with("refitted pruned layer"))
        .collect();
    assert_eq!(lines.len(), 4, "{said}");
    assert!(
        said.contains("refitted pruned layer '/features/features.4/Conv'"),
        "{said}"
    );
    // Half the weights are zero: the tool says what sparse storage saves.
    assert!(
        said.contains("--sparse-weights would store the weights in about"),
        "{said}"
    );
    let (plain, said) = run(&["--no-reconstruct"], "plain.mote");
    assert!(!said.contains("refitted"), "{said}");
    assert_ne!(refitted, plain, "the refit changed nothing");
    // Stored sparse: smaller, and nothing left to suggest.
    let (sparse, said) = run(&["--sparse-weights"], "sparse.mote");
    assert!(sparse.len() < refitted.len());
    assert!(!said.contains("--sparse-weights would"), "{said}");
}

#[test]
fn refitted_and_sequential_models_take_analytic_bias_correction() {
    // The refit and the sequential rounding give weights new constants;
    // the analytic correction still finds the teacher's.
    let dir = tempfile::tempdir().unwrap();
    let float = model("medmnist_cnn_float.onnx");
    let calib = model("calib.npy");
    for extra in [
        &["--prune", "0.5"][..],
        &["--optimize-rounding=sequential"][..],
    ] {
        let out = dir.path().join("m.mote");
        let mut args = vec![
            "compress",
            float.to_str().unwrap(),
            "--calibration",
            calib.to_str().unwrap(),
            "--bias-correction=analytic",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (ok, err) = mote(&args);
        assert!(ok, "{extra:?}: {err}");
        assert!(out.exists());
    }
}
