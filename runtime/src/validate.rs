//! Structural checks run once by `Model::parse`, so that `invoke` has
//! nothing left to check but data.
//!
//! Element types: every int8 op reads and writes I8 tensors, every float op
//! F32 tensors; Quantize goes F32 -> I8 and Dequantize I8 -> F32; Copy and
//! Constant move bytes of one type (input and output alike). Byte lengths are
//! `elements * dtype.size()` everywhere, and F32 tensors start 4-byte aligned
//! in the arena (whose start `Interpreter::new` requires 16-byte aligned).
//! A build without the `float` feature refuses every op that touches an f32
//! tensor.

// A build with only some op features leaves helpers of the others unused.
#![cfg_attr(
    not(all(feature = "all-ops", feature = "float")),
    allow(unused_imports, unused_variables, dead_code)
)]

use mote_format::{
    check_s4, check_sparse, check_wide, ActRef, BlobRef, ConvSpec, DType, EncodingError,
    FilterShape, FloatConvSpec, FloatOp, Op, OpKind, QuantSpec, TensorDesc, WeightEncoding,
    WeightType,
};

type Check = Result<(), ()>;

fn ensure(cond: bool) -> Check {
    if cond {
        Ok(())
    } else {
        Err(())
    }
}

fn product(dims: &[u32]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d as usize))
}

/// Alignment an arena offset of this element type needs.
fn dtype_align(d: DType) -> u32 {
    match d {
        DType::I8 => 1,
        DType::F32 => 4,
    }
}

/// Checks a tensor-table entry: rank, non-zero dims, fits in the arena,
/// aligned for its element type.
pub(crate) fn tensor(t: &TensorDesc<'_>, arena_len: usize) -> Check {
    ensure((1..=4).contains(&t.rank))?;
    ensure(t.dims.iter().all(|&d| d > 0))?;
    ensure(t.dtype == DType::I8 || t.dtype == DType::F32)?;
    ensure(t.offset.is_multiple_of(dtype_align(t.dtype)))?;
    let len = t.byte_len().ok_or(())?;
    let end = (t.offset as usize).checked_add(len).ok_or(())?;
    ensure(end <= arena_len)?;
    ensure(t.scale.is_finite() && t.scale > 0.0)
}

/// Element count and arena byte range end of an activation reference.
fn act(a: &ActRef, arena_len: usize, n_tensors: u16) -> Result<(usize, usize), ()> {
    ensure(a.tensor < n_tensors)?;
    ensure(a.dims.iter().all(|&d| d > 0))?;
    ensure(a.offset.is_multiple_of(dtype_align(a.dtype)))?;
    let len = product(&a.dims).ok_or(())?;
    let bytes = len.checked_mul(a.dtype.size()).ok_or(())?;
    let end = (a.offset as usize).checked_add(bytes).ok_or(())?;
    ensure(end <= arena_len)?;
    Ok((len, end))
}

/// Length of a blob range inside the weights whose offset is a multiple of
/// `align` (the blob itself starts 4-byte aligned in memory).
fn blob_aligned(b: &BlobRef, weights: &[u8], align: u32) -> Result<usize, ()> {
    let end = (b.offset as usize).checked_add(b.len as usize).ok_or(())?;
    ensure(end <= weights.len() && b.offset.is_multiple_of(align))?;
    Ok(b.len as usize)
}

fn blob(b: &BlobRef, weights: &[u8]) -> Result<usize, ()> {
    blob_aligned(b, weights, 4)
}

/// Checks int32 bias/multiplier/shift ranges for `channels` outputs.
fn requant(
    bias: &BlobRef,
    mult: &BlobRef,
    shift: &BlobRef,
    channels: usize,
    weights: &[u8],
) -> Check {
    let per_ch = channels.checked_mul(4).ok_or(())?;
    let b = blob(bias, weights)?;
    ensure(b == 0 || b == per_ch)?;
    let m = blob(mult, weights)?;
    ensure(m == blob(shift, weights)? && (m == 4 || m == per_ch))
}

fn clamp_ok(min: i32, max: i32) -> Check {
    ensure(-128 <= min && min <= max && max <= 127)
}

/// A float clamp: neither bound NaN, `min <= max` (infinities allowed).
fn float_clamp_ok(min: f32, max: f32) -> Check {
    ensure(min <= max)
}

