//! x86_64 twin of [`crate::conv2d_s8`].

use super::simd::{dot4x2, has_avx2, Finish, WinDot};
use super::window::copy16;
use super::{widen, KMAX, OCMAX, OFF_MAX};
use crate::conv::{ConvParams, Window};
use crate::error::KernelError;
use crate::fast::tap_range;
use crate::padded::{Padded, Walk, SLACK};
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, Dims4};

/// Output pixels computed per pass over the filter.
const PIXELS: usize = 4;

/// Taps (rounded up to 16) and output channels of the calls that run with
/// small stack buffers.
const SMALL_TAPS: usize = 320;
/// See [`SMALL_TAPS`].
const SMALL_OC: usize = 64;
/// Padded-image lanes of the calls with a small image buffer.
const SMALL_IMG: usize = 16 * 1024;
/// Largest padded image (lanes) widened up front; larger inputs are
/// gathered tap by tap from the int8 input.
const IMG_MAX: usize = 64 * 1024;

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
                let small = g.taps <= SMALL_TAPS && g.out_c <= SMALL_OC;
                let img = Padded::new(&g.win, [g.out_h, g.out_w], [g.k_h, g.k_w], g.in_c)
                    .and_then(|pd| pd.lanes())
                    .unwrap_or(usize::MAX);
                const SB: usize = PIXELS * (SMALL_TAPS + SLACK);
                const SA: usize = PIXELS * SMALL_OC;
                const LB: usize = PIXELS * (KMAX + SLACK);
                const LA: usize = PIXELS * OCMAX;
                // Stack buffers sized for the call: zeroing the largest ones
                // costs more than a small layer's arithmetic.
                // SAFETY: the CPU supports AVX2 (checked above).
                unsafe {
                    let direct =
                        match Padded::new(&g.win, [g.out_h, g.out_w], [g.k_h, g.k_w], g.in_c) {
                            Some(pd) => {
                                conv_direct::<{ 16 * 1024 }, 256>(
                                    &g, &pd, p, rq, input, filter, bias, output,
                                ) || conv_direct::<{ 64 * 1024 }, 1024>(
                                    &g, &pd, p, rq, input, filter, bias, output,
                                ) || conv_direct::<{ 128 * 1024 }, { PIXELS * OCMAX }>(
                                    &g, &pd, p, rq, input, filter, bias, output,
                                )
                            }
                            None => false,
                        };
                    if !direct {
                        match (small, img <= SMALL_IMG) {
                            (true, true) => conv_avx2::<SB, SA, SMALL_IMG>(
                                &g, p, rq, input, filter, bias, output,
                            ),
                            (true, false) => {
                                conv_avx2::<SB, SA, IMG_MAX>(&g, p, rq, input, filter, bias, output)
                            }
                            (false, true) => conv_avx2::<LB, LA, SMALL_IMG>(
                                &g, p, rq, input, filter, bias, output,
                            ),
                            (false, false) => {
                                conv_avx2::<LB, LA, IMG_MAX>(&g, p, rq, input, filter, bias, output)
                            }
                        }
                    }
                };
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
    /// Images in the batch.
    batches: usize,
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
        // Output pixel indices below stay within this product.
        batches.checked_mul(out_h)?.checked_mul(out_w)?;
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
            batches,
            taps,
        })
    }

    /// Writes output pixel `q` (within its image) of the padded image `img`
    /// into `row` (`kp + SLACK` lanes): the window's taps in filter order,
    /// zeros from the last tap to `kp`.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn gather(&self, row: &mut [i16], img: &[i16], pd: &Padded, q: usize, kp: usize) {
        let ow = self.out_w.max(1);
        let (oy, ox) = (q / ow, q % ow);
        let w = &self.win;
        let (sh, sw) = (w.stride[0] as usize, w.stride[1] as usize);
        let (dh, dw) = (w.dilation[0] as usize, w.dilation[1] as usize);
        let c = self.in_c;
        let line = pd.pw * c;
        let base = oy * sh * line + ox * sw * c;
        let seg = self.k_w * c;
        for ky in 0..self.k_h {
            let src = base + ky * dh * line;
            if dw == 1 {
                copy16(row, ky * seg, img, src, seg);
            } else {
                for kx in 0..self.k_w {
                    copy16(row, ky * seg + kx * c, img, src + kx * dw * c, c);
                }
            }
        }
        if let Some(tail) = row.get_mut(self.taps..kp) {
            tail.fill(0);
        }
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
        let row_len = self.in_w.saturating_mul(c);
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

