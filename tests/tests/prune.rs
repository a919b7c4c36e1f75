//! Global magnitude pruning before int8 quantization (`mote compress
//! --prune`), measured on models/medmnist_cnn's held-out images: the int8
//! weight density `mote inspect` reports, and the accuracy and output SQNR
//! cost: pruned only (`--no-reconstruct`), with empirical bias correction,
//! and with the default least-squares refit of the weights left.

use mote_cli::quantize::bias_correction::Mode;
use mote_cli::quantize::prune::Prune;
use mote_cli::quantize::Options;

struct Measured {
    density: f64,
    accuracy: f64,
    sqnr: f64,
}

fn measure(sparsity: Option<f32>, bc: Option<Mode>, refit: bool) -> Measured {
    let dir = mote_tests::root().join("models/medmnist_cnn");
    let float = dir.join("medmnist_cnn_float.onnx");
    let opts = Options {
        bias_correction: bc,
        prune: Prune {
            global: sparsity,
            per_layer: Vec::new(),
        },
        prune_reconstruct: refit,
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
    // sparsity  pruned only          bias-corrected       refitted (default)
    // 0         98.5 %  32.66 dB     97.5 %  35.80 dB
    // 25 %      95.5 %  11.22 dB     97.0 %  17.65 dB     97.5 %  25.65 dB
    // 50 %      19.5 %  -1.04 dB     70.5 %   5.56 dB     98.5 %  13.79 dB
    // 75 %      14.5 %  -6.89 dB     21.0 %   1.85 dB     69.5 %   5.35 dB
    // Pruned alone, this 20 KB network has no slack: global magnitude
    // pruning takes most of the second conv's weights (20.8 % dense at 50 %
    // overall). Refitting the weights left on the pruned model's own
    // activations towards the float model's layer outputs recovers it.
    let dense = measure(None, None, false);
    assert!(dense.density > 0.95, "dense density {}", dense.density);
    let mut last = dense.accuracy;
    for s in [0.25f32, 0.5, 0.75] {
        let plain = measure(Some(s), None, false);
        let corrected = measure(Some(s), Some(Mode::Empirical), false);
        let refitted = measure(Some(s), None, true);
        eprintln!(
            "prune {:.0}%: int8 density {:.1}%, accuracy {:.1}% ({:.2} dB); with bias correction {:.1}% ({:.2} dB); refitted {:.1}% ({:.2} dB, density {:.1}%)",
            100.0 * s,
            100.0 * plain.density,
            100.0 * plain.accuracy,
            plain.sqnr,
            100.0 * corrected.accuracy,
            corrected.sqnr,
            100.0 * refitted.accuracy,
            refitted.sqnr,
            100.0 * refitted.density,
        );
        // At least the pruned fraction is zero (int8 rounding zeroes a few more).
        let keep = 1.0 - f64::from(s);
        assert!(
            plain.density <= keep + 1e-3 && plain.density > keep - 0.05,
            "density {} at sparsity {s}",
            plain.density
        );
        // The refit never revives a pruned weight (its int8 rounding may
        // zero some more: 21.1 % dense at 75 %).
        assert!(
            refitted.density <= keep + 1e-3 && refitted.density > keep - 0.1,
            "refitted density {} at sparsity {s}",
            refitted.density
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
        // The refit recovers more than the bias correction.
        assert!(
            refitted.sqnr > corrected.sqnr + 2.0 && refitted.accuracy >= corrected.accuracy,
            "{s}: refitted {} dB {}, bias-corrected {} dB {}",
            refitted.sqnr,
            refitted.accuracy,
            corrected.sqnr,
            corrected.accuracy
        );
        // At 50 % the refitted model keeps the float model's accuracy
        // (98.0 %) within two points.
        if s == 0.5 {
            assert!(
                refitted.accuracy >= 0.96,
                "refitted 50 %: {}",
                refitted.accuracy
            );
        }
    }
}

#[test]
fn refit_reaches_every_pruned_layer_of_kws_and_keeps_its_zeros() {
    use mote_cli::import::onnx;
    use mote_cli::quantize::{bias_correction::Teacher, prepare, proto, prune, prune_refit};
    // The DS-CNN stand-in: a first conv, depthwise and pointwise convs, a
    // fully connected classifier; calibrated on its 8 stored inputs.
    let path = mote_tests::data_dir().join("kws/model_float.onnx");
    let (shape, x) = mote_tests::float_inputs("kws").unwrap();
    let per: usize = shape[1..].iter().product();
    let one: Vec<usize> = std::iter::once(1)
        .chain(shape[1..].iter().copied())
        .collect();
    let samples: Vec<Vec<f32>> = x.chunks(per).map(<[f32]>::to_vec).collect();
    let mut m = onnx::load(&path).unwrap();
    prepare::prepare(&mut m).unwrap();
    let teacher = m.clone();
    let template = proto::read(&path).unwrap();
    let ctx = Teacher {
        template: &template,
        dir: path.parent().and_then(|p| p.to_str()),
        input_shape: &one,
        samples: &samples,
    };
    let levels = prune::prune(
        &mut m,
        &Prune {
            global: Some(0.5),
            per_layer: Vec::new(),
        },
    )
    .unwrap();
    let pruned = m.clone();
    let report = prune_refit::refit_pruned(&mut m, &teacher, &ctx).unwrap();
    eprint!("{}", report.render());
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    // Every layer that lost weights was refitted, and fits its teacher
    // output better on the calibration data than pruned alone.
    let lost: Vec<&str> = levels
        .iter()
        .filter(|(_, z)| *z > 0.0)
        .map(|(n, _)| n.as_str())
        .collect();
    let done: Vec<&str> = report.refitted.iter().map(|r| r.layer.as_str()).collect();
    assert_eq!(lost, done);
    let depthwise = m
        .nodes
        .iter()
        .filter(|n| n.op_type == "Conv" && n.int("group", 1) > 1 && done.contains(&n.name.as_str()))
        .count();
    assert!(depthwise > 0, "no depthwise layer refitted");
    for r in &report.refitted {
        assert!(r.error.1 < r.error.0, "{}: {:?}", r.layer, r.error);
    }
    // The zeros stay zero: every refitted layer's weights are zero exactly
    // where the pruned ones are (its weight constant may have a new name).
    let layers_now = mote_cli::quantize::layers::find(&m);
    for l in mote_cli::quantize::layers::find(&pruned) {
        let before = pruned.consts[&l.weight].to_f32();
        let now = layers_now.iter().find(|x| x.name == l.name).unwrap();
        let after = m.consts[&now.weight].to_f32();
        assert_eq!(before.len(), after.len());
        for (a, b) in before.iter().zip(&after) {
            assert_eq!(*a == 0.0, *b == 0.0, "{}: {a} -> {b}", l.name);
        }
    }
}