/// Checks a float filter of `elements` weights of type `ty` (f32: 4-byte
/// aligned, 4 bytes each; f16: 2-byte aligned, 2 bytes each).
fn float_filter(b: &BlobRef, ty: WeightType, elements: usize, weights: &[u8]) -> Check {
    let (size, align) = match ty {
        WeightType::F32 => (4, 4),
        WeightType::F16 => (2, 2),
    };
    ensure(blob_aligned(b, weights, align)? == elements.checked_mul(size).ok_or(())?)
}

/// Checks an f32 bias: empty or one 4-byte aligned f32 per channel.
fn float_bias(b: &BlobRef, channels: usize, weights: &[u8]) -> Check {
    let len = blob(b, weights)?;
    ensure(len == 0 || Some(len) == channels.checked_mul(4))
}

/// Geometry shared by int8 and float (depthwise) convolution.
fn conv_shape(
    stride: [u16; 2],
    dilation: [u16; 2],
    filter_dims: [u32; 4],
    input: &ActRef,
    out: &ActRef,
    depthwise: Option<u32>,
) -> Check {
    let [n, _, _, ic] = input.dims;
    let [on, _, _, oc] = out.dims;
    let [f0, kh, kw, f3] = filter_dims;
    ensure(n == on && kh > 0 && kw > 0)?;
    ensure(stride.iter().chain(dilation.iter()).all(|&s| s > 0))?;
    match depthwise {
        None => ensure(f0 == oc && f3 == ic),
        Some(mult) => ensure(f0 == 1 && f3 == oc && ic.checked_mul(mult) == Some(oc)),
    }
}

/// An int8 convolution; `dense` filters hold one byte per weight, packed
/// ones are checked by [`encoding`].
fn conv(
    c: &ConvSpec,
    input: &ActRef,
    out: &ActRef,
    weights: &[u8],
    depthwise: Option<u32>,
    dense: bool,
) -> Check {
    conv_shape(c.stride, c.dilation, c.filter_dims, input, out, depthwise)?;
    let len = blob(&c.filter, weights)?;
    let elements = product(&c.filter_dims).ok_or(())?;
    ensure(!dense || len == elements)?;
    requant(
        &c.bias,
        &c.multiplier,
        &c.shift,
        out.dims[3] as usize,
        weights,
    )?;
    clamp_ok(c.act_min, c.act_max)
}

#[cfg(feature = "float")]
fn float_conv(
    c: &FloatConvSpec,
    input: &ActRef,
    out: &ActRef,
    weights: &[u8],
    depthwise: Option<u32>,
) -> Check {
    conv_shape(c.stride, c.dilation, c.filter_dims, input, out, depthwise)?;
    let elements = product(&c.filter_dims).ok_or(())?;
    float_filter(&c.filter, c.weights, elements, weights)?;
    float_bias(&c.bias, out.dims[3] as usize, weights)?;
    float_clamp_ok(c.act_min, c.act_max)
}

/// Fully-connected geometry: the input is whole rows of `inf` features and
/// the output has `outf` features per row.
fn fc_shape(inf: u32, outf: u32, input: &ActRef, out_len: usize) -> Check {
    let (inf, outf) = (inf as usize, outf as usize);
    ensure(inf > 0 && outf > 0)?;
    let in_len = product(&input.dims).ok_or(())?;
    ensure(in_len % inf == 0)?;
    ensure((in_len / inf).checked_mul(outf) == Some(out_len))
}

fn broadcastable(a: &[u32; 4], b: &[u32; 4], out: &[u32; 4]) -> Check {
    for i in 0..4 {
        let (x, y) = (a[i], b[i]);
        ensure(x == y || x == 1 || y == 1)?;
        ensure(out[i] == x.max(y))?;
    }
    Ok(())
}

/// Checks that every pooling window along one axis overlaps the input: the
/// first window (origin `-padding`) ends after 0 and the last one (origin
/// `(output - 1) * stride - padding`) starts before the input's end.
fn windows_overlap_input(input: u32, output: u32, stride: u16, filter: u16, padding: u16) -> Check {
    ensure(filter > padding)?;
    let last_origin = u64::from(output.saturating_sub(1)) * u64::from(stride);
    ensure(last_origin < u64::from(input) + u64::from(padding))
}

