//! The `mote` binary on bad inputs: every failure is one `error: ...` line
//! on stderr naming the problem, a non-zero exit, no panic or backtrace text,
//! and no output (or temporary) file left behind. Plus the success paths
//! whose numbers the failures are judged against.
//!
//! The small ONNX files under `tests/data` are made by `make_bad_onnx.py`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use mote_cli::npy::{self, Array};
use tempfile::TempDir;

// ---------------------------------------------------------------- helpers

/// The project's oracle data (`tests/data` at the workspace root).
fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(rel)
}

/// This crate's hand-made ONNX files.
fn onnx(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn mote<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(args)
        // A panic must not turn into a backtrace even when one is asked for.
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("cannot start the mote binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a clean failure and returns its message: exit code 1, nothing on
/// stdout, one line `error: ...` on stderr with no panic text, containing
/// every one of `needles`.
#[track_caller]
fn fails(out: &Output, needles: &[&str]) -> String {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit status {:?}; stderr: {stderr}",
        out.status
    );
    assert!(
        stdout.is_empty(),
        "a failing command printed to stdout: {stdout}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr is not one line: {stderr:?}");
    let line = lines[0];
    assert!(
        line.starts_with("error: "),
        "stderr does not start with 'error: ': {line}"
    );
    for bad in [
        "panicked",
        "backtrace",
        "RUST_BACKTRACE",
        "internal error",
        "thread '",
    ] {
        assert!(!line.contains(bad), "panic text ({bad}) in: {line}");
    }
    for needle in needles {
        assert!(
            line.contains(needle),
            "message does not mention {needle:?}: {line}"
        );
    }
    line.to_string()
}

#[track_caller]
fn succeeds(out: &Output) -> String {
    assert!(out.status.success(), "mote failed: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A scratch directory for one test's outputs.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("cannot make a temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn entries(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Runs `args`, which must fail naming `needles`, and checks that
    /// `output` was not created and nothing else appeared in the directory.
    #[track_caller]
    fn fails_without_output<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        output: &Path,
        needles: &[&str],
    ) -> String {
        let before = self.entries();
        let msg = fails(&mote(args), needles);
        assert!(
            !output.exists(),
            "{} was written by a failing command",
            output.display()
        );
        assert_eq!(
            self.entries(),
            before,
            "a failing command left files behind"
        );
        msg
    }
}

/// The image classifier, compressed once per test process.
fn ic_mote() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        mote_cli::compress::compress_bytes(&data("ic/model_qdq.onnx"))
            .unwrap()
            .0
    })
}

/// A `.npy` of any dtype, written by hand (the tool writes only int8/float32).
fn raw_npy(descr: &str, shape: &[usize], elem_size: usize) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_str = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_str}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + shape.iter().product::<usize>() * elem_size, 0);
    out
}

// --------------------------------------------------------------- compress

