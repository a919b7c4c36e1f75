//! The example models in `models/`: every folder with a `metrics.json` is
//! quantized by Mote with its committed calibration set and evaluated on its
//! committed held-out split, as `models/measure.py` does with the CLI.
//!
//! - int8 accuracy must be within 1.0 point of float;
//! - float and int8 accuracy, `.mote` size, arena bytes and MACs must equal
//!   the model's row in `models/README.md` and, where `models/measure.py`
//!   wrote one, the `mote` section of its `metrics.json`, so the published
//!   numbers cannot drift from what the code measures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mote_cli::npy;
use mote_cli::quantize::Options;
use mote_tests::root;

/// One row of the table in `models/README.md`, as printed.
#[derive(Debug, Clone)]
struct Row {
    float_acc: String,
    int8_acc: String,
    mote_bytes: u64,
    arena_bytes: u64,
    macs: u64,
}

/// What Mote measures for one model.
#[derive(Debug)]
struct Measured {
    samples: usize,
    float_acc: f64,
    int8_acc: f64,
    file_bytes: usize,
    arena_bytes: usize,
    macs: u64,
}

fn models_dir() -> PathBuf {
    root().join("models")
}

/// Model folders with a `metrics.json`, sorted by name.
fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .expect("models/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join("metrics.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn name_of(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// `"6,184 B"` or `"46,848"` as a number.
fn number(cell: &str) -> u64 {
    let digits: String = cell.chars().filter(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

/// `"98.06 %"` as `"98.06"`.
fn percent(cell: &str) -> String {
    cell.trim().trim_end_matches('%').trim().to_string()
}

/// The model table of `models/README.md`, keyed by model (folder) name.
fn readme_rows() -> BTreeMap<String, Row> {
    let text = std::fs::read_to_string(models_dir().join("README.md")).unwrap();
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = text
        .lines()
        .find(|l| l.starts_with("| model |"))
        .expect("models/README.md has a table whose first column is `model`");
    let header = cells(header);
    let col = |pred: &dyn Fn(&str) -> bool, what: &str| -> usize {
        header
            .iter()
            .position(|h| pred(h))
            .unwrap_or_else(|| panic!("models/README.md table has no {what} column"))
    };
    let c_float = col(&|h| h.starts_with("float acc"), "float accuracy");
    let c_int8 = col(&|h| h.starts_with("int8 acc. (Mote"), "Mote int8 accuracy");
    let c_size = col(&|h| h.contains(".mote"), "`.mote` size");
    let c_arena = col(&|h| h == "arena", "arena");
    let c_macs = col(&|h| h == "MACs", "MACs");
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| [")) {
        let c = cells(line);
        // `[name](name/README.md)`
        let name = c[0]
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap()
            .to_string();
        rows.insert(
            name,
            Row {
                float_acc: percent(&c[c_float]),
                int8_acc: percent(&c[c_int8]),
                mote_bytes: number(&c[c_size]),
                arena_bytes: number(&c[c_arena]),
                macs: number(&c[c_macs]),
            },
        );
    }
    rows
}

/// Quantizes `models/<name>/<name>_float.onnx` with `calib.npy` and
/// evaluates it on `test_x.npy` / `test_y.npy`.
fn measure(dir: &Path) -> Measured {
    let name = name_of(dir);
    let onnx = dir.join(format!("{name}_float.onnx"));
    let (bytes, summary) =
        mote_cli::compress::quantize_bytes(&onnx, &dir.join("calib.npy"), &Options::default())
            .unwrap_or_else(|e| panic!("{name}: quantize: {e:#}"));
    // The model input is one sample of the test set.
    let (shape, _) = npy::read(&dir.join("test_x.npy")).unwrap();
    let mut input_shape = shape.clone();
    input_shape[0] = 1;
    let inputs =
        mote_cli::quantize::data::load_samples(&dir.join("test_x.npy"), &input_shape).unwrap();
    let labels = npy::read_labels(&dir.join("test_y.npy")).unwrap();
    assert_eq!(
        inputs.len(),
        labels.len(),
        "{name}: test_x and test_y differ in length"
    );
    let aligned = mote_cli::AlignedBytes::new(&bytes);
    let r = mote_cli::eval::evaluate(aligned.as_slice(), &onnx, &inputs, Some(&labels))
        .unwrap_or_else(|e| panic!("{name}: eval: {e:#}"));
    assert_eq!(r.arena_bytes, summary.arena_bytes);
    Measured {
        samples: r.samples,
        float_acc: r.float_accuracy.unwrap(),
        int8_acc: r.int8_accuracy.unwrap(),
        file_bytes: summary.file_bytes,
        arena_bytes: summary.arena_bytes,
        macs: summary.macs,
    }
}

/// Every way `m` disagrees with the README row and `metrics.json`.
fn mismatches(name: &str, dir: &Path, m: &Measured, row: Option<&Row>) -> Vec<String> {
    let mut bad = Vec::new();
    let f = format!("{:.2}", 100.0 * m.float_acc);
    let q = format!("{:.2}", 100.0 * m.int8_acc);
    if m.float_acc - m.int8_acc > 0.01 + 1e-9 {
        bad.push(format!(
            "{name}: int8 loses {:.2} points (float {f} %, int8 {q} %); at most 1.0 allowed",
            100.0 * (m.float_acc - m.int8_acc)
        ));
    }
    match row {
        None => bad.push(format!(
            "{name}: models/README.md has no row `| [{name}]({name}/README.md) | ...`"
        )),
        Some(r) => {
            let pairs = [
                ("float accuracy", r.float_acc.clone(), f.clone()),
                ("int8 accuracy", r.int8_acc.clone(), q.clone()),
                (
                    "`.mote` bytes",
                    r.mote_bytes.to_string(),
                    m.file_bytes.to_string(),
                ),
                (
                    "arena bytes",
                    r.arena_bytes.to_string(),
                    m.arena_bytes.to_string(),
                ),
                ("MACs", r.macs.to_string(), m.macs.to_string()),
            ];
            for (what, readme, measured) in pairs {
                if readme != measured {
                    bad.push(format!(
                        "{name}: models/README.md says {what} {readme}, measured {measured}"
                    ));
                }
            }
        }
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap())
            .unwrap_or_else(|e| panic!("{name}: metrics.json: {e}"));
    if let Some(rec) = metrics.get("mote") {
        let get_f = |k: &str| rec[k].as_f64().unwrap_or(f64::NAN);
        let get_u = |k: &str| rec[k].as_u64().unwrap_or(u64::MAX);
        let checks = [
            (
                "float_accuracy",
                (get_f("float_accuracy") - m.float_acc).abs() < 1e-12,
            ),
            (
                "int8_accuracy",
                (get_f("int8_accuracy") - m.int8_acc).abs() < 1e-12,
            ),
            ("samples", get_u("samples") == m.samples as u64),
            ("file_bytes", get_u("file_bytes") == m.file_bytes as u64),
            ("arena_bytes", get_u("arena_bytes") == m.arena_bytes as u64),
            ("macs", get_u("macs") == m.macs),
        ];
        for (key, ok) in checks {
            if !ok {
                bad.push(format!(
                    "{name}: metrics.json mote.{key} = {} differs from the measured value \
                     (re-run models/measure.py)",
                    rec[key]
                ));
            }
        }
    }
    bad
}

#[test]
fn example_models_keep_their_accuracy_and_published_numbers() {
    let dirs = model_dirs();
    assert!(
        dirs.len() >= 5,
        "expected digits and the four recipe-made models under models/"
    );
    let rows = readme_rows();
    // One thread per model: the slow ones (conv models) overlap.
    let measured: Vec<(PathBuf, Measured)> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|d| {
                s.spawn(move || {
                    let t = std::time::Instant::now();
                    let m = measure(d);
                    eprintln!(
                        "{}: measured in {:.1} s",
                        name_of(d),
                        t.elapsed().as_secs_f64()
                    );
                    (d.clone(), m)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("measuring thread panicked"))
            .collect()
    });
    let mut bad = Vec::new();
    for (dir, m) in &measured {
        let name = name_of(dir);
        eprintln!(
            "{name}: {} samples, float {:.2} %, int8 {:.2} %, {} B, arena {} B, {} MACs",
            m.samples,
            100.0 * m.float_acc,
            100.0 * m.int8_acc,
            m.file_bytes,
            m.arena_bytes,
            m.macs
        );
        bad.extend(mismatches(&name, dir, m, rows.get(&name)));
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn every_readme_row_has_a_model_folder() {
    let names: Vec<String> = model_dirs().iter().map(|d| name_of(d)).collect();
    for name in readme_rows().keys() {
        assert!(
            names.contains(name),
            "models/README.md lists {name}, but models/{name}/metrics.json does not exist"
        );
    }
}
