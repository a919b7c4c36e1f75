//! Helium twin of [`crate::depthwise_conv2d_s8`].

use core::arch::asm;

use super::vec::Scales;
use super::OCMAX;
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::fast::requant;
use crate::padded::{plain_depthwise, Padded, Walk};
use crate::requant::Requant;
use crate::shape::{clamp_to_i8, Dims4};

/// Largest padded image (bytes) the twin copies to its stack buffer.
const IMG_MAX: usize = 12 * 1024;

/// Most filter taps (`KH * KW`) the twin takes.
const TAPS_MAX: usize = 64;

/// [`crate::depthwise_conv2d_s8`] on Helium: same signature, validation and
/// results bit for bit. With depth multiplier 1, an int8 input zero point,
/// at most [`OCMAX`] channels, [`TAPS_MAX`] taps and a padded image of
/// [`IMG_MAX`] bytes, the image is copied once with the zero point in its
/// padding, and eight channels at a time accumulate `x·w` over every tap
/// (`VMULLB`/`VMULLT.S16`, the offset term `off·Σ w` folded into the bias);
/// every other call goes to [`crate::fast::depthwise_conv2d_s8_fast`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_s8_mve(
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
    let [_, k_h, k_w, _] = filter_dims;
    let lens = [input.len(), filter.len(), output.len()];
    let win = plain_depthwise(
        p,
        depth_multiplier,
        rq,
        lens,
        input_dims,
        filter_dims,
        bias,
        output_dims,
        OCMAX,
    )
    .filter(|_| (1..=TAPS_MAX).contains(&k_h.saturating_mul(k_w)));
    if let Some(win) = win {
        if padded(
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
        ) {
            return Ok(());
        }
    }
    crate::fast::depthwise_conv2d_s8_fast(
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
    )
}

/// The covered case over validated buffers; `false`, having written
/// nothing, if the padded image does not fit or the zero point is not an
/// int8.
#[allow(clippy::too_many_arguments)]
fn padded(
    p: &ConvParams,
    win: &Window,
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
    let Ok(pad_value) = i8::try_from(p.input_offset.wrapping_neg()) else {
        return false;
    };
    let Some(pd) = Padded::new(win, [out_h, out_w], [k_h, k_w], c_n) else {
        return false;
    };
    let Some(lanes) = pd.lanes().filter(|&l| l <= IMG_MAX) else {
        return false;
    };
    let taps = k_h * k_w;
    if filter.len() != taps * c_n {
        return false;
    }
    let line = pd.pw * c_n;
    let (dy, dx) = (win.dilation[0] as usize, win.dilation[1] as usize);
    // Tap t's first byte relative to a window's top-left tap. The padded
    // geometry covers every tap of every output position, so each
    // `base + offs[t] + c + 8 <= ph * pw * c_n` for `c + 8 <= c_n`.
    let mut offs = [0u32; TAPS_MAX];
    for (t, o) in offs.iter_mut().take(taps).enumerate() {
        let Ok(v) = u32::try_from((t / k_w) * dy * line + (t % k_w) * dx * c_n) else {
            return false;
        };
        *o = v;
    }
    // bias + off·Σ_t w: with the padding holding the zero point, every
    // window's `Σ w·(x + off)` is `Σ w·x` plus this.
    let off = p.input_offset;
    let mut folded = [0i32; OCMAX];
    for (c, f) in folded.iter_mut().take(c_n).enumerate() {
        let s = filter
            .iter()
            .skip(c)
            .step_by(c_n)
            .fold(0i32, |s, &w| s.wrapping_add(i32::from(w)));
        *f = bias
            .get(c)
            .copied()
            .unwrap_or(0)
            .wrapping_add(off.wrapping_mul(s));
    }
    let scales = Scales::new(rq, 0, c_n);
    let mut img = [0i8; IMG_MAX];
    let img = img.get_mut(..lanes).unwrap_or(&mut []);
    let mut acc = [0i32; OCMAX];
    let acc = acc.get_mut(..c_n).unwrap_or(&mut []);
    let mut outs = output.chunks_exact_mut(c_n);
    for b in 0..batches {
        pd.fill_s8(img, input, b, [in_h, in_w], win.padding, pad_value);
        let mut walk = Walk {
            oy: 0,
            ox: 0,
            ow: out_w,
            row_step: win.stride[0] as usize * line,
            col_step: win.stride[1] as usize * c_n,
        };
        for _ in 0..out_h * out_w {
            let base = walk.next_base();
            let mut c = 0;
            while c + 8 <= c_n {
                // SAFETY: see `eight`.
                unsafe { eight(img, base + c, &offs[..taps], filter, c, c_n, &folded, acc) };
                c += 8;
            }
            for (ch, a) in acc.iter_mut().enumerate().skip(c) {
                let mut s = folded.get(ch).copied().unwrap_or(0);
                for (t, &o) in offs.iter().take(taps).enumerate() {
                    let x = img.get(base + o as usize + ch).copied().unwrap_or(0);
                    let w = filter.get(t * c_n + ch).copied().unwrap_or(0);
                    s = s.wrapping_add(i32::from(x).wrapping_mul(i32::from(w)));
                }
                *a = s;
            }
            let Some(out) = outs.next() else {
                return true;
            };
            match &scales {
                Some(q) => q.apply(acc, p.output_offset, p.act_min, p.act_max, out),
                None => {
                    for (c, (y, &a)) in out.iter_mut().zip(acc.iter()).enumerate() {
                        let v = requant(rq, a, c).wrapping_add(p.output_offset);
                        *y = clamp_to_i8(v, p.act_min, p.act_max);
                    }
                }
            }
        }
    }
    true
}

