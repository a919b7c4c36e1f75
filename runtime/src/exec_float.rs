//! Dispatch of float ops (and the Quantize/Dequantize boundaries) to the
//! f32 kernels; compiled with the `float` feature.

use half::slice::HalfBitsSliceExt;
use mote_format::{
    ActRef, BlobRef, FloatConvSpec, FloatOp, FloatPoolSpec, Op, OpKind, WeightType, MAX_OP_INPUTS,
};
use mote_kernels::{self as k, Dims4, FloatAct, KernelError, Weights};

use crate::exec::{blob, dims};

/// Runs a Float, Quantize or Dequantize op on its arena views.
pub(crate) fn run(op: &Op<'_>, w: &[u8], out: &mut [u8], ins: &[&[u8]]) -> Result<(), KernelError> {
    match &op.kind {
        OpKind::Float(f) => float(f, op, w, f32s_mut(out)?, ins),
        OpKind::Quantize(q) => {
            let (x, _) = f32_arg(ins, &op.inputs, 0)?;
            k::quantize_f32_s8(x, q.scale, q.zero_point, bytemuck::cast_slice_mut(out))
        }
        OpKind::Dequantize(q) => {
            let x = ins.first().copied().ok_or(KernelError::BufferLength)?;
            k::dequantize_s8_f32(
                bytemuck::cast_slice(x),
                q.scale,
                q.zero_point,
                f32s_mut(out)?,
            )
        }
        _ => Err(KernelError::InvalidParameter),
    }
}

/// f32 view of arena bytes (4-byte alignment is guaranteed by validation and
/// `Interpreter::new`; checked again rather than trusted).
fn f32s(b: &[u8]) -> Result<&[f32], KernelError> {
    bytemuck::try_cast_slice(b).map_err(|_| KernelError::BufferLength)
}

fn f32s_mut(b: &mut [u8]) -> Result<&mut [f32], KernelError> {
    bytemuck::try_cast_slice_mut(b).map_err(|_| KernelError::BufferLength)
}

/// f32 blob range (a bias); empty stays empty.
fn f32_blob<'w>(w: &'w [u8], b: &BlobRef) -> Result<&'w [f32], KernelError> {
    f32s(blob(w, b)?)
}

/// A float filter in its stored element type.
fn weights<'w>(w: &'w [u8], b: &BlobRef, ty: WeightType) -> Result<Weights<'w>, KernelError> {
    let bytes = blob(w, b)?;
    Ok(match ty {
        WeightType::F32 => Weights::F32(f32s(bytes)?),
        WeightType::F16 => {
            let bits: &[u16] =
                bytemuck::try_cast_slice(bytes).map_err(|_| KernelError::BufferLength)?;
            Weights::F16(bits.reinterpret_cast())
        }
    })
}

/// Float input `i`: its data and dims.
fn f32_arg<'x>(
    ins: &[&'x [u8]],
    refs: &[ActRef],
    i: usize,
) -> Result<(&'x [f32], Dims4), KernelError> {
    let x = ins.get(i).copied().ok_or(KernelError::BufferLength)?;
    let a = refs.get(i).ok_or(KernelError::BufferLength)?;
    Ok((f32s(x)?, dims(a)))
}

fn float_conv_params(c: &FloatConvSpec) -> k::FloatConvParams {
    k::FloatConvParams {
        stride: c.stride.map(usize::from),
        dilation: c.dilation.map(usize::from),
        padding: c.padding.map(usize::from),
        act: FloatAct::new(c.act_min, c.act_max),
    }
}

fn float_pool_params(p: &FloatPoolSpec) -> k::FloatPoolParams {
    k::FloatPoolParams {
        stride: p.stride.map(usize::from),
        filter: p.filter.map(usize::from),
        padding: p.padding.map(usize::from),
        act: FloatAct::new(p.act_min, p.act_max),
    }
}

/// Runs a float op: every input and the output are f32.
fn float(
    f: &FloatOp,
    op: &Op<'_>,
    w: &[u8],
    out: &mut [f32],
    ins: &[&[u8]],
) -> Result<(), KernelError> {
    let od = dims(&op.output);
    let arg = |i: usize| f32_arg(ins, &op.inputs, i);
    match f {
        FloatOp::Conv2d(c) => {
            let (x, d) = arg(0)?;
            k::conv2d_f32(
                &float_conv_params(c),
                x,
                d,
                weights(w, &c.filter, c.weights)?,
                c.filter_dims.map(|d| d as usize),
                f32_blob(w, &c.bias)?,
                out,
                od,
            )
        }
        FloatOp::DepthwiseConv2d {
            conv: c,
            depth_multiplier,
        } => {
            let (x, d) = arg(0)?;
            k::depthwise_conv2d_f32(
                &float_conv_params(c),
                usize::from(*depth_multiplier),
                x,
                d,
                weights(w, &c.filter, c.weights)?,
                c.filter_dims.map(|d| d as usize),
                f32_blob(w, &c.bias)?,
                out,
                od,
            )
        }
        FloatOp::FullyConnected(fc) => {
            let (x, _) = arg(0)?;
            let inf = fc.in_features as usize;
            let rows = x.len().checked_div(inf).unwrap_or(0);
            k::fully_connected_f32(
                FloatAct::new(fc.act_min, fc.act_max),
                x,
                rows,
                inf,
                weights(w, &fc.filter, fc.weights)?,
                f32_blob(w, &fc.bias)?,
                out,
                fc.out_features as usize,
            )
        }
        FloatOp::Add { act_min, act_max } | FloatOp::Mul { act_min, act_max } => {
            let ((a, da), (b, db)) = (arg(0)?, arg(1)?);
            let act = FloatAct::new(*act_min, *act_max);
            if matches!(f, FloatOp::Add { .. }) {
                k::add_f32(act, a, da, b, db, out, od)
            } else {
                k::mul_f32(act, a, da, b, db, out, od)
            }
        }
        FloatOp::AvgPool(p) => {
            let (x, d) = arg(0)?;
            k::avg_pool_f32(&float_pool_params(p), x, d, out, od)
        }
        FloatOp::MaxPool(p) => {
            let (x, d) = arg(0)?;
            k::max_pool_f32(&float_pool_params(p), x, d, out, od)
        }
        FloatOp::Mean => {
            let (x, d) = arg(0)?;
            k::mean_hw_f32(x, d, out, od)
        }
        FloatOp::Softmax => {
            let (x, d) = arg(0)?;
            k::softmax_f32(x, d[3], out)
        }
        FloatOp::Logistic => k::logistic_f32(arg(0)?.0, out),
        FloatOp::Tanh => k::tanh_f32(arg(0)?.0, out),
        FloatOp::Clamp { min, max } => k::clamp_f32(FloatAct::new(*min, *max), arg(0)?.0, out),
        FloatOp::Pad { pads, value } => {
            let (x, d) = arg(0)?;
            k::pad_f32(x, d, pads.map(|p| p.map(|v| v as usize)), *value, out, od)
        }
        FloatOp::Concat { axis } => {
            let mut parts: heapless::Vec<(&[f32], Dims4), MAX_OP_INPUTS> = heapless::Vec::new();
            for i in 0..ins.len() {
                parts.push(arg(i)?).map_err(|_| KernelError::BufferLength)?;
            }
            k::concat_f32(&parts, usize::from(*axis), out, od)
        }
        FloatOp::Transpose { perm } => {
            let (x, d) = arg(0)?;
            k::transpose_f32(x, d, perm.map(usize::from), out, od)
        }
    }
}
