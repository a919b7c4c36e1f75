//! Dot-product primitives shared by the optimised kernels.
//!
//! All sums wrap like TFLite's `int32_t` accumulation. Callers pass slices
//! of equal length (the shorter one bounds the loop otherwise). On Cortex-M
//! cores with the DSP extension the inner loops use `SXTB16` + `SMLAD`
//! (two 16-bit multiply-accumulates per instruction); elsewhere they are
//! plain loops that LLVM vectorises (x86_64: `pmaddwd`).

#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
mod dsp {
    use core::arch::asm;

    /// Sign-extends bytes 0 and 2 of `x` into two 16-bit lanes.
    #[inline(always)]
    pub(super) fn sxtb16(x: u32) -> u32 {
        let r: u32;
        // SAFETY: pure register arithmetic, no memory access.
        unsafe {
            asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// Sign-extends bytes 1 and 3 of `x` into two 16-bit lanes.
    #[inline(always)]
    pub(super) fn sxtb16_ror8(x: u32) -> u32 {
        let r: u32;
        // SAFETY: pure register arithmetic, no memory access.
        unsafe {
            asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// `acc + lo(a)*lo(b) + hi(a)*hi(b)` (signed 16-bit lanes, wrapping
    /// 32-bit accumulate; the Q flag it may set is never read).
    #[inline(always)]
    pub(super) fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: pure register arithmetic, no memory access.
        unsafe {
            asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 c = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }

    /// Four bytes as a little-endian word (one unaligned `LDR`).
    #[inline(always)]
    pub(super) fn word(c: &[i8]) -> u32 {
        match c {
            [a, b, c, d, ..] => u32::from_le_bytes([*a as u8, *b as u8, *c as u8, *d as u8]),
            _ => 0,
        }
    }
}

/// Scalar tail: `Σ a[i] * b[i]`.
#[inline(always)]
fn dot_tail(a: &[i8], b: &[i8], mut acc: i32) -> i32 {
    for (&x, &y) in a.iter().zip(b) {
        acc = acc.wrapping_add(i32::from(x).wrapping_mul(i32::from(y)));
    }
    acc
}

/// Scalar tail: `Σ a[i]`.
#[inline(always)]
fn sum_tail(a: &[i8], mut acc: i32) -> i32 {
    for &x in a {
        acc = acc.wrapping_add(i32::from(x));
    }
    acc
}

/// `Σ a[i]` (wrapping).
#[inline]
pub(crate) fn sum(a: &[i8]) -> i32 {
    let mut acc = 0i32;
    let mut ch = a.chunks_exact(16);
    for c in &mut ch {
        acc = acc.wrapping_add(c.iter().map(|&x| i32::from(x)).sum::<i32>());
    }
    sum_tail(ch.remainder(), acc)
}

/// `Σ a[i] * b[i]` (wrapping).
#[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
#[inline]
pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = 0i32;
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let mut s = 0i32;
        for i in 0..16 {
            s = s.wrapping_add(i32::from(x[i]).wrapping_mul(i32::from(y[i])));
        }
        acc = acc.wrapping_add(s);
    }
    dot_tail(ca.remainder(), cb.remainder(), acc)
}

/// `Σ a[i] * b[i]` (wrapping), `SMLAD` inner loop.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline]
pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
    use dsp::*;
    let mut acc = 0i32;
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let (x, y) = (word(x), word(y));
        acc = smlad(sxtb16(x), sxtb16(y), acc);
        acc = smlad(sxtb16_ror8(x), sxtb16_ror8(y), acc);
    }
    dot_tail(ca.remainder(), cb.remainder(), acc)
}

/// `(Σ a·b0, Σ a·b1)`: two filters against one input segment.
#[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
#[inline]
pub(crate) fn dot2(a: &[i8], b0: &[i8], b1: &[i8]) -> (i32, i32) {
    let n = a.len().min(b0.len()).min(b1.len());
    let (a, b0, b1) = (&a[..n], &b0[..n], &b1[..n]);
    let (mut s0, mut s1) = (0i32, 0i32);
    let mut ca = a.chunks_exact(16);
    let mut c0 = b0.chunks_exact(16);
    let mut c1 = b1.chunks_exact(16);
    for ((x, y0), y1) in (&mut ca).zip(&mut c0).zip(&mut c1) {
        let (mut t0, mut t1) = (0i32, 0i32);
        for i in 0..16 {
            let xv = i32::from(x[i]);
            t0 = t0.wrapping_add(xv.wrapping_mul(i32::from(y0[i])));
            t1 = t1.wrapping_add(xv.wrapping_mul(i32::from(y1[i])));
        }
        s0 = s0.wrapping_add(t0);
        s1 = s1.wrapping_add(t1);
    }
    let (ra, r0, r1) = (ca.remainder(), c0.remainder(), c1.remainder());
    (dot_tail(ra, r0, s0), dot_tail(ra, r1, s1))
}

/// `(Σ a·b0, Σ a·b1)`, `SMLAD` inner loop (the input word is unpacked once
/// for both filters).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline]
pub(crate) fn dot2(a: &[i8], b0: &[i8], b1: &[i8]) -> (i32, i32) {
    use dsp::*;
    let (mut s0, mut s1) = (0i32, 0i32);
    let mut ca = a.chunks_exact(4);
    let mut c0 = b0.chunks_exact(4);
    let mut c1 = b1.chunks_exact(4);
    for ((x, y0), y1) in (&mut ca).zip(&mut c0).zip(&mut c1) {
        let x = word(x);
        let (xe, xo) = (sxtb16(x), sxtb16_ror8(x));
        let (y0, y1) = (word(y0), word(y1));
        s0 = smlad(xe, sxtb16(y0), s0);
        s0 = smlad(xo, sxtb16_ror8(y0), s0);
        s1 = smlad(xe, sxtb16(y1), s1);
        s1 = smlad(xo, sxtb16_ror8(y1), s1);
    }
    let (ra, r0, r1) = (ca.remainder(), c0.remainder(), c1.remainder());
    (dot_tail(ra, r0, s0), dot_tail(ra, r1, s1))
}
