//! x86_64 twin of [`crate::depthwise_conv2d_s8`].

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_cvtepi8_epi32, _mm256_mullo_epi32, _mm256_set1_epi32,
    _mm256_setzero_si256, _mm256_storeu_si256, _mm_loadl_epi64,
};

use super::simd::{has_avx2, Finish};
use super::{OCMAX, OFF_MAX};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::fast::tap_range;
use crate::padded::{plain_depthwise, Padded, Walk};
use crate::requant::Requant;
use crate::shape::Dims4;

/// [`crate::depthwise_conv2d_s8`] on x86_64: same signature, validation and
/// results bit for bit. With depth multiplier 1 and at most [`OCMAX`]
/// channels, eight channels at a time accumulate `(x + off)·w` over the
/// taps inside the input in 32-bit lanes (AVX2); every other call goes to
/// [`crate::fast::depthwise_conv2d_s8_fast`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_s8_x86(
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
    .filter(|_| has_avx2() && (-OFF_MAX..=OFF_MAX).contains(&p.input_offset));
    if let Some(win) = win {
        let args = Args {
            win: &win,
            p,
            rq,
            input,
            input_dims,
            filter,
            filter_dims,
            bias,
            output_dims,
        };
        // SAFETY: the CPU supports AVX2 (checked above).
        let done = unsafe {
            dw_padded::<{ 16 * 1024 }>(&args, output) || dw_padded::<{ 64 * 1024 }>(&args, output)
        };
        if done {
            return Ok(());
        }
        // SAFETY: the CPU supports AVX2 (checked above).
        unsafe {
            dw_avx2(
                &win,
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
        };
        return Ok(());
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

/// Eight int8 values at `s[at..at + 8]` sign-extended to 32-bit lanes, or
/// `None` past the end of `s`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load8(s: &[i8], at: usize) -> Option<__m256i> {
    let v = s.get(at..at.saturating_add(8))?;
    // 8 readable bytes.
    Some(_mm256_cvtepi8_epi32(_mm_loadl_epi64(v.as_ptr().cast())))
}

/// The vector path over validated buffers (depth multiplier 1).
///
/// # Safety
/// The CPU must support AVX2.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn dw_avx2(
    win: &Window,
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[i8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) {
    let [_, in_h, in_w, c_n] = input_dims;
    let [_, k_h, k_w, _] = filter_dims;
    let [_, out_h, out_w, _] = output_dims;
    let mut accs = [0i32; OCMAX];
    let acc = accs.get_mut(..c_n).unwrap_or(&mut []);
    let fin = Finish {
        bias,
        rq,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
    };
    let vector = fin.vector_ok();
    let off = p.input_offset;
    let voff = _mm256_set1_epi32(off);
    let row_len = in_w.saturating_mul(c_n);
    let (dy, dx) = (win.dilation[0] as usize, win.dilation[1] as usize);
    for (pix, out) in output.chunks_exact_mut(c_n).enumerate() {
        let ox = pix % out_w.max(1);
        let oy = (pix / out_w.max(1)) % out_h.max(1);
        let b = pix / (out_w.max(1) * out_h.max(1));
        let (ky0, ky1, iy0) = tap_range(
            oy,
            win.stride[0],
            win.padding[0],
            win.dilation[0],
            in_h,
            k_h,
        );
        let (kx0, kx1, ix0) = tap_range(
            ox,
            win.stride[1],
            win.padding[1],
            win.dilation[1],
            in_w,
            k_w,
        );
        let img = b * in_h * row_len;
        let mut c = 0;
        while c + 8 <= c_n {
            let mut a = _mm256_setzero_si256();
            for ky in ky0..ky1 {
                let row = img + (iy0 + (ky - ky0) * dy) * row_len;
                for kx in kx0..kx1 {
                    let x_at = row + (ix0 + (kx - kx0) * dx) * c_n + c;
                    let w_at = (ky * k_w + kx) * c_n + c;
                    if let (Some(x), Some(w)) = (load8(input, x_at), load8(filter, w_at)) {
                        let x = _mm256_add_epi32(x, voff);
                        a = _mm256_add_epi32(a, _mm256_mullo_epi32(x, w));
                    }
                }
            }
            if let Some(dst) = acc.get_mut(c..c + 8) {
                _mm256_storeu_si256(dst.as_mut_ptr().cast(), a);
            }
            c += 8;
        }
        // Channels past the last group of eight, scalar.
        for (ch, a) in acc.iter_mut().enumerate().skip(c) {
            let mut s = 0i32;
            for ky in ky0..ky1 {
                let row = img + (iy0 + (ky - ky0) * dy) * row_len;
                for kx in kx0..kx1 {
                    let x_at = row + (ix0 + (kx - kx0) * dx) * c_n + ch;
                    let w_at = (ky * k_w + kx) * c_n + ch;
                    if let (Some(&x), Some(&w)) = (input.get(x_at), filter.get(w_at)) {
                        s = s.wrapping_add(
                            i32::from(x).wrapping_add(off).wrapping_mul(i32::from(w)),
                        );
                    }
                }
            }
            *a = s;
        }
        fin.row(acc, out, vector);
    }
}

/// A validated depthwise call (depth multiplier 1), output aside.
struct Args<'a> {
    win: &'a Window,
    p: &'a ConvParams,
    rq: &'a Requant<'a>,
    input: &'a [i8],
    input_dims: Dims4,
    filter: &'a [i8],
    filter_dims: Dims4,
    bias: &'a [i32],
    output_dims: Dims4,
}

