//! Arbitrary bytes into `Model::parse` and `Model::parse_verified`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let aligned = common::Aligned::new(data);
    let bytes = aligned.bytes();
    let _ = mote_runtime::Model::parse(bytes);
    let _ = mote_runtime::Model::parse_verified(bytes, &[7u8; 32]);
});
