//! Bias correction against the float teacher, measured on the MLPerf Tiny
//! stand-ins (tests/data/{ic,kws,vww,ad}): output SQNR of the int8 model
//! against the float model without correction, with the analytic one and
//! with the empirical one. Calibrated on the first 4 stored inputs and
//! evaluated on the other 4 (held out), and in-sample on all 8.

use mote_cli::npy::{self, Array};
use mote_cli::quantize::bias_correction::Mode;
use mote_cli::quantize::Options;
use mote_tests::{data_dir, float_inputs, read_f32, sqnr};

/// Output SQNR (dB) against the float outputs of samples `eval`, for a
/// model calibrated on samples `calib`.
fn measure(
    name: &str,
    calib: std::ops::Range<usize>,
    eval: std::ops::Range<usize>,
    (bc, rounding): (Option<Mode>, bool),
) -> f64 {
    let dir = data_dir().join(name);
    let (shape, x) = float_inputs(name).unwrap();
    let per: usize = shape[1..].iter().product();
    let (_, float) = read_f32(&dir.join("outputs_float.npy")).unwrap();
    let out_per = float.len() / shape[0];
    let mut cshape = shape.clone();
    cshape[0] = calib.len();
    let path = std::env::temp_dir().join(format!(
        "mote-bc-{name}-{}-{:?}-{rounding}-{}.npy",
        calib.start,
        bc,
        std::process::id()
    ));
    npy::write(
        &path,
        &cshape,
        &Array::F32(x[calib.start * per..calib.end * per].to_vec()),
    )
    .unwrap();
    let opts = Options {
        bias_correction: bc,
        optimize_rounding: rounding,
        ..Options::default()
    };
    let (bytes, _) =
        mote_cli::compress::quantize_bytes(&dir.join("model_float.onnx"), &path, &opts).unwrap();
    std::fs::remove_file(&path).ok();
    let mut eshape = shape.clone();
    eshape[0] = eval.len();
    let out = mote_cli::run::run(
        mote_cli::AlignedBytes::new(&bytes).as_slice(),
        &eshape,
        &Array::F32(x[eval.start * per..eval.end * per].to_vec()),
        true,
    )
    .unwrap();
    let Array::F32(ours) = out.data else {
        panic!("float output expected")
    };
    sqnr(&float[eval.start * out_per..eval.end * out_per], &ours)
}

#[test]
fn bias_correction_on_the_stand_ins() {
    // Measured, output SQNR in dB:
    //   split      model  plain  analytic  empirical  optimize-rounding  both
    //   held-out   ic     17.84  17.85     17.88      17.82              17.83
    //   held-out   kws    34.37  30.89     34.11      37.43              36.63
    //   held-out   vww    42.34  39.58     39.36      43.34              39.36
    //   held-out   ad     30.72  30.85     31.10      30.73              31.17
    //   in-sample  ic     43.24  42.07     42.42      42.93              43.41
    //   in-sample  kws    37.06  38.52     38.97      35.52              38.11
    //   in-sample  vww    46.62  42.82     42.74      44.55              44.89
    //   in-sample  ad     33.41  35.76     36.11      36.64              37.64
    // With 4 calibration samples ic's activation ranges miss the held-out
    // inputs (17.8 dB whatever the weights). vww's 2 logits over 8 inputs
    // are 16 numbers: its bias-corrected layers all gain SQNR (the last
    // conv 22.55 -> 23.13 dB, the pooled features 31.49 -> 32.45 dB) but
    // the plain model's errors happened to cancel at the output. Asserted:
    // what holds with a margin.
    let modes = [
        (None, false),
        (Some(Mode::Analytic), false),
        (Some(Mode::Empirical), false),
        (None, true),
        (Some(Mode::Empirical), true),
    ];
    let mut got = std::collections::HashMap::new();
    for name in ["ic", "kws", "vww", "ad"] {
        let h: Vec<f64> = modes
            .iter()
            .map(|&m| measure(name, 0..4, 4..8, m))
            .collect();
        let i: Vec<f64> = modes
            .iter()
            .map(|&m| measure(name, 0..8, 0..8, m))
            .collect();
        for (split, v) in [
            ("held-out (calib 0..4, eval 4..8)", &h),
            ("in-sample (0..8)", &i),
        ] {
            eprintln!(
                "{name:<4} {split}: plain {:6.2} dB, analytic {:6.2}, empirical {:6.2}, optimize-rounding {:6.2}, both {:6.2}",
                v[0], v[1], v[2], v[3], v[4]
            );
        }
        got.insert(name, (h, i));
    }
    let (h, i) = &got["ad"];
    assert!(h[2] > h[0] + 0.2, "ad held-out, empirical: {h:?}");
    assert!(i[2] > i[0] + 1.0, "ad in-sample, empirical: {i:?}");
    assert!(i[4] > i[0] + 2.0, "ad in-sample, both: {i:?}");
    let (h, i) = &got["kws"];
    assert!(i[2] > i[0] + 1.0, "kws in-sample, empirical: {i:?}");
    assert!(h[3] > h[0] + 2.0, "kws held-out, optimize-rounding: {h:?}");
    let (h, _) = &got["vww"];
    assert!(h[3] > h[0] + 0.5, "vww held-out, optimize-rounding: {h:?}");
}

