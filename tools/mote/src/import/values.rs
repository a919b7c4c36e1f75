//! What an ONNX value is while lowering: an int8 arena tensor (possibly seen
//! through a folded Transpose), its dequantized view, a constant, or a float
//! op waiting for the QuantizeLinear that gives its output scale.

use super::onnx::{Const, Data, Node};

/// Per-tensor or per-axis quantization of a constant.
#[derive(Debug, Clone)]
pub struct QParams {
    /// Scales (one, or one per slice along `axis`).
    pub scale: Vec<f32>,
    /// Zero points (same count as scales).
    pub zero_point: Vec<i32>,
    /// Axis the per-axis parameters run along.
    pub axis: usize,
}

/// A lowered value.
#[derive(Debug, Clone)]
pub enum Val {
    /// int8 arena tensor `t`; logical dim i is physical dim `perm[i]`.
    Act {
        /// Tensor index.
        t: usize,
        /// Logical-to-physical dim map.
        perm: Vec<usize>,
    },
    /// A float32 arena tensor (float ops).
    F32Act {
        /// Tensor index.
        t: usize,
        /// Logical-to-physical dim map.
        perm: Vec<usize>,
    },
    /// Dequantized (float) view of an int8 arena tensor.
    FAct {
        /// Tensor index.
        t: usize,
        /// Logical-to-physical dim map.
        perm: Vec<usize>,
    },
    /// Quantized integer constant.
    QConst(Const, QParams),
    /// Dequantized view of a quantized integer constant.
    FQConst(Const, QParams),
    /// Plain constant.
    Const(Const),
    /// Float op whose output is not yet quantized.
    Pending(Box<Pending>),
    /// A QLinearConv/QLinearMatMul not yet lowered, with its declared output
    /// quantization: a DequantizeLinear turns it back into a float op (so a
    /// following bias Add and activation fold into it); any other consumer
    /// lowers it with these parameters.
    QPending(Box<Pending>, f32, i32),
}

impl Pending {
    /// A pending op with nothing fused yet.
    pub fn new(node: &Node, ins: Vec<Option<Val>>) -> Self {
        Pending {
            node: node.clone(),
            ins,
            clamp: (f32::NEG_INFINITY, f32::INFINITY),
            bias: None,
            declared: None,
            post: Vec::new(),
        }
    }
}

/// A float op awaiting output quantization.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The ONNX node.
    pub node: Node,
    /// Its input values.
    pub ins: Vec<Option<Val>>,
    /// Fused activation clamp in float (min, max).
    pub clamp: (f32, f32),
    /// A constant bias added after the op (folded Add).
    pub bias: Option<Val>,
    /// Output quantization declared by a QLinear op, used when the float
    /// result must become an int8 tensor without a QuantizeLinear.
    pub declared: Option<(f32, i32)>,
    /// Layout nodes (Reshape, Flatten, Squeeze, Unsqueeze, Transpose) applied
    /// to the float result before it is quantized.
    pub post: Vec<Node>,
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Permutes the data of a constant: output dim i is input dim `perm[i]`.
pub fn transpose_const(c: &Const, perm: &[usize]) -> Const {
    let in_strides = strides(&c.shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| c.shape[p]).collect();
    let n = c.len();
    let mut index = Vec::with_capacity(n);
    let out_strides = strides(&out_shape);
    for flat in 0..n {
        let mut src = 0;
        for (d, &os) in out_strides.iter().enumerate() {
            let coord = (flat / os) % out_shape[d].max(1);
            src += coord * in_strides[perm[d]];
        }
        index.push(src);
    }
    fn pick<T: Copy>(v: &[T], idx: &[usize]) -> Vec<T> {
        idx.iter().map(|&i| v[i]).collect()
    }
    let data = match &c.data {
        Data::F32(v) => Data::F32(pick(v, &index)),
        Data::I8(v) => Data::I8(pick(v, &index)),
        Data::U8(v) => Data::U8(pick(v, &index)),
        Data::I32(v) => Data::I32(pick(v, &index)),
        Data::I64(v) => Data::I64(pick(v, &index)),
    };
    Const {
        shape: out_shape,
        data,
    }
}
