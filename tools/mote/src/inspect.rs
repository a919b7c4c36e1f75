//! `mote inspect`: what a `.mote` file holds.

use anyhow::{anyhow, Result};
use mote_format::{DType, FloatOp, OpKind};
use mote_runtime::Model;
use serde::Serialize;

/// A model input or output.
#[derive(Debug, Clone, Serialize)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Shape as in the source model (NHWC for images).
    pub shape: Vec<u32>,
    /// Element type.
    pub dtype: String,
    /// Quantization scale.
    pub scale: f32,
    /// Quantization zero point.
    pub zero_point: i32,
}

/// One op.
#[derive(Debug, Clone, Serialize)]
pub struct OpInfo {
    /// Position in execution order.
    pub index: usize,
    /// Op kind.
    pub op: String,
    /// Source node.
    pub name: String,
    /// Input shapes (NHWC, four dims).
    pub inputs: Vec<[u32; 4]>,
    /// Output shape (as in the source model).
    pub output: Vec<u32>,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Fraction of the op's weights that are not zero (Conv2d,
    /// DepthwiseConv2d, FullyConnected); `null` for other ops.
    pub density: Option<f64>,
    /// How the op's filter is stored: `dense`, `sparse` or `int4`; `null`
    /// for ops without an int8 filter.
    pub encoding: Option<String>,
    /// Bytes of the op's filter in the weight blob; `null` likewise.
    pub filter_bytes: Option<u64>,
}

/// How a weighted op's filter is stored, its density and its bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterInfo {
    /// `dense` (int8), `sparse` (bitmap + non-zero int8) or `int4`.
    pub encoding: &'static str,
    /// Fraction of the weights that are not zero.
    pub density: f64,
    /// Bytes of the filter in the weight blob.
    pub bytes: u64,
}

/// Encoding, density and size of the filter of a Conv2d, DepthwiseConv2d or
/// FullyConnected op (dense or packed); `None` for other ops. A dense
/// filter's zero is its zero point (the negated filter offset).
pub fn filter_info(op: &mote_format::Op<'_>, weights: &[u8]) -> Option<FilterInfo> {
    use mote_format::{FilterShape, WeightEncoding};
    let (b, zero, packed) = match &op.kind {
        OpKind::Conv2d(c) | OpKind::DepthwiseConv2d { conv: c, .. } => (c.filter, 0, None),
        OpKind::FullyConnected(f) => (f.filter, f.filter_offset.wrapping_neg(), None),
        OpKind::Conv2dPacked { conv, encoding } => (
            conv.filter,
            0,
            Some((*encoding, FilterShape::conv(conv.filter_dims))),
        ),
        OpKind::DepthwiseConv2dPacked { conv, encoding, .. } => (
            conv.filter,
            0,
            Some((*encoding, FilterShape::depthwise(conv.filter_dims))),
        ),
        OpKind::FullyConnectedPacked { fc, encoding } => (
            fc.filter,
            0,
            Some((
                *encoding,
                FilterShape::fully_connected(fc.in_features, fc.out_features),
            )),
        ),
        _ => return None,
    };
    let (start, len) = (b.offset as usize, b.len as usize);
    let w = weights.get(start..start.checked_add(len)?)?;
    let bytes = len as u64;
    let (encoding, nonzero, total) = match packed {
        None => (
            "dense",
            w.iter().filter(|&&x| i32::from(x as i8) != zero).count(),
            w.len(),
        ),
        Some((WeightEncoding::SparseS8, shape)) => (
            "sparse",
            mote_format::check_sparse(w, &shape).ok()?,
            shape.elements()?,
        ),
        Some((WeightEncoding::S4, shape)) => {
            let n = shape.elements()?;
            let nz = (0..n)
                .filter(|&i| mote_kernels::int4::s4_at(w, i) != 0)
                .count();
            ("int4", nz, n)
        }
        Some((WeightEncoding::WideS8, shape)) => {
            let (rows, cols) = (shape.rows, shape.group_len);
            let g = cols.div_ceil(4);
            let at = |r: usize, c: usize| {
                let h = mote_format::wide_index(r, c, g);
                w.get(2 * h..2 * h + 2)
                    .map_or(0, |b| i16::from_le_bytes([b[0], b[1]]))
            };
            let nz = (0..rows)
                .flat_map(|r| (0..cols).map(move |c| (r, c)))
                .filter(|&(r, c)| at(r, c) != 0)
                .count();
            ("wide", nz, shape.elements()?)
        }
    };
    if total == 0 {
        return None;
    }
    Some(FilterInfo {
        encoding,
        density: nonzero as f64 / total as f64,
        bytes,
    })
}

