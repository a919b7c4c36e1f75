//! Optimised twin of [`crate::conv2d_s8`].

use super::dot::{clamp4_pack, dot, dot2, dot2_off, dot4_px, dot_off, ext_padded, ext_row, sum};
use super::{
    band_of, band_ok, requant, requant4_same, seg, tap_range, ChanRq, ColTaps, DSP_SHAPED,
};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, Dims4};

/// Output channels whose full-kernel weight sums are kept on the stack.
const OC_BLOCK: usize = 32;

/// Largest filter (`KH * KW * C` bytes) whose window is copied into an
/// on-stack buffer (not on DSP cores, which use the tiled path); larger ones
/// run segment by segment.
const IM2COL_MAX: usize = 1024;

/// Optimised [`crate::conv2d_s8`]: same signature, validation and results
/// bit for bit. Non-grouped convolutions run as contiguous dot products over
/// each output pixel's valid window (one `valid_kw * C` row segment per
/// kernel row when the horizontal dilation is 1), two output channels at a
/// time; grouped convolutions use the reference kernel.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv2d_s8_fast(
    p: &ConvParams,
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
    let [batches, in_h, in_w, in_c] = input_dims;
    let [out_c, k_h, k_w, f_c] = filter_dims;
    let [o_n, out_h, out_w, o_c] = output_dims;
    if o_n != batches || o_c != out_c {
        return Err(KernelError::ShapeMismatch);
    }
    if f_c == 0 || in_c % f_c != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    rq.validate(out_c)?;
    let win = Window::new(p.stride, p.dilation, p.padding)?;
    let groups = in_c / f_c;
    if output.is_empty() {
        return Ok(());
    }
    if groups == 0 || out_c % groups != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    if groups != 1 {
        #[cfg(not(feature = "grouped-conv"))]
        return Err(KernelError::InvalidParameter);
        #[cfg(feature = "grouped-conv")]
        return crate::conv::conv2d_s8(
            p,
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
    // groups == 1: f_c == in_c. All products below are bounded by the
    // validated element counts of the (non-empty) output and the filter.
    let filter_len = k_h * k_w * in_c; // one output channel's weights
                                       // With in_h == 0 these may exceed the (empty) input: saturate; the tap
                                       // ranges are then empty.
    let row_len = in_w.saturating_mul(in_c); // one input row
    let img_len = in_h.saturating_mul(row_len);
    let off = p.input_offset;
    let contiguous = win.dilation[1] == 1;
    // The window copied into one contiguous buffer (padding filled with
    // `-off`, whose `x + off` is 0) lets every pixel run one dot product per
    // output channel over the whole filter, with the offset term in the bias.
    let pad_value = i8::try_from(off.wrapping_neg()).ok();
    // (Not on DSP cores, where the tiled path takes every shape it fits and
    // the few pixels it leaves run segment by segment.)
    let use_buf = !cfg!(mote_dsp) && pad_value.is_some() && filter_len <= IM2COL_MAX;
    let tiled_done = match pad_value {
        Some(pv) if DSP_SHAPED => conv_tiled(
            p,
            rq,
            input,
            filter,
            bias,
            output,
            &Geom {
                batches,
                in_h,
                in_w,
                in_c,
                k_h,
                k_w,
                out_h,
                out_w,
                out_c,
                win: &win,
                pad_value: pv,
            },
        ),
        _ => 0,
    };
    if tiled_done >= batches * out_h * out_w {
        return Ok(());
    }
    let pad_value = pad_value.unwrap_or(0);
    let mut buf = [0i8; IM2COL_MAX];

    let mut oc0 = 0;
    while oc0 < out_c {
        let nb = (out_c - oc0).min(OC_BLOCK);
        // bias + off * Σw over the whole kernel, for fully-inside windows;
        // not worth it for the few pixels the tiled path leaves (they add
        // the offset to every input instead).
        let sums = use_buf || tiled_done == 0;
        let mut full_bias = [0i32; OC_BLOCK];
        for (j, fb) in full_bias
            .iter_mut()
            .enumerate()
            .take(if sums { nb } else { 0 })
        {
            let oc = oc0 + j;
            let w = seg(filter, oc * filter_len, filter_len);
            let b = bias.get(oc).copied().unwrap_or(0);
            *fb = b.wrapping_add(off.wrapping_mul(sum(w)));
        }
        // From the first pixel the tiled path left (its row).
        let per_img = out_h * out_w;
        let (b_first, oy_first) = match tiled_done.checked_div(per_img) {
            Some(bq) => (bq, (tiled_done - bq * per_img) / out_w.max(1)),
            None => (0, 0),
        };
        for b in b_first..batches {
            let img = seg(input, b.saturating_mul(img_len), img_len);
            let oy_start = if b == b_first { oy_first } else { 0 };
            for oy in oy_start..out_h {
                let (ky0, ky1, iy0) = tap_range(
                    oy,
                    win.stride[0],
                    win.padding[0],
                    win.dilation[0],
                    in_h,
                    k_h,
                );
                for ox in 0..out_w {
                    if (b * out_h + oy) * out_w + ox < tiled_done {
                        continue;
                    }
                    let (kx0, kx1, ix0) = tap_range(
                        ox,
                        win.stride[1],
                        win.padding[1],
                        win.dilation[1],
                        in_w,
                        k_w,
                    );
                    let full = sums && ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
                    let ob = ((b * out_h + oy) * out_w + ox) * out_c + oc0;
                    let Some(out_px) = output.get_mut(ob..ob + nb) else {
                        return Err(KernelError::BufferLength);
                    };
                    let n = (kx1 - kx0) * in_c;
                    if use_buf {
                        let x: &[i8] = if full && k_h == 1 && k_w == 1 {
                            // 1x1: the pixel's channels are the window.
                            seg(img, iy0 * row_len + ix0 * in_c, in_c)
                        } else {
                            let win_buf = buf.get_mut(..filter_len).unwrap_or(&mut []);
                            if !full {
                                win_buf.fill(pad_value);
                            }
                            for ky in ky0..ky1 {
                                let iy = iy0 + (ky - ky0) * win.dilation[0] as usize;
                                let row = seg(img, iy * row_len, row_len);
                                if contiguous {
                                    let src = seg(row, ix0 * in_c, n);
                                    let d = (ky * k_w + kx0) * in_c;
                                    if let Some(dst) = win_buf.get_mut(d..d + n) {
                                        dst.copy_from_slice(src);
                                    }
                                } else {
                                    for kx in kx0..kx1 {
                                        let ix = ix0 + (kx - kx0) * win.dilation[1] as usize;
                                        let src = seg(row, ix * in_c, in_c);
                                        let d = (ky * k_w + kx) * in_c;
                                        if let Some(dst) = win_buf.get_mut(d..d + in_c) {
                                            dst.copy_from_slice(src);
                                        }
                                    }
                                }
                            }
                            win_buf
                        };
                        let mut j = 0;
                        while j + 1 < nb {
                            let oc = oc0 + j;
                            let f0 = seg(filter, oc * filter_len, filter_len);
                            let f1 = seg(filter, (oc + 1) * filter_len, filter_len);
                            let (d0, d1) = dot2(x, f0, f1);
                            let v0 = requant(rq, d0.wrapping_add(full_bias[j]), oc);
                            let v1 = requant(rq, d1.wrapping_add(full_bias[j + 1]), oc + 1);
                            out_px[j] =
                                clamp_to_i8(v0.wrapping_add(p.output_offset), p.act_min, p.act_max);
                            out_px[j + 1] =
                                clamp_to_i8(v1.wrapping_add(p.output_offset), p.act_min, p.act_max);
                            j += 2;
                        }
                        if j < nb {
                            let oc = oc0 + j;
                            let f0 = seg(filter, oc * filter_len, filter_len);
                            let v0 = requant(rq, dot(x, f0).wrapping_add(full_bias[j]), oc);
                            out_px[j] =
                                clamp_to_i8(v0.wrapping_add(p.output_offset), p.act_min, p.act_max);
                        }
                        continue;
                    }
                    let mut j = 0;
                    while j < nb {
                        let pair = j + 1 < nb;
                        let oc = oc0 + j;
                        let (mut a0, mut a1) = (0i32, 0i32);
                        let f0 = seg(filter, oc * filter_len, filter_len);
                        let f1 = if pair {
                            seg(filter, (oc + 1) * filter_len, filter_len)
                        } else {
                            &[]
                        };
                        for ky in ky0..ky1 {
                            // A valid row: iy < in_h, so the products stay in range.
                            let iy = iy0 + (ky - ky0) * win.dilation[0] as usize;
                            let row = seg(img, iy * row_len, row_len);
                            let wrow_base = ky * k_w * in_c;
                            if contiguous {
                                let x = seg(row, ix0 * in_c, n);
                                let wb = wrow_base + kx0 * in_c;
                                let w0 = seg(f0, wb, n);
                                let w1 = if pair { seg(f1, wb, n) } else { &[] };
                                (a0, a1) = acc2(full, pair, x, w0, w1, off, a0, a1);
                            } else {
                                for kx in kx0..kx1 {
                                    let ix = ix0 + (kx - kx0) * win.dilation[1] as usize;
                                    let x = seg(row, ix * in_c, in_c);
                                    let wb = wrow_base + kx * in_c;
                                    let w0 = seg(f0, wb, in_c);
                                    let w1 = if pair { seg(f1, wb, in_c) } else { &[] };
                                    (a0, a1) = acc2(full, pair, x, w0, w1, off, a0, a1);
                                }
                            }
                        }
                        let (b0, b1) = if full {
                            (full_bias[j], full_bias.get(j + 1).copied().unwrap_or(0))
                        } else {
                            (
                                bias.get(oc).copied().unwrap_or(0),
                                bias.get(oc + 1).copied().unwrap_or(0),
                            )
                        };
                        let v0 = requant(rq, a0.wrapping_add(b0), oc).wrapping_add(p.output_offset);
                        out_px[j] = clamp_to_i8(v0, p.act_min, p.act_max);
                        if pair {
                            let v1 = requant(rq, a1.wrapping_add(b1), oc + 1)
                                .wrapping_add(p.output_offset);
                            out_px[j + 1] = clamp_to_i8(v1, p.act_min, p.act_max);
                        }
                        j += 2;
                    }
                }
            }
        }
        oc0 += nb;
    }
    Ok(())
}

/// Adds one segment's products to the accumulators of one or two output
/// channels: `Σ x·w` for fully-inside windows (the offset term is in the
/// bias), `Σ (x + off)·w` for windows cut by the padding.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn acc2(
    full: bool,
    pair: bool,
    x: &[i8],
    w0: &[i8],
    w1: &[i8],
    off: i32,
    a0: i32,
    a1: i32,
) -> (i32, i32) {
    let (d0, d1) = match (full, pair) {
        (true, true) => dot2(x, w0, w1),
        (true, false) => (dot(x, w0), 0),
        (false, true) => dot2_off(x, w0, w1, off),
        (false, false) => (dot_off(x, w0, off), 0),
    };
    (a0.wrapping_add(d0), a1.wrapping_add(d1))
}

