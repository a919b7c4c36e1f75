//! Optimised twin of [`crate::depthwise_conv2d_s8`].

use super::{seg, tap_range};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, Dims4};

/// Channels accumulated together on the stack.
const C_BLOCK: usize = 32;

/// Optimised [`crate::depthwise_conv2d_s8`]: same signature, validation and
/// results bit for bit. With a depth multiplier of 1, each output pixel
/// accumulates blocks of up to 32 channels in an on-stack `i32` array, one
/// contiguous channel row per valid tap; other multipliers use the reference
/// kernel.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_s8_fast(
    p: &ConvParams,
    depth_multiplier: usize,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[i8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_len(filter.len(), filter_dims)?;
    check_len(output.len(), output_dims)?;
    check_act_range(p.act_min, p.act_max)?;
    if depth_multiplier == 0 {
        return Err(KernelError::InvalidParameter);
    }
    let [batches, in_h, in_w, in_c] = input_dims;
    let [f_one, k_h, k_w, f_oc] = filter_dims;
    let [o_n, out_h, out_w, out_c] = output_dims;
    let expected_oc = in_c
        .checked_mul(depth_multiplier)
        .ok_or(KernelError::SizeOverflow)?;
    if f_one != 1 || o_n != batches || f_oc != out_c || out_c != expected_oc {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    rq.validate(out_c)?;
    let win = Window::new(p.stride, p.dilation, p.padding)?;
    if output.is_empty() {
        return Ok(());
    }
    if depth_multiplier != 1 {
        return crate::depthwise::depthwise_conv2d_s8(
            p,
            depth_multiplier,
            rq,
            input,
            input_dims,
            filter,
            filter_dims,
            bias,
            output,
            output_dims,
        );
    }
    // Output non-empty: batches, out_c = in_c > 0, so the filter (k_h * k_w *
    // in_c) and the input (batches * in_h * in_w * in_c) bound these products
    // unless in_h or in_w is 0 (then no tap is valid; saturate).
    let row_len = in_w.saturating_mul(in_c);
    let img_len = in_h.saturating_mul(row_len);
    let off = p.input_offset;

    let mut c0 = 0;
    while c0 < in_c {
        let nb = (in_c - c0).min(C_BLOCK);
        // bias + off * Σw over all taps, for fully-inside windows.
        let mut full_bias = [0i32; C_BLOCK];
        for (j, fb) in full_bias.iter_mut().enumerate().take(nb) {
            let mut s = 0i32;
            for t in 0..k_h * k_w {
                if let Some(&w) = filter.get(t * in_c + c0 + j) {
                    s = s.wrapping_add(i32::from(w));
                }
            }
            *fb = bias
                .get(c0 + j)
                .copied()
                .unwrap_or(0)
                .wrapping_add(off.wrapping_mul(s));
        }
        let full_bias = &full_bias[..nb];
        for b in 0..batches {
            let img = seg(input, b.saturating_mul(img_len), img_len);
            for oy in 0..out_h {
                let (ky0, ky1, iy0) = tap_range(
                    oy,
                    win.stride[0],
                    win.padding[0],
                    win.dilation[0],
                    in_h,
                    k_h,
                );
                for ox in 0..out_w {
                    let (kx0, kx1, ix0) = tap_range(
                        ox,
                        win.stride[1],
                        win.padding[1],
                        win.dilation[1],
                        in_w,
                        k_w,
                    );
                    let full = ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
                    let mut acc = [0i32; C_BLOCK];
                    let acc = &mut acc[..nb];
                    let t = Taps {
                        ky: (ky0, ky1),
                        kx: (kx0, kx1),
                        iy0,
                        ix0,
                        dil: [win.dilation[0] as usize, win.dilation[1] as usize],
                        row_len,
                        in_c,
                        k_w,
                        c0,
                    };
                    accumulate(acc, img, filter, &t, if full { 0 } else { off });
                    let ob = ((b * out_h + oy) * out_w + ox) * out_c + c0;
                    let out_px = seg_mut(output, ob, nb);
                    for (j, (o, &a)) in out_px.iter_mut().zip(acc.iter()).enumerate() {
                        let c = c0 + j;
                        let base = if full {
                            full_bias.get(j).copied().unwrap_or(0)
                        } else {
                            bias.get(c).copied().unwrap_or(0)
                        };
                        let v = rq
                            .apply(a.wrapping_add(base), c)
                            .wrapping_add(p.output_offset);
                        *o = clamp_to_i8(v, p.act_min, p.act_max);
                    }
                }
            }
        }
        c0 += nb;
    }
    Ok(())
}

/// Mutable twin of [`seg`].
#[inline(always)]
fn seg_mut(s: &mut [i8], start: usize, len: usize) -> &mut [i8] {
    match start.checked_add(len) {
        Some(end) => s.get_mut(start..end).unwrap_or(&mut []),
        None => &mut [],
    }
}

/// One output pixel's valid window and channel block.
struct Taps {
    /// Valid kernel rows `[lo, hi)`.
    ky: (usize, usize),
    /// Valid kernel columns `[lo, hi)`.
    kx: (usize, usize),
    /// Input row of kernel row `ky.0`.
    iy0: usize,
    /// Input column of kernel column `kx.0`.
    ix0: usize,
    /// `[dilation_h, dilation_w]`.
    dil: [usize; 2],
    /// Elements in one input row (`W * C`).
    row_len: usize,
    /// Channels.
    in_c: usize,
    /// Kernel width.
    k_w: usize,
    /// First channel of the block.
    c0: usize,
}

/// `acc[j] += Σ_taps (x[c0 + j] + off) · w[c0 + j]` over the valid window.
#[cfg(not(mote_dsp))]
#[inline(always)]
fn accumulate(acc: &mut [i32], img: &[i8], filter: &[i8], t: &Taps, off: i32) {
    let nb = acc.len();
    for ky in t.ky.0..t.ky.1 {
        let iy = t.iy0 + (ky - t.ky.0) * t.dil[0];
        let row = seg(img, iy * t.row_len, t.row_len);
        for kx in t.kx.0..t.kx.1 {
            let ix = t.ix0 + (kx - t.kx.0) * t.dil[1];
            let x = seg(row, ix * t.in_c + t.c0, nb);
            let w = seg(filter, (ky * t.k_w + kx) * t.in_c + t.c0, nb);
            if off == 0 {
                for ((a, &xv), &wv) in acc.iter_mut().zip(x).zip(w) {
                    *a = a.wrapping_add(i32::from(xv) * i32::from(wv));
                }
            } else {
                for ((a, &xv), &wv) in acc.iter_mut().zip(x).zip(w) {
                    let xo = i32::from(xv).wrapping_add(off);
                    *a = a.wrapping_add(xo.wrapping_mul(i32::from(wv)));
                }
            }
        }
    }
}

/// `acc[j] += Σ_taps (x[c0 + j] + off) · w[c0 + j]` over the valid window:
/// four channels at a time in registers (`SXTB16`, `SADD16` for the offset,
/// `SMLABB`/`SMLATT`), scalar for the last `nb % 4` channels.
#[cfg(mote_dsp)]
#[inline(always)]
fn accumulate(acc: &mut [i32], img: &[i8], filter: &[i8], t: &Taps, off: i32) {
    use super::dot::dsp::*;
    use super::dot::off_fits_i16;
    let nb = acc.len();
    let fits = off_fits_i16(off);
    let offp = (off as u32 & 0xffff) | ((off as u32) << 16);
    let x_step = t.dil[1] * t.in_c;
    let nkx = t.kx.1 - t.kx.0;
    let quads = if fits && nkx > 0 { nb / 4 } else { 0 };
    // Bytes of one kernel row's window read from the input and the filter.
    let x_len = (nkx.saturating_sub(1)) * x_step + 4;
    let w_len = (nkx.saturating_sub(1)) * t.in_c + 4;
    for q in 0..quads {
        let c = t.c0 + 4 * q;
        let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
        for ky in t.ky.0..t.ky.1 {
            let iy = t.iy0 + (ky - t.ky.0) * t.dil[0];
            let xr = seg(img, iy * t.row_len + t.ix0 * t.in_c + c, x_len);
            let wr = seg(filter, (ky * t.k_w + t.kx.0) * t.in_c + c, w_len);
            let mut xo = 0;
            let mut wo = 0;
            for _ in 0..nkx {
                let x = word(xr.get(xo..).unwrap_or(&[]));
                let w = word(wr.get(wo..).unwrap_or(&[]));
                let (mut xe, mut xd) = (sxtb16(x), sxtb16_ror8(x));
                if off != 0 {
                    xe = sadd16(xe, offp);
                    xd = sadd16(xd, offp);
                }
                let (we, wd) = (sxtb16(w), sxtb16_ror8(w));
                a0 = smlabb(xe, we, a0);
                a2 = smlatt(xe, we, a2);
                a1 = smlabb(xd, wd, a1);
                a3 = smlatt(xd, wd, a3);
                xo += x_step;
                wo += t.in_c;
            }
        }
        if let Some([s0, s1, s2, s3]) = acc.get_mut(4 * q..4 * q + 4) {
            *s0 = s0.wrapping_add(a0);
            *s1 = s1.wrapping_add(a1);
            *s2 = s2.wrapping_add(a2);
            *s3 = s3.wrapping_add(a3);
        }
    }
    // Remaining channels (and every channel when the offset does not fit
    // 16 bits).
    let rest = 4 * quads;
    for ky in t.ky.0..t.ky.1 {
        let iy = t.iy0 + (ky - t.ky.0) * t.dil[0];
        let row = seg(img, iy * t.row_len, t.row_len);
        for kx in t.kx.0..t.kx.1 {
            let ix = t.ix0 + (kx - t.kx.0) * t.dil[1];
            let x = seg(row, ix * t.in_c + t.c0 + rest, nb - rest);
            let w = seg(filter, (ky * t.k_w + kx) * t.in_c + t.c0 + rest, nb - rest);
            for ((a, &xv), &wv) in acc[rest..].iter_mut().zip(x).zip(w) {
                let xo = i32::from(xv).wrapping_add(off);
                *a = a.wrapping_add(xo.wrapping_mul(i32::from(wv)));
            }
        }
    }
}
