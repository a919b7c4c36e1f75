//! Optimised twin of [`crate::depthwise_conv2d_s8`].

use super::{requant, seg, seg_mut, tap_range, ChanRq, ColTaps, DSP_SHAPED};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, Dims4};

/// Channels accumulated together on the stack.
const C_BLOCK: usize = 32;

/// Window patterns whose `bias + off * Σ valid w` is kept per channel block.
const PATTERNS: usize = 4;

/// Optimised [`crate::depthwise_conv2d_s8`]: same signature, validation and
/// results bit for bit. With a depth multiplier of 1: on DSP-shaped builds
/// the planar path (see `planar`), else each output pixel accumulates blocks
/// of up to 32 channels in an on-stack `i32` array, one contiguous channel
/// row per valid tap (vectorised loops); other multipliers (and shapes the
/// planar buffers cannot hold) use the reference kernel.
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
        #[cfg(not(feature = "depth-multiplier"))]
        return Err(KernelError::InvalidParameter);
        #[cfg(feature = "depth-multiplier")]
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
    if DSP_SHAPED {
        let out_hw = output_dims[1].saturating_mul(output_dims[2]);
        if super::dw_chans::takes(p, filter_dims, out_hw)
            && super::dw_chans::dw_chans(
                p,
                &win,
                rq,
                input,
                input_dims,
                filter,
                filter_dims,
                bias,
                output,
                output_dims,
            )
        {
            return Ok(());
        }
        if planar(
            p,
            rq,
            input,
            input_dims,
            filter,
            filter_dims,
            bias,
            output,
            output_dims,
        ) {
            return Ok(());
        }
        // Shapes the planar path does not take (its stack buffers bound the
        // plane): the reference kernel, smaller than the portable loops.
        return crate::depthwise::depthwise_conv2d_s8(
            p,
            1,
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
    let dil = [win.dilation[0] as usize, win.dilation[1] as usize];
    let mut c0 = 0;
    while c0 < in_c {
        let nb = (in_c - c0).min(C_BLOCK);
        // bias + off * Σw over the valid taps of the window pattern last
        // seen (patterns repeat along rows: left edge, interior, right edge).
        // A few patterns are kept (round robin): a row's left edge, interior
        // and right edge, plus one more.
        let mut cache = [(None::<(usize, usize, usize, usize)>, [0i32; C_BLOCK]); PATTERNS];
        let mut next_slot = 0;
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
                            if let Some((k, bias_eff)) = cache.get_mut(i) {
                                for (j, be) in bias_eff.iter_mut().enumerate().take(nb) {
                                    *be = bias.get(c0 + j).copied().unwrap_or(0);
                                }
                                if off != 0 {
                                    for ky in ky0..ky1 {
                                        for kx in kx0..kx1 {
                                            let w = seg(filter, (ky * k_w + kx) * in_c + c0, nb);
                                            for (be, &wv) in bias_eff.iter_mut().zip(w) {
                                                *be = be
                                                    .wrapping_add(off.wrapping_mul(i32::from(wv)));
                                            }
                                        }
                                    }
                                }
                                *k = Some(key);
                            }
                            i
                        }
                    };
                    let ob = ((b * out_h + oy) * out_w + ox) * out_c + c0;
                    let mut acc = [0i32; C_BLOCK];
                    if let Some((_, be)) = cache.get(slot) {
                        acc = *be;
                    }
                    let acc = acc.get_mut(..nb).unwrap_or(&mut []);
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

/// Elements per row of the planar buffer (a fixed stride: the `asm!`
/// kernels address the kernel rows with immediate offsets).
const PL_W: usize = 64;
/// Rows of the planar buffer.
const PL_H: usize = 32;
/// Accumulators of one band.
const ACC: usize = 512;
/// Most kernel taps of the planar path.
const MAX_TAPS: usize = 64;

/// One channel's input window rows as 16-bit values, `PL_W` per row,
/// word-aligned (the kernels read it with `LDRD`).
#[repr(C, align(4))]
struct Plane([i16; PL_W * PL_H]);

/// The geometry the planar path works on: an image `h × w` whose element
/// `(y, x)` of channel `c` is input byte `c + y·in_rs + x·in_cs` (rows and
/// columns swapped for `k×1` kernels, so that the kernel runs along rows, and
/// where that leaves fewer padded outputs),
/// and likewise for the output.
#[derive(Clone, Copy)]
struct Virt {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    ph: usize,
    pw: usize,
    oh: usize,
    ow: usize,
    in_rs: usize,
    in_cs: usize,
    out_rs: usize,
    out_cs: usize,
    /// Rows and columns are swapped (the filter tap `(a, b)` is `(b, a)`).
    swapped: bool,
}

/// Which `asm!` kernel a shape runs (or the portable loop).
#[derive(Clone, Copy, PartialEq)]
enum Mac {
    /// 3×3, dilation 1, stride 1 across.
    K3S1,
    /// 3×3, dilation 1, stride 2 across.
    K3S2,
    /// Anything else.
    Generic,
}

/// Depth multiplier 1 on DSP-shaped builds: per channel, a band of input
/// rows is converted once into a 16-bit plane (padding set to
/// `-input_offset`, whose `x + off` is 0, so that every window is full and
/// the offset term `off·Σw` joins the bias), then every output of the band
/// is a dot product over the plane (`SMLAD` over horizontal tap pairs, two
/// outputs per step, in `asm!` for 3×3 kernels) and the band is
/// requantised in one pass. Returns `false`, having written nothing, if the
/// shape does not fit the buffers or the offset does not fit 16 bits.
#[allow(clippy::too_many_arguments)]
fn planar(
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[i8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> bool {
    let [batches, in_h, in_w, c_n] = input_dims;
    let [_, k_h, k_w, _] = filter_dims;
    let [_, out_h, out_w, _] = output_dims;
    let off = p.input_offset;
    if !super::dot::off_fits_i16(off) || k_h == 0 || k_w == 0 {
        return false;
    }
    // Rows and columns swapped for `k×1` kernels (so that the kernel runs
    // along rows), kept for `1×k`, else whichever orientation computes fewer
    // padded outputs (rows are an even number of outputs wide) and rows:
    // DS-CNN's 25×5 maps run as 5 rows of 25 rather than 25 rows of 5.
    let work = |oh: usize, ow: usize| oh.saturating_mul(ow + (ow & 1) + 8);
    let swapped = if k_w == 1 || k_h == 1 {
        k_w == 1 && k_h > 1
    } else {
        work(out_w, out_h) < work(out_h, out_w)
    };
    let v = if swapped {
        Virt {
            h: in_w,
            w: in_h,
            kh: k_w,
            kw: k_h,
            sh: p.stride[1],
            sw: p.stride[0],
            dh: p.dilation[1],
            dw: p.dilation[0],
            ph: p.padding[1],
            pw: p.padding[0],
            oh: out_w,
            ow: out_h,
            in_rs: c_n,
            in_cs: in_w.saturating_mul(c_n),
            out_rs: c_n,
            out_cs: out_w * c_n,
            swapped,
        }
    } else {
        Virt {
            h: in_h,
            w: in_w,
            kh: k_h,
            kw: k_w,
            sh: p.stride[0],
            sw: p.stride[1],
            dh: p.dilation[0],
            dw: p.dilation[1],
            ph: p.padding[0],
            pw: p.padding[1],
            oh: out_h,
            ow: out_w,
            in_rs: in_w.saturating_mul(c_n),
            in_cs: c_n,
            out_rs: out_w * c_n,
            out_cs: c_n,
            swapped,
        }
    };
    // Spans of one window (with two columns of slack for the two-output
    // steps); the strides, dilations and paddings are small here.
    let big = |x: usize| x > PL_W;
    if big(v.sh) || big(v.sw) || big(v.dh) || big(v.dw) || v.ph > 1 << 20 || v.pw > 1 << 20 {
        return false;
    }
    let span_w = (v.kw - 1) * v.dw + 1;
    let span_h = (v.kh - 1) * v.dh + 1;
    if span_w + 2 + v.sw > PL_W || span_h > PL_H || v.kh * v.kw > MAX_TAPS {
        return false;
    }
    // Output columns per tile (even), rows per band.
    let tw_max = (((PL_W - 2 - span_w) / v.sw.max(1) + 1) & !1).min(ACC);
    if tw_max < 2 {
        return false;
    }
    let mac = if v.kh == 3 && v.kw == 3 && v.dh == 1 && v.dw == 1 && v.sw <= 2 {
        if v.sw == 1 {
            Mac::K3S1
        } else {
            Mac::K3S2
        }
    } else {
        Mac::Generic
    };
    let full_act = p.act_min == -128 && p.act_max == 127;
    let img_in = in_h * in_w * c_n;
    let img_out = out_h * out_w * c_n;
    let mut plane = Plane([0; PL_W * PL_H]);
    let mut acc = [0i32; ACC];
    let mut wt = [0i16; MAX_TAPS];
    let pad = off.wrapping_neg() as i16;
    for b in 0..batches {
        let src = seg(input, b * img_in, img_in);
        let mut ox0 = 0;
        while ox0 < v.ow {
            let tw = (v.ow - ox0).min(tw_max);
            let tw2 = (tw + 1) & !1;
            let ncols = ((tw2 - 1) * v.sw + span_w + 2).min(PL_W);
            let rows_max = ((PL_H - span_h) / v.sh.max(1) + 1).min(ACC / tw2.max(1));
            let x0 = (ox0 * v.sw) as i64 - v.pw as i64;
            // Valid columns: 0 <= x0 + j < w.
            let c_lo = (-x0).max(0).min(ncols as i64) as usize;
            let c_hi = (v.w as i64 - x0).min(ncols as i64).max(c_lo as i64) as usize;
            let mut oy0 = 0;
            while oy0 < v.oh {
                let rows = (v.oh - oy0).min(rows_max);
                let nrows = (rows - 1) * v.sh + span_h;
                let y0 = (oy0 * v.sh) as i64 - v.ph as i64;
                let r_lo = (-y0).max(0).min(nrows as i64) as usize;
                let r_hi = (v.h as i64 - y0).min(nrows as i64).max(r_lo as i64) as usize;
                // The padding, once for every channel (the valid rectangle
                // is overwritten per channel).
                if let Some(used) = plane.0.get_mut(..nrows * PL_W) {
                    used.fill(pad);
                }
                let accs = acc.get_mut(..rows * tw2).unwrap_or(&mut []);
                let taps = v.kh * v.kw;
                for c in 0..c_n {
                    // The channel's taps in plane order (`wt[a·kw + b]` is
                    // tap `(a, b)` of the virtual kernel) and
                    // bias + off·Σw over the whole kernel.
                    let col = filter.get(c..).unwrap_or(&[]);
                    let mut sw = 0i32;
                    for (t, &w) in col.iter().step_by(c_n.max(1)).take(taps).enumerate() {
                        let at = if v.swapped {
                            (t % k_w) * k_h + t / k_w
                        } else {
                            t
                        };
                        if let Some(d) = wt.get_mut(at) {
                            *d = i16::from(w);
                        }
                        sw = sw.wrapping_add(i32::from(w));
                    }
                    let wk = |a: usize, b: usize| -> i32 {
                        i32::from(wt.get(a * v.kw + b).copied().unwrap_or(0))
                    };
                    let be = bias
                        .get(c)
                        .copied()
                        .unwrap_or(0)
                        .wrapping_add(off.wrapping_mul(sw));
                    if r_lo < r_hi && c_lo < c_hi {
                        let start = c
                            + (y0 + r_lo as i64) as usize * v.in_rs
                            + (x0 + c_lo as i64) as usize * v.in_cs;
                        cvt_rect(
                            src,
                            start,
                            &v,
                            r_hi - r_lo,
                            c_hi - c_lo,
                            plane.0.get_mut(r_lo * PL_W + c_lo..).unwrap_or(&mut []),
                        );
                    }
                    let ob = b * img_out + oy0 * v.out_rs + ox0 * v.out_cs + c;
                    let (m, s) = rq.get(c);
                    let band = ChanRq::new(m, s).and_then(|q| q.band_words(p.output_offset));
                    match mac {
                        Mac::Generic => mac_generic(&plane, accs, &v, rows, tw2, be, &wt),
                        _ => {
                            let mut prm = [0u32; 13];
                            for (a, w) in prm.chunks_exact_mut(2).take(3).enumerate() {
                                w[0] = (wk(a, 0) as u32 & 0xffff) | ((wk(a, 1) as u32) << 16);
                                w[1] = wk(a, 2) as u32 & 0xffff;
                            }
                            if let (Mac::K3S1, Some(q), true) = (mac, band, full_act) {
                                // MACs and band rescale in one pass.
                                let o = (&mut *output, ob);
                                mac3_band(&plane, o, &mut prm, rows, tw, be, &q, &v);
                                continue;
                            }
                            mac3(&plane, accs, &mut prm, rows, tw2, be, mac == Mac::K3S2, &v)
                        }
                    }
                    match band {
                        Some(q) if full_act => {
                            requant_band(accs, output, ob, &v, rows, tw, tw2, &q);
                        }
                        _ => {
                            for r in 0..rows {
                                for i in 0..tw {
                                    let a = accs.get(r * tw2 + i).copied().unwrap_or(0);
                                    let y = requant(rq, a, c).wrapping_add(p.output_offset);
                                    let o = ob + r * v.out_rs + i * v.out_cs;
                                    if let Some(d) = output.get_mut(o) {
                                        *d = clamp_to_i8(y, p.act_min, p.act_max);
                                    }
                                }
                            }
                        }
                    }
                }
                oy0 += rows;
            }
            ox0 += tw;
        }
    }
    true
}

/// Converts a `rows × cols` rectangle of one channel into the plane:
/// element `(r, j)` (at `dst[r·PL_W + j]`) from input byte
/// `start + r·in_rs + j·in_cs`. Does nothing unless every read lies inside
/// `src` and every write inside `dst`.
#[inline(never)]
fn cvt_rect(src: &[i8], start: usize, v: &Virt, rows: usize, cols: usize, dst: &mut [i16]) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1)
        .checked_mul(v.in_rs)
        .zip((cols - 1).checked_mul(v.in_cs))
        .and_then(|(a, b)| a.checked_add(b))
        .and_then(|x| x.checked_add(start));
    if last.is_none_or(|l| l >= src.len()) || (rows - 1) * PL_W + cols > dst.len() {
        return;
    }
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        let sskip = v.in_rs.wrapping_sub(cols * v.in_cs);
        let dskip = 2 * (PL_W - cols);
        // SAFETY: `rows·cols >= 1` bytes are read at `start + r·in_rs +
        // j·in_cs`, the last of which is inside `src` (checked above) and
        // the others below it; halfwords written at `r·PL_W + j` of `dst`,
        // all below `(rows-1)·PL_W + cols <= dst.len()` (two at a time by a
        // word store, unaligned when `j` is odd: allowed for normal memory).
        unsafe {
            asm!(
                "2:",
                "movs {n}, {np}",
                "beq 4f",
                "3:",
                "ldrsb {t}, [{ps}]",
                "ldrsb {u}, [{ps}, {cs}]",
                "add {ps}, {ps}, {cs}, lsl #1",
                "pkhbt {t}, {t}, {u}, lsl #16",
                "str {t}, [{pd}], #4",
                "subs {n}, {n}, #1",
                "bne 3b",
                "4:",
                "cmp {od}, #0",
                "beq 5f",
                "ldrsb {t}, [{ps}]",
                "add {ps}, {ps}, {cs}",
                "strh {t}, [{pd}], #2",
                "5:",
                "add {ps}, {ps}, {ss}",
                "add {pd}, {pd}, {ds}",
                "subs {r}, {r}, #1",
                "bne 2b",
                ps = inout(reg) src.as_ptr().add(start) => _,
                pd = inout(reg) dst.as_mut_ptr() => _,
                cs = in(reg) v.in_cs,
                ss = in(reg) sskip,
                ds = in(reg) dskip,
                np = in(reg) cols / 2,
                od = in(reg) cols & 1,
                n = out(reg) _,
                r = inout(reg) rows => _,
                t = out(reg) _,
                u = out(reg) _,
                options(nostack),
            );
        }
    }
    #[cfg(not(mote_dsp))]
    for r in 0..rows {
        for j in 0..cols {
            if let Some(d) = dst.get_mut(r * PL_W + j) {
                *d = i16::from(
                    src.get(start + r * v.in_rs + j * v.in_cs)
                        .copied()
                        .unwrap_or(0),
                );
            }
        }
    }
}