/// Output pixels per tile of the tiled path.
const TP: usize = 4;
/// Largest filter length (rounded up to a multiple of 4) of the tiled path:
/// 3x3 kernels over 64 channels (ResNet-8's last stage), whose fallback
/// costs about twice the instructions.
const TK_MAX: usize = 576;
/// Output channels per block of the tiled path.
const TOC: usize = 64;
/// Words for one block's filters sign-extended to 16-bit pairs (two words
/// per four values): 5 KiB, e.g. 64 filters of 40 values (DS-CNN's first
/// layer) or 17 of 144 (ResNet-8's first stage).
const W16: usize = 1280;

/// Shapes of a non-grouped convolution (validated by the caller).
struct Geom<'a> {
    batches: usize,
    in_h: usize,
    in_w: usize,
    in_c: usize,
    k_h: usize,
    k_w: usize,
    out_h: usize,
    out_w: usize,
    out_c: usize,
    win: &'a Window,
    /// `-input_offset` as int8: padding that contributes nothing.
    pad_value: i8,
}

/// The tiled path: four output pixels at a time (in raster order over
/// batches, rows and columns), each pixel's window gathered into an int8
/// row (padding filled with `-input_offset`, so that `x + off = 0` there)
/// and sign-extended into its slots of interleaved 16-bit pairs, then one
/// filter at a time against all four ([`tile_block`], or [`tile_block16`]
/// with the block's filters extended once), starting from `bias + off·Σw`,
/// requantised by [`ChanRq`]. Returns how many leading output pixels it
/// computed: all of them when every channel takes the band rescale (the
/// last partial tile included), else a multiple of 4; 0 if the shape or the
/// requantisation does not fit it. The caller computes the rest.
fn conv_tiled(
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    output: &mut [i8],
    g: &Geom,
) -> usize {
    let filter_len = g.k_h * g.k_w * g.in_c;
    let seg_len = g.k_w * g.in_c;
    // Row-padded windows: each kernel row (contiguous in the input when the
    // dilation across is 1) padded to whole groups, so that full windows
    // extend straight from the input (the pad lanes read the next pixels'
    // bytes, against zero weights) instead of through the int8 row, for
    // kernel rows that are not whole groups (3x3 over 3 channels) at the
    // cost of at most a third more MACs.
    let seg_pad = seg_len.div_ceil(4) * 4;
    let rowpad = cfg!(feature = "conv-rows")
        && DSP_SHAPED
        && super::conv_rows_apply([g.out_c, g.k_h, g.k_w, g.in_c], g.win.dilation[1] as usize);
    // A window row's length in the gathered row (and the extended filters).
    let kw_len = if rowpad { seg_pad } else { seg_len };
    let k_pad = if rowpad {
        g.k_h * seg_pad
    } else {
        filter_len.div_ceil(4) * 4
    };
    let total_px = g.batches * g.out_h * g.out_w;
    let full_tiles = total_px / TP;
    if total_px == 0 || k_pad > TK_MAX || filter_len == 0 {
        return 0;
    }
    // A 1x1 convolution over every pixel (stride 1, no padding, output the
    // size of the input): a plain GEMM over consecutive pixels.
    let gemm = g.k_h == 1
        && g.k_w == 1
        && g.win.stride == [1, 1]
        && g.win.padding == [0, 0]
        && g.out_h == g.in_h
        && g.out_w == g.in_w
        && g.in_c % 4 == 0;
    let padded = k_pad != filter_len;
    let ocb = TOC;
    // Filters extended once per block (for the band-requantised blocks)
    // when a block of the 5 KiB buffer holds a whole block of the int8 path,
    // or for 1x1 GEMMs (whose gather, repeated per block, is cheap) in
    // blocks of at least 8 filters over at least 8 tiles (which repay the
    // extension).
    let full_act = p.act_min == -128 && p.act_max == 127;
    let cap16 = (W16 / (k_pad / 2).max(1)).min(TOC);
    let ocb = if full_act && ((gemm && cap16 >= 8 && full_tiles >= 8) || cap16 >= g.out_c.min(ocb))
    {
        ocb.min(cap16)
    } else {
        ocb
    };
    let use16 = full_act && cap16 > 0 && ocb <= cap16;
    if ocb == 0 {
        return 0;
    }
    // Every channel's rescale has the fast form; all_banded: and the band
    // constants (`ChanRq::band_words`, i.e. `band_ok`) with the full range.
    let oo = p.output_offset;
    let mut all_banded = full_act;
    for (&m, &s) in rq.multiplier.iter().zip(rq.shift) {
        if !(-31..=31).contains(&s) || m == i32::MIN {
            return 0;
        }
        all_banded &= band_ok(m, s, oo);
    }
    // Filters whose length is not a multiple of 4 (or row-padded) run only
    // extended (their last groups padded with zeros there).
    if (padded || rowpad) && !(use16 && all_banded) {
        return 0;
    }
    let off = p.input_offset;
    let row_len = g.in_w.saturating_mul(g.in_c);
    let img_len = g.in_h * row_len;
    let dil = [g.win.dilation[0] as usize, g.win.dilation[1] as usize];
    // Full windows whose kernel rows are contiguous input segments of
    // whole groups (dilation 1 across, `k_w·C % 4 == 0`, or row-padded)
    // skip the int8 row.
    let seg_groups = kw_len / 4;
    let direct_rows = dil[1] == 1 && (rowpad || (seg_len % 4 == 0 && !padded));
    // One pixel's window at a time (every byte of a window row is rewritten
    // per pixel; the bytes past each row's `seg_len` (row-padded) or past
    // `filter_len` meet zero weights in the extended filters).
    let mut row = [0i8; TK_MAX];
    let mut xbuf = [0u32; 2 * TK_MAX];
    // The pixels past the last whole tile run as one more tile when every
    // channel takes the band rescale (its outputs via `part`; its other
    // slots gather nothing: their image lies past the input).
    let tiles = if all_banded {
        total_px.div_ceil(TP)
    } else {
        full_tiles
    };
    let last = total_px - full_tiles * TP;
    let mut part = [0i8; TP * TOC];
    let xlen = 2 * k_pad;
    let lo4 = u32::from(p.act_min as u8) * 0x0101_0101;
    let hi4 = u32::from(p.act_max as u8) * 0x0101_0101;
    let mut w16 = [0u32; W16];
    let cols = ColTaps::new(
        g.out_w,
        g.win.stride[1],
        g.win.padding[1],
        g.win.dilation[1],
        g.in_w,
        g.k_w,
    );
    // Per block channel: its rescale, and `[m, H, e - 1, bias + off·Σw]`
    // (the band constants for `tile_block` when every channel of the block
    // has them); entries `< nb` are rewritten for every block.
    let mut chans = [ChanRq::default(); TOC];
    let mut cq = [[0u32; 4]; TOC];
    let mut oc0 = 0;
    while oc0 < g.out_c {
        let nb = (g.out_c - oc0).min(ocb);
        let mut banded = full_act;
        for ((j, c), q) in chans.iter_mut().enumerate().take(nb).zip(cq.iter_mut()) {
            let oc = oc0 + j;
            let (m, s) = rq.get(oc);
            let b = bias.get(oc).copied().unwrap_or(0);
            // (With extended filters, `off·Σw` is added below.)
            q[3] = if use16 {
                b as u32
            } else {
                let w = seg(filter, oc * filter_len, filter_len);
                b.wrapping_add(off.wrapping_mul(sum(w))) as u32
            };
            if all_banded {
                // Only the band constants are read.
                let [bm, bh, bs] = band_of(m, s, oo).unwrap_or([0; 3]);
                (q[0], q[1], q[2]) = (bm, bh, bs);
                continue;
            }
            *c = ChanRq::new(m, s).unwrap_or_default();
            match c.band_words(oo) {
                Some([m, h, sh]) => {
                    q[0] = m;
                    q[1] = h;
                    q[2] = sh;
                }
                None => banded = false,
            }
        }
        // The block's filters, back to back.
        let wsrc = seg(filter, oc0 * filter_len, nb * filter_len);
        let ext16 = use16 && banded;
        if use16 {
            let words = k_pad / 2;
            let fs = wsrc.chunks(filter_len).zip(w16.chunks_exact_mut(words));
            for ((f, d), q) in fs.zip(cq.iter_mut()).take(nb) {
                let sw = if !ext16 {
                    sum(f)
                } else if rowpad {
                    // Each kernel row to its own whole groups.
                    let rows = f.chunks(seg_len).zip(d.chunks_mut(seg_pad / 2));
                    rows.fold(0i32, |a, (r, dr)| a.wrapping_add(ext_padded(r, dr)))
                } else {
                    ext_padded(f, d)
                };
                q[3] = (q[3] as i32).wrapping_add(off.wrapping_mul(sw)) as u32;
            }
        }
        let (mut b, mut oy, mut ox) = (0usize, 0usize, 0usize);
        let (mut cur_oy, mut yr) = (usize::MAX, (0, 0, 0));
        for t in 0..tiles {
            let partial = t == full_tiles;
            if partial && gemm {
                // The GEMM tiles did not track the position.
                let px0 = t * TP;
                ox = px0 % g.out_w.max(1);
                oy = (px0 / g.out_w.max(1)) % g.out_h.max(1);
                b = px0 / (g.out_w * g.out_h).max(1);
            }
            if gemm && !partial {
                // 1x1, stride 1, no padding: the tile's four pixels are
                // consecutive in the input.
                let src = seg(input, t * TP * g.in_c, TP * g.in_c);
                ext_tile(src, xbuf.get_mut(..xlen).unwrap_or(&mut []), g.in_c);
            } else {
                for pi in 0..TP {
                    let img = seg(input, b * img_len, img_len);
                    let slot = xbuf.get_mut(2 * pi..xlen).unwrap_or(&mut []);
                    if oy != cur_oy {
                        cur_oy = oy;
                        yr = tap_range(
                            oy,
                            g.win.stride[0],
                            g.win.padding[0],
                            g.win.dilation[0],
                            g.in_h,
                            g.k_h,
                        );
                    }
                    let (ky0, ky1, iy0) = yr;
                    let (kx0, kx1, ix0) = cols.get(ox);
                    let full = ky0 == 0 && ky1 == g.k_h && kx0 == 0 && kx1 == g.k_w;
                    if full && direct_rows {
                        // Each kernel row is one contiguous segment of whole
                        // groups: extend it straight from the input.
                        for ky in 0..g.k_h {
                            let iy = iy0 + ky * dil[0];
                            let at = iy * row_len + ix0 * g.in_c;
                            let d = slot.get_mut(ky * seg_groups * 8..).unwrap_or(&mut []);
                            let src = seg(img, at, kw_len);
                            if src.len() == kw_len {
                                ext_row(src, d, seg_groups);
                            } else {
                                // A row-padded segment running past the
                                // image: its real bytes through the int8
                                // row (its pad lanes meet zero weights).
                                let t = row.get_mut(..kw_len).unwrap_or(&mut []);
                                let n = seg_len.min(t.len());
                                copy_short(t.get_mut(..n).unwrap_or(&mut []), seg(img, at, n));
                                ext_row(t, d, seg_groups);
                            }
                        }
                    } else {
                        let dst = row.get_mut(..g.k_h * kw_len).unwrap_or(&mut []);
                        if !full {
                            dst.fill(g.pad_value);
                        }
                        if dil[1] == 1 {
                            // The valid kernel rows: `n` bytes each, `step`
                            // apart in the input and `kw_len` apart in the
                            // window row (offsets advanced by addition).
                            let n = (kx1 - kx0) * g.in_c;
                            let step = dil[0] * row_len;
                            let mut at = iy0 * row_len + ix0 * g.in_c;
                            let mut d_at = ky0 * kw_len + kx0 * g.in_c;
                            for _ in ky0..ky1 {
                                if let Some(d) = dst.get_mut(d_at..).and_then(|d| d.get_mut(..n)) {
                                    copy_short(d, seg(img, at, n));
                                }
                                at = at.saturating_add(step);
                                d_at = d_at.saturating_add(kw_len);
                            }
                        } else {
                            // Dilation across: never row-padded (`kw_len ==
                            // seg_len`, see `conv_rows_apply`).
                            for ky in ky0..ky1 {
                                let iy = iy0 + (ky - ky0) * dil[0];
                                let irow = seg(img, iy * row_len, row_len);
                                for kx in kx0..kx1 {
                                    let ix = ix0 + (kx - kx0) * dil[1];
                                    let d = (ky * g.k_w + kx) * g.in_c;
                                    if let Some(dd) = dst.get_mut(d..d + g.in_c) {
                                        copy_short(dd, seg(irow, ix * g.in_c, g.in_c));
                                    }
                                }
                            }
                        }
                        ext_row(row.get(..k_pad).unwrap_or(&[]), slot, k_pad / 4);
                    }
                    ox += 1;
                    if ox == g.out_w {
                        ox = 0;
                        oy += 1;
                        if oy == g.out_h {
                            oy = 0;
                            b += 1;
                        }
                    }
                }
            }
            let x: &[u32] = xbuf.get(..xlen).unwrap_or(&[]);
            let base = t * TP * g.out_c + oc0;
            if partial {
                // Only when every block is banded (`all_banded`).
                let r = part.get_mut(..TP * nb).unwrap_or(&mut []);
                if ext16 {
                    tile_block16(x, &w16, &cq, nb, r, nb);
                } else {
                    tile_block(x, wsrc, &cq, nb, r, nb);
                }
                for (k, src) in part.chunks_exact(nb.max(1)).take(last).enumerate() {
                    let o = base + k * g.out_c;
                    if let Some(d) = output.get_mut(o..o + nb) {
                        d.copy_from_slice(src);
                    }
                }
                continue;
            }
            let Some(region) = output.get_mut(base..base + (TP - 1) * g.out_c + nb) else {
                return 0;
            };
            if ext16 {
                tile_block16(x, &w16, &cq, nb, region, g.out_c);
                continue;
            }
            if banded {
                tile_block(x, wsrc, &cq, nb, region, g.out_c);
                continue;
            }
            let (o0, rest) = region.split_at_mut(g.out_c.min(region.len()));
            let (o1, rest) = rest.split_at_mut(g.out_c.min(rest.len()));
            let (o2, o3) = rest.split_at_mut(g.out_c.min(rest.len()));
            let outs = o0
                .iter_mut()
                .zip(o1.iter_mut())
                .zip(o2.iter_mut())
                .zip(o3.iter_mut());
            let ws = wsrc.chunks_exact(filter_len);
            for ((w, (c, q)), (((y0, y1), y2), y3)) in
                ws.zip(chans.iter().zip(cq.iter()).take(nb)).zip(outs)
            {
                let (a0, a1, a2, a3) = dot4_px(x, w, q[3] as i32);
                let v = if c.is_right() {
                    requant4_same(c, (a0, a1, a2, a3))
                } else {
                    (c.apply(a0), c.apply(a1), c.apply(a2), c.apply(a3))
                };
                let q = clamp4_pack(v, p.output_offset, lo4, hi4);
                *y0 = q as u8 as i8;
                *y1 = (q >> 8) as u8 as i8;
                *y2 = (q >> 16) as u8 as i8;
                *y3 = (q >> 24) as u8 as i8;
            }
        }
        oc0 += nb;
    }
    if all_banded {
        total_px
    } else {
        full_tiles * TP
    }
}

