//! Optimised twin of [`crate::fully_connected_s8`].

use super::dot::{add16, dot2_off, dot4_x16, dot_off, ext_pair, off_fits_i16, sum};
use super::{band_of, band_one, mbqm, seg, DSP_SHAPED};

/// Most groups of four inputs extended once per row (`in_features <= 1024`).
pub(super) const XG_MAX: usize = 256;
use crate::error::KernelError;
use crate::fully_connected::{check_fc, FcParams};
use crate::requant::Requant;
use crate::shape::clamp_to_i8;

/// Optimised [`crate::fully_connected_s8`]: same signature, validation and
/// results bit for bit. Two output rows share each pass over the input, four
/// over the input extended once (with its offset) on DSP cores, and the filter
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
    check_fc(
        p,
        rq,
        (input.len(), output.len()),
        batches,
        in_features,
        filter,
        bias,
        out_features,
    )?;
    let fo = if rq.is_per_channel() {
        0
    } else {
        p.filter_offset
    };
    let io = p.input_offset;
    // n·io, with n reduced mod 2^32 (exact in wrapping arithmetic).
    let nio = (in_features as u32 as i32).wrapping_mul(io);

    let finish = finisher(p, rq, bias);

    // DSP-shaped builds: the input row plus its offset, sign-extended once
    // into 16-bit pairs (`SXTB16` order) for every four filter rows (whole
    // groups only) -- worth the buffer's zeroing only for enough rows and
    // groups.
    let groups = in_features / 4;
    let extend = DSP_SHAPED
        && off_fits_i16(io)
        && in_features % 4 == 0
        && groups > 0
        && groups <= XG_MAX
        && out_features.saturating_mul(groups) >= 512;
    for (b, out_row) in output.chunks_exact_mut(out_features.max(1)).enumerate() {
        let x = seg(input, b * in_features, in_features);
        let xterm = if fo != 0 {
            fo.wrapping_mul(sum(x).wrapping_add(nio))
        } else {
            0
        };
        let r = Row {
            x,
            filter,
            in_features,
            io,
            xterm,
        };
        if extend {
            extended_row(&r, out_row, &finish);
        } else {
            rows(&r, &[], out_row, &finish);
        }
    }
    Ok(())
}

/// The last step of every output `o`: `acc` plus the filter-offset term
/// `xterm` and the bias, rescaled (the band rescale, output offset included,
/// where it applies), offset and clamped to the activation range.
#[inline(always)]
pub(super) fn finisher<'a>(
    p: &'a FcParams,
    rq: &'a Requant,
    bias: &'a [i32],
) -> impl Fn(i32, i32, usize) -> i8 + 'a {
    move |acc: i32, xterm: i32, o: usize| -> i8 {
        let mut acc = acc.wrapping_add(xterm);
        if let Some(&bv) = bias.get(o) {
            acc = acc.wrapping_add(bv);
        }
        let (m, s) = rq.get(o);
        rescale(acc, (m, s, band_of(m, s, p.output_offset)), p)
    }
}

/// One output from its accumulator (bias included) and its channel's
/// multiplier, shift and band constants: rescaled (by the band constants
/// where they apply), offset and clamped.
#[inline(always)]
pub(super) fn rescale(acc: i32, (m, s, band): (i32, i32, Option<[u32; 3]>), p: &FcParams) -> i8 {
    let v = match band {
        Some(c) => band_one(&c, acc),
        None => mbqm(acc, m, s).wrapping_add(p.output_offset),
    };
    clamp_to_i8(v, p.act_min, p.act_max)
}

/// One batch row's input and what every output of it shares.
struct Row<'a> {
    x: &'a [i8],
    filter: &'a [i8],
    in_features: usize,
    io: i32,
    xterm: i32,
}

/// [`rows`] over the input extended once (`x + io` as 16-bit pairs in a
/// stack buffer of up to [`XG_MAX`] groups).
#[inline(never)]
fn extended_row<F: Fn(i32, i32, usize) -> i8>(r: &Row, out_row: &mut [i8], finish: &F) {
    let groups = (r.in_features / 4).min(XG_MAX);
    let mut xbuf = [0u32; 2 * XG_MAX];
    let iop = (r.io as u32 & 0xffff) | ((r.io as u32) << 16);
    for (c, d) in r.x.chunks_exact(4).zip(xbuf.chunks_exact_mut(2)) {
        let (e, o) = ext_pair(c);
        d[0] = add16(e, iop);
        d[1] = add16(o, iop);
    }
    rows(r, xbuf.get(..2 * groups).unwrap_or(&[]), out_row, finish);
}

/// Every output of one batch row: with `x16` (the whole input extended),
/// four filter rows per pass over it ([`dot4_x16`]); the rows left, or all
/// of them without `x16`, two per pass by `dot2_off` over the input.
#[inline(always)]
fn rows<F: Fn(i32, i32, usize) -> i8>(r: &Row, x16: &[u32], out_row: &mut [i8], finish: &F) {
    let n = r.in_features;
    let mut o = 0;
    if !x16.is_empty() {
        // Four rows per pass over the extended input.
        let mut quads = out_row.chunks_exact_mut(4);
        for quad in &mut quads {
            let (d0, d1, d2, d3) = dot4_x16(x16, seg(r.filter, o * n, 4 * n), n);
            for (k, (y, d)) in quad.iter_mut().zip([d0, d1, d2, d3]).enumerate() {
                *y = finish(d, r.xterm, o + k);
            }
            o += 4;
        }
    }
    let mut pairs = out_row.get_mut(o..).unwrap_or(&mut []).chunks_exact_mut(2);
    for pair in &mut pairs {
        let w0 = seg(r.filter, o * n, n);
        let w1 = seg(r.filter, (o + 1) * n, n);
        let (d0, d1) = dot2_off(r.x, w0, w1, r.io);
        pair[0] = finish(d0, r.xterm, o);
        pair[1] = finish(d1, r.xterm, o + 1);
        o += 2;
    }
    if let [last] = pairs.into_remainder() {
        let w0 = seg(r.filter, o * n, n);
        *last = finish(dot_off(r.x, w0, r.io), r.xterm, o);
    }
}
