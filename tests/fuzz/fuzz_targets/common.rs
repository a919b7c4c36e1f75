// Shared by the fuzz targets: aligned copies and a bounded run.

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

/// Parses, binds an arena (bounded) and invokes once, feeding `input` to the
/// model input. Must never panic, whatever the bytes.
#[allow(dead_code)]
pub fn exercise(model_bytes: &[u8], input: &[u8]) {
    let Ok(model) = mote_runtime::Model::parse(model_bytes) else {
        return;
    };
    for i in 0..model.tensor_count() {
        let _ = model.tensor(i);
    }
    for op in model.ops() {
        let _ = op.name;
    }
    if model.arena_len() > 1 << 20 {
        return;
    }
    let mut words = vec![0u128; model.arena_len().div_ceil(16)];
    let arena = &mut bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..model.arena_len()];
    let Ok(mut interp) = mote_runtime::Interpreter::new(&model, arena) else {
        return;
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
}
