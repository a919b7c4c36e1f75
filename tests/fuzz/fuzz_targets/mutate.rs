//! Structure-aware: edits a valid model's graph and weights (fields,
//! offsets, shapes, quantization parameters) and fixes the CRC, so the edits
//! reach validation and execution rather than stopping at the checksum.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::mutate_target(data);
});