/// The padded path: each batch image copied once into `I` bytes with its
/// padding filled with the input zero point (so `x + off` is 0 there), then
/// every tap read without a bounds test. Returns `false`, having written
/// nothing, if the image does not fit or the zero point is not an int8.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dw_padded<const I: usize>(a: &Args, output: &mut [i8]) -> bool {
    let [batches, in_h, in_w, c_n] = a.input_dims;
    let [_, k_h, k_w, _] = a.filter_dims;
    let [_, out_h, out_w, _] = a.output_dims;
    let Ok(pad_value) = i8::try_from(a.p.input_offset.wrapping_neg()) else {
        return false;
    };
    let Some(pd) = Padded::new(a.win, [out_h, out_w], [k_h, k_w], c_n) else {
        return false;
    };
    let Some(lanes) = pd.lanes().filter(|&l| l <= I) else {
        return false;
    };
    // The padded geometry covers every tap of every output position, so
    // tap `(ky, kx)` of position `(oy, ox)` lies within the first
    // `ph * pw * c` bytes, and the filter holds `k_h * k_w * c`.
    let taps = k_h * k_w;
    if a.filter.len() < taps * c_n || output.len() != batches * out_h * out_w * c_n {
        return false;
    }
    let mut buf = [0i8; I];
    let img = buf.get_mut(..lanes).unwrap_or(&mut []);
    let mut accs = [0i32; OCMAX];
    let acc = accs.get_mut(..c_n).unwrap_or(&mut []);
    let fin = Finish {
        bias: a.bias,
        rq: a.rq,
        output_offset: a.p.output_offset,
        act_min: a.p.act_min,
        act_max: a.p.act_max,
    };
    let vector = fin.vector_ok();
    let voff = _mm256_set1_epi32(a.p.input_offset);
    let off = a.p.input_offset;
    let line = pd.pw * c_n;
    let (dy, dx) = (a.win.dilation[0] as usize, a.win.dilation[1] as usize);
    let mut outs = output.chunks_exact_mut(c_n);
    for b in 0..batches {
        pd.fill_s8(img, a.input, b, [in_h, in_w], a.win.padding, pad_value);
        let mut walk = Walk {
            oy: 0,
            ox: 0,
            ow: out_w,
            row_step: a.win.stride[0] as usize * line,
            col_step: a.win.stride[1] as usize * c_n,
        };
        let ip = img.as_ptr();
        let wp = a.filter.as_ptr();
        for _ in 0..out_h * out_w {
            let base = walk.next_base();
            let mut c = 0;
            while c + 8 <= c_n {
                let mut s = _mm256_setzero_si256();
                for ky in 0..k_h {
                    let row = base + ky * dy * line + c;
                    let wrow = ky * k_w * c_n + c;
                    for kx in 0..k_w {
                        // In bounds: see above.
                        let x = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
                            ip.add(row + kx * dx * c_n).cast(),
                        ));
                        let w =
                            _mm256_cvtepi8_epi32(_mm_loadl_epi64(wp.add(wrow + kx * c_n).cast()));
                        s = _mm256_add_epi32(s, _mm256_mullo_epi32(_mm256_add_epi32(x, voff), w));
                    }
                }
                if let Some(dst) = acc.get_mut(c..c + 8) {
                    _mm256_storeu_si256(dst.as_mut_ptr().cast(), s);
                }
                c += 8;
            }
            // Channels past the last group of eight, scalar.
            for (ch, slot) in acc.iter_mut().enumerate().skip(c) {
                let mut s = 0i32;
                for ky in 0..k_h {
                    for kx in 0..k_w {
                        let at = base + ky * dy * line + kx * dx * c_n + ch;
                        let wt = (ky * k_w + kx) * c_n + ch;
                        if let (Some(&x), Some(&w)) = (img.get(at), a.filter.get(wt)) {
                            s = s.wrapping_add(
                                i32::from(x).wrapping_add(off).wrapping_mul(i32::from(w)),
                            );
                        }
                    }
                }
                *slot = s;
            }
            if let Some(out) = outs.next() {
                fin.row(acc, out, vector);
            }
        }
    }
    true
}
