//! `mote sim` sessions against independent host runs: an imaging session
//! (PNG and 12/16-bit DICOM files made by `tests/data/sim/make_sim_data.py`)
//! and a sensor session (a real BasicMotions accelerometer/gyroscope
//! recording), each prediction checked against the runtime fed with
//! preprocessing done here, independently of `mote-board`; a fault campaign
//! of more than 10,000 faults; the MLPerf Tiny reference table; bad inputs.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mote_cli::npy::{self, Array};
use mote_cli::sim::STACK_ESTIMATE as STACK;

/// The stack estimate the budget adds, as the JSON reports it.
const STACK_ESTIMATE: u64 = STACK as u64;
use mote_runtime::{Interpreter, Model};

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn mote<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("cannot start the mote binary")
}

#[track_caller]
fn succeeds(out: &Output) -> String {
    assert!(
        out.status.success(),
        "mote failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A clean one-line failure naming every needle.
#[track_caller]
fn fails(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && !err.contains("panicked"),
        "{err}"
    );
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

fn compress(onnx: &str, calib: Option<&str>, out: &Path) {
    let mut args: Vec<PathBuf> = vec!["compress".into(), root(onnx)];
    if let Some(c) = calib {
        args.push("--calibration".into());
        args.push(root(c));
    }
    args.push("-o".into());
    args.push(out.into());
    succeeds(&mote(&args));
}

/// The independent host run: quantize (round half away from zero, as
/// TFLite) and run the runtime on its own arena.
struct Host {
    bytes: mote_cli::AlignedBytes,
}

impl Host {
    fn new(path: &Path) -> Self {
        Host {
            bytes: mote_cli::read_model(path).unwrap(),
        }
    }

    fn run(&self, x: &[f32]) -> Vec<f32> {
        let m = Model::parse(self.bytes.as_slice()).unwrap();
        let (i, o) = (m.input(0).unwrap(), m.output(0).unwrap());
        let q: Vec<i8> = x
            .iter()
            .map(|v| ((v / i.scale).round() as i32 + i.zero_point).clamp(-128, 127) as i8)
            .collect();
        let mut arena = mote_cli::Arena::new(m.arena_len());
        let mut it = Interpreter::new(&m, arena.bytes()).unwrap();
        it.input_mut(0).unwrap().copy_from_slice(&q);
        it.invoke().unwrap();
        it.output(0)
            .unwrap()
            .iter()
            .map(|&v| (i32::from(v) - o.zero_point) as f32 * o.scale)
            .collect()
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn session(args: &[&OsStr], out: &Path) -> serde_json::Value {
    let mut a: Vec<&OsStr> = vec![OsStr::new("sim")];
    a.extend_from_slice(args);
    a.push(OsStr::new("--out"));
    a.push(out.as_os_str());
    succeeds(&mote(&a));
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn imaging_session_matches_an_independent_host_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("med.mote");
    compress(
        "models/medmnist_cnn/medmnist_cnn_float.onnx",
        Some("models/medmnist_cnn/calib.npy"),
        &model,
    );
    let data = root("tests/data/sim");
    let v = session(
        &[
            "--board".as_ref(),
            "stm32f746g-disco".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--sensor".as_ref(),
            data.as_os_str(),
        ],
        &dir.path().join("t.json"),
    );
    // The images are test_x[i] (digit_i.png, ct12_0.dcm = 0, mr16_1.dcm = 1).
    let (shape, x) = npy::read(&root("models/medmnist_cnn/test_x.npy")).unwrap();
    let Array::F32(x) = x else { panic!() };
    let per: usize = shape[1..].iter().product();
    let host = Host::new(&model);
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 8, "{v}");
    let mut dicoms = 0;
    for p in preds {
        let file = p["file"].as_str().unwrap();
        let name = Path::new(file).file_stem().unwrap().to_str().unwrap();
        let i: usize = name.rsplit('_').next().unwrap().parse().unwrap();
        dicoms += usize::from(file.ends_with(".dcm"));
        // Independent preprocessing: the recipe's x = pixels / 255.
        let want = host.run(&x[i * per..(i + 1) * per]);
        let got: Vec<f32> = p["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got, want, "{file}");
        assert_eq!(p["class"].as_u64().unwrap() as usize, argmax(&want));
    }
    assert_eq!(dicoms, 2);
}

/// The committed stream, parsed here: rows of 6 values.
fn stream_rows() -> Vec<Vec<f32>> {
    std::fs::read_to_string(root("tests/data/sim/basicmotions_stream.csv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("acc"))
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

#[test]
fn sensor_session_matches_an_independent_host_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("imu.mote");
    compress(
        "models/imu_motions/imu_motions_float.onnx",
        Some("models/imu_motions/calib.npy"),
        &model,
    );
    let csv = root("tests/data/sim/basicmotions_stream.csv");
    let v = session(
        &[
            "--board".as_ref(),
            "nrf52840".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--sensor".as_ref(),
            csv.as_os_str(),
            "--rate".as_ref(),
            "10".as_ref(),
            "--hop".as_ref(),
            "10".as_ref(),
        ],
        &dir.path().join("t.json"),
    );
    let rows = stream_rows();
    assert_eq!(rows.len(), 400);
    let host = Host::new(&model);
    let preds = v["predictions"].as_array().unwrap();
    // 31 windows of 100 at hop 10; a window ending on a sample that repeats
    // its predecessor waits one sample (the stuck-sensor check).
    assert!((28..=31).contains(&preds.len()), "{}", preds.len());
    let mut last = 0;
    let mut classes = std::collections::BTreeSet::new();
    for p in preds {
        let t = p["at"].as_u64().unwrap() as usize;
        assert!(t >= 99 && t >= last, "{t}");
        last = t + 10;
        // NCHW [6][1][100]: channel-major window of the last 100 rows.
        let mut x = vec![0f32; 600];
        for (k, row) in rows[t - 99..=t].iter().enumerate() {
            for (c, &val) in row.iter().enumerate() {
                x[c * 100 + k] = val;
            }
        }
        let want = host.run(&x);
        let got: Vec<f32> = p["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got, want, "window ending at {t}");
        assert!((p["time_s"].as_f64().unwrap() - t as f64 / 10.0).abs() < 1e-9);
        // Mostly (at least 95 of 100 samples) one recording: recording k.
        if t % 100 >= 99 || t % 100 <= 3 {
            let k = (t - 4) / 100;
            classes.insert((k, argmax(&want)));
        }
    }
    // Windows that cover (almost) one recording each give its activity:
    // recording k is class k (the script takes one of each, in order).
    assert!(classes.len() >= 3, "{classes:?}");
    assert!(classes.iter().all(|&(k, c)| k == c), "{classes:?}");
}

#[test]
fn fault_campaign_detects_every_fault_and_never_predicts_from_corrupt_data() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("imu.mote");
    compress(
        "models/imu_motions/imu_motions_float.onnx",
        Some("models/imu_motions/calib.npy"),
        &model,
    );
    let csv = root("tests/data/sim/basicmotions_stream.csv");
    let run = |repeat: &str, seed: &str| -> serde_json::Value {
        let mut args: Vec<&OsStr> = vec![
            "sim".as_ref(),
            "--board".as_ref(),
            "nrf52840".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--sensor".as_ref(),
            csv.as_os_str(),
            "--hop".as_ref(),
            "10".as_ref(),
            "--repeat".as_ref(),
            repeat.as_ref(),
            "--seed".as_ref(),
            seed.as_ref(),
            "--json".as_ref(),
        ];
        for f in [
            "i2c-error:rate=0.002",
            "stuck:rate=0.002",
            "drop:rate=0.002",
            "dup:rate=0.002",
            "flash-bitflip:rate=0.3",
            "store-bitflip:rate=0.05",
            "arena-corrupt:rate=0.5",
            "brownout:rate=0.05",
        ] {
            args.push("--fault".as_ref());
            args.push(f.as_ref());
        }
        serde_json::from_str(&succeeds(&mote(&args))).unwrap()
    };
    let start = std::time::Instant::now();
    let v = run("500", "20240601");
    let secs = start.elapsed().as_secs_f64();
    let faults = v["faults"].as_object().unwrap();
    let mut total = 0;
    println!("fault campaign ({secs:.1} s):");
    for kind in [
        "i2c-error",
        "stuck",
        "drop",
        "dup",
        "flash-bitflip",
        "store-bitflip",
        "arena-corrupt",
        "brownout",
    ] {
        let c = &faults[kind];
        let (inj, det, harmless) = (
            c["injected"].as_u64().unwrap(),
            c["detected"].as_u64().unwrap(),
            c["harmless"].as_u64().unwrap(),
        );
        println!("  {kind:<14} injected {inj:>6} detected {det:>6} harmless {harmless:>6}");
        assert!(inj > 0, "{kind}");
        assert_eq!(det + harmless, inj, "{kind}: a fault went unseen");
        if !["arena-corrupt", "drop", "stuck", "store-bitflip"].contains(&kind) {
            assert_eq!(det, inj, "{kind}");
        }
        total += inj;
    }
    assert!(total >= 10_000, "{total}");
    assert_eq!(v["corrupted_predictions"], 0);
    assert_eq!(v["mismatched_predictions"], 0);
    assert_eq!(v["boots"]["corrupt"], 0, "{}", v["boots"]);
    println!("  boots {}", v["boots"]);
    let preds = v["predictions"].as_array().unwrap();
    assert!(preds.len() > 5000, "{}", preds.len());
    assert!(preds
        .iter()
        .all(|p| p["clean_input"] == true && p["matches_reference"] == true));
    assert!(secs < 120.0, "{secs} s");
    // The same seed, the same campaign.
    let (a, b) = (run("20", "5"), run("20", "5"));
    assert_eq!(a["faults"], b["faults"]);
    assert_eq!(a["predictions"], b["predictions"]);
}

#[test]
fn mlperf_tiny_estimates_print_next_to_the_published_figures() {
    let dir = tempfile::tempdir().unwrap();
    println!("| model | Mote estimate on stm32l4r5 (ms) | published TFLM (ms) |");
    for (m, ms) in [
        ("ic", "704.20"),
        ("kws", "181.90"),
        ("vww", "600.60"),
        ("ad", "10.05"),
    ] {
        let model = dir.path().join(format!("{m}.mote"));
        compress(&format!("tests/data/{m}/model_qdq.onnx"), None, &model);
        let out = succeeds(&mote(&[
            OsStr::new("sim"),
            "--board".as_ref(),
            "stm32l4r5".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--reference".as_ref(),
            m.as_ref(),
        ]));
        assert!(out.contains("latency ESTIMATE"), "{out}");
        assert!(
            out.contains("ASSUMED 1-1.6 cycles/instruction, at 120 MHz"),
            "{out}"
        );
        assert!(out.contains(&format!("{ms} ms")), "{out}");
        let line = out.lines().find(|l| l.contains("Mote ESTIMATE")).unwrap();
        println!("| {m} | {} | {ms} |", line.trim());
    }
}

#[test]
fn bad_sim_inputs_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("imu.mote");
    compress(
        "models/imu_motions/imu_motions_float.onnx",
        Some("models/imu_motions/calib.npy"),
        &model,
    );
    let sim = |extra: &[&OsStr]| {
        let mut a: Vec<&OsStr> = vec![
            "sim".as_ref(),
            "--board".as_ref(),
            "nrf52840".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
        ];
        a.extend_from_slice(extra);
        mote(&a)
    };
    let missing = dir.path().join("nope.csv");
    fails(
        &sim(&["--sensor".as_ref(), missing.as_os_str()]),
        &["nope.csv", "no such file"],
    );
    let five = dir.path().join("five.csv");
    std::fs::write(&five, "1,2,3,4,5\n6,7,8,9,10\n").unwrap();
    fails(
        &sim(&["--sensor".as_ref(), five.as_os_str()]),
        &["5 channels", "[1, 6, 1, 100]"],
    );
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "1,2,3,4,5,6\n1,2\n").unwrap();
    fails(
        &sim(&["--sensor".as_ref(), ragged.as_os_str()]),
        &["ragged.csv", "line 2 has 2 values, expected 6"],
    );
    let csv = root("tests/data/sim/basicmotions_stream.csv");
    fails(
        &sim(&[
            "--sensor".as_ref(),
            csv.as_os_str(),
            "--fault".as_ref(),
            "meteor:rate=1".as_ref(),
        ]),
        &["unknown fault 'meteor'", "i2c-error"],
    );
    fails(
        &sim(&[
            "--sensor".as_ref(),
            csv.as_os_str(),
            "--fault".as_ref(),
            "drop:rate=3".as_ref(),
        ]),
        &["bad value '3' for rate"],
    );
    fails(
        &sim(&[
            "--sensor".as_ref(),
            csv.as_os_str(),
            "--window".as_ref(),
            "50".as_ref(),
        ]),
        &["--window 50"],
    );
    let out = dir.path().join("t.txt");
    fails(
        &sim(&[
            "--sensor".as_ref(),
            csv.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]),
        &[".csv or .json"],
    );
    assert!(!out.exists());
    let png = root("tests/data/sim/digit_0.png");
    fails(
        &sim(&["--sensor".as_ref(), png.as_os_str()]),
        &["[1, 6, 1, 100]", "not an image"],
    );
    fails(
        &mote(&[
            OsStr::new("sim"),
            "--board".as_ref(),
            "nrf".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
        ]),
        &["unknown board 'nrf'", "stm32l4r5", "gateway-a53"],
    );
}

#[test]
fn store_slot_bit_flips_are_caught_by_the_slot_checks_and_never_booted() {
    use mote_cli::sim::device::{Device, DeviceFault, SlotPart};
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("imu.mote");
    compress(
        "models/imu_motions/imu_motions_float.onnx",
        Some("models/imu_motions/calib.npy"),
        &model,
    );
    let bytes = std::fs::read(&model).unwrap();
    let mut d = Device::new(&bytes).unwrap();
    let used = d.slot_used_bytes();
    assert!(used > bytes.len() && used < bytes.len() + 128);
    let data = used - bytes.len();
    // Installed twice: version 2 in slot B is active.
    let b = d.boot().unwrap();
    assert_eq!(
        (b.slot, b.version, b.rejected, b.pristine),
        (1, 2, [false; 2], true)
    );
    // Every header and commit-word bit of slot A, one at a time: the
    // header (magic, sequence, version, length, data CRC under the header
    // CRC) and the commit word are all checked, so each flip rejects the
    // slot.
    for bit in 0..28 * 8 {
        let part = d.flip_store_bit(0, bit).unwrap();
        assert_eq!(part, SlotPart::Checked, "bit {bit}");
        assert!(!d.slot_valid(0).unwrap(), "bit {bit}");
        d.flip_store_bit(0, bit).unwrap();
        assert!(d.slot_valid(0).unwrap(), "bit {bit}");
    }
    // 2,000 bits spread over the model bytes of slot A: each one makes the
    // slot's CRC-32 fail.
    let bits = bytes.len() * 8;
    for i in 0..2000 {
        let bit = data * 8 + i * bits / 2000 + i % 8;
        assert_eq!(d.flip_store_bit(0, bit).unwrap(), SlotPart::Checked);
        assert!(!d.slot_valid(0).unwrap(), "model bit {}", bit - data * 8);
        d.flip_store_bit(0, bit).unwrap();
    }
    // A model bit of the active slot B flips: the boot rejects B and falls
    // back to version 1 in slot A, byte for byte the installed model.
    let bit = (data + bytes.len() / 2) * 8 + 5;
    d.flip_store_bit(1, bit).unwrap();
    let b = d.boot().unwrap();
    assert_eq!(
        (b.slot, b.version, b.rejected, b.pristine),
        (0, 1, [false, true], true)
    );
    let fill = |x: &mut [i8]| -> anyhow::Result<()> {
        x.fill(0);
        Ok(())
    };
    assert!(d.infer(&fill, None).is_ok());
    // Slot A too: the device refuses to boot, and has no model to run.
    d.flip_store_bit(0, (data + 7) * 8).unwrap();
    assert!(matches!(d.boot(), Err(DeviceFault::NoModel(_))));
    assert!(matches!(
        d.infer(&fill, None),
        Err(DeviceFault::ModelCorrupt(_))
    ));
    // Installed again (as an update server would), it runs.
    let b = d.provision().unwrap();
    assert!(b.pristine);
    assert!(d.infer(&fill, None).is_ok());

    // A campaign of store flips alone (no updates rewrite a rejected slot,
    // so both slots go bad now and then): every flip in checked bytes of a
    // valid slot is caught, and no boot loads a corrupted model.
    let csv = root("tests/data/sim/basicmotions_stream.csv");
    let v: serde_json::Value = serde_json::from_str(&succeeds(&mote(&[
        OsStr::new("sim"),
        "--board".as_ref(),
        "nrf52840".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--sensor".as_ref(),
        csv.as_os_str(),
        "--hop".as_ref(),
        "10".as_ref(),
        "--repeat".as_ref(),
        "20".as_ref(),
        "--fault".as_ref(),
        "store-bitflip:rate=0.2".as_ref(),
        "--json".as_ref(),
    ])))
    .unwrap();
    let c = &v["faults"]["store-bitflip"];
    let (inj, det, harmless) = (
        c["injected"].as_u64().unwrap(),
        c["detected"].as_u64().unwrap(),
        c["harmless"].as_u64().unwrap(),
    );
    println!(
        "store flips: injected {inj}, detected {det}, harmless {harmless}, boots {}",
        v["boots"]
    );
    assert!(inj > 100 && det > 0, "{c}");
    assert_eq!(det + harmless, inj, "{c}");
    let boots = &v["boots"];
    assert_eq!(boots["corrupt"], 0);
    assert!(boots["fallback"].as_u64().unwrap() > 0, "{boots}");
    assert!(boots["refused"].as_u64().unwrap() > 0, "{boots}");
    assert_eq!(v["corrupted_predictions"], 0);
    assert_eq!(v["mismatched_predictions"], 0);
    assert!(v["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["error"].as_str().unwrap().contains("refused to boot")));
}

/// The `budget` of a `--json` replay.
fn budget(args: &[&OsStr]) -> serde_json::Value {
    let mut a: Vec<&OsStr> = vec!["sim".as_ref()];
    a.extend_from_slice(args);
    a.push("--json".as_ref());
    let v: serde_json::Value = serde_json::from_str(&succeeds(&mote(&a))).unwrap();
    v["budget"].clone()
}

fn arena_of(model: &Path) -> u64 {
    let m = mote_cli::read_model(model).unwrap();
    Model::parse(m.as_slice()).unwrap().arena_len() as u64
}

#[test]
fn ram_budget_counts_the_pipeline_buffers() {
    let dir = tempfile::tempdir().unwrap();
    // Streams: the StreamWindow's samples, 100 x 6 f32.
    let imu = dir.path().join("imu.mote");
    compress(
        "models/imu_motions/imu_motions_float.onnx",
        Some("models/imu_motions/calib.npy"),
        &imu,
    );
    let csv = root("tests/data/sim/basicmotions_stream.csv");
    let b = budget(&[
        "--board".as_ref(),
        "nrf52840".as_ref(),
        "--model".as_ref(),
        imu.as_os_str(),
        "--sensor".as_ref(),
        csv.as_os_str(),
    ]);
    let arena = arena_of(&imu);
    assert_eq!(b["arena_bytes"], arena);
    assert_eq!(b["pipeline_bytes"], 100 * 6 * 4, "{b}");
    assert_eq!(b["stack_bytes"], STACK_ESTIMATE);
    assert_eq!(b["ram_needed"], arena + 2400 + STACK_ESTIMATE);

    // Images: the largest source frame as f32 (the 56x56 DICOM files; the
    // PNGs are 28x28).
    let med = dir.path().join("med.mote");
    compress(
        "models/medmnist_cnn/medmnist_cnn_float.onnx",
        Some("models/medmnist_cnn/calib.npy"),
        &med,
    );
    let data = root("tests/data/sim");
    let mut largest = 0u64;
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        let (w, h) = match p.extension().and_then(|x| x.to_str()) {
            Some("png") => image::image_dimensions(&p).unwrap(),
            Some("dcm") => {
                let o = dicom_object::open_file(&p).unwrap();
                let v = |n: &str| o.element_by_name(n).unwrap().to_int::<u32>().unwrap();
                (v("Columns"), v("Rows"))
            }
            _ => continue,
        };
        largest = largest.max(u64::from(w * h));
    }
    assert_eq!(largest, 56 * 56);
    let med_arena = arena_of(&med);
    let b = budget(&[
        "--board".as_ref(),
        "nrf52840".as_ref(),
        "--model".as_ref(),
        med.as_os_str(),
        "--sensor".as_ref(),
        data.as_os_str(),
    ]);
    assert_eq!(b["pipeline_bytes"], largest * 4, "{b}");
    assert_eq!(b["ram_needed"], med_arena + largest * 4 + STACK_ESTIMATE);

    // The model fits the nRF52840 alone, but not with a 256x256 source
    // frame (digit_0.png scaled up 9x, nearest): 256 KiB of f32 pixels on
    // top of the arena and the stack overrun its 256 KiB of RAM by exactly
    // the arena and the stack.
    let big = dir.path().join("digit_0_256.png");
    image::imageops::resize(
        &image::open(data.join("digit_0.png")).unwrap().to_luma8(),
        256,
        256,
        image::imageops::FilterType::Nearest,
    )
    .save(&big)
    .unwrap();
    let model_only = &[
        "--board".as_ref(),
        "nrf52840".as_ref(),
        "--model".as_ref(),
        med.as_os_str(),
    ];
    let out = succeeds(&mote(&[&["sim".as_ref()], &model_only[..]].concat()));
    assert!(
        out.contains("pipeline buffers: not counted (no --sensor"),
        "{out}"
    );
    let mut with_big = vec![OsStr::new("sim")];
    with_big.extend_from_slice(model_only);
    with_big.extend_from_slice(&["--sensor".as_ref(), big.as_os_str()]);
    fails(
        &mote(&with_big),
        &[
            "does not fit nrf52840-dk",
            &format!("RAM over by {} B", med_arena + STACK_ESTIMATE),
            &format!(
                "(arena {med_arena} B + pipeline buffers {} B + stack {STACK_ESTIMATE} B)",
                256 * 256 * 4
            ),
            "arena peaks at op #",
        ],
    );
    // The STM32F746's 320 KiB hold it; the summary shows the buffers.
    with_big[2] = "stm32f746g-disco".as_ref();
    let out = succeeds(&mote(&with_big));
    assert!(
        out.contains(&format!(
            "arena {med_arena} B + pipeline buffers 262144 B + stack estimate {STACK_ESTIMATE} B"
        )),
        "{out}"
    );
    assert!(
        out.contains("frame of 256x256x1 f32 (the largest replayed image)"),
        "{out}"
    );
}

/// Replays `rows` (written as a CSV with `header`) through `model` with
/// `--hop hop --stuck-after 0 --rate rate`, and checks every window against
/// the runtime fed with windows cut and laid out here: `len` samples,
/// channel-major when `channels_first`.
#[allow(clippy::too_many_arguments)]
fn check_stream(
    dir: &Path,
    model: &Path,
    header: &str,
    rows: &[Vec<f32>],
    len: usize,
    hop: usize,
    rate: &str,
    channels_first: bool,
) -> serde_json::Value {
    let csv = dir.join(format!("{}.csv", header.replace(',', "_")));
    let mut text = format!("{header}\n");
    for r in rows {
        let cells: Vec<String> = r.iter().map(|v| v.to_string()).collect();
        text += &cells.join(",");
        text.push('\n');
    }
    std::fs::write(&csv, text).unwrap();
    let v = session(
        &[
            "--board".as_ref(),
            "nrf52840".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--sensor".as_ref(),
            csv.as_os_str(),
            "--hop".as_ref(),
            hop.to_string().as_ref(),
            "--rate".as_ref(),
            rate.as_ref(),
            "--stuck-after".as_ref(),
            "0".as_ref(),
        ],
        &dir.join("t.json"),
    );
    let host = Host::new(model);
    let preds = v["predictions"].as_array().unwrap();
    let c = rows[0].len();
    assert_eq!(preds.len(), (rows.len() - len) / hop + 1, "{header}");
    for (k, p) in preds.iter().enumerate() {
        let t = len - 1 + k * hop;
        assert_eq!(p["at"].as_u64().unwrap() as usize, t);
        let mut x = vec![0f32; len * c];
        for (i, row) in rows[t + 1 - len..=t].iter().enumerate() {
            for (ch, &val) in row.iter().enumerate() {
                x[if channels_first {
                    ch * len + i
                } else {
                    i * c + ch
                }] = val;
            }
        }
        let got: Vec<f32> = p["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got, host.run(&x), "{header}: window ending at {t}");
    }
    v
}

/// Overlapping windows of `rows` as a calibration set `[n, shape...]`.
fn calibration(path: &Path, rows: &[Vec<f32>], len: usize, shape: &[usize], first: bool) {
    let c = rows[0].len();
    let mut x = Vec::new();
    let mut n = 0;
    for end in (len - 1..rows.len()).step_by(2) {
        let mut w = vec![0f32; len * c];
        for (i, row) in rows[end + 1 - len..=end].iter().enumerate() {
            for (ch, &v) in row.iter().enumerate() {
                w[if first { ch * len + i } else { i * c + ch }] = v;
            }
        }
        x.extend(w);
        n += 1;
    }
    let mut dims = vec![n];
    dims.extend_from_slice(shape);
    npy::write(path, &dims, &Array::F32(x)).unwrap();
}

#[test]
fn temperature_and_shock_streams_are_windowed_like_imu_streams() {
    // Models: the small test networks of tools/mote/tests/data (made by
    // make_bad_onnx.py; random weights, not trained), compressed with
    // windows of the stream they are fed as calibration data. The check is
    // the pipeline (parsing, windowing, layout, quantizing), not accuracy.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Temperature: one channel into a [1, 4] dense model. The log is
    // SYNTHETIC, made here: a cold-chain logger at 0.1 degC resolution, one
    // reading a minute, 4 degC with a slow swing and a 15-minute door-open
    // excursion to about 10 degC.
    let temps: Vec<Vec<f32>> = (0..240)
        .map(|i| {
            let f = i as f32;
            let excursion = if (100..115).contains(&i) {
                6.0 * ((f - 99.0) / 15.0 * std::f32::consts::PI).sin()
            } else {
                0.0
            };
            vec![((4.0 + 0.3 * (f / 9.0).sin() + excursion) * 10.0).round() / 10.0]
        })
        .collect();
    let calib = d.join("temp_calib.npy");
    calibration(&calib, &temps, 4, &[1, 4], false);
    let temp_model = d.join("temp.mote");
    succeeds(&mote(&[
        OsStr::new("compress"),
        root("tools/mote/tests/data/float_dense_bn.onnx").as_os_str(),
        "--calibration".as_ref(),
        calib.as_os_str(),
        "-o".as_ref(),
        temp_model.as_os_str(),
    ]));
    // Every reading a window of 4 (hop 1), at one reading a minute.
    let v = check_stream(d, &temp_model, "temp_c", &temps, 4, 1, "0.0166667", false);
    let last = v["predictions"].as_array().unwrap().last().unwrap().clone();
    assert!((last["time_s"].as_f64().unwrap() - 239.0 * 60.0).abs() < 0.1);
    // A thermometer repeats readings: with the default stuck check (3 equal
    // readings) the same log reports a stuck sensor, hence --stuck-after.
    let csv = d.join("temp_c.csv");
    let out = succeeds(&mote(&[
        OsStr::new("sim"),
        "--board".as_ref(),
        "nrf52840".as_ref(),
        "--model".as_ref(),
        temp_model.as_os_str(),
        "--sensor".as_ref(),
        csv.as_os_str(),
        "--hop".as_ref(),
        "1".as_ref(),
        "--json".as_ref(),
    ]));
    let stuck: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(stuck["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["error"].as_str().unwrap().contains("sensor stuck")));
    assert!(stuck["predictions"].as_array().unwrap().len() < 237);

    // Shock: three axes into a [1, 3, 20] Conv1d model (channel-major).
    // The data is REAL accelerometer data: the x, y, z columns of the
    // committed BasicMotions stream, standing in for a shock logger's
    // accelerometer.
    let acc: Vec<Vec<f32>> = stream_rows().into_iter().map(|r| r[..3].to_vec()).collect();
    let calib = d.join("shock_calib.npy");
    calibration(&calib, &acc, 20, &[3, 20], true);
    let shock_model = d.join("shock.mote");
    succeeds(&mote(&[
        OsStr::new("compress"),
        root("tools/mote/tests/data/float_conv1d.onnx").as_os_str(),
        "--calibration".as_ref(),
        calib.as_os_str(),
        "-o".as_ref(),
        shock_model.as_os_str(),
    ]));
    // Windows of 20 overlapping by 15, at the recording's 10 Hz.
    let v = check_stream(
        d,
        &shock_model,
        "acc_x,acc_y,acc_z",
        &acc,
        20,
        5,
        "10",
        true,
    );
    assert_eq!(v["predictions"].as_array().unwrap().len(), 77);
}

#[test]
fn plot_labels_axes_channels_predictions_and_fault_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("imu.mote");
    compress(
        "models/imu_motions/imu_motions_float.onnx",
        Some("models/imu_motions/calib.npy"),
        &model,
    );
    let csv = root("tests/data/sim/basicmotions_stream.csv");
    let svg = dir.path().join("p.svg");
    succeeds(&mote(&[
        OsStr::new("sim"),
        "--board".as_ref(),
        "nrf52840".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--sensor".as_ref(),
        csv.as_os_str(),
        "--hop".as_ref(),
        "10".as_ref(),
        "--fault".as_ref(),
        "i2c-error:at=150".as_ref(),
        "--fault".as_ref(),
        "store-bitflip:at=3".as_ref(),
        "--plot".as_ref(),
        svg.as_os_str(),
    ]));
    // The SVG's text elements, each on one line.
    let read = |p: &Path| -> String {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(str::trim)
            .collect()
    };
    let text = read(&svg);
    assert!(text.starts_with("<svg") && text.ends_with("</svg>"));
    for want in [
        "replayed signal",
        "time (s)",
        "value (as recorded)",
        "acc_x",
        "gyro_z",
        "class",
        "faults",
        "prediction",
        "i2c-error",
        "store-bitflip",
    ] {
        assert!(
            text.contains(&format!(">{want}<")),
            "{want} not in the plot"
        );
    }
    // Images: no signal panel, one column per image.
    let med = dir.path().join("med.mote");
    compress(
        "models/medmnist_cnn/medmnist_cnn_float.onnx",
        Some("models/medmnist_cnn/calib.npy"),
        &med,
    );
    succeeds(&mote(&[
        OsStr::new("sim"),
        "--board".as_ref(),
        "nrf52840".as_ref(),
        "--model".as_ref(),
        med.as_os_str(),
        "--sensor".as_ref(),
        root("tests/data/sim").as_os_str(),
        "--plot".as_ref(),
        svg.as_os_str(),
    ]));
    let text = read(&svg);
    assert!(!text.contains(">replayed signal</text>"));
    assert!(text.contains(">image (in replay order)</text>"));
    // Image ticks are whole image indices; class ticks whole classes.
    assert!(text.contains(">7</text>") && !text.contains(">0.5</text>"));
}
