//! The `mote` host tool as a library: ONNX import, arena planning, `.mote`
//! writing, inspection and host execution. The `mote` binary is a thin CLI
//! over these modules; tests call them directly too.
#![deny(missing_docs)]

pub mod bench;
pub mod compress;
pub mod eval;
pub mod features;
pub mod float_ref;
pub mod import;
pub mod inspect;
pub mod lir;
pub mod npy;
pub mod pack;
pub mod plan;
pub mod qparams;
pub mod quantize;
pub mod report;
pub mod run;
pub mod scan;
pub mod sign;
pub mod sim;
pub mod throughput;
pub mod write;

/// Model bytes copied into a 16-byte aligned buffer, as the runtime wants
/// for zero-copy weights.
pub struct AlignedBytes {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBytes {
    /// Copies `bytes` into aligned storage.
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self {
            words,
            len: bytes.len(),
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }
}

/// A zeroed, 16-byte aligned arena of `len` bytes (float tensors need the
/// alignment; `Vec<u8>` does not promise it).
pub struct Arena {
    words: Vec<u128>,
    len: usize,
}

impl Arena {
    /// A new arena of `len` bytes.
    pub fn new(len: usize) -> Self {
        Self {
            words: vec![0u128; len.div_ceil(16)],
            len,
        }
    }

    /// The bytes.
    pub fn bytes(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.words)[..self.len]
    }
}

/// Reads a `.mote` file into aligned memory.
pub fn read_model(path: &std::path::Path) -> anyhow::Result<AlignedBytes> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(AlignedBytes::new(&bytes))
}
