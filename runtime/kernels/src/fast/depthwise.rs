//! Optimised twin of [`crate::depthwise_conv2d_s8`].

use super::dot::{clamp4_pack, dw_full4, dw_row4, ext_pair};
use super::{requant, requant4_right, seg, tap_range, ChanRq, ColTaps, DSP_SHAPED};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, Dims4};

/// Channels accumulated together on the stack.
const C_BLOCK: usize = 32;

/// Words of the pre-extended weight table (three per tap and group of four
/// channels of a block: the tap's offset in a full window, two weight words).
const W_TAB: usize = 768;

/// Window patterns whose `bias + off * Σ valid w` is kept per channel block.
const PATTERNS: usize = 4;

/// Optimised [`crate::depthwise_conv2d_s8`]: same signature, validation and
/// results bit for bit. With a depth multiplier of 1, each output pixel
/// accumulates blocks of up to 32 channels in an on-stack `i32` array, one
/// contiguous channel row per valid tap; other multipliers use the reference
/// kernel.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
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
    let taps = k_h * k_w;
    let fast_rq = (0..out_c).all(|c| {
        let (m, s) = rq.get(c);
        ChanRq::new(m, s).is_some()
    });
    let mut wtab = [0u32; W_TAB];
    let lo4 = u32::from(p.act_min as u8) * 0x0101_0101;
    let hi4 = u32::from(p.act_max as u8) * 0x0101_0101;
    let dil = [win.dilation[0] as usize, win.dilation[1] as usize];
    let col_step = dil[1] * in_c;
    // The largest tap offset of a full window (it must fit the table's u32).
    let max_off = (k_h.saturating_sub(1))
        .checked_mul(dil[0])
        .and_then(|v| v.checked_mul(row_len))
        .zip(
            (k_w.saturating_sub(1))
                .checked_mul(dil[1])
                .and_then(|v| v.checked_mul(in_c)),
        )
        .and_then(|(a, b)| a.checked_add(b))
        .filter(|&m| u32::try_from(m).is_ok());
    let mut chans = [ChanRq::default(); C_BLOCK];
    // The block's right-shift constants, four channels per entry.
    let mut rwords = [[0u32; 16]; C_BLOCK / 4];
    // Every channel of the block shifts right (then `apply_right` applies).
    let mut all_right = false;

    let mut c0 = 0;
    while c0 < in_c {
        let nb = (in_c - c0).min(C_BLOCK);
        // bias + off * Σw over the valid taps of the window pattern last
        // seen (patterns repeat along rows: left edge, interior, right edge).
        // A few patterns are kept (round robin): a row's left edge, interior
        // and right edge, plus one more.
        let mut cache = [(None::<(usize, usize, usize, usize)>, [0i32; C_BLOCK]); PATTERNS];
        let mut next_slot = 0;
        // The block's weights pre-extended per group of four channels and
        // tap (`(w0, w2)`, `(w1, w3)`), and its requantisation constants.
        let groups = nb / 4;
        let tabled = DSP_SHAPED && fast_rq && groups * taps * 3 <= W_TAB && max_off.is_some();
        if tabled {
            for g in 0..groups {
                for t in 0..taps {
                    let w = seg(filter, t * in_c + c0 + 4 * g, 4);
                    let (e, o) = ext_pair(w);
                    let (ky, kx) = (t / k_w, t % k_w);
                    let off = ky * dil[0] * row_len + kx * dil[1] * in_c;
                    let i = (g * taps + t) * 3;
                    if let Some([wf, we, wo]) = wtab.get_mut(i..i + 3) {
                        *wf = off as u32;
                        *we = e;
                        *wo = o;
                    }
                }
            }
            all_right = true;
            for (j, c) in chans.iter_mut().enumerate().take(nb) {
                let (m, s) = rq.get(c0 + j);
                *c = ChanRq::new(m, s).unwrap_or_default();
                all_right &= c.is_right();
                if let Some(w) = rwords.get_mut(j / 4) {
                    let r = c.right_words();
                    let i = 4 * (j % 4);
                    if let Some(d) = w.get_mut(i..i + 4) {
                        d.copy_from_slice(&r);
                    }
                }
            }
        }
        let cols = ColTaps::new(
            out_w,
            win.stride[1],
            win.padding[1],
            win.dilation[1],
            in_w,
            k_w,
        );
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
                    let (kx0, kx1, ix0) = cols.get(ox);
                    let key = (ky0, ky1, kx0, kx1);
                    let slot = match cache.iter().position(|(k, _)| *k == Some(key)) {
                        Some(i) => i,
                        None => {
                            let i = next_slot;
                            next_slot = (next_slot + 1) % PATTERNS;
                            let (k, bias_eff) = &mut cache[i];
                            for (j, be) in bias_eff.iter_mut().enumerate().take(nb) {
                                *be = bias.get(c0 + j).copied().unwrap_or(0);
                            }
                            if off != 0 {
                                for ky in ky0..ky1 {
                                    for kx in kx0..kx1 {
                                        let w = seg(filter, (ky * k_w + kx) * in_c + c0, nb);
                                        for (be, &wv) in bias_eff.iter_mut().zip(w) {
                                            *be = be.wrapping_add(off.wrapping_mul(i32::from(wv)));
                                        }
                                    }
                                }
                            }
                            *k = Some(key);
                            i
                        }
                    };
                    let ob = ((b * out_h + oy) * out_w + ox) * out_c + c0;
                    let full = ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
                    if tabled {
                        let out_px = seg_mut(output, ob, nb);
                        let be = &cache[slot].1[..nb];
                        let mut groups = out_px.chunks_exact_mut(4);
                        let mut bes = be.chunks_exact(4);
                        let mut chs = chans.get(..nb).unwrap_or(&[]).chunks_exact(4);
                        let mut g = 0;
                        for ((o, bq), cq) in (&mut groups).zip(&mut bes).zip(&mut chs) {
                            let mut acc = [0i32; 4];
                            acc.copy_from_slice(bq);
                            let ncols = kx1 - kx0;
                            if full {
                                let start = b * img_len + iy0 * row_len + ix0 * in_c + c0 + 4 * g;
                                let tab = wtab.get(g * taps * 3..).unwrap_or(&[]);
                                dw_full4(input, start, max_off.unwrap_or(0), tab, taps, &mut acc);
                            } else {
                                for ky in ky0..ky1 {
                                    let iy = iy0 + (ky - ky0) * dil[0];
                                    let start =
                                        b * img_len + iy * row_len + ix0 * in_c + c0 + 4 * g;
                                    let wt = (g * taps + ky * k_w + kx0) * 3;
                                    dw_row4(
                                        input,
                                        start,
                                        col_step,
                                        ncols,
                                        wtab.get(wt..).unwrap_or(&[]),
                                        &mut acc,
                                    );
                                }
                            }
                            if let ([y0, y1, y2, y3], [q0, q1, q2, q3]) = (o, cq) {
                                let [a0, a1, a2, a3] = acc;
                                let v = if let (true, Some(w)) = (all_right, rwords.get(g)) {
                                    requant4_right(w, (a0, a1, a2, a3))
                                } else {
                                    (q0.apply(a0), q1.apply(a1), q2.apply(a2), q3.apply(a3))
                                };
                                let q = clamp4_pack(v, p.output_offset, lo4, hi4);
                                *y0 = q as u8 as i8;
                                *y1 = (q >> 8) as u8 as i8;
                                *y2 = (q >> 16) as u8 as i8;
                                *y3 = (q >> 24) as u8 as i8;
                            }
                            g += 1;
                        }
                        let rest = groups.into_remainder();
                        if !rest.is_empty() {
                            let r0 = 4 * g;
                            let mut acc = [0i32; 4];
                            let bq = bes.remainder();
                            let acc = acc.get_mut(..bq.len()).unwrap_or(&mut []);
                            acc.copy_from_slice(bq);
                            let t = Taps {
                                ky: (ky0, ky1),
                                kx: (kx0, kx1),
                                iy0,
                                ix0,
                                dil,
                                row_len,
                                in_c,
                                k_w,
                                c0: c0 + r0,
                            };
                            accumulate(acc, img, filter, &t);
                            for ((y, &a), c) in rest.iter_mut().zip(acc.iter()).zip(chs.remainder())
                            {
                                let v = c.apply(a).wrapping_add(p.output_offset);
                                *y = clamp_to_i8(v, p.act_min, p.act_max);
                            }
                        }
                        continue;
                    }
                    let mut acc = [0i32; C_BLOCK];
                    acc[..nb].copy_from_slice(&cache[slot].1[..nb]);
                    let acc = &mut acc[..nb];
                    let t = Taps {
                        ky: (ky0, ky1),
                        kx: (kx0, kx1),
                        iy0,
                        ix0,
                        dil,
                        row_len,
                        in_c,
                        k_w,
                        c0,
                    };
                    accumulate(acc, img, filter, &t);
                    let out_px = seg_mut(output, ob, nb);
                    for (j, (o, &a)) in out_px.iter_mut().zip(acc.iter()).enumerate() {
                        let v = requant(rq, a, c0 + j).wrapping_add(p.output_offset);
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

/// `acc[j] += Σ_taps x[c0 + j] · w[c0 + j]` over the valid window.
#[cfg(not(mote_dsp))]
#[inline(always)]
fn accumulate(acc: &mut [i32], img: &[i8], filter: &[i8], t: &Taps) {
    let nb = acc.len();
    for ky in t.ky.0..t.ky.1 {
        let iy = t.iy0 + (ky - t.ky.0) * t.dil[0];
        let row = seg(img, iy * t.row_len, t.row_len);
        for kx in t.kx.0..t.kx.1 {
            let ix = t.ix0 + (kx - t.kx.0) * t.dil[1];
            let x = seg(row, ix * t.in_c + t.c0, nb);
            let w = seg(filter, (ky * t.k_w + kx) * t.in_c + t.c0, nb);
            for ((a, &xv), &wv) in acc.iter_mut().zip(x).zip(w) {
                // |x·w| <= 2^14: exact in i16 (vectorises without 32-bit multiplies).
                *a = a.wrapping_add(i32::from(i16::from(xv) * i16::from(wv)));
            }
        }
    }
}

/// `acc[j] += Σ_taps x[c0 + j] · w[c0 + j]` over the valid window: per tap,
/// an `asm!` loop over groups of four channels (`SXTB16`, `SMLABB`/`SMLATT`,
/// the accumulators loaded and stored with `LDM`/`STM`), scalar for the last
/// `nb % 4` channels.
#[cfg(mote_dsp)]
#[inline(always)]
fn accumulate(acc: &mut [i32], img: &[i8], filter: &[i8], t: &Taps) {
    use core::arch::asm;
    let nb = acc.len();
    let quads = nb / 4;
    let rest = 4 * quads;
    for ky in t.ky.0..t.ky.1 {
        let iy = t.iy0 + (ky - t.ky.0) * t.dil[0];
        let row = seg(img, iy * t.row_len, t.row_len);
        for kx in t.kx.0..t.kx.1 {
            let ix = t.ix0 + (kx - t.kx.0) * t.dil[1];
            let x = seg(row, ix * t.in_c + t.c0, nb);
            let w = seg(filter, (ky * t.k_w + kx) * t.in_c + t.c0, nb);
            if quads > 0 && x.len() == nb && w.len() == nb {
                // SAFETY: `x`, `w` and `acc` each hold `nb >= 4 * quads`
                // elements, so the loop's `4 * quads` bytes of `x` and `w`
                // and `quads` groups of four `i32` of `acc` stay inside;
                // unaligned LDR is allowed for normal memory and `acc` is
                // 4-byte aligned (an `i32` slice).
                unsafe {
                    asm!(
                        "2:",
                        "ldr {x}, [{px}], #4",
                        "ldr {w}, [{pw}], #4",
                        "ldm {pa}, {{r0, r1, r2, r3}}",
                        "sxtb16 {xd}, {x}, ror #8",
                        "sxtb16 {x}, {x}",
                        "sxtb16 {wd}, {w}, ror #8",
                        "sxtb16 {w}, {w}",
                        "smlabb r0, {x}, {w}, r0",
                        "smlabb r1, {xd}, {wd}, r1",
                        "smlatt r2, {x}, {w}, r2",
                        "smlatt r3, {xd}, {wd}, r3",
                        "stm {pa}!, {{r0, r1, r2, r3}}",
                        "subs {cnt}, {cnt}, #1",
                        "bne 2b",
                        px = inout(reg) x.as_ptr() => _,
                        pw = inout(reg) w.as_ptr() => _,
                        pa = inout(reg) acc.as_mut_ptr() => _,
                        cnt = inout(reg) quads => _,
                        x = out(reg) _,
                        xd = out(reg) _,
                        w = out(reg) _,
                        wd = out(reg) _,
                        out("r0") _,
                        out("r1") _,
                        out("r2") _,
                        out("r3") _,
                        options(nostack),
                    );
                }
            }
            let (xs, ws) = (x.get(rest..).unwrap_or(&[]), w.get(rest..).unwrap_or(&[]));
            let tail = acc.get_mut(rest..).unwrap_or(&mut []);
            for ((a, &xv), &wv) in tail.iter_mut().zip(xs).zip(ws) {
                // |x·w| <= 2^14: exact in i16 (vectorises without 32-bit multiplies).
                *a = a.wrapping_add(i32::from(i16::from(xv) * i16::from(wv)));
            }
        }
    }
}
