//! Helium twin of [`crate::conv2d_s8`].

use super::vec::{copy, dot, dot2, sum, Scales};
use super::{KMAX, OCMAX};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::fast::{requant, tap_range};
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, Dims4};

/// [`crate::conv2d_s8`] on Helium: same signature, validation and results bit
/// for bit. Non-grouped convolutions with windows of at most [`KMAX`] taps,
/// at most [`OCMAX`] output channels and an int8 input zero point run one
/// `VMLADAVA` dot product per pixel and output channel (two channels per
/// pass over the window); every other call goes to
/// [`crate::fast::conv2d_s8_fast`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d_s8_mve(
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
    let [batches, _, _, in_c] = input_dims;
    let [out_c, k_h, k_w, f_c] = filter_dims;
    let [o_n, _, _, o_c] = output_dims;
    let taps = k_h.saturating_mul(k_w).saturating_mul(in_c);
    let pad_value = i8::try_from(p.input_offset.wrapping_neg()).ok();
    let covered = o_n == batches
        && o_c == out_c
        && f_c == in_c
        && in_c > 0
        && k_h > 0
        && k_w > 0
        && (1..=OCMAX).contains(&out_c)
        && taps <= KMAX
        && (bias.is_empty() || bias.len() == out_c)
        && pad_value.is_some()
        && check_len(input.len(), input_dims).is_ok()
        && check_len(filter.len(), filter_dims).is_ok()
        && check_len(output.len(), output_dims).is_ok()
        && !output.is_empty()
        && check_act_range(p.act_min, p.act_max).is_ok()
        && rq.validate(out_c).is_ok();
    if let (true, Some(pv), Ok(win)) = (
        covered,
        pad_value,
        Window::new(p.stride, p.dilation, p.padding),
    ) {
        conv(
            p,
            &win,
            pv,
            rq,
            input,
            input_dims,
            filter,
            filter_dims,
            bias,
            output,
            output_dims,
        );
        return Ok(());
    }
    crate::fast::conv2d_s8_fast(
        p,
        rq,
        input,
        input_dims,
        filter,
        filter_dims,
        bias,
        output,
        output_dims,
    )
}

/// The covered case over validated buffers.
#[allow(clippy::too_many_arguments)]
fn conv(
    p: &ConvParams,
    win: &Window,
    pad_value: i8,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[i8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) {
    let [_, in_h, in_w, c] = input_dims;
    let [out_c, k_h, k_w, _] = filter_dims;
    let [_, out_h, out_w, _] = output_dims;
    let kk = k_h * k_w * c;
    let off = p.input_offset;
    // bias + off·Σw: with the padding holding the zero point, every
    // window's `Σ w·(x + off)` is `Σ w·x` plus this.
    let mut folded = [0i32; OCMAX];
    for (oc, (f, w)) in folded
        .iter_mut()
        .zip(filter.chunks_exact(kk.max(1)))
        .enumerate()
    {
        let b = bias.get(oc).copied().unwrap_or(0);
        *f = b.wrapping_add(off.wrapping_mul(sum(w)));
    }
    let finish = |acc: i32, oc: usize| -> i8 {
        let v = requant(rq, acc, oc).wrapping_add(p.output_offset);
        clamp_to_i8(v, p.act_min, p.act_max)
    };
    let mut buf = [0i8; KMAX];
    let mut accs = [0i32; OCMAX];
    let lanes = Scales::new(rq, 0, out_c);
    let row_len = in_w.saturating_mul(c);
    let (dy, dx) = (win.dilation[0] as usize, win.dilation[1] as usize);
    let mut outs = output.chunks_exact_mut(out_c);
    for b in 0..output_dims[0] {
        let img = b * in_h * row_len;
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
                let at = img + iy0 * row_len + ix0 * c;
                let x: &[i8] = if full && k_h == 1 && k_w == 1 {
                    // 1x1: the pixel's channels are the window.
                    input.get(at..at + c).unwrap_or(&[])
                } else {
                    let w = buf.get_mut(..kk).unwrap_or(&mut []);
                    if !full {
                        w.fill(pad_value);
                    }
                    for ky in ky0..ky1 {
                        let row = img + (iy0 + (ky - ky0) * dy) * row_len;
                        if dx == 1 {
                            let n = (kx1 - kx0) * c;
                            let (s, d) = (row + ix0 * c, (ky * k_w + kx0) * c);
                            if let (Some(src), Some(dst)) =
                                (input.get(s..s + n), w.get_mut(d..d + n))
                            {
                                copy(dst, src);
                            }
                        } else {
                            for kx in kx0..kx1 {
                                let s = row + (ix0 + (kx - kx0) * dx) * c;
                                let d = (ky * k_w + kx) * c;
                                if let (Some(src), Some(dst)) =
                                    (input.get(s..s + c), w.get_mut(d..d + c))
                                {
                                    copy(dst, src);
                                }
                            }
                        }
                    }
                    w
                };
                let Some(out) = outs.next() else {
                    return;
                };
                let mut rows = filter.chunks_exact(kk.max(1));
                let mut oc = 0;
                while oc + 1 < out_c {
                    let (Some(w0), Some(w1)) = (rows.next(), rows.next()) else {
                        break;
                    };
                    let (d0, d1) = dot2(x, w0, w1);
                    if let (Some(a), Some(f)) = (accs.get_mut(oc..oc + 2), folded.get(oc..oc + 2)) {
                        a[0] = d0.wrapping_add(f[0]);
                        a[1] = d1.wrapping_add(f[1]);
                    }
                    oc += 2;
                }
                if let (Some(w0), Some(a), Some(&f)) =
                    (rows.next(), accs.get_mut(oc), folded.get(oc))
                {
                    *a = dot(x, w0).wrapping_add(f);
                }
                let acc = accs.get(..out_c).unwrap_or(&[]);
                match &lanes {
                    Some(q) => q.apply(acc, p.output_offset, p.act_min, p.act_max, out),
                    None => {
                        for (oc, (y, &a)) in out.iter_mut().zip(acc).enumerate() {
                            *y = finish(a, oc);
                        }
                    }
                }
            }
        }
    }
}
