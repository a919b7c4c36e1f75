//! Optimised twin of [`crate::fully_connected_s8`].

use super::dot::{dot2_off, dot_off, sum};
use super::{requant, seg};
use crate::error::KernelError;
use crate::fully_connected::FcParams;
use crate::requant::Requant;
use crate::shape::{check_act_range, clamp_to_i8};

/// Optimised [`crate::fully_connected_s8`]: same signature, validation and
/// results bit for bit. Two output rows share each pass over the input
/// (whose offset is added once per input word on DSP cores), and the filter
/// offset is folded out: `Σ (w + fo)(x + io) = Σ (x + io)·w + fo·(Σ x + n·io)`
/// (wrapping).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn fully_connected_s8_fast(
    p: &FcParams,
    rq: &Requant,
    input: &[i8],
    batches: usize,
    in_features: usize,
    filter: &[i8],
    bias: &[i32],
    output: &mut [i8],
    out_features: usize,
) -> Result<(), KernelError> {
    let in_len = batches
        .checked_mul(in_features)
        .ok_or(KernelError::SizeOverflow)?;
    let f_len = out_features
        .checked_mul(in_features)
        .ok_or(KernelError::SizeOverflow)?;
    let o_len = batches
        .checked_mul(out_features)
        .ok_or(KernelError::SizeOverflow)?;
    if input.len() != in_len || filter.len() != f_len || output.len() != o_len {
        return Err(KernelError::BufferLength);
    }
    if !(bias.is_empty() || bias.len() == out_features) {
        return Err(KernelError::BufferLength);
    }
    check_act_range(p.act_min, p.act_max)?;
    rq.validate(out_features)?;
    let fo = if rq.is_per_channel() {
        0
    } else {
        p.filter_offset
    };
    let io = p.input_offset;
    // n·io, with n reduced mod 2^32 (exact in wrapping arithmetic).
    let nio = (in_features as u32 as i32).wrapping_mul(io);

    let finish = |acc: i32, xterm: i32, o: usize| -> i8 {
        let mut acc = acc.wrapping_add(xterm);
        if let Some(&bv) = bias.get(o) {
            acc = acc.wrapping_add(bv);
        }
        let v = requant(rq, acc, o).wrapping_add(p.output_offset);
        clamp_to_i8(v, p.act_min, p.act_max)
    };

    for (b, out_row) in output.chunks_exact_mut(out_features.max(1)).enumerate() {
        let x = seg(input, b * in_features, in_features);
        let xterm = if fo != 0 {
            fo.wrapping_mul(sum(x).wrapping_add(nio))
        } else {
            0
        };
        let mut o = 0;
        let mut pairs = out_row.chunks_exact_mut(2);
        for pair in &mut pairs {
            let w0 = seg(filter, o * in_features, in_features);
            let w1 = seg(filter, (o + 1) * in_features, in_features);
            let (d0, d1) = dot2_off(x, w0, w1, io);
            pair[0] = finish(d0, xterm, o);
            pair[1] = finish(d1, xterm, o + 1);
            o += 2;
        }
        if let [last] = pairs.into_remainder() {
            let w0 = seg(filter, o * in_features, in_features);
            *last = finish(dot_off(x, w0, io), xterm, o);
        }
    }
    Ok(())
}