/// Held-out output SQNR and accuracy of an example model in `models/`,
/// calibrated on its calib.npy and evaluated on test_x/test_y.
fn example(name: &str, bc: Option<Mode>, rounding: bool) -> (f64, f64) {
    let dir = mote_tests::root().join("models").join(name);
    let float = dir.join(format!("{name}_float.onnx"));
    let opts = Options {
        bias_correction: bc,
        optimize_rounding: rounding,
        ..Options::default()
    };
    let (bytes, _) =
        mote_cli::compress::quantize_bytes(&float, &dir.join("calib.npy"), &opts).unwrap();
    let aligned = mote_cli::AlignedBytes::new(&bytes);
    let model = mote_runtime::Model::parse(aligned.as_slice()).unwrap();
    let shape: Vec<usize> = model
        .input(0)
        .unwrap()
        .shape()
        .iter()
        .map(|&d| d as usize)
        .collect();
    let inputs = mote_cli::quantize::data::load_samples(&dir.join("test_x.npy"), &shape).unwrap();
    let labels = npy::read_labels(&dir.join("test_y.npy")).unwrap();
    let r = mote_cli::eval::evaluate(aligned.as_slice(), &float, &inputs, Some(&labels)).unwrap();
    (r.output_sqnr_db, r.int8_accuracy.unwrap())
}

#[test]
fn empirical_bias_correction_raises_held_out_sqnr_on_example_models() {
    // Measured: medmnist_cnn 32.66 -> 35.80 dB (accuracy 98.5 -> 97.5 %,
    // one of 200 images), pig_cvp 29.31 -> 30.36 dB (87.50 -> 87.02 %, one
    // of 208), imu_motions 38.09 -> 38.63 dB (100 % both).
    for (name, gain) in [
        ("medmnist_cnn", 2.0),
        ("pig_cvp", 0.5),
        ("imu_motions", 0.3),
    ] {
        let (p, pa) = example(name, None, false);
        let (e, ea) = example(name, Some(Mode::Empirical), false);
        eprintln!(
            "{name}: held-out output SQNR plain {p:.2} dB, empirical {e:.2} dB; accuracy {:.2}% -> {:.2}%",
            100.0 * pa,
            100.0 * ea
        );
        assert!(e > p + gain, "{name}: {p:.2} dB -> {e:.2} dB");
        assert!(ea >= pa - 0.011, "{name}: accuracy {pa} -> {ea}");
    }
}

#[test]
fn optimized_rounding_raises_held_out_sqnr_on_example_models() {
    // Measured: medmnist_cnn 32.66 -> 35.70 dB (98.5 -> 97.5 %), digits
    // 41.26 -> 41.66 dB (98.06 % both), imu_motions 38.09 -> 38.58 dB;
    // pig_cvp 29.31 -> 29.22 dB (not asserted).
    for (name, gain) in [("medmnist_cnn", 2.0), ("digits", 0.2), ("imu_motions", 0.3)] {
        let (p, pa) = example(name, None, false);
        let (r, ra) = example(name, None, true);
        eprintln!(
            "{name}: held-out output SQNR plain {p:.2} dB, optimize-rounding {r:.2} dB; accuracy {:.2}% -> {:.2}%",
            100.0 * pa,
            100.0 * ra
        );
        assert!(r > p + gain, "{name}: {p:.2} dB -> {r:.2} dB");
        assert!(ra >= pa - 0.011, "{name}: accuracy {pa} -> {ra}");
    }
}