/// `acc[r·tw2 + i] = be + Σ w(a, b) · plane[r·sh + a·dh][i·sw + b·dw]`,
/// `wt` holding the taps `w(a, b)` at `a·kw + b`.
#[inline(never)]
fn mac_generic(
    plane: &Plane,
    acc: &mut [i32],
    v: &Virt,
    rows: usize,
    tw2: usize,
    be: i32,
    wt: &[i16],
) {
    let kw = v.kw.max(1);
    let sw = v.sw.max(1);
    for (r, accr) in acc.chunks_exact_mut(tw2.max(1)).take(rows).enumerate() {
        accr.fill(be);
        // One tap at a time over the whole output row (simple loops).
        for (t, &w) in wt.iter().enumerate().take(v.kh * kw) {
            let (a, b) = (t / kw, t % kw);
            let start = (r * v.sh + a * v.dh) * PL_W + b * v.dw;
            let w = i32::from(w);
            // The last read, `start + (tw2-1)·sw`, lies inside the plane (the
            // caller sized the band so); nothing is read otherwise.
            let n = accr.len();
            let Some(xs) = plane.0.get(start..start + (n - 1) * sw + 1) else {
                continue;
            };
            if sw == 1 {
                for (d, &x) in accr.iter_mut().zip(xs) {
                    *d = d.wrapping_add(i32::from(x) * w);
                }
            } else {
                for (i, d) in accr.iter_mut().enumerate() {
                    if let Some(&x) = xs.get(i * sw) {
                        *d = d.wrapping_add(i32::from(x) * w);
                    }
                }
            }
        }
    }
}

