//! Arbitrary bytes as a model: parse, `Interpreter::new`, `invoke`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let aligned = common::Aligned::new(data);
    let bytes = aligned.bytes();
    common::exercise(bytes, data);
});
