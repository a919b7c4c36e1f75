//! Structural checks run once by `Model::parse`, so that `invoke` has
//! nothing left to check but data.

use mote_format::{ActRef, BlobRef, ConvSpec, DType, Op, OpKind, TensorDesc};

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

/// Checks a tensor-table entry: rank, non-zero dims, fits in the arena.
pub(crate) fn tensor(t: &TensorDesc<'_>, arena_len: usize) -> Check {
    ensure((1..=4).contains(&t.rank))?;
    ensure(t.dims.iter().all(|&d| d > 0))?;
    ensure(t.dtype == DType::I8 || t.dtype == DType::F32)?;
    let len = t.byte_len().ok_or(())?;
    let end = (t.offset as usize).checked_add(len).ok_or(())?;
    ensure(end <= arena_len)?;
    ensure(t.scale.is_finite() && t.scale > 0.0)
}

/// Element count and arena range of an activation reference.
fn act(a: &ActRef, arena_len: usize, n_tensors: u16) -> Result<(usize, usize), ()> {
    ensure(a.tensor < n_tensors)?;
    ensure(a.dims.iter().all(|&d| d > 0))?;
    let len = product(&a.dims).ok_or(())?;
    let end = (a.offset as usize).checked_add(len).ok_or(())?;
    ensure(end <= arena_len)?;
    Ok((len, end))
}

fn blob(b: &BlobRef, weights: &[u8]) -> Result<usize, ()> {
    let end = (b.offset as usize).checked_add(b.len as usize).ok_or(())?;
    ensure(end <= weights.len() && b.offset.is_multiple_of(4))?;
    Ok(b.len as usize)
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

fn conv(
    c: &ConvSpec,
    input: &ActRef,
    out: &ActRef,
    weights: &[u8],
    depthwise: Option<u32>,
) -> Check {
    let [n, _, _, ic] = input.dims;
    let [on, _, _, oc] = out.dims;
    let [f0, kh, kw, f3] = c.filter_dims;
    ensure(n == on && kh > 0 && kw > 0)?;
    ensure(c.stride.iter().chain(c.dilation.iter()).all(|&s| s > 0))?;
    match depthwise {
        None => ensure(f0 == oc && f3 == ic)?,
        Some(mult) => ensure(f0 == 1 && f3 == oc && ic.checked_mul(mult) == Some(oc))?,
    }
    ensure(blob(&c.filter, weights)? == product(&c.filter_dims).ok_or(())?)?;
    requant(&c.bias, &c.multiplier, &c.shift, oc as usize, weights)?;
    clamp_ok(c.act_min, c.act_max)
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

/// Checks one op against the arena, the tensor table size and the weights.
pub(crate) fn op(op: &Op<'_>, arena_len: usize, n_tensors: u16, weights: &[u8]) -> Check {
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
    // Every op of this build is int8 end to end.
    if op.output.dtype != DType::I8 || op.inputs.iter().any(|a| a.dtype != DType::I8) {
        return Err(());
    }
    match &op.kind {
        // Float ops are not executed by this build.
        OpKind::Float(_) | OpKind::Quantize(_) | OpKind::Dequantize(_) => Err(()),
        OpKind::Conv2d(c) => {
            one(1)?;
            conv(c, &ins[0], &op.output, weights, None)
        }
        OpKind::DepthwiseConv2d {
            conv: c,
            depth_multiplier,
        } => {
            one(1)?;
            conv(
                c,
                &ins[0],
                &op.output,
                weights,
                Some(u32::from(*depth_multiplier)),
            )
        }
        OpKind::FullyConnected(f) => {
            one(1)?;
            let (inf, outf) = (f.in_features as usize, f.out_features as usize);
            ensure(inf > 0 && outf > 0)?;
            let in_len = product(&ins[0].dims).ok_or(())?;
            ensure(in_len % inf == 0)?;
            let rows = in_len / inf;
            ensure(rows.checked_mul(outf) == Some(out_len))?;
            ensure(blob(&f.filter, weights)? == inf.checked_mul(outf).ok_or(())?)?;
            requant(&f.bias, &f.multiplier, &f.shift, outf, weights)?;
            clamp_ok(f.act_min, f.act_max)
        }
        OpKind::Add(p) => {
            one(2)?;
            clamp_ok(p.act_min, p.act_max)?;
            ensure((0..=31).contains(&p.left_shift))?;
            broadcastable(&ins[0].dims, &ins[1].dims, &op.output.dims)
        }
        OpKind::Mul(p) => {
            one(2)?;
            clamp_ok(p.act_min, p.act_max)?;
            broadcastable(&ins[0].dims, &ins[1].dims, &op.output.dims)
        }
        OpKind::AvgPool(p) | OpKind::MaxPool(p) => {
            one(1)?;
            let (i, o) = (&ins[0].dims, &op.output.dims);
            ensure(i[0] == o[0] && i[3] == o[3])?;
            ensure(p.stride.iter().chain(p.filter.iter()).all(|&s| s > 0))?;
            if matches!(op.kind, OpKind::AvgPool(_)) {
                // Averaging an empty window is an error at invoke time:
                // every window must overlap the input.
                for a in 0..2 {
                    windows_overlap_input(
                        i[1 + a],
                        o[1 + a],
                        p.stride[a],
                        p.filter[a],
                        p.padding[a],
                    )?;
                }
            }
            clamp_ok(p.act_min, p.act_max)
        }
        OpKind::Mean(_) => {
            one(1)?;
            let (i, o) = (&ins[0].dims, &op.output.dims);
            ensure(i[0] == o[0] && i[3] == o[3] && o[1] == 1 && o[2] == 1)
        }
        OpKind::Softmax(_)
        | OpKind::Logistic(_)
        | OpKind::Tanh(_)
        | OpKind::Requantize(_)
        | OpKind::Copy => {
            one(1)?;
            same_len()
        }
        OpKind::Pad { pads, .. } => {
            one(1)?;
            for ((&i, p), &o) in ins[0].dims.iter().zip(pads).zip(&op.output.dims) {
                let want = i.checked_add(p[0]).and_then(|x| x.checked_add(p[1]));
                ensure(want == Some(o))?;
            }
            Ok(())
        }
        OpKind::Concat { axis } => {
            let axis = usize::from(*axis);
            ensure(!ins.is_empty() && axis < 4)?;
            let mut sum = 0u32;
            for i in ins.iter() {
                for d in 0..4 {
                    ensure(d == axis || i.dims[d] == op.output.dims[d])?;
                }
                sum = sum.checked_add(i.dims[axis]).ok_or(())?;
            }
            ensure(sum == op.output.dims[axis])
        }
        OpKind::Constant { data } => {
            one(0)?;
            ensure(blob(data, weights)? == out_len)
        }
        OpKind::Transpose { perm } => {
            one(1)?;
            let mut seen = [false; 4];
            for (d, &p) in perm.iter().enumerate() {
                let p = usize::from(p);
                ensure(p < 4 && !seen[p])?;
                seen[p] = true;
                ensure(op.output.dims[d] == ins[0].dims[p])?;
            }
            Ok(())
        }
    }
}