/// The `asm!` of [`tile_block`] and [`tile_block16`], given the
/// instructions of one group (the filter's four values into `{we}` (lanes
/// 0 and 2) and `{w}` (1 and 3), then eight `SMLAD` against two `LDM`s of
/// the four pixels). See `tile_block` for the layout and the SAFETY
/// argument.
#[cfg(mote_dsp)]
macro_rules! tile_asm {
    ($x:expr, $w:expr, $cq:expr, $out:expr, $os:expr, $wend:expr, $groups:expr, $($g:literal),* $(,)?) => {
        core::arch::asm!(
                // Frame: [out, out + 2·os, os, x, cq, wend, x end, groups % 8]
                // (the first three loaded by one LDM for the stores).
                "sub sp, sp, #32",
                "str {a1}, [sp]",
                "add r3, {a1}, {a2}, lsl #1",
                "str r3, [sp, #4]",
                "str {a2}, [sp, #8]",
                "str {px}, [sp, #12]",
                "str {a0}, [sp, #16]",
                "str {a3}, [sp, #20]",
                "and r3, r2, #7",
                "str r3, [sp, #28]",
                "add r2, {px}, r2, lsl #5",
                "str r2, [sp, #24]",
                "1:",
                "ldrd {px}, r0, [sp, #12]",
                "ldr {a0}, [r0, #12]",
                "mov {a1}, {a0}",
                "mov {a2}, {a0}",
                "mov {a3}, {a0}",
                // Eight groups per iteration; `groups % 8 = r > 0` enters
                // the body at its group `8 - r` (a byte table of half-word
                // offsets from its own start, indexed by r).
                "ldr {we}, [sp, #28]",
                "tbb [pc, {we}]",
                "8:",
                ".byte (2f - 8b) / 2",
                ".byte (17f - 8b) / 2",
                ".byte (16f - 8b) / 2",
                ".byte (15f - 8b) / 2",
                ".byte (14f - 8b) / 2",
                ".byte (13f - 8b) / 2",
                ".byte (12f - 8b) / 2",
                ".byte (11f - 8b) / 2",
                "2:",
                $($g,)*
                "11:",
                $($g,)*
                "12:",
                $($g,)*
                "13:",
                $($g,)*
                "14:",
                $($g,)*
                "15:",
                $($g,)*
                "16:",
                $($g,)*
                "17:",
                $($g,)*
                "ldr {we}, [sp, #24]",
                "cmp {px}, {we}",
                "bne 2b",
                // Requantise with cq[j] = [m, H, sh, be].
                "ldr {px}, [sp, #16]",
                "ldm {px}!, {{r0, r1, r2, r3}}",
                "str {px}, [sp, #16]",
                "add {we}, r1, {a0}, asr #31",
                "and {w}, {a0}, #0x80000000",
                "orr {w}, {w}, #0x40000000",
                "smlal {w}, {we}, {a0}, r0",
                "asr {a0}, {we}, r2",
                "ssat {a0}, #8, {a0}",
                "add {we}, r1, {a1}, asr #31",
                "and {w}, {a1}, #0x80000000",
                "orr {w}, {w}, #0x40000000",
                "smlal {w}, {we}, {a1}, r0",
                "asr {a1}, {we}, r2",
                "ssat {a1}, #8, {a1}",
                "add {we}, r1, {a2}, asr #31",
                "and {w}, {a2}, #0x80000000",
                "orr {w}, {w}, #0x40000000",
                "smlal {w}, {we}, {a2}, r0",
                "asr {a2}, {we}, r2",
                "ssat {a2}, #8, {a2}",
                "add {we}, r1, {a3}, asr #31",
                "and {w}, {a3}, #0x80000000",
                "orr {w}, {w}, #0x40000000",
                "smlal {w}, {we}, {a3}, r0",
                "asr {a3}, {we}, r2",
                "ssat {a3}, #8, {a3}",
                // Store the four pixels' bytes.
                "ldm sp, {{r0, r1, r2}}",
                "strb {a1}, [r0, r2]",
                "strb {a0}, [r0], #1",
                "strb {a3}, [r1, r2]",
                "strb {a2}, [r1], #1",
                "stm sp, {{r0, r1}}",
                // Until `pw` has passed the last filter.
                "ldr r2, [sp, #20]",
                "cmp {pw}, r2",
                "bne 1b",
                "add sp, sp, #32",
            px = inout(reg) $x => _,
            pw = inout(reg) $w => _,
            a0 = inout(reg) $cq => _,
            a1 = inout(reg) $out => _,
            a2 = inout(reg) $os => _,
            a3 = inout(reg) $wend => _,
            w = out(reg) _,
            we = out(reg) _,
            inout("r2") $groups => _,
            out("r0") _,
            out("r1") _,
            out("r3") _,
        )
    };
}