/// Fraction of the weights of a Conv2d, DepthwiseConv2d or FullyConnected
/// op (dense or packed) that are not zero.
pub fn weight_density(op: &mote_format::Op<'_>, weights: &[u8]) -> Option<f64> {
    filter_info(op, weights).map(|f| f.density)
}

/// Everything `inspect` reports. Field names are the `--json` contract.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Model name.
    pub name: String,
    /// Tool that wrote the file.
    pub producer: String,
    /// Format version.
    pub format_version: u16,
    /// File size.
    pub file_bytes: usize,
    /// Weight blob size (weights and precomputed kernel parameters).
    pub weights_bytes: usize,
    /// Arena bytes to give `Interpreter::new`.
    pub arena_bytes: usize,
    /// Total MACs per inference.
    pub macs: u64,
    /// Model inputs.
    pub inputs: Vec<TensorInfo>,
    /// Model outputs.
    pub outputs: Vec<TensorInfo>,
    /// Ops in execution order.
    pub ops: Vec<OpInfo>,
}

/// Name of an op kind.
pub fn kind_name(k: &OpKind) -> &'static str {
    match k {
        OpKind::Conv2d(_) | OpKind::Conv2dPacked { .. } => "Conv2d",
        OpKind::DepthwiseConv2d { .. } | OpKind::DepthwiseConv2dPacked { .. } => "DepthwiseConv2d",
        OpKind::FullyConnected(_) | OpKind::FullyConnectedPacked { .. } => "FullyConnected",
        OpKind::Add(_) => "Add",
        OpKind::Mul(_) => "Mul",
        OpKind::AvgPool(_) => "AvgPool",
        OpKind::MaxPool(_) => "MaxPool",
        OpKind::Mean(_) => "Mean",
        OpKind::Softmax(_) => "Softmax",
        OpKind::Logistic(_) => "Logistic",
        OpKind::Tanh(_) => "Tanh",
        OpKind::Pad { .. } => "Pad",
        OpKind::Concat { .. } => "Concat",
        OpKind::Transpose { .. } => "Transpose",
        OpKind::Requantize(_) => "Requantize",
        OpKind::Copy => "Copy",
        OpKind::Constant { .. } => "Constant",
        OpKind::Float(f) => match f {
            FloatOp::Conv2d(_) => "Conv2dF32",
            FloatOp::DepthwiseConv2d { .. } => "DepthwiseConv2dF32",
            FloatOp::FullyConnected(_) => "FullyConnectedF32",
            FloatOp::Add { .. } => "AddF32",
            FloatOp::Mul { .. } => "MulF32",
            FloatOp::AvgPool(_) => "AvgPoolF32",
            FloatOp::MaxPool(_) => "MaxPoolF32",
            FloatOp::Mean => "MeanF32",
            FloatOp::Softmax => "SoftmaxF32",
            FloatOp::Logistic => "LogisticF32",
            FloatOp::Tanh => "TanhF32",
            FloatOp::Clamp { .. } => "ClampF32",
            FloatOp::Pad { .. } => "PadF32",
            FloatOp::Concat { .. } => "ConcatF32",
            FloatOp::Transpose { .. } => "TransposeF32",
        },
        OpKind::Quantize(_) => "Quantize",
        OpKind::Dequantize(_) => "Dequantize",
    }
}

fn product(dims: &[u32]) -> u64 {
    dims.iter()
        .fold(1u64, |a, &d| a.saturating_mul(u64::from(d)))
}