/// An `asm!` whose loop step is the 3×3, stride-1 depthwise MACs of two
/// outputs (`r4`, `r5`) over the plane rows at `{p} - 128`, `{p}`,
/// `{p} + 128` with the kernel words at `{q}` (starting from `{be}`),
/// followed by the given instructions and operands: the shared body of
/// [`mac3`] and [`mac3_band`].
#[cfg(mote_dsp)]
macro_rules! k3s1_asm {
    ($($rest:tt)*) => {
        core::arch::asm!(
            "ldr {n}, [{q}, #24]",
            "2:",
            "ldrd r0, r1, [{p}, #-128]",
            "ldrd r2, r3, [{q}]",
            "smlad r4, r0, r2, {be}",
            "smlabb r4, r1, r3, r4",
            "pkhbt r0, r1, r0",
            "smladx r5, r0, r2, {be}",
            "smlatb r5, r1, r3, r5",
            "ldrd r0, r1, [{p}]",
            "ldrd r2, r3, [{q}, #8]",
            "smlad r4, r0, r2, r4",
            "smlabb r4, r1, r3, r4",
            "pkhbt r0, r1, r0",
            "smladx r5, r0, r2, r5",
            "smlatb r5, r1, r3, r5",
            "ldrd r0, r1, [{p}, #128]",
            "ldrd r2, r3, [{q}, #16]",
            "smlad r4, r0, r2, r4",
            "smlabb r4, r1, r3, r4",
            "pkhbt r0, r1, r0",
            "smladx r5, r0, r2, r5",
            "smlatb r5, r1, r3, r5",
            $($rest)*
        )
    };
}