/// Pooling geometry; `average` also requires every window to overlap the
/// input (averaging an empty window is an error at invoke time).
fn pool_shape(
    stride: [u16; 2],
    filter: [u16; 2],
    padding: [u16; 2],
    input: &ActRef,
    out: &ActRef,
    average: bool,
) -> Check {
    let (i, o) = (&input.dims, &out.dims);
    ensure(i[0] == o[0] && i[3] == o[3])?;
    ensure(stride.iter().chain(filter.iter()).all(|&s| s > 0))?;
    if average {
        for a in 0..2 {
            windows_overlap_input(i[1 + a], o[1 + a], stride[a], filter[a], padding[a])?;
        }
    }
    Ok(())
}

fn mean_shape(input: &ActRef, out: &ActRef) -> Check {
    let (i, o) = (&input.dims, &out.dims);
    ensure(i[0] == o[0] && i[3] == o[3] && o[1] == 1 && o[2] == 1)
}

fn pad_shape(pads: &[[u32; 2]; 4], input: &ActRef, out: &ActRef) -> Check {
    for ((&i, p), &o) in input.dims.iter().zip(pads).zip(&out.dims) {
        let want = i.checked_add(p[0]).and_then(|x| x.checked_add(p[1]));
        ensure(want == Some(o))?;
    }
    Ok(())
}

fn concat_shape(axis: u8, ins: &[ActRef], out: &ActRef) -> Check {
    let axis = usize::from(axis);
    ensure(!ins.is_empty() && axis < 4)?;
    let mut sum = 0u32;
    for i in ins.iter() {
        for d in 0..4 {
            ensure(d == axis || i.dims[d] == out.dims[d])?;
        }
        sum = sum.checked_add(i.dims[axis]).ok_or(())?;
    }
    ensure(sum == out.dims[axis])
}

fn transpose_shape(perm: &[u8; 4], input: &ActRef, out: &ActRef) -> Check {
    let mut seen = [false; 4];
    for (d, &p) in perm.iter().enumerate() {
        let p = usize::from(p);
        ensure(p < 4 && !seen[p])?;
        seen[p] = true;
        ensure(out.dims[d] == input.dims[p])?;
    }
    Ok(())
}

/// A Quantize/Dequantize boundary: positive finite scale, int8 zero point.
fn quant_ok(q: &QuantSpec) -> Check {
    ensure(q.scale.is_finite() && q.scale > 0.0)?;
    ensure((-128..=127).contains(&q.zero_point))
}

/// The element types an op reads and writes: `(inputs, output)`.
fn dtypes(op: &Op<'_>) -> (DType, DType) {
    match &op.kind {
        OpKind::Float(_) => (DType::F32, DType::F32),
        OpKind::Quantize(_) => (DType::F32, DType::I8),
        OpKind::Dequantize(_) => (DType::I8, DType::F32),
        // Byte moves: any element type, the same on both sides.
        OpKind::Copy | OpKind::Constant { .. } => (op.output.dtype, op.output.dtype),
        _ => (DType::I8, DType::I8),
    }
}

