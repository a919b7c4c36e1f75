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
