//! Arbitrary bytes into `Model::parse` and `Model::parse_verified`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::parse_target(data));