/// The 3×3 kernels: `acc` as for [`mac_generic`], two outputs per step,
/// `prm` holding per kernel row `(w0, w1)` and `(w2, 0)` as 16-bit pairs
/// (words 0..6); words 6..9 are scratch (steps per row, the plane skip
/// from one output row to the next, rows left), the rest unused.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn mac3(
    plane: &Plane,
    acc: &mut [i32],
    prm: &mut [u32; 13],
    rows: usize,
    tw2: usize,
    be: i32,
    s2: bool,
    v: &Virt,
) {
    let steps = tw2 / 2;
    // Plane extent read: rows `(rows-1)·sh + 2`, columns up to
    // `(tw2-1)·sw + 3` (s1) or `+ 4` (s2, one word past the last tap).
    let last_row = (rows - 1) * v.sh + 2;
    let last_col = (tw2 - 1) * v.sw + 3;
    if rows == 0
        || steps == 0
        || acc.len() < rows * tw2
        || last_row >= PL_H
        || last_col + 1 >= PL_W
        || v.sh > PL_H
    {
        return;
    }
    #[cfg(not(mote_dsp))]
    {
        let _ = s2;
        let mut wt = [0i16; 9];
        for (a, t) in wt.chunks_exact_mut(3).enumerate() {
            t[0] = prm[2 * a] as u16 as i16;
            t[1] = (prm[2 * a] >> 16) as u16 as i16;
            t[2] = prm[2 * a + 1] as u16 as i16;
        }
        mac_generic(plane, acc, v, rows, tw2, be, &wt);
    }
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        let adv = if s2 { 8 * steps } else { 4 * steps };
        prm[6] = steps as u32;
        prm[7] = ((v.sh * 2 * PL_W) as u32).wrapping_sub(adv as u32);
        prm[8] = rows as u32;
        // SAFETY: per step, three rows of the plane are read at `p - 128`,
        // `p`, `p + 128` (8 bytes each, 12 with stride 2; the offsets stay
        // within A32's ±255 for LDRD); `p` starts at the plane's second row
        // (4-aligned, `repr(align(4))`) and moves 4 (8) bytes per step and
        // `sh` rows per output row, so the reads stay within
        // rows `<= last_row < PL_H` and columns `<= last_col + 1 < PL_W`
        // (checked above), all word-aligned for LDRD. `rows·steps` pairs
        // of words are written to `acc` (`acc.len() >= rows·tw2`). `prm`
        // is read and its words 8 updated. r0/r1, r2/r3, r4/r5 are the
        // even register pairs A32 LDRD/STRD need.
        unsafe {
            if s2 {
                asm!(
                    "ldr {n}, [{q}, #24]",
                    "2:",
                    "ldrd r0, r1, [{p}, #-128]",
                    "ldrd r2, r3, [{q}]",
                    "smlad r4, r0, r2, {be}",
                    "smlabb r4, r1, r3, r4",
                    "ldr r0, [{p}, #-120]",
                    "smlad r5, r1, r2, {be}",
                    "smlabb r5, r0, r3, r5",
                    "ldrd r0, r1, [{p}]",
                    "ldrd r2, r3, [{q}, #8]",
                    "smlad r4, r0, r2, r4",
                    "smlabb r4, r1, r3, r4",
                    "ldr r0, [{p}, #8]",
                    "smlad r5, r1, r2, r5",
                    "smlabb r5, r0, r3, r5",
                    "ldrd r0, r1, [{p}, #128]",
                    "ldrd r2, r3, [{q}, #16]",
                    "smlad r4, r0, r2, r4",
                    "smlabb r4, r1, r3, r4",
                    "ldr r0, [{p}, #136]",
                    "smlad r5, r1, r2, r5",
                    "smlabb r5, r0, r3, r5",
                    "strd r4, r5, [{d}], #8",
                    "add {p}, {p}, #8",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "ldr {n}, [{q}, #28]",
                    "add {p}, {p}, {n}",
                    "ldr r0, [{q}, #32]",
                    "subs r0, r0, #1",
                    "str r0, [{q}, #32]",
                    "ldr {n}, [{q}, #24]",
                    "bne 2b",
                    p = inout(reg) plane.0.as_ptr().add(PL_W) => _,
                    q = in(reg) prm.as_mut_ptr(),
                    d = inout(reg) acc.as_mut_ptr() => _,
                    n = out(reg) _,
                    be = in(reg) be,
                    out("r0") _,
                    out("r1") _,
                    out("r2") _,
                    out("r3") _,
                    out("r4") _,
                    out("r5") _,
                    options(nostack),
                );
            } else {
                k3s1_asm!(
                    "strd r4, r5, [{d}], #8",
                    "add {p}, {p}, #4",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "ldr {n}, [{q}, #28]",
                    "add {p}, {p}, {n}",
                    "ldr r0, [{q}, #32]",
                    "subs r0, r0, #1",
                    "str r0, [{q}, #32]",
                    "ldr {n}, [{q}, #24]",
                    "bne 2b",
                    p = inout(reg) plane.0.as_ptr().add(PL_W) => _,
                    q = in(reg) prm.as_mut_ptr(),
                    d = inout(reg) acc.as_mut_ptr() => _,
                    n = out(reg) _,
                    be = in(reg) be,
                    out("r0") _,
                    out("r1") _,
                    out("r2") _,
                    out("r3") _,
                    out("r4") _,
                    out("r5") _,
                    options(nostack),
                );
            }
        }
    }
}