/// One tile's outputs for the `nb` filters of a block whose channels all
/// have band constants (`cq[j] = [m, H, e - 1, bias + off·Σw]`, see
/// `ChanRq::band_words`) and a full activation range: per filter, the
/// [`dot4_px`] sum over the `G = x.len() / 8` groups of the tile (`w` holds
/// the filters back to back, `4G` bytes each), requantised and saturated,
/// stored to `out[j]`, `out[os + j]`, `out[2os + j]`, `out[3os + j]`. On DSP
/// cores one `asm!` loop over the filters (its state in a stack frame).
/// Does nothing unless every read and write lies inside the slices.
#[inline(never)]
fn tile_block(x: &[u32], w: &[i8], cq: &[[u32; 4]; TOC], nb: usize, out: &mut [i8], os: usize) {
    let groups = x.len() / 8;
    if groups == 0 || nb == 0 || nb > TOC || w.len() < nb * 4 * groups || out.len() < 3 * os + nb {
        return;
    }
    #[cfg(not(mote_dsp))]
    for (j, (f, q)) in w
        .chunks_exact(4 * groups)
        .zip(cq.iter())
        .take(nb)
        .enumerate()
    {
        let (a0, a1, a2, a3) = dot4_px(x, f, q[3] as i32);
        let b = [q[0], q[1], q[2]];
        let v = [a0, a1, a2, a3].map(|a| super::band_one(&b, a) as i8);
        for (k, &y) in v.iter().enumerate() {
            if let Some(o) = out.get_mut(k * os + j) {
                *o = y;
            }
        }
    }
    #[cfg(mote_dsp)]
    {
        // SAFETY: the frame (32 bytes, 8-aligned) is pushed below `sp` and
        // popped before the block ends; no call is made. Per filter `j <
        // nb`: `groups` groups of 8 words of `x` (its length; the loop stops
        // when `px` reaches `x + 32·groups`) and 4 bytes of `w` are read
        // (`w.len() >= nb·4·groups`; the filters are back to back so `pw`
        // simply continues, and the filter loop ends when it reaches
        // `w + nb·4·groups`), then the 16 bytes of `cq[j]` (`nb <= TOC`);
        // bytes `j`, `os + j`, `2os + j`, `3os + j` of `out` are written
        // (`3os + nb <= out.len()`, through the pointers `out + j` and
        // `out + 2os + j` kept in the frame). LDM reads `x` and `cq` (4-byte
        // aligned `u32` arrays) and the frame into r0-r3. The flags are
        // clobbered; SSAT's Q flag is never read.
        unsafe {
            tile_asm!(
                x.as_ptr(),
                w.as_ptr(),
                cq.as_ptr(),
                out.as_mut_ptr(),
                os,
                w.as_ptr().wrapping_add(nb * 4 * groups),
                groups,
                "ldr {w}, [{pw}], #4",
                "sxtb16 {we}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "ldm {px}!, {{r0, r1, r2, r3}}",
                "smlad {a0}, r0, {we}, {a0}",
                "smlad {a0}, r1, {w}, {a0}",
                "smlad {a1}, r2, {we}, {a1}",
                "smlad {a1}, r3, {w}, {a1}",
                "ldm {px}!, {{r0, r1, r2, r3}}",
                "smlad {a2}, r0, {we}, {a2}",
                "smlad {a2}, r1, {w}, {a2}",
                "smlad {a3}, r2, {we}, {a3}",
                "smlad {a3}, r3, {w}, {a3}",
            );
        }
    }
}

