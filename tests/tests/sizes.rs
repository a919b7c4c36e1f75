//! Arena and file size on the project's oracle models: the planned arena
//! reaches the ideal layer-by-layer activation peak (within 1%, the 4-byte
//! alignment of each tensor), and each
//! `.mote` file is no larger than the int8 `.tflite` it came from.

use mote_tests::data_models;

#[test]
fn arena_at_ideal_peak_and_file_smaller_than_tflite() {
    let dirs = data_models("model_int8.tflite");
    assert!(dirs.len() >= 5);
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (bytes, s) = mote_cli::compress::compress_bytes(&dir.join("model_qdq.onnx")).unwrap();
        let tflite = std::fs::metadata(dir.join("model_int8.tflite"))
            .unwrap()
            .len() as usize;
        let ratio = s.arena_bytes as f64 / s.ideal_peak_bytes as f64;
        eprintln!(
            "{name:<12} arena {:>6} B, ideal peak {:>6} B ({ratio:.3}x), .mote {:>6} B, .tflite {tflite:>6} B",
            s.arena_bytes, s.ideal_peak_bytes, bytes.len()
        );
        assert!(ratio <= 1.01, "{name}: arena {ratio:.3}x the ideal peak");
        assert!(
            s.ideal_peak_bytes > 0 && s.arena_bytes >= s.ideal_peak_bytes,
            "{name}: arena below the live-tensor bound"
        );
        assert!(
            bytes.len() <= tflite,
            "{name}: .mote {} B > .tflite {tflite} B",
            bytes.len()
        );
    }
}