/// `acc[c..c + 8] = folded[c..c + 8] + Σ_t img[at + offs[t] + i] ·
/// filter[t * stride + c + i]`: both int8 operands widened to 16 bits by the
/// loads, products by `VMULLB`/`VMULLT.S16` (even and odd channels) into two
/// 32-bit accumulators started from the folded bias with `VLD20/21`, and
/// stored back in channel order with `VST20/21`. The widening loads take
/// only low base registers, hence r1 and r2.
///
/// # Safety
/// `at + offs[t] + 8 <= img.len()` for every `t`, `c + 8 <= stride`,
/// `filter.len() >= offs.len() * stride`, and `folded` and `acc` hold
/// `c + 8` entries (the caller's padded geometry guarantees the first).
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn eight(
    img: &[i8],
    at: usize,
    offs: &[u32],
    filter: &[i8],
    c: usize,
    stride: usize,
    folded: &[i32],
    acc: &mut [i32],
) {
    let n = offs.len();
    if n == 0 {
        return;
    }
    asm!(
        "vld20.32 {{q2, q3}}, [{f}]",
        "vld21.32 {{q2, q3}}, [{f}]",
        "dls lr, {n}",
        "2:",
        "ldr r1, [{offs}], #4",
        "add r1, r1, {x}",
        "vldrb.s16 q0, [r1]",
        "vldrb.s16 q1, [r2]",
        "add r2, r2, {stride}",
        "vmullb.s16 q4, q0, q1",
        "vadd.i32 q2, q2, q4",
        "vmullt.s16 q4, q0, q1",
        "vadd.i32 q3, q3, q4",
        "le lr, 2b",
        "vst20.32 {{q2, q3}}, [{a}]",
        "vst21.32 {{q2, q3}}, [{a}]",
        n = in(reg) n,
        f = in(reg) folded.as_ptr().add(c),
        offs = inout(reg) offs.as_ptr() => _,
        out("r1") _,
        x = in(reg) img.as_ptr().add(at),
        inout("r2") filter.as_ptr().add(c) => _,
        stride = in(reg) stride,
        a = in(reg) acc.as_mut_ptr().add(c),
        out("lr") _,
        out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
        out("d6") _, out("d7") _, out("d8") _, out("d9") _,
        options(nostack)
    );
}
