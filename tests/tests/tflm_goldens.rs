//! Bit-exactness with TensorFlow Lite Micro: `mote compress` of the tf2onnx
//! QDQ form of an int8 TFLite model, then `mote run`, must reproduce TFLM's
//! int8 outputs exactly.

use mote_cli::npy::Array;
use mote_tests::{compress_and_run, data_models, read_i8};

#[test]
fn project_goldens_are_bit_exact_with_tflite_micro() {
    let dirs = data_models("outputs_tflm.npy");
    assert!(
        dirs.len() >= 5,
        "expected the oracle models in tests/data, found {}",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (shape, input) = read_i8(&dir.join("inputs.npy")).unwrap();
        let (gshape, golden) = read_i8(&dir.join("outputs_tflm.npy")).unwrap();
        match compress_and_run(
            &dir.join("model_qdq.onnx"),
            &shape,
            &Array::I8(input),
            false,
        ) {
            Ok(out) => {
                let Array::I8(got) = out.data else {
                    panic!("int8 output expected")
                };
                let diff = got.iter().zip(&golden).filter(|(a, b)| a != b).count();
                let max = got
                    .iter()
                    .zip(&golden)
                    .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
                    .max();
                eprintln!(
                    "{name:<12} {} values, {diff} differ, max |diff| {max:?}",
                    golden.len()
                );
                if out.shape != gshape || diff != 0 {
                    failures.push(format!(
                        "{name}: shape {:?} vs {gshape:?}, {diff} values differ",
                        out.shape
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: {e:#}")),
        }
    }
    assert!(
        failures.is_empty(),
        "not bit-exact:\n{}",
        failures.join("\n")
    );
}

#[test]
fn digits_example_is_bit_exact_and_scores_as_tflite_micro() {
    let dir = mote_tests::root().join("models/digits");
    let (shape, input) = read_i8(&dir.join("test_x_int8.npy")).unwrap();
    let (_, golden) = read_i8(&dir.join("test_outputs_tflm.npy")).unwrap();
    let out = compress_and_run(
        &dir.join("digits_int8.onnx"),
        &shape,
        &Array::I8(input),
        false,
    )
    .unwrap();
    let labels = mote_cli::npy::read_labels(&dir.join("test_y.npy")).unwrap();
    let (correct, total) = mote_cli::run::top1_accuracy(&out, &labels).unwrap();
    let Array::I8(got) = out.data else {
        panic!("int8 output expected")
    };
    assert_eq!(got, golden, "digits outputs differ from TFLite Micro's");
    // The recipe measured 353 of 360 for TFLite Micro on these images.
    assert_eq!((correct, total), (353, 360));
}

/// `--wide-fc` (FullyConnected filters widened to 16 bits in the DSP
/// kernel's order) changes the storage, not the arithmetic: every model
/// with a FullyConnected layer stays bit-exact with TFLite Micro, and the
/// widened filters take exactly twice the bytes of the int8 ones (plus the
/// padding of rows and inputs to multiples of four).
#[test]
fn wide_fc_models_are_bit_exact_with_tflite_micro() {
    use mote_cli::compress::{compress_bytes_with, Packing};
    use mote_format::{OpKind, WeightEncoding};
    let mut widened_models = 0;
    for dir in data_models("outputs_tflm.npy") {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let onnx = dir.join("model_qdq.onnx");
        let (bytes, _) = compress_bytes_with(&onnx, Packing::WideFc).unwrap();
        let aligned = mote_cli::AlignedBytes::new(&bytes);
        let model = mote_runtime::Model::parse(aligned.as_slice()).unwrap();
        let mut wide = 0;
        for op in model.ops() {
            if let OpKind::FullyConnectedPacked { fc, encoding } = &op.kind {
                assert_eq!(*encoding, WeightEncoding::WideS8, "{name}");
                let (rows, cols) = (fc.out_features as usize, fc.in_features as usize);
                let padded = rows.div_ceil(4) * 4 * cols.div_ceil(4) * 4;
                assert_eq!(fc.filter.len as usize, 2 * padded, "{name}");
                wide += 1;
            }
            assert!(
                !matches!(op.kind, OpKind::FullyConnected(_)),
                "{name}: FC left int8"
            );
        }
        if wide == 0 {
            continue;
        }
        widened_models += 1;
        let (shape, input) = read_i8(&dir.join("inputs.npy")).unwrap();
        let (_, golden) = read_i8(&dir.join("outputs_tflm.npy")).unwrap();
        let out = mote_cli::run::run(aligned.as_slice(), &shape, &Array::I8(input), false).unwrap();
        let Array::I8(got) = out.data else {
            panic!("int8 output expected")
        };
        let diff = got.iter().zip(&golden).filter(|(a, b)| a != b).count();
        eprintln!(
            "{name:<12} {wide} wide FC op(s), {diff} of {} values differ",
            golden.len()
        );
        assert_eq!(diff, 0, "{name}: not bit-exact with --wide-fc");
    }
    assert!(
        widened_models >= 5,
        "only {widened_models} models have a FullyConnected layer"
    );
}
