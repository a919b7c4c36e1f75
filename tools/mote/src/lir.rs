//! The lowered graph: int8 activation tensors and `mote-format` ops whose
//! weights already sit in a blob builder. The importer produces it; the
//! planner and the writer consume it.

use mote_format::{BlobRef, DType, OpKind, WEIGHTS_ALIGN};

/// An activation tensor of the lowered graph.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// Name in the source model.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Source-model shape (rank 1..=4), in the runtime's (NHWC) order.
    pub shape: Vec<usize>,
    /// Quantization scale.
    pub scale: f32,
    /// Quantization zero point.
    pub zero_point: i32,
    /// Tensor whose buffer this one shares (a reshape view), if any.
    pub alias_of: Option<usize>,
}

impl Tensor {
    /// The shape left-padded with 1s to four dims.
    pub fn dims4(&self) -> [u32; 4] {
        let mut d = [1u32; 4];
        let r = self.shape.len().min(4);
        for (i, &s) in self.shape[self.shape.len() - r..].iter().enumerate() {
            d[4 - r + i] = s as u32;
        }
        d
    }

    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes.
    pub fn byte_len(&self) -> usize {
        self.elements() * self.dtype.size()
    }
}

/// An op of the lowered graph.
#[derive(Debug, Clone)]
pub struct Op {
    /// Source node name.
    pub name: String,
    /// Kind and parameters (weights referenced in the blob).
    pub kind: OpKind,
    /// Input tensor indices.
    pub inputs: Vec<usize>,
    /// Output tensor index.
    pub output: usize,
    /// Multiply-accumulates.
    pub macs: u64,
}

/// The whole lowered model.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Model name.
    pub name: String,
    /// Activation tensors.
    pub tensors: Vec<Tensor>,
    /// Ops in execution order.
    pub ops: Vec<Op>,
    /// Model input tensor indices.
    pub inputs: Vec<usize>,
    /// Model output tensor indices.
    pub outputs: Vec<usize>,
    /// The weight blob.
    pub blob: Blob,
}

impl Graph {
    /// Adds a tensor and returns its index.
    pub fn add_tensor(&mut self, t: Tensor) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    /// Follows aliases to the tensor that owns the buffer.
    pub fn root(&self, mut t: usize) -> usize {
        while let Some(a) = self.tensors[t].alias_of {
            t = a;
        }
        t
    }
}

/// The weight blob under construction; every range starts 16-byte aligned.
#[derive(Debug, Clone, Default)]
pub struct Blob {
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// Appends raw bytes.
    pub fn push_bytes(&mut self, data: &[u8]) -> BlobRef {
        while !self.bytes.len().is_multiple_of(WEIGHTS_ALIGN) {
            self.bytes.push(0);
        }
        let offset = self.bytes.len() as u32;
        self.bytes.extend_from_slice(data);
        BlobRef {
            offset,
            len: data.len() as u32,
        }
    }

    /// Appends int8 values.
    pub fn push_i8(&mut self, data: &[i8]) -> BlobRef {
        let b: Vec<u8> = data.iter().map(|&x| x as u8).collect();
        self.push_bytes(&b)
    }

    /// Appends int32 values, little-endian.
    pub fn push_i32(&mut self, data: &[i32]) -> BlobRef {
        let b: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push_bytes(&b)
    }
}