/// [`mac3`] (stride 1) and [`requant_band`] in one pass: each step's two
/// sums are rescaled by `q` ([`ChanRq::band_words`]) and stored as bytes
/// (output `(r, i)` at `ob + r·out_rs + i·out_cs`, only `i < tw`), without
/// the accumulator round trip. `prm` as for `mac3`, words 6..13 scratch.
/// Does nothing unless every read and write lies inside the buffers.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn mac3_band(
    plane: &Plane,
    out: (&mut [i8], usize),
    prm: &mut [u32; 13],
    rows: usize,
    tw: usize,
    be: i32,
    q: &[u32; 3],
    v: &Virt,
) {
    let (output, ob) = out;
    let steps = tw.div_ceil(2);
    let last_row = rows.saturating_sub(1) * v.sh + 2;
    let last_col = (2 * steps - 1) * v.sw + 3;
    let last_out =
        (rows.saturating_sub(1) * v.out_rs + (tw.saturating_sub(1)) * v.out_cs).checked_add(ob);
    if rows == 0
        || tw == 0
        || last_row >= PL_H
        || last_col + 1 >= PL_W
        || v.sh > PL_H
        || last_out.is_none_or(|l| l >= output.len())
    {
        return;
    }
    #[cfg(not(mote_dsp))]
    {
        let mut acc = [0i32; ACC];
        let tw2 = 2 * steps;
        if rows * tw2 <= ACC {
            let a = acc.get_mut(..rows * tw2).unwrap_or(&mut []);
            mac3(plane, a, prm, rows, tw2, be, false, v);
            requant_band(a, output, ob, v, rows, tw, tw2, q);
        }
    }
    #[cfg(mote_dsp)]
    {
        prm[6] = tw as u32;
        prm[7] = ((v.sh * 2 * PL_W) as u32).wrapping_sub((4 * steps) as u32);
        prm[8] = rows as u32;
        prm[9] = q[0];
        prm[10] = q[1];
        prm[11] = v.out_cs as u32;
        prm[12] = (v.out_rs as u32).wrapping_sub((2 * steps * v.out_cs) as u32);
        // SAFETY: the plane reads are those of `mac3` (stride 1) over
        // `steps` steps per row, inside by the checks above. Per row the
        // outputs `i < tw` are written (the second byte of the last step of
        // an odd row is skipped: `n` counts the row's outputs down by two),
        // at `ob + r·out_rs + i·out_cs <= last_out < output.len()`. `prm` is
        // read and its word 8 updated. SMLAL/ASR/SSAT: see
        // `ChanRq::band_words`; SSAT's Q flag is never read. r0/r1, r2/r3
        // are the even register pairs A32 LDRD needs.
        unsafe {
            k3s1_asm!(
                // Rescale both with m = r0, H = r1.
                "ldrd r0, r1, [{q}, #36]",
                "add r3, r1, r4, asr #31",
                "and r2, r4, #0x80000000",
                "orr r2, r2, #0x40000000",
                "smlal r2, r3, r4, r0",
                "asr r4, r3, {sh}",
                "ssat r4, #8, r4",
                "add r3, r1, r5, asr #31",
                "and r2, r5, #0x80000000",
                "orr r2, r2, #0x40000000",
                "smlal r2, r3, r5, r0",
                "asr r5, r3, {sh}",
                "ssat r5, #8, r5",
                "ldr r0, [{q}, #44]",
                "subs {n}, {n}, #2",
                "strb r4, [{d}]",
                "it ge",
                "strbge r5, [{d}, r0]",
                "add {d}, {d}, r0, lsl #1",
                "add {p}, {p}, #4",
                "bgt 2b",
                "ldr {n}, [{q}, #28]",
                "add {p}, {p}, {n}",
                "ldr {n}, [{q}, #48]",
                "add {d}, {d}, {n}",
                "ldr r0, [{q}, #32]",
                "subs r0, r0, #1",
                "str r0, [{q}, #32]",
                "ldr {n}, [{q}, #24]",
                "bne 2b",
                p = inout(reg) plane.0.as_ptr().add(PL_W) => _,
                q = in(reg) prm.as_mut_ptr(),
                d = inout(reg) output.as_mut_ptr().add(ob) => _,
                n = out(reg) _,
                be = in(reg) be,
                sh = in(reg) q[2],
                out("r0") _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack),
            );
        }
    }
}