/// [`tile_block`] over filters already sign-extended: `w` holds per filter
/// and group two words, the group's weights in `SXTB16` order (`(w0, w2)`,
/// `(w1, w3)`), so the loop loads them with one `LDRD` (eleven instructions
/// per 16 MACs instead of thirteen).
#[inline(never)]
fn tile_block16(x: &[u32], w: &[u32], cq: &[[u32; 4]; TOC], nb: usize, out: &mut [i8], os: usize) {
    let groups = x.len() / 8;
    if groups == 0 || nb == 0 || nb > TOC || w.len() < nb * 2 * groups || out.len() < 3 * os + nb {
        return;
    }
    #[cfg(not(mote_dsp))]
    for (j, (f, q)) in w
        .chunks_exact(2 * groups)
        .zip(cq.iter())
        .take(nb)
        .enumerate()
    {
        let lane = super::dot::lane16;
        let mut acc = [q[3] as i32; TP];
        for (xg, wg) in x.chunks_exact(8).zip(f.chunks_exact(2)) {
            for (a, px) in acc.iter_mut().zip(xg.chunks_exact(2)) {
                let mut s = 0i32;
                for (&xv, &wv) in px.iter().zip(wg) {
                    s += lane(xv, false) * lane(wv, false) + lane(xv, true) * lane(wv, true);
                }
                *a = a.wrapping_add(s);
            }
        }
        let b = [q[0], q[1], q[2]];
        for (k, &a) in acc.iter().enumerate() {
            if let Some(o) = out.get_mut(k * os + j) {
                *o = super::band_one(&b, a) as i8;
            }
        }
    }
    #[cfg(mote_dsp)]
    {
        // SAFETY: as for `tile_block`, with 8 bytes of `w` per group
        // (`w.len() >= nb·2·groups` words, the loop ending at word
        // `nb·2·groups`; a `u32` slice, 4-aligned for LDRD).
        unsafe {
            tile_asm!(
                x.as_ptr(),
                w.as_ptr(),
                cq.as_ptr(),
                out.as_mut_ptr(),
                os,
                w.as_ptr().wrapping_add(nb * 2 * groups),
                groups,
                "ldrd {we}, {w}, [{pw}], #8",
                "ldm {px}!, {{r0, r1, r2, r3}}",
                "smlad {a0}, r0, {we}, {a0}",
                "smlad {a0}, r1, {w}, {a0}",
                "smlad {a1}, r2, {we}, {a1}",
                "smlad {a1}, r3, {w}, {a1}",
                "ldm {px}!, {{r0, r1, r2, r3}}",
                "smlad {a2}, r0, {we}, {a2}",
                "smlad {a2}, r1, {w}, {a2}",
                "smlad {a3}, r2, {we}, {a3}",
                "smlad {a3}, r3, {w}, {a3}",
            );
        }
    }
}

