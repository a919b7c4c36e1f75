// The fuzz targets' bodies. cargo-fuzz (nightly) runs them from
// `fuzz_targets/*.rs`; the stable test `tests/tests/fuzz_bounded.rs` includes
// this file too and runs the same bodies for a bounded number of cases.

/// Seeds of the structure-aware target: real models in the current format.
const SEEDS: [&[u8]; 5] = [
    include_bytes!("../../data/format/v1/digits.mote"),
    include_bytes!("../corpus/invoke/ad.mote"),
    include_bytes!("../corpus/invoke/op_concat.mote"),
    include_bytes!("../corpus/invoke/op_logistic.mote"),
    include_bytes!("../corpus/invoke/op_mul.mote"),
];

/// Public key the `parse` target verifies against (no model is signed with
/// it, so verification must fail cleanly).
const FUZZ_KEY: [u8; 32] = [7; 32];

/// `bytes` in a 16-byte aligned buffer (as models sit in flash).
pub struct Aligned {
    words: Vec<u128>,
    len: usize,
}

impl Aligned {
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self {
            words,
            len: bytes.len(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }
}

/// Target `parse`: arbitrary bytes into `Model::parse` and
/// `Model::parse_verified`.
#[allow(dead_code)]
pub fn parse_target(data: &[u8]) {
    let aligned = Aligned::new(data);
    let bytes = aligned.bytes();
    let _ = mote_runtime::Model::parse(bytes);
    let _ = mote_runtime::Model::parse_verified(bytes, &FUZZ_KEY);
}

/// Target `invoke`: arbitrary bytes as a model, through `Interpreter::new`,
/// `invoke` and the output accessors. Returns whether it got to `invoke`.
#[allow(dead_code)]
pub fn invoke_target(data: &[u8]) -> bool {
    let aligned = Aligned::new(data);
    exercise(aligned.bytes(), data)
}

/// Target `mutate`: structure-aware. The first byte picks a seed model; each
/// following 3 bytes are a 16-bit position in the body and a value to XOR.
/// The CRC is then fixed so the edits reach validation and execution rather
/// than stopping at the checksum. Returns whether it got to `invoke`.
#[allow(dead_code)]
pub fn mutate_target(data: &[u8]) -> bool {
    let Some((&pick, edits)) = data.split_first() else {
        return false;
    };
    let mut model = SEEDS[usize::from(pick) % SEEDS.len()].to_vec();
    let body = model.len() - 32;
    for edit in edits.chunks_exact(3) {
        let at = 32 + usize::from(u16::from_le_bytes([edit[0], edit[1]])) % body;
        model[at] ^= edit[2];
    }
    let crc = mote_format::crc32(&model[32..]);
    model[24..28].copy_from_slice(&crc.to_le_bytes());
    let aligned = Aligned::new(&model);
    exercise(aligned.bytes(), data)
}

/// Parses, binds an arena (bounded) and invokes once, feeding `input` to the
/// model input. Must never panic, whatever the bytes. Returns whether the
/// model got as far as `invoke`.
pub fn exercise(model_bytes: &[u8], input: &[u8]) -> bool {
    let Ok(model) = mote_runtime::Model::parse(model_bytes) else {
        return false;
    };
    for i in 0..model.tensor_count() {
        let _ = model.tensor(i);
    }
    for op in model.ops() {
        let _ = op.name;
    }
    if model.arena_len() > 1 << 20 {
        return false;
    }
    let mut words = vec![0u128; model.arena_len().div_ceil(16)];
    let arena = &mut bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..model.arena_len()];
    let Ok(mut interp) = mote_runtime::Interpreter::new(&model, arena) else {
        return false;
    };
    if let Ok(x) = interp.input_mut(0) {
        for (d, s) in x.iter_mut().zip(input.iter().cycle()) {
            *d = *s as i8;
        }
    }
    let _ = interp.invoke();
    let _ = interp.output(0);
    let mut f = [0f32; 64];
    let _ = interp.output_f32(0, &mut f);
    true
}