#[test]
fn compress_missing_input() {
    let s = Scratch::new();
    let out = s.path("m.mote");
    let input = s.path("no_such_model.onnx");
    s.fails_without_output(
        &[
            OsStr::new("compress"),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        &out,
        &["cannot read", "no_such_model.onnx"],
    );
}

#[test]
fn compress_files_that_are_not_onnx() {
    let s = Scratch::new();
    let out = s.path("m.mote");
    let onnx_bytes = std::fs::read(data("ic/model_qdq.onnx")).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let cases: [(&str, &[u8], &[&str]); 4] = [
        (
            "random.onnx",
            &random,
            &["random.onnx", "not a readable ONNX model"],
        ),
        ("blank.onnx", &[], &["blank.onnx", "empty"]),
        (
            "cut.onnx",
            &onnx_bytes[..onnx_bytes.len() / 3],
            &["cut.onnx", "not a readable ONNX model"],
        ),
        (
            "text.onnx",
            b"hello, this is not a model\n",
            &["text.onnx", "not a readable ONNX model"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let input = s.write(name, bytes);
        s.fails_without_output(
            &[
                OsStr::new("compress"),
                input.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
            &out,
            needles,
        );
    }
}

#[test]
fn compress_hand_made_models() {
    let s = Scratch::new();
    let out = s.path("m.mote");
    let compress = |name: &str| -> Vec<std::ffi::OsString> {
        vec![
            "compress".into(),
            onnx(name).into(),
            "-o".into(),
            out.clone().into(),
        ]
    };
    // The control: one quantized Sigmoid, in order, fixed shapes.
    succeeds(&mote(&compress("sigmoid_ok.onnx")));
    assert!(out.is_file());
    std::fs::remove_file(&out).unwrap();

    // An op outside the supported set: the node, the op and the supported list.
    s.fails_without_output(
        &compress("erf.onnx"),
        &out,
        &["my_erf", "Erf", "supports", "Conv", "Softmax"],
    );
    // The same Sigmoid graph with one defect each.
    s.fails_without_output(
        &compress("out_of_order.onnx"),
        &out,
        &["sigmoid0", "topological order"],
    );
    s.fails_without_output(&compress("cyclic.onnx"), &out, &["add_cycle", "cycle"]);
    s.fails_without_output(
        &compress("dynamic_dim.onnx"),
        &out,
        &["'x'", "dynamic dimension 1", "fixed shapes"],
    );
    // A float model: told it is not quantized (or which node cannot run).
    let msg = s.fails_without_output(&compress("float_relu.onnx"), &out, &["float_relu.onnx"]);
    assert!(msg.contains("float") || msg.contains("relu0"), "{msg}");
}

#[test]
fn compress_to_an_unwritable_place() {
    let s = Scratch::new();
    let model = data("ic/model_qdq.onnx");
    // A directory that does not exist (and is not created).
    let missing = s.path("no_such_dir").join("m.mote");
    s.fails_without_output(
        &[
            OsStr::new("compress"),
            model.as_os_str(),
            "-o".as_ref(),
            missing.as_os_str(),
        ],
        &missing,
        &["cannot write", "no_such_dir", "does not exist"],
    );
    assert!(!s.path("no_such_dir").exists());
    // The output path is an existing directory: no temporary file is left in it.
    let dir = s.path("a_dir");
    std::fs::create_dir(&dir).unwrap();
    fails(
        &mote(&[
            OsStr::new("compress"),
            model.as_os_str(),
            "-o".as_ref(),
            dir.as_os_str(),
        ]),
        &["cannot write", "a_dir"],
    );
    assert!(dir.is_dir());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a temporary file was left in {}",
        dir.display()
    );
    assert_eq!(s.entries(), BTreeSet::from(["a_dir".to_string()]));
    // A file system that takes no new files.
    let out = fails(
        &mote(&[
            OsStr::new("compress"),
            model.as_os_str(),
            "-o".as_ref(),
            "/proc/x".as_ref(),
        ]),
        &["cannot write /proc/x"],
    );
    assert!(
        !out.contains(".tmp"),
        "the message names a temporary file: {out}"
    );
    assert!(!Path::new("/proc/x").exists());
}

// ---------------------------------------------------------------- inspect

#[test]
fn inspect_bad_files() {
    let s = Scratch::new();
    let good = ic_mote();
    let inspect = |p: &Path| mote(&[OsStr::new("inspect"), p.as_os_str()]);

    let cut = s.write("cut.mote", &good[..good.len() / 2]);
    fails(&inspect(&cut), &["invalid model", "truncated"]);
    let header_only = s.write("header.mote", &good[..20]);
    fails(&inspect(&header_only), &["truncated"]);

    let mut flipped = good.to_vec();
    flipped[good.len() - 100] ^= 0x04;
    let flipped = s.write("flipped.mote", &flipped);
    fails(&inspect(&flipped), &["corrupt", "CRC"]);

    fails(&inspect(&data("ic/model_qdq.onnx")), &["not a .mote"]);
    fails(&inspect(&data("ic/inputs.npy")), &["not a .mote"]);
    let blank = s.write("blank.mote", &[]);
    fails(&inspect(&blank), &["truncated"]);
    fails(
        &inspect(&s.path("missing.mote")),
        &["cannot read", "missing.mote"],
    );

    let mut v2 = good.to_vec();
    v2[4] = 2;
    let v2 = s.write("v2.mote", &v2);
    fails(&inspect(&v2), &["version 2"]);
}

#[test]
fn inspect_json_agrees_with_compress_json() {
    let s = Scratch::new();
    let out = s.path("ic.mote");
    let compressed = succeeds(&mote(&[
        OsStr::new("compress"),
        data("ic/model_qdq.onnx").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]));
    let c: serde_json::Value =
        serde_json::from_str(compressed.trim()).expect("compress --json is not JSON");
    let inspected = succeeds(&mote(&[
        OsStr::new("inspect"),
        out.as_os_str(),
        "--json".as_ref(),
    ]));
    let i: serde_json::Value =
        serde_json::from_str(&inspected).expect("inspect --json is not JSON");
    for key in [
        "file_bytes",
        "weights_bytes",
        "arena_bytes",
        "macs",
        "inputs",
        "outputs",
        "ops",
    ] {
        assert!(
            i.get(key).is_some(),
            "inspect --json lacks {key}: {inspected}"
        );
    }
    assert!(i["arena_bytes"].as_u64().unwrap() > 0);
    assert_eq!(i["arena_bytes"], c["arena_bytes"]);
    assert_eq!(i["file_bytes"], c["file_bytes"]);
    assert_eq!(
        i["file_bytes"].as_u64(),
        Some(std::fs::metadata(&out).unwrap().len())
    );
    assert_eq!(i["weights_bytes"], c["weights_bytes"]);
    assert_eq!(i["macs"], c["macs"]);
    assert_eq!(
        i["ops"].as_array().unwrap().len() as u64,
        c["ops"].as_u64().unwrap()
    );
    assert_eq!(i["inputs"][0]["shape"], serde_json::json!([1, 32, 32, 3]));
    assert_eq!(i["outputs"][0]["shape"], serde_json::json!([1, 10]));
    // The human form names the same ops.
    let human = succeeds(&mote(&[OsStr::new("inspect"), out.as_os_str()]));
    assert!(
        human.contains("Conv2d") && human.contains("Softmax"),
        "{human}"
    );
}

/// `--wide-fc` stores the FullyConnected filters widened (`inspect` says
/// so, at twice the int8 bytes) and changes no output; it cannot be combined
/// with `--sparse-weights`.
#[test]
fn compress_wide_fc() {
    let s = Scratch::new();
    let model = s.path("ad.mote");
    succeeds(&mote(&[
        OsStr::new("compress"),
        data("ad/model_qdq.onnx").as_os_str(),
        "-o".as_ref(),
        model.as_os_str(),
        "--wide-fc".as_ref(),
    ]));
    let shown = succeeds(&mote(&[OsStr::new("inspect"), model.as_os_str()]));
    let wide_rows = shown.lines().filter(|l| l.contains(" wide ")).count();
    assert_eq!(wide_rows, 5, "{shown}");
    let out = s.path("out.npy");
    succeeds(&mote(&[
        OsStr::new("run"),
        model.as_os_str(),
        "-i".as_ref(),
        data("ad/inputs.npy").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]));
    let (_, got) = npy::read(&out).unwrap();
    let (_, want) = npy::read(&data("ad/outputs_tflm.npy")).unwrap();
    assert_eq!(got, want, "--wide-fc changed the outputs");
    let both = mote(&[
        OsStr::new("compress"),
        data("ad/model_qdq.onnx").as_os_str(),
        "-o".as_ref(),
        s.path("both.mote").as_os_str(),
        "--wide-fc".as_ref(),
        "--sparse-weights".as_ref(),
    ]);
    assert_eq!(both.status.code(), Some(2));
    let err = text(&both.stderr);
    assert!(
        err.contains("--wide-fc") && err.contains("--sparse-weights"),
        "{err}"
    );
    assert!(!s.path("both.mote").exists());
}

// -------------------------------------------------------------------- run

#[test]
fn run_matches_tflite_micro() {
    let s = Scratch::new();
    let model = s.write("ic.mote", ic_mote());
    let out = s.path("out.npy");
    let stdout = succeeds(&mote(&[
        OsStr::new("run"),
        model.as_os_str(),
        "-i".as_ref(),
        data("ic/inputs.npy").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]));
    assert!(stdout.contains("[8, 10]"), "{stdout}");
    let (shape, got) = npy::read(&out).unwrap();
    assert_eq!(shape, vec![8, 10]);
    let (want_shape, want) = npy::read(&data("ic/outputs_tflm.npy")).unwrap();
    assert_eq!(want_shape, vec![8, 10]);
    assert!(matches!(got, Array::I8(_)));
    assert_eq!(got, want, "mote run differs from TFLite Micro");
    assert_eq!(
        s.entries(),
        BTreeSet::from(["ic.mote".to_string(), "out.npy".to_string()])
    );
}

#[test]
fn run_bad_inputs() {
    let s = Scratch::new();
    let model = s.write("ic.mote", ic_mote());
    let out = s.path("out.npy");
    let run = |input: &Path, needles: &[&str]| {
        let args = [
            OsStr::new("run"),
            model.as_os_str(),
            "-i".as_ref(),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ];
        s.fails_without_output(&args, &out, needles)
    };

    // Wrong shape: both shapes are named.
    let wrong = s.path("wrong_shape.npy");
    npy::write(
        &wrong,
        &[8, 32, 31, 3],
        &Array::I8(vec![0; 8 * 32 * 31 * 3]),
    )
    .unwrap();
    run(&wrong, &["[8, 32, 31, 3]", "[1, 32, 32, 3]"]);
    let flat = s.path("flat.npy");
    npy::write(&flat, &[3072], &Array::F32(vec![0.0; 3072])).unwrap();
    run(&flat, &["[3072]", "[1, 32, 32, 3]"]);

    // Wrong element types.
    let i32s = s.write("int32.npy", &raw_npy("<i4", &[8, 32, 32, 3], 4));
    run(&i32s, &["int32.npy", "<i4", "int8 or float32"]);
    let f64s = s.write("float64.npy", &raw_npy("<f8", &[1, 32, 32, 3], 8));
    run(&f64s, &["float64.npy", "<f8", "int8 or float32"]);

    // Missing, not .npy, truncated.
    run(&s.path("missing.npy"), &["cannot read", "missing.npy"]);
    let not_npy = s.write("not.npy", b"just text");
    run(&not_npy, &["not.npy", "not a .npy file"]);
    let full = std::fs::read(data("ic/inputs.npy")).unwrap();
    let cut = s.write("cut.npy", &full[..full.len() - 100]);
    run(&cut, &["cut.npy", "shorter"]);
}

#[test]
fn run_bad_models() {
    let s = Scratch::new();
    let out = s.path("out.npy");
    let input = data("ic/inputs.npy");
    let good = ic_mote();
    let mut flipped = good.to_vec();
    flipped[100] ^= 0x80;
    let cases: [(&str, &[u8], &[&str]); 3] = [
        (
            "flipped.mote",
            &flipped,
            &["invalid model", "corrupt", "CRC"],
        ),
        (
            "cut.mote",
            &good[..good.len() - 1],
            &["invalid model", "truncated"],
        ),
        (
            "foreign.mote",
            b"PK\x03\x04 this is a zip file, not a model",
            &["not a .mote"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let model = s.write(name, bytes);
        s.fails_without_output(
            &[
                OsStr::new("run"),
                model.as_os_str(),
                "-i".as_ref(),
                input.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
            &out,
            needles,
        );
        std::fs::remove_file(&model).unwrap();
    }
    let missing = s.path("missing.mote");
    s.fails_without_output(
        &[
            OsStr::new("run"),
            missing.as_os_str(),
            "-i".as_ref(),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        &out,
        &["cannot read", "missing.mote"],
    );
}

// --------------------------------------------------------------- quantize

/// The digits float model (input [1, 8, 8, 1]).
fn digits(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/digits")
        .join(file)
}

/// Runs `compress <model> --calibration <calib> [extra] -o out`, which must
/// fail naming `needles` and leave nothing behind.
#[track_caller]
fn quantize_fails(s: &Scratch, model: &Path, calib: &Path, extra: &[&str], needles: &[&str]) {
    let out = s.path("q.mote");
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("compress"),
        model.as_os_str(),
        "--calibration".as_ref(),
        calib.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    s.fails_without_output(&args, &out, needles);
}

#[test]
fn quantize_bad_calibration_data() {
    let s = Scratch::new();
    let model = digits("digits_float.onnx");
    let write = |name: &str, shape: &[usize], data: Array| {
        let p = s.path(name);
        npy::write(&p, shape, &data).unwrap();
        p
    };
    let wrong_shape = write("shape.npy", &[5, 3, 3], Array::F32(vec![0.5; 45]));
    quantize_fails(
        &s,
        &model,
        &wrong_shape,
        &[],
        &["[5, 3, 3]", "[1, 8, 8, 1]"],
    );
    let int8 = write("int8.npy", &[2, 8, 8, 1], Array::I8(vec![1; 128]));
    quantize_fails(&s, &model, &int8, &[], &["float32"]);
    let mut v = vec![0.25f32; 128];
    v[77] = f32::NAN;
    let nan = write("nan.npy", &[2, 8, 8, 1], Array::F32(v));
    quantize_fails(&s, &model, &nan, &[], &["NaN"]);
    let empty = write("empty.npy", &[0, 8, 8, 1], Array::F32(vec![]));
    quantize_fails(&s, &model, &empty, &[], &["empty"]);
    let dir = s.path("calib_dir");
    std::fs::create_dir(&dir).unwrap();
    quantize_fails(&s, &model, &dir, &[], &["no .npy files"]);
    std::fs::remove_dir(&dir).unwrap();
    let good = digits("calib.npy");
    quantize_fails(
        &s,
        &model,
        &good,
        &["--calibrate", "bogus"],
        &["unknown calibration method", "bogus"],
    );
    quantize_fails(
        &s,
        &model,
        &good,
        &["--keep-float", "nope"],
        &["no node named 'nope'"],
    );
    quantize_fails(
        &s,
        &model,
        &good,
        &["--weights", "int3"],
        &["--weights", "int3"],
    );
    quantize_fails(
        &s,
        &model,
        &good,
        &["--bias-correction=bogus"],
        &["unknown bias correction", "bogus"],
    );
    let out = s.path("bc.mote");
    s.fails_without_output(
        &[
            OsStr::new("compress"),
            model.as_os_str(),
            "--bias-correction".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        &out,
        &["--bias-correction needs --calibration"],
    );
    s.fails_without_output(
        &[
            OsStr::new("compress"),
            model.as_os_str(),
            "--optimize-rounding".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        &out,
        &["--optimize-rounding needs --calibration"],
    );
    for (flag, bad, needle) in [
        ("--prune", "1.5", "sparsity must be"),
        ("--prune", "half", "bad sparsity"),
        ("--prune-layer", "conv", "<node name>=<sparsity>"),
        ("--prune-layer", "nope=0.5", "'nope' is not a Conv"),
    ] {
        quantize_fails(&s, &model, &good, &[flag, bad], &[needle]);
    }
    quantize_fails(
        &s,
        &model,
        &good,
        &["--optimize-rounding=greedy"],
        &["must be independent or sequential"],
    );
}

#[test]
fn quantize_bad_models() {
    let s = Scratch::new();
    let calib = s.path("x.npy");
    npy::write(&calib, &[3, 1, 4], &Array::F32(vec![0.5; 12])).unwrap();
    quantize_fails(
        &s,
        &onnx("float_dynamic.onnx"),
        &calib,
        &[],
        &["dynamic dimension", "--input-shape"],
    );
    quantize_fails(&s, &onnx("float_nan_weights.onnx"), &calib, &[], &["NaN"]);
    // A quantized model needs no calibration, and a float one needs it.
    quantize_fails(
        &s,
        &data("ic/model_qdq.onnx"),
        &calib,
        &[],
        &["already quantized"],
    );
    let out = s.path("f.mote");
    s.fails_without_output(
        &[
            OsStr::new("compress"),
            digits("digits_float.onnx").as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        &out,
        &["float model", "--calibration"],
    );
}

#[test]
fn quantize_and_evaluate_digits() {
    let s = Scratch::new();
    let out = s.path("digits.mote");
    let stdout = succeeds(&mote(&[
        OsStr::new("compress"),
        digits("digits_float.onnx").as_os_str(),
        "--calibration".as_ref(),
        digits("calib.npy").as_os_str(),
        "--eval-data".as_ref(),
        digits("test_x.npy").as_os_str(),
        "--eval-labels".as_ref(),
        digits("test_y.npy").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["eval"]["samples"], 360);
    let (f, q) = (
        v["eval"]["float_accuracy"].as_f64().unwrap(),
        v["eval"]["int8_accuracy"].as_f64().unwrap(),
    );
    assert!(f - q <= 0.01, "int8 {q} vs float {f}");
    assert!(v["eval"]["output_sqnr_db"].as_f64().unwrap() > 30.0);
    let report = s.path("report.html");
    succeeds(&mote(&[
        OsStr::new("eval"),
        out.as_os_str(),
        "--reference".as_ref(),
        digits("digits_float.onnx").as_os_str(),
        "--data".as_ref(),
        digits("test_x.npy").as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
    ]));
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
}

// ---------------------------------------------------------------- signing

#[test]
fn keygen_sign_verify() {
    let s = Scratch::new();
    let model = s.write("m.mote", ic_mote());
    let base = s.path("fleet");
    let arg = |p: &Path| p.as_os_str().to_owned();
    succeeds(&mote(&[
        OsStr::new("keygen"),
        "--out".as_ref(),
        base.as_os_str(),
    ]));
    let (key, public) = (s.path("fleet.key"), s.path("fleet.pub"));
    assert!(key.exists() && public.exists());
    // Never overwrites a key.
    let before = std::fs::read(&key).unwrap();
    fails(
        &mote(&[OsStr::new("keygen"), "--out".as_ref(), base.as_os_str()]),
        &["already exists"],
    );
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // Unsigned model: refused.
    fails(
        &mote(&[
            OsStr::new("verify"),
            model.as_os_str(),
            "--pubkey".as_ref(),
            public.as_os_str(),
        ]),
        &["not signed"],
    );
    succeeds(&mote(&[
        OsStr::new("sign"),
        model.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
    ]));
    succeeds(&mote(&[
        OsStr::new("verify"),
        model.as_os_str(),
        "--pubkey".as_ref(),
        public.as_os_str(),
    ]));
    // Another key's public half: refused.
    let other = s.path("other");
    succeeds(&mote(&[
        OsStr::new("keygen"),
        "--out".as_ref(),
        other.as_os_str(),
    ]));
    fails(
        &mote(&[
            OsStr::new("verify"),
            model.as_os_str(),
            "--pubkey".as_ref(),
            arg(&s.path("other.pub")).as_os_str(),
        ]),
        &["does not verify"],
    );
    // A public key given as the secret key file, and garbage keys.
    let junk = s.write("junk.key", b"not a key\n");
    fails(
        &mote(&[
            OsStr::new("sign"),
            model.as_os_str(),
            "--key".as_ref(),
            junk.as_os_str(),
        ]),
        &["junk.key", "64 hex digits"],
    );
    fails(
        &mote(&[
            OsStr::new("verify"),
            model.as_os_str(),
            "--pubkey".as_ref(),
            junk.as_os_str(),
        ]),
        &["junk.key", "public key"],
    );
    // The signed model still runs.
    let out = s.path("y.npy");
    succeeds(&mote(&[
        OsStr::new("run"),
        model.as_os_str(),
        "--input".as_ref(),
        data("ic/inputs.npy").as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ]));
}

#[test]
fn compress_huge_dimensions_and_unsupported_dtypes() {
    let s = Scratch::new();
    let out = s.path("m.mote");
    for (model, needles) in [
        ("huge_dims.onnx", &["too large", "100000"][..]),
        ("int16_input.onnx", &["unsupported element type", "I16"][..]),
    ] {
        s.fails_without_output(
            &[
                OsStr::new("compress"),
                onnx(model).as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
            &out,
            needles,
        );
    }
}

#[test]
fn batch_norm_after_fully_connected_layers_folds() {
    // PyTorch Linear + BatchNorm1d and Keras Dense + BatchNormalization
    // (Gemm -> Mul -> Add) both become one fully connected op.
    let s = Scratch::new();
    let calib = s.path("x.npy");
    let x: Vec<f32> = (0..64 * 4)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    npy::write(&calib, &[64, 1, 4], &Array::F32(x)).unwrap();
    for (model, ops) in [("float_dense_bn.onnx", 1), ("float_dense_mul_add.onnx", 1)] {
        let out = s.path("m.mote");
        let stdout = succeeds(&mote(&[
            OsStr::new("compress"),
            onnx(model).as_os_str(),
            "--calibration".as_ref(),
            calib.as_os_str(),
            "--eval-data".as_ref(),
            calib.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--json".as_ref(),
        ]));
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            v["ops"], ops,
            "{model}: BatchNormalization should fold into the fully connected op"
        );
        let sqnr = v["eval"]["output_sqnr_db"].as_f64().unwrap();
        assert!(sqnr > 30.0, "{model}: output SQNR {sqnr} dB");
    }
}

#[test]
fn conv1d_networks_quantize() {
    // PyTorch Conv1d on [N, C, L] tensors runs as a 2-D convolution with H = 1.
    let s = Scratch::new();
    let calib = s.path("x.npy");
    let x: Vec<f32> = (0..32 * 3 * 20)
        .map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0)
        .collect();
    npy::write(&calib, &[32, 3, 20], &Array::F32(x)).unwrap();
    let out = s.path("m.mote");
    let stdout = succeeds(&mote(&[
        OsStr::new("compress"),
        onnx("float_conv1d.onnx").as_os_str(),
        "--calibration".as_ref(),
        calib.as_os_str(),
        "--eval-data".as_ref(),
        calib.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["eval"]["output_sqnr_db"].as_f64().unwrap() > 30.0, "{v}");
    assert_eq!(v["eval"]["top1_agreement"].as_f64().unwrap(), 1.0);
    // Both convolutions are matched to their float tensors, layer by layer.
    assert_eq!(v["eval"]["layers"].as_array().unwrap().len(), 2);
}

#[test]
fn sim_budget_check_names_the_overrun_and_the_peak_layer() {
    let s = Scratch::new();
    let calib = s.path("x.npy");
    let x: Vec<f32> = (0..2 * 3 * 256 * 256)
        .map(|i| ((i * 31 % 255) as f32) / 255.0)
        .collect();
    npy::write(&calib, &[2, 3, 256, 256], &Array::F32(x)).unwrap();
    let model = s.path("big.mote");
    succeeds(&mote(&[
        OsStr::new("compress"),
        onnx("float_big_activations.onnx").as_os_str(),
        "--calibration".as_ref(),
        calib.as_os_str(),
        "-o".as_ref(),
        model.as_os_str(),
    ]));
    // The arena (about 2 MiB: the 256x256x16 output, and its NCHW copy)
    // plus the stack estimate, against the part's 256 KiB.
    let report: serde_json::Value = serde_json::from_str(&succeeds(&mote(&[
        OsStr::new("inspect"),
        model.as_os_str(),
        "--json".as_ref(),
    ])))
    .unwrap();
    let arena = report["arena_bytes"].as_u64().unwrap();
    assert!(arena >= 256 * 256 * 16);
    let over = arena + mote_cli::sim::STACK_ESTIMATE as u64 - 256 * 1024;
    let msg = fails(
        &mote(&[
            OsStr::new("sim"),
            "--board".as_ref(),
            "nrf52840-dk".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
        ]),
        &[
            "does not fit nrf52840-dk",
            &format!("RAM over by {over} B"),
            "flash over by 0 B",
            "arena peaks at op #",
        ],
    );
    // The named peak op is one whose live tensors hold the 1 MiB output.
    let peak: u64 = msg
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(" B live)")
        .parse()
        .unwrap();
    assert!(peak >= 256 * 256 * 16, "{msg}");
    // The short name the issue uses names the same part.
    fails(
        &mote(&[
            OsStr::new("sim"),
            "--board".as_ref(),
            "nrf52840".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
        ]),
        &[
            "does not fit nrf52840-dk",
            &format!("RAM over by {over} B"),
            "arena peaks at op #",
        ],
    );
    // The same model fits the 4 MiB emulated board, with a labelled estimate.
    let out = succeeds(&mote(&[
        OsStr::new("sim"),
        "--board".as_ref(),
        "mps2-an386".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
    ]));
    assert!(out.contains("latency ESTIMATE"), "{out}");
    fails(
        &mote(&[
            OsStr::new("sim"),
            "--board".as_ref(),
            "nope".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
        ]),
        &["unknown board 'nope'", "nrf52840-dk"],
    );
}

#[test]
fn inspect_features_names_the_runtime_features_of_the_model() {
    let s = Scratch::new();
    let ic = s.path("ic.mote");
    std::fs::write(&ic, ic_mote()).unwrap();
    // ResNet-8: convolutions, residual adds, average pooling, a dense layer
    // and softmax, and the speed path of its first layer (3x3 over 3
    // channels, 8 filters: row-padded windows); nothing else.
    let out = succeeds(&mote(&[
        OsStr::new("inspect"),
        ic.as_os_str(),
        "--features".as_ref(),
    ]));
    assert_eq!(
        out.trim(),
        "op-add,op-avg-pool,op-conv,op-conv-rows,op-fc,op-softmax"
    );
    // The f32 model needs the float feature and no int8 op.
    let f32m = s.path("ad-f32.mote");
    succeeds(&mote(&[
        OsStr::new("compress"),
        data("ad/model_float.onnx").as_os_str(),
        "--weights".as_ref(),
        "f32".as_ref(),
        "-o".as_ref(),
        f32m.as_os_str(),
    ]));
    let out = succeeds(&mote(&[
        OsStr::new("inspect"),
        f32m.as_os_str(),
        "--features".as_ref(),
    ]));
    assert_eq!(out.trim(), "float");
    let both = mote(&[
        OsStr::new("inspect"),
        ic.as_os_str(),
        "--features".as_ref(),
        "--json".as_ref(),
    ]);
    assert!(!both.status.success());
    assert!(text(&both.stderr).contains("'--features' cannot be used with '--json'"));
}
