//! x86_64 twin of [`crate::conv2d_s8`].

use super::simd::{dot4x2, has_avx2, Finish};
use super::{widen, KMAX, OCMAX, OFF_MAX};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::fast::tap_range;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, Dims4};

/// Output pixels computed per pass over the filter.
const PIXELS: usize = 4;

/// [`crate::conv2d_s8`] on x86_64: same signature, validation and results bit
/// for bit. Non-grouped convolutions with at most [`KMAX`] taps run four
/// output pixels at a time as 16-bit dot products (AVX2), two output channels
/// per pass; every other call goes to [`crate::fast::conv2d_s8_fast`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d_s8_x86(
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
    if has_avx2() {
        if let Some(g) = Geom::plan(p, rq, input_dims, filter_dims, output_dims, bias) {
            if check_len(input.len(), input_dims).is_ok()
                && check_len(filter.len(), filter_dims).is_ok()
                && check_len(output.len(), output_dims).is_ok()
                && !output.is_empty()
            {
                // SAFETY: the CPU supports AVX2 (checked above).
                unsafe { conv_avx2(&g, p, rq, input, filter, bias, output) };
                return Ok(());
            }
        }
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

/// A convolution the vector path covers.
struct Geom {
    win: Window,
    in_h: usize,
    in_w: usize,
    in_c: usize,
    k_h: usize,
    k_w: usize,
    out_h: usize,
    out_w: usize,
    out_c: usize,
    /// Output pixels over all batches.
    pixels: usize,
    /// Filter taps per output channel.
    taps: usize,
}

impl Geom {
    /// The geometry if every check the reference makes passes and the call
    /// is one the vector path covers (`None` otherwise).
    fn plan(
        p: &ConvParams,
        rq: &Requant,
        input_dims: Dims4,
        filter_dims: Dims4,
        output_dims: Dims4,
        bias: &[i32],
    ) -> Option<Self> {
        let [batches, in_h, in_w, in_c] = input_dims;
        let [out_c, k_h, k_w, f_c] = filter_dims;
        let [o_n, out_h, out_w, o_c] = output_dims;
        let taps = k_h.checked_mul(k_w)?.checked_mul(in_c)?;
        let ok = o_n == batches
            && o_c == out_c
            && f_c == in_c
            && in_c > 0
            && out_c > 0
            && (bias.is_empty() || bias.len() == out_c)
            && taps <= KMAX
            && out_c <= OCMAX
            && (-OFF_MAX..=OFF_MAX).contains(&p.input_offset)
            && check_act_range(p.act_min, p.act_max).is_ok()
            && rq.validate(out_c).is_ok();
        if !ok {
            return None;
        }
        let win = Window::new(p.stride, p.dilation, p.padding).ok()?;
        let pixels = batches.checked_mul(out_h)?.checked_mul(out_w)?;
        Some(Self {
            win,
            in_h,
            in_w,
            in_c,
            k_h,
            k_w,
            out_h,
            out_w,
            out_c,
            pixels,
            taps,
        })
    }

    /// Writes output pixel `px`'s window into `row` (`taps` long): `x + off`
    /// for taps inside the input, 0 for taps in the padding.
    fn im2col(&self, row: &mut [i16], input: &[i8], px: usize, off: i16) {
        let ow = self.out_w.max(1);
        let oh = self.out_h.max(1);
        let (ox, rest) = (px % ow, px / ow);
        let (oy, b) = (rest % oh, rest / oh);
        let w = &self.win;
        let (ky0, ky1, iy0) = tap_range(
            oy,
            w.stride[0],
            w.padding[0],
            w.dilation[0],
            self.in_h,
            self.k_h,
        );
        let (kx0, kx1, ix0) = tap_range(
            ox,
            w.stride[1],
            w.padding[1],
            w.dilation[1],
            self.in_w,
            self.k_w,
        );
        if !(ky0 == 0 && ky1 == self.k_h && kx0 == 0 && kx1 == self.k_w) {
            row.fill(0);
        }
        let c = self.in_c;
        let row_len = self.in_w * c;
        let img = b * self.in_h * row_len;
        let (dy, dx) = (w.dilation[0] as usize, w.dilation[1] as usize);
        for ky in ky0..ky1 {
            let iy = iy0 + (ky - ky0) * dy;
            let src_row = img + iy * row_len;
            if dx == 1 {
                let n = (kx1 - kx0) * c;
                let s = src_row + ix0 * c;
                let d = (ky * self.k_w + kx0) * c;
                if let (Some(src), Some(dst)) = (input.get(s..s + n), row.get_mut(d..d + n)) {
                    widen(dst, src, off);
                }
            } else {
                for kx in kx0..kx1 {
                    let s = src_row + (ix0 + (kx - kx0) * dx) * c;
                    let d = (ky * self.k_w + kx) * c;
                    if let (Some(src), Some(dst)) = (input.get(s..s + c), row.get_mut(d..d + c)) {
                        widen(dst, src, off);
                    }
                }
            }
        }
    }
}

/// The vector path over validated buffers.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn conv_avx2(
    g: &Geom,
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    output: &mut [i8],
) {
    let kk = g.taps;
    let kp = kk.div_ceil(16) * 16;
    let oc_n = g.out_c;
    // Four rows of `kp`; the tails past `kk` stay 0.
    let mut buf = [0i16; PIXELS * KMAX];
    // The tile's accumulators, pixel-major, before requantisation.
    let mut accs = [0i32; PIXELS * OCMAX];
    let off = p.input_offset as i16; // |off| <= OFF_MAX
    let fin = Finish {
        bias,
        rq,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
    };
    let vector = fin.vector_ok();
    let mut t = 0;
    while t < g.pixels {
        let n = (g.pixels - t).min(PIXELS);
        for (i, row) in buf.chunks_exact_mut(kp).take(PIXELS).enumerate() {
            if i < n {
                g.im2col(&mut row[..kk], input, t + i, off);
            } else {
                row.fill(0);
            }
        }
        let mut rows = buf.chunks_exact(kp);
        let r = [(); PIXELS].map(|_| rows.next().unwrap_or(&[]));
        let mut oc = 0;
        while oc < oc_n {
            let oc1 = (oc + 1).min(oc_n - 1);
            let d = dot4x2(r, kp, filter, [oc * kk, oc1 * kk]);
            let width = if oc1 == oc { 1 } else { 2 };
            for (i, di) in d.chunks_exact(2).enumerate() {
                let a = i * oc_n + oc;
                if let (Some(a), Some(v)) = (accs.get_mut(a..a + width), di.get(..width)) {
                    a.copy_from_slice(v);
                }
            }
            oc += 2;
        }
        for (i, acc) in accs.chunks_exact(oc_n).take(n).enumerate() {
            let o = (t + i) * oc_n;
            if let Some(out) = output.get_mut(o..o + oc_n) {
                fin.row(acc, out, vector);
            }
        }
        t += n;
    }
}