/// The vector path over validated buffers, with `B` 16-bit lanes of window
/// rows (at least four rows of the taps rounded up to 16, plus [`SLACK`]),
/// `A` accumulators (at least four pixels' channels) and `I` lanes for the
/// padded image (the windows are gathered tap by tap if it does not fit).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn conv_avx2<const B: usize, const A: usize, const I: usize>(
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
    let rs = kp + SLACK;
    let oc_n = g.out_c;
    // Four window rows of `rs` lanes; past `kk` they are kept 0.
    let mut buf = [0i16; B];
    // The tile's accumulators, pixel-major, before requantisation.
    let mut accs = [0i32; A];
    let mut img = [0i16; I];
    let padded = Padded::new(&g.win, [g.out_h, g.out_w], [g.k_h, g.k_w], g.in_c)
        .filter(|pd| pd.lanes().is_some_and(|l| l <= I));
    let off = p.input_offset as i16; // |off| <= OFF_MAX
    let fin = Finish {
        bias,
        rq,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
    };
    let vector = fin.vector_ok();
    let per_img = g.out_h * g.out_w;
    for b in 0..g.batches {
        if let Some(pd) = &padded {
            pd.fill(&mut img, input, b, [g.in_h, g.in_w], g.win.padding, off);
        }
        let (first, end) = (b * per_img, (b + 1) * per_img);
        let mut t = first;
        while t < end {
            let n = (end - t).min(PIXELS);
            for (i, row) in buf.chunks_exact_mut(rs).take(PIXELS).enumerate() {
                if i >= n {
                    row.fill(0);
                } else if let Some(pd) = &padded {
                    g.gather(row, &img, pd, t + i - first, kp);
                } else {
                    g.im2col(&mut row[..kk], input, t + i, off);
                }
            }
            let mut rows = buf.chunks_exact(rs);
            let r = [(); PIXELS].map(|_| rows.next().unwrap_or(&[]));
            let mut oc = 0;
            while oc < oc_n {
                let oc1 = (oc + 1).min(oc_n - 1);
                let d = dot4x2(r, kp, filter, [oc * kk, oc1 * kk]);
                store_tile(&mut accs, &d, oc_n, oc, oc1 != oc);
                oc += 2;
            }
            let o = t * oc_n;
            if let (Some(acc), Some(out)) = (accs.get(..n * oc_n), output.get_mut(o..o + n * oc_n))
            {
                fin.rows(acc, out, oc_n, vector);
            }
            t += n;
        }
    }
}

/// Files a 4-pixel x 2-channel tile (`d[2p + j]`) into the pixel-major
/// accumulators (`oc_n` per pixel) at channels `oc` and, if `pair`, `oc + 1`.
#[inline(always)]
fn store_tile(accs: &mut [i32], d: &[i32; 8], oc_n: usize, oc: usize, pair: bool) {
    for (i, di) in d.chunks_exact(2).enumerate() {
        let a = i * oc_n + oc;
        if let (Some(slot), Some(&v)) = (accs.get_mut(a), di.first()) {
            *slot = v;
        }
        if pair {
            if let (Some(slot), Some(&v)) = (accs.get_mut(a + 1), di.get(1)) {
                *slot = v;
            }
        }
    }
}

/// The direct path: the batch image widened and padded once, the filters
/// widened with each kernel row padded to 16 lanes, and every window read in
/// place (`T` lanes hold both; `A` accumulators hold four pixels' channels).
/// Returns `false`, having written nothing, if the call does not fit (the
/// caller then gathers windows instead).
///
/// # Safety
/// The CPU must support AVX2.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn conv_direct<const T: usize, const A: usize>(
    g: &Geom,
    pd: &Padded,
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    output: &mut [i8],
) -> bool {
    let c = g.in_c;
    let seg = g.k_w * c;
    let segp = seg.div_ceil(16) * 16;
    let w_lanes = g.out_c * g.k_h * segp;
    let img_lanes = pd.lanes().unwrap_or(usize::MAX);
    let oc_n = g.out_c;
    let fits = g.win.dilation[1] == 1
        && img_lanes.checked_add(w_lanes).is_some_and(|l| l <= T)
        && PIXELS * oc_n <= A;
    if !fits {
        return false;
    }
    let mut lanes = [0i16; T];
    let mut accs = [0i32; A];
    let (img, wpk) = lanes.split_at_mut(img_lanes);
    for (dst, src) in wpk
        .chunks_exact_mut(segp)
        .zip(filter.chunks_exact(seg.max(1)))
    {
        widen(dst, src, 0);
    }
    let off = p.input_offset as i16; // |off| <= OFF_MAX
    let fin = Finish {
        bias,
        rq,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
    };
    let vector = fin.vector_ok();
    let (sh, sw) = (g.win.stride[0] as usize, g.win.stride[1] as usize);
    let line = pd.pw * c;
    let wd = WinDot {
        img: &[],
        step: g.win.dilation[0] as usize * line,
        rows: g.k_h,
        seg: segp,
        w: wpk,
    };
    let per_img = g.out_h * g.out_w;
    for b in 0..g.batches {
        pd.fill(img, input, b, [g.in_h, g.in_w], g.win.padding, off);
        let wd = WinDot { img, ..wd };
        let mut walk = Walk {
            oy: 0,
            ox: 0,
            ow: g.out_w,
            row_step: sh * line,
            col_step: sw * c,
        };
        let mut q = 0;
        while q < per_img {
            let n = (per_img - q).min(PIXELS);
            let mut base = [0usize; PIXELS];
            let mut last = 0;
            for (i, slot) in base.iter_mut().enumerate() {
                // Past the last pixel: repeat it (results unused).
                if i < n {
                    last = walk.next_base();
                }
                *slot = last;
            }
            let mut oc = 0;
            while oc < oc_n {
                let oc1 = (oc + 1).min(oc_n - 1);
                let span = g.k_h * segp;
                let d = wd.dot4x2(base, [oc * span, oc1 * span]);
                store_tile(&mut accs, &d, oc_n, oc, oc1 != oc);
                oc += 2;
            }
            let o = (b * per_img + q) * oc_n;
            if let (Some(acc), Some(out)) = (accs.get(..n * oc_n), output.get_mut(o..o + n * oc_n))
            {
                fin.rows(acc, out, oc_n, vector);
            }
            q += n;
        }
    }
    true
}
