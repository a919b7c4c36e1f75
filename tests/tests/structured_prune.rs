//! Structured pruning (`mote compress --prune-channels 0.25`) on
//! models/medmnist_cnn, measured on its 200 held-out images against the
//! float teacher: the MACs `mote inspect` reports, and the agreement with
//! and without the least-squares refit of each pruned layer's consumer.

use mote_cli::quantize::channels::Channels;
use mote_cli::quantize::Options;

struct Measured {
    macs: u64,
    weights_bytes: usize,
    agreement: f64,
    accuracy: f64,
    sqnr: f64,
}

fn measure(channels: Option<Channels>) -> Measured {
    let dir = mote_tests::root().join("models/medmnist_cnn");
    let float = dir.join("medmnist_cnn_float.onnx");
    let opts = Options {
        prune_channels: channels,
        ..Options::default()
    };
    let (bytes, summary) =
        mote_cli::compress::quantize_bytes(&float, &dir.join("calib.npy"), &opts).unwrap();
    let aligned = mote_cli::AlignedBytes::new(&bytes);
    let report = mote_cli::inspect::report(aligned.as_slice()).unwrap();
    assert_eq!(report.macs, summary.macs);
    let model = mote_runtime::Model::parse(aligned.as_slice()).unwrap();
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
        macs: report.macs,
        weights_bytes: report.weights_bytes,
        agreement: r.top1_agreement,
        accuracy: r.int8_accuracy.unwrap(),
        sqnr: r.output_sqnr_db,
    }
}

fn show(what: &str, m: &Measured, dense: &Measured) {
    eprintln!(
        "{what}: {} MACs ({:.1}% fewer), {} B weights, top-1 agreement {:.1}%, accuracy {:.1}%, output SQNR {:.2} dB",
        m.macs,
        100.0 * (1.0 - m.macs as f64 / dense.macs as f64),
        m.weights_bytes,
        100.0 * m.agreement,
        100.0 * m.accuracy,
        m.sqnr
    );
}

#[test]
fn quarter_of_the_channels_with_and_without_refit() {
    let dense = measure(None);
    let refit = measure(Some(Channels {
        fraction: 0.25,
        reconstruct: true,
    }));
    let plain = measure(Some(Channels {
        fraction: 0.25,
        reconstruct: false,
    }));
    show("int8, unpruned", &dense, &dense);
    show("25% channels, least-squares refit", &refit, &dense);
    show("25% channels, no refit", &plain, &dense);
    // Both variants remove the same number of channels.
    assert_eq!(refit.macs, plain.macs);
    assert_eq!(refit.weights_bytes, plain.weights_bytes);
    let cut = 1.0 - refit.macs as f64 / dense.macs as f64;
    assert!(cut >= 0.35, "MACs only {:.1}% lower", 100.0 * cut);
    assert!(refit.weights_bytes < dense.weights_bytes);
    // The refit reconstructs the teacher's layer outputs: held out, it
    // agrees with the float model clearly better than dropping alone.
    assert!(
        refit.sqnr > plain.sqnr + 3.0,
        "held-out SQNR {:.2} dB with the refit, {:.2} dB without",
        refit.sqnr,
        plain.sqnr
    );
    assert!(
        refit.agreement > plain.agreement,
        "top-1 agreement {} with the refit, {} without",
        refit.agreement,
        plain.agreement
    );
}