/// Requantises a band: output `(r, i)` (`r < rows`, `i < tw`) at byte
/// `ob + r·out_rs + i·out_cs` from `acc[r·tw2 + i]`, full activation range,
/// by the constants of [`ChanRq::band_words`]. Writes nothing unless every
/// output lies inside `output`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn requant_band(
    acc: &[i32],
    output: &mut [i8],
    ob: usize,
    v: &Virt,
    rows: usize,
    tw: usize,
    tw2: usize,
    q: &[u32; 3],
) {
    if rows == 0 || tw == 0 || acc.len() < rows * tw2 {
        return;
    }
    let last = (rows - 1) * v.out_rs + (tw - 1) * v.out_cs + ob;
    if last >= output.len() {
        return;
    }
    #[cfg(not(mote_dsp))]
    for r in 0..rows {
        for i in 0..tw {
            let x = acc.get(r * tw2 + i).copied().unwrap_or(0);
            let y = super::band_one(q, x);
            if let Some(d) = output.get_mut(ob + r * v.out_rs + i * v.out_cs) {
                *d = y as i8;
            }
        }
    }
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        // Scratch: outputs per row, acc skip, output skip, rows left.
        let mut prm = [
            tw as u32,
            (4 * (tw2 - tw)) as u32,
            (v.out_rs as u32).wrapping_sub((tw * v.out_cs) as u32),
            rows as u32,
        ];
        // SAFETY: reads `rows` rows of `tw` accumulators at `r·tw2`, all
        // inside `acc` (`acc.len() >= rows·tw2`); writes the bytes
        // `ob + r·out_rs + i·out_cs`, the last of which is inside `output`
        // (checked above) and the others below it; reads and updates the
        // four words of `prm`. SMLAL/ASR/SSAT arithmetic: see
        // `ChanRq::band_words`; SSAT's Q flag is never read.
        unsafe {
            asm!(
                // Two outputs per iteration, `ceil(tw / 2)` iterations per
                // row; an odd `tw` enters each row halfway (carry clear).
                "1:",
                "ldr {n}, [{pr}]",
                "add {n}, {n}, #1",
                "lsrs {n}, {n}, #1",
                "bcc 3f",
                "2:",
                "ldr {x}, [{pa}], #4",
                "add {hi}, {h}, {x}, asr #31",
                "and {t}, {x}, #0x80000000",
                "orr {t}, {t}, #0x40000000",
                "smlal {t}, {hi}, {x}, {m}",
                "asr {x}, {hi}, {sh}",
                "ssat {x}, #8, {x}",
                "strb {x}, [{po}]",
                "add {po}, {po}, {os}",
                "3:",
                "ldr {x}, [{pa}], #4",
                "add {hi}, {h}, {x}, asr #31",
                "and {t}, {x}, #0x80000000",
                "orr {t}, {t}, #0x40000000",
                "smlal {t}, {hi}, {x}, {m}",
                "asr {x}, {hi}, {sh}",
                "ssat {x}, #8, {x}",
                "strb {x}, [{po}]",
                "add {po}, {po}, {os}",
                "subs {n}, {n}, #1",
                "bne 2b",
                "ldr {x}, [{pr}, #4]",
                "add {pa}, {pa}, {x}",
                "ldr {x}, [{pr}, #8]",
                "add {po}, {po}, {x}",
                "ldr {x}, [{pr}, #12]",
                "subs {x}, {x}, #1",
                "str {x}, [{pr}, #12]",
                "bne 1b",
                pa = inout(reg) acc.as_ptr() => _,
                po = inout(reg) output.as_mut_ptr().add(ob) => _,
                pr = in(reg) prm.as_mut_ptr(),
                os = in(reg) v.out_cs,
                m = in(reg) q[0],
                h = in(reg) q[1],
                sh = in(reg) q[2],
                n = out(reg) _,
                x = out(reg) _,
                t = out(reg) _,
                hi = out(reg) _,
                options(nostack),
            );
        }
    }
}
