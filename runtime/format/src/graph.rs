//! Graph-level records: the graph header and the tensor table.

use serde::{Deserialize, Serialize};

/// Most model inputs or outputs a file may declare.
pub const MAX_IO: usize = 8;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DType {
    /// Signed 8-bit integer, affine-quantized with `scale` and `zero_point`.
    I8,
    /// 32-bit IEEE float.
    F32,
}

impl DType {
    /// Size of one element in bytes.
    pub const fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::F32 => 4,
        }
    }
}

/// First record of the graph section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphHeader<'a> {
    /// Model name (from the source file).
    pub name: &'a str,
    /// Name and version of the tool that wrote the file.
    pub producer: &'a str,
    /// Bytes of caller-owned arena the plan needs (activations and scratch).
    pub arena_len: u32,
    /// Number of `TensorDesc` records that follow.
    pub n_tensors: u16,
    /// Number of `Op` records after the tensors.
    pub n_ops: u16,
    /// Tensor indices of the model inputs.
    pub inputs: heapless::Vec<u16, MAX_IO>,
    /// Tensor indices of the model outputs.
    pub outputs: heapless::Vec<u16, MAX_IO>,
    /// Multiply-accumulates of one inference (informative).
    pub macs: u64,
}

/// An activation tensor living in the arena.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorDesc<'a> {
    /// Name of the tensor in the source model.
    pub name: &'a str,
    /// Element type.
    pub dtype: DType,
    /// Rank of the tensor in the source model (1..=4).
    pub rank: u8,
    /// Dimensions, NHWC, left-padded with 1s to four.
    pub dims: [u32; 4],
    /// Byte offset in the arena.
    pub offset: u32,
    /// Quantization scale (1.0 for float tensors).
    pub scale: f32,
    /// Quantization zero point (0 for float tensors).
    pub zero_point: i32,
}

impl TensorDesc<'_> {
    /// Number of elements, or `None` on overflow.
    pub fn elements(&self) -> Option<usize> {
        self.dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
    }

    /// Number of bytes, or `None` on overflow.
    pub fn byte_len(&self) -> Option<usize> {
        self.elements()?.checked_mul(self.dtype.size())
    }

    /// The source-model shape: the last `rank` of the four dims.
    pub fn shape(&self) -> &[u32] {
        let rank = usize::from(self.rank).clamp(1, 4);
        &self.dims[4 - rank..]
    }
}
