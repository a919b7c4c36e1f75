//! Arbitrary bytes as a model: parse, `Interpreter::new`, `invoke`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::invoke_target(data);
});
