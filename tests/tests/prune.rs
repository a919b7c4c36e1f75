//! Global magnitude pruning before int8 quantization (`mote compress
//! --prune`), measured on models/medmnist_cnn's held-out images: the int8
//! weight density `mote inspect` reports, and the accuracy and output SQNR
//! cost, without and with empirical bias correction.

use mote_cli::quantize::bias_correction::Mode;
use mote_cli::quantize::prune::Prune;
use mote_cli::quantize::Options;

struct Measured {
    density: f64,
    accuracy: f64,
    sqnr: f64,
}

fn measure(sparsity: Option<f32>, bc: Option<Mode>) -> Measured {
    let dir = mote_tests::root().join("models/medmnist_cnn");
    let float = dir.join("medmnist_cnn_float.onnx");
    let opts = Options {
        bias_correction: bc,
        prune: Prune {
            global: sparsity,
            per_layer: Vec::new(),
        },
        ..Options::default()
    };
    let (bytes, _) =
        mote_cli::compress::quantize_bytes(&float, &dir.join("calib.npy"), &opts).unwrap();
    let aligned = mote_cli::AlignedBytes::new(&bytes);
    let report = mote_cli::inspect::report(aligned.as_slice()).unwrap();
    let model = mote_runtime::Model::parse(aligned.as_slice()).unwrap();
    // Overall density: per-op densities weighted by the op's weight count.
    let (mut nonzero, mut total) = (0.0, 0.0);
    for (op, info) in model.ops().zip(&report.ops) {
        // Weight counts from the shapes: a pruned filter may be stored sparse.
        use mote_format::OpKind as K;
        let n = match &op.kind {
            K::Conv2d(c)
            | K::DepthwiseConv2d { conv: c, .. }
            | K::Conv2dPacked { conv: c, .. }
            | K::DepthwiseConv2dPacked { conv: c, .. } => c.filter_dims.iter().product::<u32>(),
            K::FullyConnected(f) | K::FullyConnectedPacked { fc: f, .. } => {
                f.in_features * f.out_features
            }
            _ => continue,
        } as f64;
        nonzero += n * info.density.unwrap();
        total += n;
    }
    let shape: Vec<usize> = model
        .input(0)
        .unwrap()
        .shape()
        .iter()
        .map(|&d| d as usize)
        .collect();
    let inputs = mote_cli::quantize::data::load_samples(&dir.join("test_x.npy"), &shape).unwrap();
    let labels = mote_cli::npy::read_labels(&dir.join("test_y.npy")).unwrap();
    let r = mote_cli::eval::evaluate(aligned.as_slice(), &float, &inputs, Some(&labels)).unwrap();
    Measured {
        density: nonzero / total,
        accuracy: r.int8_accuracy.unwrap(),
        sqnr: r.output_sqnr_db,
    }
}

#[test]
fn global_magnitude_pruning_cost_on_medmnist() {
    // Measured (200 held-out images; float 98.0 %):
    // sparsity  plain int8                bias-corrected
    // 0         98.5 %  32.66 dB          97.5 %  35.80 dB
    // 25 %      95.5 %  11.22 dB          97.0 %  17.65 dB
    // 50 %      19.5 %  -1.04 dB          70.5 %   5.56 dB
    // 75 %      14.5 %  -6.89 dB          21.0 %   1.85 dB
    // Without retraining or weight reconstruction, this 20 KB network has
    // no slack: global magnitude pruning takes most of the second conv's
    // weights (20.8 % dense at 50 % overall).
    let dense = measure(None, None);
    assert!(dense.density > 0.95, "dense density {}", dense.density);
    let mut last = dense.accuracy;
    for s in [0.25f32, 0.5, 0.75] {
        let plain = measure(Some(s), None);
        let corrected = measure(Some(s), Some(Mode::Empirical));
        eprintln!(
            "prune {:.0}%: int8 density {:.1}%, accuracy {:.1}% ({:.2} dB); with bias correction {:.1}% ({:.2} dB)",
            100.0 * s,
            100.0 * plain.density,
            100.0 * plain.accuracy,
            plain.sqnr,
            100.0 * corrected.accuracy,
            corrected.sqnr
        );
        // At least the pruned fraction is zero (int8 rounding zeroes a few more).
        let keep = 1.0 - f64::from(s);
        assert!(
            plain.density <= keep + 1e-3 && plain.density > keep - 0.05,
            "density {} at sparsity {s}",
            plain.density
        );
        assert!(plain.accuracy <= last + 1e-9, "accuracy rose with sparsity");
        last = plain.accuracy;
        // The teacher-guided bias correction recovers part of the cost.
        assert!(
            corrected.sqnr > plain.sqnr + 2.0,
            "{s}: {} vs {}",
            corrected.sqnr,
            plain.sqnr
        );
        assert!(corrected.accuracy >= plain.accuracy, "{s}");
    }
}
