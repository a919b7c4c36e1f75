//! x86_64 twins of the hot int8 kernels (Conv2D, DepthwiseConv2D,
//! FullyConnected), for the host tool (`mote run`,
//! `eval`, `sim`, `bench`).
//!
//! Each twin has the signature of its reference kernel and returns the same
//! bytes. The input is widened once into 16-bit rows with the input offset
//! added (`x + off`, and 0 for taps in the padding); the int8 weights are
//! sign-extended on the fly, and AVX2's `vpmaddwd` forms the products and
//! pairwise sums, exact in 32 bits because `|x + off| <= 384` and
//! `|w| <= 128`. All sums wrap like TFLite's `int32_t` accumulation, so the
//! order they are taken in does not change the result.
//!
//! A twin runs its vector path only when the CPU has AVX2 (detected at run
//! time with the `std` feature, otherwise fixed at compile time) and the
//! call is one it covers; everything else, including every call the
//! reference would reject, goes to the portable twins in [`crate::fast`],
//! which validate and fail exactly like the reference.

mod conv;
mod depthwise;
mod fc;
mod simd;
mod window;

pub use conv::conv2d_s8_x86;

/// True if this CPU (and OS) run the AVX2 paths; otherwise every twin here
/// hands its calls to the portable twins.
pub fn avx2_available() -> bool {
    simd::has_avx2()
}
pub use depthwise::depthwise_conv2d_s8_x86;
pub use fc::fully_connected_s8_x86;

/// Longest widened row (filter taps `KH * KW * C`, or FC input features)
/// the vector paths take; longer ones use the portable twins.
const KMAX: usize = 4096;

/// Most output channels the vector paths take (accumulators of a pixel
/// tile are kept on the stack before requantisation).
const OCMAX: usize = 2048;

/// Largest input offset magnitude the vector paths take (so that
/// `x + off` fits 16 bits with room to spare; zero points are within
/// `[-128, 127]`).
const OFF_MAX: i32 = 256;

/// `dst[i] = src[i] + off`, widened to 16 bits (`|off| <= OFF_MAX`, so
/// nothing overflows). LLVM vectorises it.
#[inline]
fn widen(dst: &mut [i16], src: &[i8], off: i16) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = i16::from(s).wrapping_add(off);
    }
}

/// `Σ dst` of a widened row (wrapping), for the filter-offset term.
#[inline]
fn sum16(row: &[i16]) -> i32 {
    row.iter().fold(0i32, |s, &v| s.wrapping_add(i32::from(v)))
}
