//! Files of every released format version keep loading and give the same
//! results: the digits model written by mote 0.1.0 (format v1) must still
//! reproduce TFLite Micro's outputs on the 360 held-out images.

use mote_cli::npy::Array;
use mote_tests::{data_dir, read_i8, root};

#[test]
fn format_v1_file_still_runs_bit_exact() {
    let bytes = std::fs::read(data_dir().join("format/v1/digits.mote")).unwrap();
    let aligned = mote_cli::AlignedBytes::new(&bytes);
    let model = mote_runtime::Model::parse(aligned.as_slice()).unwrap();
    assert_eq!(
        u16::from_le_bytes([bytes[4], bytes[5]]),
        1,
        "the file is format version 1"
    );
    assert_eq!(model.op_count(), 6);
    let dir = root().join("models/digits");
    let (shape, x) = read_i8(&dir.join("test_x_int8.npy")).unwrap();
    let (_, golden) = read_i8(&dir.join("test_outputs_tflm.npy")).unwrap();
    let out = mote_cli::run::run(aligned.as_slice(), &shape, &Array::I8(x), false).unwrap();
    let Array::I8(got) = out.data else {
        panic!("int8 output expected")
    };
    assert_eq!(got, golden);
}
