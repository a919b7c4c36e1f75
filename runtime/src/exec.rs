//! Dispatch of one decoded op to its kernel.

// A build with only some op features leaves helpers of the others unused.
#![cfg_attr(
    not(feature = "all-ops"),
    allow(unused_imports, unused_variables, dead_code)
)]

use mote_format::{
    ActRef, BlobRef, ConvSpec, FilterShape, Op, OpKind, PoolSpec, WeightEncoding, MAX_OP_INPUTS,
};
use mote_kernels::{self as k, Dims4, KernelError, Requant};

use crate::arena::views;

pub(crate) fn dims(a: &ActRef) -> Dims4 {
    a.dims.map(|d| d as usize)
}

fn bytes<'w>(w: &'w [u8], b: &BlobRef) -> &'w [u8] {
    let start = b.offset as usize;
    w.get(start..start.saturating_add(b.len as usize))
        .unwrap_or(&[])
}

fn i8s<'w>(w: &'w [u8], b: &BlobRef) -> &'w [i8] {
    bytemuck::cast_slice(bytes(w, b))
}

/// int32 view of a blob range; validation guarantees 4-byte alignment, and a
/// misaligned range yields an empty slice that the kernel rejects.
fn i32s<'w>(w: &'w [u8], b: &BlobRef) -> &'w [i32] {
    bytemuck::try_cast_slice(bytes(w, b)).unwrap_or(&[])
}

// The optimised twins (bit-exact with the reference kernels) unless the
// `reference` feature forces the reference kernels, the oracle.
#[cfg(feature = "reference")]
use k::{add_s8, conv2d_s8, depthwise_conv2d_s8, fully_connected_s8};
#[cfg(not(feature = "reference"))]
use k::{
    add_s8_fast as add_s8, conv2d_s8_fast as conv2d_s8,
    depthwise_conv2d_s8_fast as depthwise_conv2d_s8, fully_connected_s8_fast as fully_connected_s8,
};

fn conv_params(c: &ConvSpec) -> k::ConvParams {
    k::ConvParams {
        stride: c.stride.map(usize::from),
        dilation: c.dilation.map(usize::from),
        padding: c.padding.map(usize::from),
        input_offset: c.input_offset,
        output_offset: c.output_offset,
        act_min: c.act_min,
        act_max: c.act_max,
    }
}

fn pool_params(p: &PoolSpec) -> k::PoolParams {
    k::PoolParams {
        stride: p.stride.map(usize::from),
        filter: p.filter.map(usize::from),
        padding: p.padding.map(usize::from),
        act_min: p.act_min,
        act_max: p.act_max,
    }
}

fn requant<'w>(w: &'w [u8], mult: &BlobRef, shift: &BlobRef) -> Requant<'w> {
    Requant {
        multiplier: i32s(w, mult),
        shift: i32s(w, shift),
    }
}

/// Runs `op` on the arena.
pub(crate) fn run(op: &Op<'_>, w: &[u8], arena: &mut [u8]) -> Result<(), KernelError> {
    let v = views(arena, &op.output, &op.inputs).ok_or(KernelError::BufferLength)?;
    let (out, ins) = (v.out, v.ins);
    match &op.kind {
        // Byte copies: the same for every element type.
        OpKind::Constant { data } => copy(blob(w, data)?, out),
        OpKind::Copy => copy(ins.first().copied().ok_or(KernelError::BufferLength)?, out),
        #[cfg(feature = "float")]
        OpKind::Float(_) | OpKind::Quantize(_) | OpKind::Dequantize(_) => {
            crate::exec_float::run(op, w, out, &ins)
        }
        _ => {
            let mut ins8: heapless::Vec<&[i8], MAX_OP_INPUTS> = heapless::Vec::new();
            for x in ins.iter() {
                ins8.push(bytemuck::cast_slice(x))
                    .map_err(|_| KernelError::BufferLength)?;
            }
            int8(op, w, bytemuck::cast_slice_mut(out), &ins8)
        }
    }
}

fn copy(src: &[u8], out: &mut [u8]) -> Result<(), KernelError> {
    if src.len() != out.len() {
        return Err(KernelError::BufferLength);
    }
    out.copy_from_slice(src);
    Ok(())
}

/// A blob range that must lie inside the weights.
pub(crate) fn blob<'w>(w: &'w [u8], b: &BlobRef) -> Result<&'w [u8], KernelError> {
    let start = b.offset as usize;
    let end = start
        .checked_add(b.len as usize)
        .ok_or(KernelError::SizeOverflow)?;
    w.get(start..end).ok_or(KernelError::BufferLength)
}

/// The sparse view of a packed filter (checked once more: a kernel trusts
/// nothing it is handed).
fn sparse(f: &[u8], s: FilterShape) -> Result<k::SparseFilter<'_>, KernelError> {
    k::SparseFilter::new(f, s.rows, s.groups, s.group_len)
}

