//! Structure-aware: edits a valid model's graph and weights (fields,
//! offsets, shapes, quantization parameters), then fixes the CRC so the
//! edits reach validation and execution rather than stopping at the checksum.
#![no_main]

mod common;

const SEED: &[u8] = include_bytes!("../../data/format/v1/digits.mote");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut model = SEED.to_vec();
    // Each 3 input bytes: a 16-bit position in the body and a value to XOR.
    for edit in data.chunks_exact(3) {
        let at = 32 + usize::from(u16::from_le_bytes([edit[0], edit[1]])) % (model.len() - 32);
        model[at] ^= edit[2];
    }
    let crc = mote_format::crc32(&model[32..]);
    model[24..28].copy_from_slice(&crc.to_le_bytes());
    let aligned = common::Aligned::new(&model);
    let bytes = aligned.bytes();
    common::exercise(bytes, data);
});