/// Checks one op against the arena, the tensor table size and the weights.
pub(crate) fn op(op: &Op<'_>, arena_len: usize, n_tensors: u16, weights: &[u8]) -> Check {
    let (want_in, want_out) = dtypes(op);
    ensure(op.output.dtype == want_out && op.inputs.iter().all(|a| a.dtype == want_in))?;
    // Without the `float` feature this build runs int8 ops on int8 tensors only.
    ensure(cfg!(feature = "float") || (want_in == DType::I8 && want_out == DType::I8))?;
    let (out_len, out_end) = act(&op.output, arena_len, n_tensors)?;
    let out_start = op.output.offset as usize;
    for i in op.inputs.iter() {
        let (_, end) = act(i, arena_len, n_tensors)?;
        // Inputs and output are live together: their buffers must not overlap.
        ensure(end <= out_start || i.offset as usize >= out_end)?;
    }
    let ins = &op.inputs;
    let one = |expected: usize| ensure(ins.len() == expected);
    let same_len = || ensure(product(&ins[0].dims) == Some(out_len));
    let out = &op.output;
    match &op.kind {
        #[cfg(feature = "float")]
        OpKind::Float(f) => float_op(f, ins, out, out_len, weights),
        #[cfg(feature = "float")]
        OpKind::Quantize(q) | OpKind::Dequantize(q) => {
            one(1)?;
            same_len()?;
            quant_ok(q)
        }
        #[cfg(feature = "op-conv")]
        OpKind::Conv2d(c) => {
            one(1)?;
            conv(c, &ins[0], out, weights, None, true)
        }
        #[cfg(feature = "op-packed")]
        OpKind::Conv2dPacked { conv: c, .. } => {
            one(1)?;
            conv(c, &ins[0], out, weights, None, false)
        }
        #[cfg(feature = "op-packed")]
        OpKind::DepthwiseConv2dPacked {
            conv: c,
            depth_multiplier,
            ..
        } => {
            one(1)?;
            let mult = Some(u32::from(*depth_multiplier));
            conv(c, &ins[0], out, weights, mult, false)
        }
        #[cfg(feature = "op-packed")]
        OpKind::FullyConnectedPacked { fc: f, .. } => {
            one(1)?;
            fc_shape(f.in_features, f.out_features, &ins[0], out_len)?;
            blob(&f.filter, weights)?;
            requant(
                &f.bias,
                &f.multiplier,
                &f.shift,
                f.out_features as usize,
                weights,
            )?;
            clamp_ok(f.act_min, f.act_max)
        }
        #[cfg(feature = "op-depthwise")]
        OpKind::DepthwiseConv2d {
            conv: c,
            depth_multiplier,
        } => {
            one(1)?;
            conv(
                c,
                &ins[0],
                out,
                weights,
                Some(u32::from(*depth_multiplier)),
                true,
            )
        }
        #[cfg(feature = "op-fc")]
        OpKind::FullyConnected(f) => {
            one(1)?;
            fc_shape(f.in_features, f.out_features, &ins[0], out_len)?;
            let (inf, outf) = (f.in_features as usize, f.out_features as usize);
            ensure(blob(&f.filter, weights)? == inf.checked_mul(outf).ok_or(())?)?;
            requant(&f.bias, &f.multiplier, &f.shift, outf, weights)?;
            clamp_ok(f.act_min, f.act_max)
        }
        #[cfg(feature = "op-add")]
        OpKind::Add(p) => {
            one(2)?;
            clamp_ok(p.act_min, p.act_max)?;
            ensure((0..=31).contains(&p.left_shift))?;
            broadcastable(&ins[0].dims, &ins[1].dims, &out.dims)
        }
        #[cfg(feature = "op-mul")]
        OpKind::Mul(p) => {
            one(2)?;
            clamp_ok(p.act_min, p.act_max)?;
            broadcastable(&ins[0].dims, &ins[1].dims, &out.dims)
        }
        #[cfg(any(feature = "op-avg-pool", feature = "op-max-pool"))]
        OpKind::AvgPool(p) | OpKind::MaxPool(p) => {
            one(1)?;
            let average = matches!(op.kind, OpKind::AvgPool(_));
            pool_shape(p.stride, p.filter, p.padding, &ins[0], out, average)?;
            clamp_ok(p.act_min, p.act_max)
        }
        #[cfg(feature = "op-mean")]
        OpKind::Mean(_) => {
            one(1)?;
            mean_shape(&ins[0], out)
        }
        // Element-wise, one input: the output has its length.
        #[cfg(feature = "op-softmax")]
        OpKind::Softmax(_) => {
            one(1)?;
            same_len()
        }
        #[cfg(feature = "op-lut")]
        OpKind::Logistic(_) | OpKind::Tanh(_) => {
            one(1)?;
            same_len()
        }
        #[cfg(feature = "op-requantize")]
        OpKind::Requantize(_) => {
            one(1)?;
            same_len()
        }
        OpKind::Copy => {
            one(1)?;
            same_len()
        }
        #[cfg(feature = "op-layout")]
        OpKind::Pad { pads, .. } => {
            one(1)?;
            pad_shape(pads, &ins[0], out)
        }
        #[cfg(feature = "op-layout")]
        OpKind::Concat { axis } => concat_shape(*axis, ins, out),
        OpKind::Constant { data } => {
            one(0)?;
            let bytes = out_len.checked_mul(out.dtype.size()).ok_or(())?;
            ensure(blob(data, weights)? == bytes)
        }
        #[cfg(feature = "op-layout")]
        OpKind::Transpose { perm } => {
            one(1)?;
            transpose_shape(perm, &ins[0], out)
        }
        // Ops this build leaves out (refused before: `Error::OpNotBuilt`,
        // or `Error::BadOp` for float ones without the `float` feature).
        #[allow(unreachable_patterns)]
        _ => Err(()),
    }
}