/// Runs an int8 op.
fn int8(op: &Op<'_>, w: &[u8], out: &mut [i8], ins: &[&[i8]]) -> Result<(), KernelError> {
    let od = dims(&op.output);
    let in0 = ins.first().copied().ok_or(KernelError::BufferLength)?;
    let d0 = op
        .inputs
        .first()
        .map(dims)
        .ok_or(KernelError::BufferLength)?;
    let second = || -> Result<(&[i8], Dims4), KernelError> {
        let x = ins.get(1).copied().ok_or(KernelError::BufferLength)?;
        let d = op
            .inputs
            .get(1)
            .map(dims)
            .ok_or(KernelError::BufferLength)?;
        Ok((x, d))
    };
    match &op.kind {
        #[cfg(feature = "op-conv")]
        OpKind::Conv2d(c) => conv2d_s8(
            &conv_params(c),
            &requant(w, &c.multiplier, &c.shift),
            in0,
            d0,
            i8s(w, &c.filter),
            c.filter_dims.map(|d| d as usize),
            i32s(w, &c.bias),
            out,
            od,
        ),
        #[cfg(feature = "op-depthwise")]
        OpKind::DepthwiseConv2d {
            conv: c,
            depth_multiplier,
        } => depthwise_conv2d_s8(
            &conv_params(c),
            usize::from(*depth_multiplier),
            &requant(w, &c.multiplier, &c.shift),
            in0,
            d0,
            i8s(w, &c.filter),
            c.filter_dims.map(|d| d as usize),
            i32s(w, &c.bias),
            out,
            od,
        ),
        #[cfg(feature = "op-fc")]
        OpKind::FullyConnected(f) => {
            let inf = f.in_features as usize;
            let rows = in0.len().checked_div(inf).unwrap_or(0);
            fully_connected_s8(
                &k::FcParams {
                    input_offset: f.input_offset,
                    filter_offset: f.filter_offset,
                    output_offset: f.output_offset,
                    act_min: f.act_min,
                    act_max: f.act_max,
                },
                &requant(w, &f.multiplier, &f.shift),
                in0,
                rows,
                inf,
                i8s(w, &f.filter),
                i32s(w, &f.bias),
                out,
                f.out_features as usize,
            )
        }
        #[cfg(feature = "op-packed")]
        OpKind::Conv2dPacked { conv: c, encoding } => {
            let (params, rq) = (conv_params(c), requant(w, &c.multiplier, &c.shift));
            let (f, fd) = (bytes(w, &c.filter), c.filter_dims.map(|d| d as usize));
            let bias = i32s(w, &c.bias);
            match encoding {
                WeightEncoding::SparseS8 => {
                    let sf = sparse(f, FilterShape::conv(c.filter_dims))?;
                    k::conv2d_sparse_s8(&params, &rq, in0, d0, &sf, fd, bias, out, od)
                }
                WeightEncoding::S4 => k::conv2d_s4(&params, &rq, in0, d0, f, fd, bias, out, od),
                // Refused by validation (FullyConnected only).
                WeightEncoding::WideS8 => Err(k::KernelError::InvalidParameter),
            }
        }
        #[cfg(feature = "op-packed")]
        OpKind::DepthwiseConv2dPacked {
            conv: c,
            depth_multiplier,
            encoding,
        } => {
            let (params, rq) = (conv_params(c), requant(w, &c.multiplier, &c.shift));
            let (f, fd) = (bytes(w, &c.filter), c.filter_dims.map(|d| d as usize));
            let (bias, mult) = (i32s(w, &c.bias), usize::from(*depth_multiplier));
            match encoding {
                WeightEncoding::SparseS8 => {
                    let sf = sparse(f, FilterShape::depthwise(c.filter_dims))?;
                    k::depthwise_conv2d_sparse_s8(
                        &params, mult, &rq, in0, d0, &sf, fd, bias, out, od,
                    )
                }
                WeightEncoding::S4 => {
                    k::depthwise_conv2d_s4(&params, mult, &rq, in0, d0, f, fd, bias, out, od)
                }
                // Refused by validation (FullyConnected only).
                WeightEncoding::WideS8 => Err(k::KernelError::InvalidParameter),
            }
        }
        #[cfg(feature = "op-packed")]
        OpKind::FullyConnectedPacked { fc: fcs, encoding } => {
            let inf = fcs.in_features as usize;
            let outf = fcs.out_features as usize;
            let rows = in0.len().checked_div(inf).unwrap_or(0);
            let params = k::FcParams {
                input_offset: fcs.input_offset,
                filter_offset: fcs.filter_offset,
                output_offset: fcs.output_offset,
                act_min: fcs.act_min,
                act_max: fcs.act_max,
            };
            let rq = requant(w, &fcs.multiplier, &fcs.shift);
            let (f, bias) = (bytes(w, &fcs.filter), i32s(w, &fcs.bias));
            match encoding {
                WeightEncoding::SparseS8 => {
                    let shape = FilterShape::fully_connected(fcs.in_features, fcs.out_features);
                    let sf = sparse(f, shape)?;
                    k::fully_connected_sparse_s8(&params, &rq, in0, rows, inf, &sf, bias, out, outf)
                }
                WeightEncoding::S4 => {
                    k::fully_connected_s4(&params, &rq, in0, rows, inf, f, bias, out, outf)
                }
                WeightEncoding::WideS8 => {
                    // Validation guarantees 4-byte alignment; a misaligned
                    // range yields an empty slice that the kernel rejects.
                    let words: &[u32] = bytemuck::try_cast_slice(f).unwrap_or(&[]);
                    k::fully_connected_wide_s8(&params, &rq, in0, rows, inf, words, bias, out, outf)
                }
            }
        }
        #[cfg(feature = "op-add")]
        OpKind::Add(p) => {
            let (in1, d1) = second()?;
            let params = k::AddParams {
                input1_offset: p.input1_offset,
                input2_offset: p.input2_offset,
                output_offset: p.output_offset,
                left_shift: p.left_shift,
                input1_multiplier: p.input1_multiplier,
                input1_shift: p.input1_shift,
                input2_multiplier: p.input2_multiplier,
                input2_shift: p.input2_shift,
                output_multiplier: p.output_multiplier,
                output_shift: p.output_shift,
                act_min: p.act_min,
                act_max: p.act_max,
            };
            add_s8(&params, in0, d0, in1, d1, out, od)
        }
        #[cfg(feature = "op-mul")]
        OpKind::Mul(p) => {
            let (in1, d1) = second()?;
            let params = k::MulParams {
                input1_offset: p.input1_offset,
                input2_offset: p.input2_offset,
                output_offset: p.output_offset,
                output_multiplier: p.output_multiplier,
                output_shift: p.output_shift,
                act_min: p.act_min,
                act_max: p.act_max,
            };
            k::mul_s8(&params, in0, d0, in1, d1, out, od)
        }
        #[cfg(feature = "op-avg-pool")]
        OpKind::AvgPool(p) => k::avg_pool_s8(&pool_params(p), in0, d0, out, od),
        #[cfg(feature = "op-max-pool")]
        OpKind::MaxPool(p) => k::max_pool_s8(&pool_params(p), in0, d0, out, od),
        #[cfg(feature = "op-mean")]
        OpKind::Mean(m) => {
            let params = k::MeanParams {
                multiplier: m.multiplier,
                shift: m.shift,
                input_zero_point: m.input_zero_point,
                output_zero_point: m.output_zero_point,
                same_quantization: m.same_quantization,
            };
            k::mean_hw_s8(&params, in0, d0, out, od)
        }
        #[cfg(feature = "op-softmax")]
        OpKind::Softmax(s) => {
            let params = k::SoftmaxParams {
                input_multiplier: s.input_multiplier,
                input_left_shift: s.input_left_shift,
                diff_min: s.diff_min,
            };
            k::softmax_s8(&params, in0, d0[3], out)
        }
        #[cfg(feature = "op-lut")]
        OpKind::Logistic(p) | OpKind::Tanh(p) => {
            let params = k::LutActParams {
                input_zero_point: p.input_zero_point,
                input_range_radius: p.input_range_radius,
                input_multiplier: p.input_multiplier,
                input_left_shift: p.input_left_shift,
            };
            if matches!(op.kind, OpKind::Logistic(_)) {
                k::logistic_s8(&params, in0, out)
            } else {
                k::tanh_s8(&params, in0, out)
            }
        }
        #[cfg(feature = "op-layout")]
        OpKind::Pad { pads, value } => k::pad_s8(
            in0,
            d0,
            pads.map(|p| p.map(|x| x as usize)),
            *value,
            out,
            od,
        ),
        #[cfg(feature = "op-layout")]
        OpKind::Concat { axis } => {
            let mut parts: heapless::Vec<(&[i8], Dims4), { mote_format::MAX_OP_INPUTS }> =
                heapless::Vec::new();
            for (x, a) in ins.iter().zip(op.inputs.iter()) {
                parts
                    .push((x, dims(a)))
                    .map_err(|_| KernelError::BufferLength)?;
            }
            k::concat_s8(&parts, usize::from(*axis), out, od)
        }
        #[cfg(feature = "op-layout")]
        OpKind::Transpose { perm } => k::transpose_s8(in0, d0, perm.map(usize::from), out, od),
        #[cfg(feature = "op-requantize")]
        OpKind::Requantize(r) => k::requantize_s8(
            in0,
            r.input_zero_point,
            r.multiplier,
            r.shift,
            r.output_zero_point,
            out,
        ),
        // Dispatched by `run` (float ones only with the `float` feature).
        OpKind::Constant { .. }
        | OpKind::Copy
        | OpKind::Float(_)
        | OpKind::Quantize(_)
        | OpKind::Dequantize(_) => Err(KernelError::InvalidParameter),
        // Ops this build leaves out: refused at parse (`Error::OpNotBuilt`).
        #[allow(unreachable_patterns)]
        _ => Err(KernelError::InvalidParameter),
    }
}
