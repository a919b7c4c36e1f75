//! Optimised twin of [`crate::conv2d_s8`].

use super::dot::{dot, dot2, dot2_off, dot_off, sum};
use super::{seg, tap_range};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, Dims4};

/// Output channels whose full-kernel weight sums are kept on the stack.
const OC_BLOCK: usize = 32;

/// Optimised [`crate::conv2d_s8`]: same signature, validation and results
/// bit for bit. Non-grouped convolutions run as contiguous dot products over
/// each output pixel's valid window (one `valid_kw * C` row segment per
/// kernel row when the horizontal dilation is 1), two output channels at a
/// time; grouped convolutions use the reference kernel.
#[allow(clippy::too_many_arguments)]
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

    let mut oc0 = 0;
    while oc0 < out_c {
        let nb = (out_c - oc0).min(OC_BLOCK);
        // bias + off * Σw over the whole kernel, for fully-inside windows.
        let mut full_bias = [0i32; OC_BLOCK];
        for (j, fb) in full_bias.iter_mut().enumerate().take(nb) {
            let oc = oc0 + j;
            let w = seg(filter, oc * filter_len, filter_len);
            let b = bias.get(oc).copied().unwrap_or(0);
            *fb = b.wrapping_add(off.wrapping_mul(sum(w)));
        }
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
                    let ob = ((b * out_h + oy) * out_w + ox) * out_c + oc0;
                    let Some(out_px) = output.get_mut(ob..ob + nb) else {
                        return Err(KernelError::BufferLength);
                    };
                    let n = (kx1 - kx0) * in_c;
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
                        let v0 = rq
                            .apply(a0.wrapping_add(b0), oc)
                            .wrapping_add(p.output_offset);
                        out_px[j] = clamp_to_i8(v0, p.act_min, p.act_max);
                        if pair {
                            let v1 = rq
                                .apply(a1.wrapping_add(b1), oc + 1)
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