/// Checks the filter encoding of a packed op (after [`op`] passed, so its
/// filter range lies inside the weights); other ops pass.
pub(crate) fn encoding(op: &Op<'_>, weights: &[u8]) -> Result<(), EncodingError> {
    // Packed ops are refused before without `op-packed`.
    if !cfg!(feature = "op-packed") {
        return Ok(());
    }
    let (filter, shape, encoding) = match &op.kind {
        OpKind::Conv2dPacked {
            encoding: WeightEncoding::WideS8,
            ..
        }
        | OpKind::DepthwiseConv2dPacked {
            encoding: WeightEncoding::WideS8,
            ..
        } => return Err(EncodingError::WideOp),
        OpKind::Conv2dPacked { conv, encoding } => {
            (conv.filter, FilterShape::conv(conv.filter_dims), encoding)
        }
        OpKind::DepthwiseConv2dPacked { conv, encoding, .. } => (
            conv.filter,
            FilterShape::depthwise(conv.filter_dims),
            encoding,
        ),
        OpKind::FullyConnectedPacked { fc, encoding } => {
            // One multiplier (4 bytes) means per-tensor: the offset applies.
            if fc.multiplier.len == 4 && fc.filter_offset != 0 {
                return Err(EncodingError::FilterOffset);
            }
            let shape = FilterShape::fully_connected(fc.in_features, fc.out_features);
            (fc.filter, shape, encoding)
        }
        _ => return Ok(()),
    };
    let start = filter.offset as usize;
    let bytes = start
        .checked_add(filter.len as usize)
        .and_then(|end| weights.get(start..end))
        .ok_or(EncodingError::Truncated)?;
    match encoding {
        WeightEncoding::SparseS8 => check_sparse(bytes, &shape).map(|_| ()),
        WeightEncoding::S4 => check_s4(bytes, &shape),
        // The range is 4-byte aligned like every blob range (checked with
        // the op), as the kernel's word loads need.
        WeightEncoding::WideS8 => check_wide(bytes, &shape),
    }
}

/// Checks a float op (element types already checked: all F32).
#[cfg(feature = "float")]
fn float_op(f: &FloatOp, ins: &[ActRef], out: &ActRef, out_len: usize, weights: &[u8]) -> Check {
    let one = |expected: usize| ensure(ins.len() == expected);
    let same_len = || ensure(product(&ins[0].dims) == Some(out_len));
    match f {
        FloatOp::Conv2d(c) => {
            one(1)?;
            float_conv(c, &ins[0], out, weights, None)
        }
        FloatOp::DepthwiseConv2d {
            conv: c,
            depth_multiplier,
        } => {
            one(1)?;
            float_conv(c, &ins[0], out, weights, Some(u32::from(*depth_multiplier)))
        }
        FloatOp::FullyConnected(f) => {
            one(1)?;
            fc_shape(f.in_features, f.out_features, &ins[0], out_len)?;
            let (inf, outf) = (f.in_features as usize, f.out_features as usize);
            float_filter(
                &f.filter,
                f.weights,
                inf.checked_mul(outf).ok_or(())?,
                weights,
            )?;
            float_bias(&f.bias, outf, weights)?;
            float_clamp_ok(f.act_min, f.act_max)
        }
        FloatOp::Add { act_min, act_max } | FloatOp::Mul { act_min, act_max } => {
            one(2)?;
            float_clamp_ok(*act_min, *act_max)?;
            broadcastable(&ins[0].dims, &ins[1].dims, &out.dims)
        }
        FloatOp::AvgPool(p) | FloatOp::MaxPool(p) => {
            one(1)?;
            let average = matches!(f, FloatOp::AvgPool(_));
            pool_shape(p.stride, p.filter, p.padding, &ins[0], out, average)?;
            float_clamp_ok(p.act_min, p.act_max)
        }
        FloatOp::Mean => {
            one(1)?;
            mean_shape(&ins[0], out)
        }
        FloatOp::Softmax | FloatOp::Logistic | FloatOp::Tanh => {
            one(1)?;
            same_len()
        }
        FloatOp::Clamp { min, max } => {
            one(1)?;
            same_len()?;
            float_clamp_ok(*min, *max)
        }
        FloatOp::Pad { pads, .. } => {
            one(1)?;
            pad_shape(pads, &ins[0], out)
        }
        FloatOp::Concat { axis } => concat_shape(*axis, ins, out),
        FloatOp::Transpose { perm } => {
            one(1)?;
            transpose_shape(perm, &ins[0], out)
        }
    }
}