/// MACs of one op, from its kind and shapes (saturating: the shapes come
/// from the file).
pub fn op_macs(op: &mote_format::Op<'_>) -> u64 {
    let out = product(&op.output.dims);
    match &op.kind {
        OpKind::Conv2d(c) | OpKind::Conv2dPacked { conv: c, .. } => {
            out.saturating_mul(product(&c.filter_dims[1..]))
        }
        OpKind::DepthwiseConv2d { conv, .. } | OpKind::DepthwiseConv2dPacked { conv, .. } => {
            out.saturating_mul(product(&conv.filter_dims[1..3]))
        }
        OpKind::FullyConnected(f) | OpKind::FullyConnectedPacked { fc: f, .. } => {
            out.saturating_mul(u64::from(f.in_features))
        }
        OpKind::Float(FloatOp::Conv2d(c)) => out.saturating_mul(product(&c.filter_dims[1..])),
        OpKind::Float(FloatOp::DepthwiseConv2d { conv, .. }) => {
            out.saturating_mul(product(&conv.filter_dims[1..3]))
        }
        OpKind::Float(FloatOp::FullyConnected(f)) => out.saturating_mul(u64::from(f.in_features)),
        _ => 0,
    }
}

fn info(t: &mote_format::TensorDesc<'_>) -> TensorInfo {
    TensorInfo {
        name: t.name.to_string(),
        shape: t.shape().to_vec(),
        dtype: match t.dtype {
            DType::I8 => "int8".into(),
            DType::F32 => "float32".into(),
        },
        scale: t.scale,
        zero_point: t.zero_point,
    }
}

/// Builds the report for model bytes.
pub fn report(bytes: &[u8]) -> Result<Report> {
    let m = Model::parse(bytes).map_err(|e| anyhow!("invalid model: {e}"))?;
    let mut inputs = Vec::new();
    for i in 0..m.input_count() {
        inputs.push(info(&m.input(i).map_err(|e| anyhow!("{e}"))?));
    }
    let mut outputs = Vec::new();
    for i in 0..m.output_count() {
        outputs.push(info(&m.output(i).map_err(|e| anyhow!("{e}"))?));
    }
    let ops: Vec<OpInfo> = m
        .ops()
        .enumerate()
        .map(|(index, op)| {
            let filter = filter_info(&op, m.weights());
            OpInfo {
                index,
                op: kind_name(&op.kind).into(),
                name: op.name.to_string(),
                inputs: op.inputs.iter().map(|a| a.dims).collect(),
                output: m
                    .tensor(op.output.tensor)
                    .map(|t| t.shape().to_vec())
                    .unwrap_or_else(|_| op.output.dims.to_vec()),
                macs: op_macs(&op),
                density: filter.map(|f| f.density),
                encoding: filter.map(|f| f.encoding.to_string()),
                filter_bytes: filter.map(|f| f.bytes),
            }
        })
        .collect();
    Ok(Report {
        name: m.name().into(),
        producer: m.producer().into(),
        format_version: mote_format::VERSION,
        file_bytes: m.file_len(),
        weights_bytes: m.weights().len(),
        arena_bytes: m.arena_len(),
        macs: ops.iter().fold(0u64, |a, o| a.saturating_add(o.macs)),
        inputs,
        outputs,
        ops,
    })
}

fn shape(s: &[u32]) -> String {
    let v: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    v.join("x")
}

/// Human-readable rendering of a report.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    s += &format!(
        "model {} ({}; format v{})\n",
        r.name, r.producer, r.format_version
    );
    s += &format!(
        "file {} B, weights {} B, arena {} B, {} MACs per inference\n",
        r.file_bytes, r.weights_bytes, r.arena_bytes, r.macs
    );
    for (kind, list) in [("input", &r.inputs), ("output", &r.outputs)] {
        for t in list {
            s += &format!(
                "{kind:<6} {:<24} {:<12} {} scale {:.6e} zero point {}\n",
                t.name,
                shape(&t.shape),
                t.dtype,
                t.scale,
                t.zero_point
            );
        }
    }
    s += &format!(
        "{:>3}  {:<16} {:<14} {:>12} {:>8} {:<8} {:>8}  {}\n",
        "#", "op", "output", "MACs", "density", "encoding", "bytes", "node"
    );
    for o in &r.ops {
        let density = o
            .density
            .map(|d| format!("{:.1}%", 100.0 * d))
            .unwrap_or_else(|| "-".into());
        s += &format!(
            "{:>3}  {:<16} {:<14} {:>12} {:>8} {:<8} {:>8}  {}\n",
            o.index,
            o.op,
            shape(&o.output),
            o.macs,
            density,
            o.encoding.as_deref().unwrap_or("-"),
            o.filter_bytes
                .map(|b| b.to_string())
                .unwrap_or_else(|| "-".into()),
            o.name
        );
    }
    s
}
