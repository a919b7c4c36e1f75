//! Convolution windows for the x86_64 Conv2D twin: the input image widened
//! once per call with its padding made explicit, and each output pixel's
//! window gathered from it with 16-lane copies.

use core::arch::x86_64::{_mm256_loadu_si256, _mm256_storeu_si256};

use super::widen;
use crate::padded::Padded;

impl Padded {
    /// Writes batch image `b` of `input` (`[.., in_h, in_w, c]`) into `dst`
    /// (at least [`Self::lanes`] long), widened with `off` added, zeros
    /// elsewhere.
    pub(crate) fn fill(
        &self,
        dst: &mut [i16],
        input: &[i8],
        b: usize,
        in_hw: [usize; 2],
        pad: [i64; 2],
        off: i16,
    ) {
        self.fill_with(dst, 0, input, b, in_hw, pad, |d, s| widen(d, s, off));
    }
}

/// `dst[d..d + n] = src[s..s + n]` in 16-lane steps; the last step may write
/// up to 15 lanes past `d + n` (callers write windows in increasing order
/// and clear what follows). Steps that would leave either slice copy lane by
/// lane.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn copy16(dst: &mut [i16], d: usize, src: &[i16], s: usize, n: usize) {
    let mut j = 0;
    while j < n {
        let (sj, dj) = (s + j, d + j);
        match (src.get(sj..sj + 16), dst.get_mut(dj..dj + 16)) {
            // 16 readable and 16 writable lanes.
            (Some(a), Some(b)) => {
                _mm256_storeu_si256(b.as_mut_ptr().cast(), _mm256_loadu_si256(a.as_ptr().cast()));
            }
            _ => {
                let m = (n - j).min(16);
                let a = src.get(sj..).unwrap_or(&[]).iter().take(m);
                let b = dst.get_mut(dj..).unwrap_or(&mut []).iter_mut();
                for (y, &x) in b.zip(a) {
                    *y = x;
                }
            }
        }
        j += 16;
    }
}