/// Sign-extends four consecutive pixels of `c` channels (`c % 4 == 0`,
/// `src` holding `4c` bytes) into the [`dot4_px`] layout: group `g` of
/// pixel `p` to words `8g + 2p` (`(v0, v2)`) and `8g + 2p + 1` (`(v1, v3)`)
/// of `dst`. Does nothing unless `src` and `dst` hold that much.
#[inline(never)]
fn ext_tile(src: &[i8], dst: &mut [u32], c: usize) {
    let groups = c / 4;
    if groups == 0 || src.len() < 4 * c || dst.len() < 8 * groups {
        return;
    }
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        // SAFETY: per group `g < groups`, the words at byte `4g + p·c`
        // (`p < 4`, the last ending at `4c <= src.len()`) are read
        // (unaligned LDR is allowed for normal memory) and words `8g..8g+8`
        // of `dst` written (`8·groups <= dst.len()`; `u32` slice, 4-aligned
        // for STRD; r0/r1 the even pair A32 needs).
        unsafe {
            asm!(
                "2:",
                "ldr {t}, [{ps}]",
                "sxtb16 r0, {t}",
                "sxtb16 r1, {t}, ror #8",
                "strd r0, r1, [{pd}]",
                "ldr {t}, [{ps}, {c}]",
                "sxtb16 r0, {t}",
                "sxtb16 r1, {t}, ror #8",
                "strd r0, r1, [{pd}, #8]",
                "ldr {t}, [{ps}, {c}, lsl #1]",
                "sxtb16 r0, {t}",
                "sxtb16 r1, {t}, ror #8",
                "strd r0, r1, [{pd}, #16]",
                "ldr {t}, [{ps}, {c3}]",
                "sxtb16 r0, {t}",
                "sxtb16 r1, {t}, ror #8",
                "strd r0, r1, [{pd}, #24]",
                "add {ps}, {ps}, #4",
                "add {pd}, {pd}, #32",
                "subs {n}, {n}, #1",
                "bne 2b",
                ps = inout(reg) src.as_ptr() => _,
                pd = inout(reg) dst.as_mut_ptr() => _,
                n = inout(reg) groups => _,
                c = in(reg) c,
                c3 = in(reg) 3 * c,
                t = out(reg) _,
                out("r0") _,
                out("r1") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(mote_dsp))]
    for (g, d) in dst.chunks_exact_mut(8).take(groups).enumerate() {
        for (p, pd) in d.chunks_exact_mut(2).enumerate() {
            let (e, o) = super::dot::ext_pair(seg(src, p * c + 4 * g, 4));
            pd[0] = e;
            pd[1] = o;
        }
    }
}

/// `dst.copy_from_slice(src)` for the short window rows of the tiled path
/// (word copies instead of a `memcpy` call). Lengths must be equal; if
/// they differ, the bytes copied are unspecified (never out of bounds).
#[inline(always)]
fn copy_short(dst: &mut [i8], src: &[i8]) {
    if dst.len() > 64 && dst.len() == src.len() {
        dst.copy_from_slice(src);
        return;
    }
    let mut d = dst.chunks_exact_mut(4);
    let mut s = src.chunks_exact(4);
    for (a, b) in (&mut d).zip(&mut s) {
        a.copy_from_slice(b);
    }
    for (a, b) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *a = *b;
    }
}
