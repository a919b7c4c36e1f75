//! Dot-product primitives shared by the optimised kernels.
//!
//! All sums wrap like TFLite's `int32_t` accumulation. Callers pass slices
//! of equal length (the shorter one bounds the loop otherwise). On Cortex-M
//! cores with the DSP extension the inner loops use `SXTB16` + `SMLAD`
//! (two 16-bit multiply-accumulates per instruction); elsewhere they are
//! plain loops that LLVM vectorises (x86_64: `pmaddwd`). `mote_dsp` is set
//! by the build script for Cortex-M targets with the DSP extension.

#[cfg(mote_dsp)]
pub(crate) mod dsp {
    use core::arch::asm;

    /// Sign-extends bytes 0 and 2 of `x` into two 16-bit lanes.
    #[inline(always)]
    pub(crate) fn sxtb16(x: u32) -> u32 {
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
    pub(crate) fn sxtb16_ror8(x: u32) -> u32 {
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
    pub(crate) fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: pure register arithmetic, no memory access.
        unsafe {
            asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 c = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }

    /// Lane-wise 16-bit add (callers keep every lane in range).
    #[inline(always)]
    pub(crate) fn sadd16(a: u32, b: u32) -> u32 {
        let r: u32;
        // SAFETY: pure register arithmetic (sets the GE flags, never read).
        unsafe {
            asm!("sadd16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 options(pure, nomem, nostack));
        }
        r
    }

    /// Four bytes as a little-endian word (one unaligned `LDR`).
    #[inline(always)]
    pub(crate) fn word(c: &[i8]) -> u32 {
        match c {
            [a, b, c, d, ..] => u32::from_le_bytes([*a as u8, *b as u8, *c as u8, *d as u8]),
            _ => 0,
        }
    }
}

/// Scalar tail: `Σ a[i] * b[i]`.
#[cfg(mote_dsp)]
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

/// `Σ a[i]` (wrapping): on DSP cores, four bytes per `LDR` into two 16-bit
/// lanes by two `SXTAB16` (each word adds at most 2·128 to a lane, so a
/// block of 64 words stays inside `i16`), the lanes folded into the `i32`
/// sum once per block.
#[cfg(mote_dsp)]
#[inline]
pub(crate) fn sum(a: &[i8]) -> i32 {
    use core::arch::asm;
    /// Bytes per block of 16-bit lane sums.
    const BLOCK: usize = 256;
    let mut acc = 0i32;
    for b in a.chunks(BLOCK) {
        let words = b.len() / 4;
        let mut lanes = 0u32;
        if words > 0 {
            // SAFETY: reads `words` words from `b` (`4·words <= b.len()`);
            // unaligned LDR is allowed for normal memory. SXTAB16 is lane
            // arithmetic; the lanes stay within ±2·128·64.
            unsafe {
                asm!(
                    "2:",
                    "ldr {w}, [{p}], #4",
                    "sxtab16 {l}, {l}, {w}",
                    "sxtab16 {l}, {l}, {w}, ror #8",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    p = inout(reg) b.as_ptr() => _,
                    n = inout(reg) words => _,
                    l = inout(reg) lanes,
                    w = out(reg) _,
                    options(nostack, readonly),
                );
            }
        }
        let folded = i32::from(lanes as u16 as i16) + i32::from((lanes >> 16) as u16 as i16);
        acc = sum_tail(b.get(4 * words..).unwrap_or(&[]), acc.wrapping_add(folded));
    }
    acc
}

/// `Σ a[i]` (wrapping).
#[cfg(not(mote_dsp))]
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
#[cfg(not(mote_dsp))]
#[inline]
pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    // One simple loop: LLVM's loop vectoriser turns it into SIMD.
    a.iter().zip(b).fold(0i32, |s, (&x, &y)| {
        s.wrapping_add(i32::from(i16::from(x) * i16::from(y)))
    })
}

/// `Σ a[i] * b[i]` (wrapping), `SMLAD` inner loop.
#[cfg(mote_dsp)]
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
#[cfg(not(mote_dsp))]
#[inline]
pub(crate) fn dot2(a: &[i8], b0: &[i8], b1: &[i8]) -> (i32, i32) {
    dot2_lanes(a, b0, b1, 0)
}

/// `(Σ (a+off)·b0, Σ (a+off)·b1)` for an offset that keeps `a + off` in
/// 16 bits, in vectorisable lanes.
#[cfg(not(mote_dsp))]
#[inline(always)]
fn dot2_lanes(a: &[i8], b0: &[i8], b1: &[i8], off: i16) -> (i32, i32) {
    let n = a.len().min(b0.len()).min(b1.len());
    let (a, b0, b1) = (&a[..n], &b0[..n], &b1[..n]);
    // One simple loop with two reductions: LLVM's loop vectoriser turns it
    // into SIMD (16-bit multiplies when there is no offset).
    let (mut s0, mut s1) = (0i32, 0i32);
    if off == 0 {
        for ((&x, &y0), &y1) in a.iter().zip(b0).zip(b1) {
            // |x·y| <= 2^14: exact in i16.
            s0 = s0.wrapping_add(i32::from(i16::from(x) * i16::from(y0)));
            s1 = s1.wrapping_add(i32::from(i16::from(x) * i16::from(y1)));
        }
    } else {
        let o = i32::from(off);
        for ((&x, &y0), &y1) in a.iter().zip(b0).zip(b1) {
            let xv = i32::from(x) + o;
            s0 = s0.wrapping_add(xv * i32::from(y0));
            s1 = s1.wrapping_add(xv * i32::from(y1));
        }
    }
    (s0, s1)
}

/// `(Σ a·b0, Σ a·b1)`, `SMLAD` inner loop (the input word is unpacked once
/// for both filters).
#[cfg(mote_dsp)]
#[inline]
pub(crate) fn dot2(a: &[i8], b0: &[i8], b1: &[i8]) -> (i32, i32) {
    dsp_dot2(a, b0, b1, None)
}

/// The `SMLAD` loop behind [`dot2`] and [`dot2_off`]: `off` (packed in both
/// 16-bit lanes, `SADD16`) is added to the unpacked input when given.
#[cfg(mote_dsp)]
#[inline(always)]
fn dsp_dot2(a: &[i8], b0: &[i8], b1: &[i8], off: Option<i32>) -> (i32, i32) {
    use core::arch::asm;
    let n = a.len().min(b0.len()).min(b1.len());
    let words = n / 4;
    let (mut s0, mut s1) = (0i32, 0i32);
    if words > 0 {
        let (mut pa, mut p0, mut p1) = (a.as_ptr(), b0.as_ptr(), b1.as_ptr());
        let mut cnt = words;
        match off {
            None => {
                // SAFETY: each pointer is read for `4 * words <= n` bytes,
                // all inside its slice; unaligned LDR is architecturally
                // allowed on Armv7E-M/Armv8-M Mainline for normal memory.
                unsafe {
                    asm!(
                        "2:",
                        "ldr {x}, [{pa}], #4",
                        "ldr {w}, [{p0}], #4",
                        "sxtb16 {xe}, {x}",
                        "sxtb16 {x}, {x}, ror #8",
                        "sxtb16 {t}, {w}",
                        "sxtb16 {w}, {w}, ror #8",
                        "smlad {s0}, {xe}, {t}, {s0}",
                        "smlad {s0}, {x}, {w}, {s0}",
                        "ldr {w}, [{p1}], #4",
                        "sxtb16 {t}, {w}",
                        "sxtb16 {w}, {w}, ror #8",
                        "smlad {s1}, {xe}, {t}, {s1}",
                        "smlad {s1}, {x}, {w}, {s1}",
                        "subs {cnt}, {cnt}, #1",
                        "bne 2b",
                        pa = inout(reg) pa,
                        p0 = inout(reg) p0,
                        p1 = inout(reg) p1,
                        cnt = inout(reg) cnt,
                        s0 = inout(reg) s0,
                        s1 = inout(reg) s1,
                        x = out(reg) _,
                        xe = out(reg) _,
                        w = out(reg) _,
                        t = out(reg) _,
                        options(nostack, readonly),
                    );
                }
            }
            Some(o) => {
                let offp = (o as u32 & 0xffff) | ((o as u32) << 16);
                // SAFETY: as above; SADD16 only sets the (unread) GE flags.
                unsafe {
                    asm!(
                        "2:",
                        "ldr {x}, [{pa}], #4",
                        "ldr {w}, [{p0}], #4",
                        "sxtb16 {xe}, {x}",
                        "sxtb16 {x}, {x}, ror #8",
                        "sadd16 {xe}, {xe}, {off}",
                        "sadd16 {x}, {x}, {off}",
                        "sxtb16 {t}, {w}",
                        "sxtb16 {w}, {w}, ror #8",
                        "smlad {s0}, {xe}, {t}, {s0}",
                        "smlad {s0}, {x}, {w}, {s0}",
                        "ldr {w}, [{p1}], #4",
                        "sxtb16 {t}, {w}",
                        "sxtb16 {w}, {w}, ror #8",
                        "smlad {s1}, {xe}, {t}, {s1}",
                        "smlad {s1}, {x}, {w}, {s1}",
                        "subs {cnt}, {cnt}, #1",
                        "bne 2b",
                        pa = inout(reg) pa,
                        p0 = inout(reg) p0,
                        p1 = inout(reg) p1,
                        cnt = inout(reg) cnt,
                        s0 = inout(reg) s0,
                        s1 = inout(reg) s1,
                        off = in(reg) offp,
                        x = out(reg) _,
                        xe = out(reg) _,
                        w = out(reg) _,
                        t = out(reg) _,
                        options(nostack, readonly),
                    );
                }
            }
        }
        let _ = (pa, p0, p1, cnt);
    }
    let done = 4 * words;
    let (ra, r0, r1) = (
        a.get(done..n).unwrap_or(&[]),
        b0.get(done..n).unwrap_or(&[]),
        b1.get(done..n).unwrap_or(&[]),
    );
    let o = off.unwrap_or(0);
    (dot_off_tail(ra, r0, o, s0), dot_off_tail(ra, r1, o, s1))
}

/// Offsets for which `x + off` (int8 `x`) fits a signed 16-bit lane.
#[inline(always)]
pub(crate) fn off_fits_i16(off: i32) -> bool {
    (-32640..=32640).contains(&off)
}

/// Scalar tail: `Σ (a[i] + off) * b[i]`.
#[inline(always)]
fn dot_off_tail(a: &[i8], b: &[i8], off: i32, mut acc: i32) -> i32 {
    for (&x, &y) in a.iter().zip(b) {
        acc = acc.wrapping_add(i32::from(x).wrapping_add(off).wrapping_mul(i32::from(y)));
    }
    acc
}

/// `(Σ (a+off)·b0, Σ (a+off)·b1)` (wrapping; any `off`).
#[cfg(not(mote_dsp))]
#[inline]
pub(crate) fn dot2_off(a: &[i8], b0: &[i8], b1: &[i8], off: i32) -> (i32, i32) {
    if !off_fits_i16(off) {
        return (dot_off_tail(a, b0, off, 0), dot_off_tail(a, b1, off, 0));
    }
    dot2_lanes(a, b0, b1, off as i16)
}

/// `(Σ (a+off)·b0, Σ (a+off)·b1)`, `SMLAD` inner loop with the offset added
/// to the unpacked input lanes (`SADD16`) when it fits 16 bits.
#[cfg(mote_dsp)]
#[inline]
pub(crate) fn dot2_off(a: &[i8], b0: &[i8], b1: &[i8], off: i32) -> (i32, i32) {
    if !off_fits_i16(off) {
        return (dot_off_tail(a, b0, off, 0), dot_off_tail(a, b1, off, 0));
    }
    dsp_dot2(a, b0, b1, Some(off))
}

/// `Σ (a+off)·b` (wrapping; any `off`).
#[inline]
pub(crate) fn dot_off(a: &[i8], b: &[i8], off: i32) -> i32 {
    #[cfg(mote_dsp)]
    if off_fits_i16(off) {
        use dsp::*;
        let offp = (off as u32 & 0xffff) | ((off as u32) << 16);
        let mut s = 0i32;
        let mut ca = a.chunks_exact(4);
        let mut cb = b.chunks_exact(4);
        for (x, y) in (&mut ca).zip(&mut cb) {
            let (x, y) = (word(x), word(y));
            s = smlad(sadd16(sxtb16(x), offp), sxtb16(y), s);
            s = smlad(sadd16(sxtb16_ror8(x), offp), sxtb16_ror8(y), s);
        }
        return dot_off_tail(ca.remainder(), cb.remainder(), off, s);
    }
    dot_off_tail(a, b, off, 0)
}

/// `b + Σ_g x[g][p] · w[g]` for four output pixels `p` sharing one filter:
/// `x` holds, per group `g` of four filter positions, eight words (pixel `p`
/// at words `2p`, `2p+1`): the pixel's four int8 values sign-extended to
/// 16-bit lanes in `SXTB16` order (`(v0, v2)`, `(v1, v3)`); `w` holds the
/// filter's four int8 values per group. Runs over the whole groups present
/// in both.
#[cfg(not(mote_dsp))]
#[inline]
pub(crate) fn dot4_px(x: &[u32], w: &[i8], b: i32) -> (i32, i32, i32, i32) {
    let lane = lane16;
    let mut acc = [b; 4];
    for (g, wg) in x.chunks_exact(8).zip(w.chunks_exact(4)) {
        let (w0, w1, w2, w3) = match wg {
            [a, b, c, d] => (i32::from(*a), i32::from(*b), i32::from(*c), i32::from(*d)),
            _ => (0, 0, 0, 0),
        };
        for (a, px) in acc.iter_mut().zip(g.chunks_exact(2)) {
            let (e, o) = match px {
                [e, o] => (*e, *o),
                _ => (0, 0),
            };
            let s =
                lane(e, false) * w0 + lane(e, true) * w2 + lane(o, false) * w1 + lane(o, true) * w3;
            *a = a.wrapping_add(s);
        }
    }
    let [a0, a1, a2, a3] = acc;
    (a0, a1, a2, a3)
}

/// `b + Σ_g x[g][p] · w[g]` (see the portable twin): per group one `LDR` +
/// two `SXTB16` for the filter, four `LDRD` of pre-extended pixel pairs and
/// eight `SMLAD`; an odd first group, then two groups per loop iteration.
#[cfg(mote_dsp)]
#[inline(always)]
pub(crate) fn dot4_px(x: &[u32], w: &[i8], b: i32) -> (i32, i32, i32, i32) {
    use core::arch::asm;
    let groups = (x.len() / 8).min(w.len() / 4);
    let (mut a0, mut a1, mut a2, mut a3) = (b, b, b, b);
    if groups == 0 {
        return (a0, a1, a2, a3);
    }
    // SAFETY: `groups` groups are read, each 32 bytes (8 words) of `x` and
    // 4 bytes of `w`, all inside both slices by the `min` above; LDRD needs
    // 4-byte alignment, which `x` (a `u32` slice) has; unaligned LDR is
    // allowed for normal memory. r0/r1 form an even register pair (A32
    // LDRD). The flags are clobbered (not `preserves_flags`).
    unsafe {
        asm!(
            "lsrs {n}, {n}, #1",
            "bcc 3f",
            "ldr {w}, [{pw}], #4",
            "sxtb16 {we}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a0}, r0, {we}, {a0}",
            "smlad {a0}, r1, {w}, {a0}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a1}, r0, {we}, {a1}",
            "smlad {a1}, r1, {w}, {a1}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a2}, r0, {we}, {a2}",
            "smlad {a2}, r1, {w}, {a2}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a3}, r0, {we}, {a3}",
            "smlad {a3}, r1, {w}, {a3}",
            "3:",
            "cmp {n}, #0",
            "beq 4f",
            "2:",
            "ldr {w}, [{pw}], #4",
            "sxtb16 {we}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a0}, r0, {we}, {a0}",
            "smlad {a0}, r1, {w}, {a0}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a1}, r0, {we}, {a1}",
            "smlad {a1}, r1, {w}, {a1}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a2}, r0, {we}, {a2}",
            "smlad {a2}, r1, {w}, {a2}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a3}, r0, {we}, {a3}",
            "smlad {a3}, r1, {w}, {a3}",
            "ldr {w}, [{pw}], #4",
            "sxtb16 {we}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a0}, r0, {we}, {a0}",
            "smlad {a0}, r1, {w}, {a0}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a1}, r0, {we}, {a1}",
            "smlad {a1}, r1, {w}, {a1}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a2}, r0, {we}, {a2}",
            "smlad {a2}, r1, {w}, {a2}",
            "ldrd r0, r1, [{px}], #8",
            "smlad {a3}, r0, {we}, {a3}",
            "smlad {a3}, r1, {w}, {a3}",
            "subs {n}, {n}, #1",
            "bne 2b",
            "4:",
            pw = inout(reg) w.as_ptr() => _,
            px = inout(reg) x.as_ptr() => _,
            n = inout(reg) groups => _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            w = out(reg) _,
            we = out(reg) _,
            out("r0") _,
            out("r1") _,
            options(nostack, readonly),
        );
    }
    (a0, a1, a2, a3)
}

/// Lane-wise 16-bit add of two `(lo, hi)` pairs (callers keep every lane
/// in range).
#[inline(always)]
pub(crate) fn add16(a: u32, b: u32) -> u32 {
    #[cfg(mote_dsp)]
    {
        dsp::sadd16(a, b)
    }
    #[cfg(not(mote_dsp))]
    {
        let lo = (a as u16).wrapping_add(b as u16);
        let hi = ((a >> 16) as u16).wrapping_add((b >> 16) as u16);
        u32::from(lo) | (u32::from(hi) << 16)
    }
}

/// The low (`hi` false) or high 16-bit lane of `v`, sign-extended: the
/// portable reading of the `SXTB16` pairs.
#[inline(always)]
pub(crate) fn lane16(v: u32, hi: bool) -> i32 {
    i32::from((if hi { v >> 16 } else { v }) as u16 as i16)
}

/// `(Σ_g x[g]·w0[g], Σ_g x[g]·w1[g])` over the groups of four inputs: `x`
/// holds two words per group, the group's (offset) inputs as 16-bit lanes in
/// `SXTB16` order (`(v0, v2)`, `(v1, v3)`); `w0`, `w1` four int8 weights
/// per group. Runs over the whole groups present in all three. (The
/// portable half of [`dot4_x16`].)
#[cfg(not(mote_dsp))]
#[inline(always)]
pub(crate) fn dot2_x16(x: &[u32], w0: &[i8], w1: &[i8]) -> (i32, i32) {
    let lane = lane16;
    let (mut s0, mut s1) = (0i32, 0i32);
    for ((xg, a), b) in x
        .chunks_exact(2)
        .zip(w0.chunks_exact(4))
        .zip(w1.chunks_exact(4))
    {
        let (e, o) = (xg[0], xg[1]);
        let xs = [lane(e, false), lane(o, false), lane(e, true), lane(o, true)];
        for (k, &xv) in xs.iter().enumerate() {
            s0 = s0.wrapping_add(xv * i32::from(a[k]));
            s1 = s1.wrapping_add(xv * i32::from(b[k]));
        }
    }
    (s0, s1)
}

/// `Σ_g x[g]·w_r[g]` for four filter rows `w_r = w[r·n..]` (`r < 4`, `n`
/// bytes apart) over the groups of four inputs, `x` as for `dot2_x16`.
/// Runs over the whole groups present in `x`, in the last row and in `n`.
#[inline(always)]
pub(crate) fn dot4_x16(x: &[u32], w: &[i8], n: usize) -> (i32, i32, i32, i32) {
    let last = w.get(3 * n.min(w.len())..).unwrap_or(&[]);
    let groups = (x.len() / 2).min(last.len() / 4).min(n / 4);
    let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
    if groups == 0 {
        return (a0, a1, a2, a3);
    }
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        let end = x.as_ptr().wrapping_add(2 * groups);
        // SAFETY: `groups >= 1` groups are read: 8 bytes of `x` each (a
        // `u32` slice, 4-aligned for LDRD; the loop ends when `px` reaches
        // `end`, after `groups` groups) and 4 bytes of each row, rows
        // `r·n` bytes from `w` (`p0` rows 0 and 1, `p2` rows 2 and 3 at
        // offset `s = n`), all inside `w` since the last row holds
        // `4·groups` bytes; unaligned LDR is allowed for normal memory.
        // `end` is kept in an 8-byte slot pushed below `sp` and popped
        // before the block ends. The flags are clobbered.
        unsafe {
            asm!(
                "str {t}, [sp, #-8]!",
                "lsrs {w}, {w}, #1",
                "bcs 3f",
                "2:",
                "ldrd r0, r1, [{px}], #8",
                "ldr {w}, [{p0}, {s}]",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a1}, r0, {t}, {a1}",
                "smlad {a1}, r1, {w}, {a1}",
                "ldr {w}, [{p0}], #4",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a0}, r0, {t}, {a0}",
                "smlad {a0}, r1, {w}, {a0}",
                "ldr {w}, [{p2}, {s}]",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a3}, r0, {t}, {a3}",
                "smlad {a3}, r1, {w}, {a3}",
                "ldr {w}, [{p2}], #4",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a2}, r0, {t}, {a2}",
                "smlad {a2}, r1, {w}, {a2}",
                "3:",
                "ldrd r0, r1, [{px}], #8",
                "ldr {w}, [{p0}, {s}]",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a1}, r0, {t}, {a1}",
                "smlad {a1}, r1, {w}, {a1}",
                "ldr {w}, [{p0}], #4",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a0}, r0, {t}, {a0}",
                "smlad {a0}, r1, {w}, {a0}",
                "ldr {w}, [{p2}, {s}]",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a3}, r0, {t}, {a3}",
                "smlad {a3}, r1, {w}, {a3}",
                "ldr {w}, [{p2}], #4",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a2}, r0, {t}, {a2}",
                "smlad {a2}, r1, {w}, {a2}",
                "ldr {t}, [sp]",
                "cmp {px}, {t}",
                "bne 2b",
                "add sp, sp, #8",
                px = inout(reg) x.as_ptr() => _,
                p0 = inout(reg) w.as_ptr() => _,
                p2 = inout(reg) w.as_ptr().wrapping_add(2 * n) => _,
                s = in(reg) n,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                w = inout(reg) groups => _,
                t = inout(reg) end => _,
                out("r0") _,
                out("r1") _,
            );
        }
    }
    #[cfg(not(mote_dsp))]
    {
        let row = |r: usize| w.get(r * n..).unwrap_or(&[]);
        let (d0, d1) = dot2_x16(x.get(..2 * groups).unwrap_or(&[]), row(0), row(1));
        let (d2, d3) = dot2_x16(x.get(..2 * groups).unwrap_or(&[]), row(2), row(3));
        (a0, a1, a2, a3) = (d0, d1, d2, d3);
    }
    (a0, a1, a2, a3)
}

/// `(v0, v2)` and `(v1, v3)` of four int8 values as 16-bit lane pairs.
#[inline(always)]
pub(crate) fn ext_pair(c: &[i8]) -> (u32, u32) {
    #[cfg(mote_dsp)]
    {
        let w = dsp::word(c);
        (dsp::sxtb16(w), dsp::sxtb16_ror8(w))
    }
    #[cfg(not(mote_dsp))]
    {
        let v = |i: usize| u32::from(c.get(i).map_or(0, |&b| i16::from(b) as u16));
        (v(0) | (v(2) << 16), v(1) | (v(3) << 16))
    }
}

/// Sign-extends `groups` groups of four int8 values from `src` into one
/// pixel's slots of the [`dot4_px`] layout: group `g` goes to words
/// `dst[8g]` (`(v0, v2)`) and `dst[8g + 1]` (`(v1, v3)`), so `dst` starts at
/// the pixel's first slot (word `2p` of the tile buffer). Does nothing
/// unless `src` holds `4·groups` bytes and `dst` reaches the last slot.
#[inline(always)]
pub(crate) fn ext_row(src: &[i8], dst: &mut [u32], groups: usize) {
    if groups == 0 || src.len() < 4 * groups || dst.len() < 8 * groups - 6 {
        return;
    }
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        // SAFETY: `groups >= 1`; `4·groups` bytes are read from `src` (its
        // length was checked; unaligned LDR is allowed for normal memory)
        // and the words `8g`, `8g + 1` for `g < groups` written to `dst`,
        // the last being `8·groups - 7 < dst.len()`; STRD needs 4-byte
        // alignment, which `dst` (a `u32` slice) has. r0/r1 form an even
        // register pair (A32 STRD).
        unsafe {
            asm!(
                // Two groups per iteration, `ceil(groups / 2)` iterations; an
                // odd count enters halfway (carry clear).
                "add {n}, {n}, #1",
                "lsrs {n}, {n}, #1",
                "bcc 3f",
                "2:",
                "ldr {w}, [{ps}], #4",
                "sxtb16 r0, {w}",
                "sxtb16 r1, {w}, ror #8",
                "strd r0, r1, [{pd}], #32",
                "3:",
                "ldr {w}, [{ps}], #4",
                "sxtb16 r0, {w}",
                "sxtb16 r1, {w}, ror #8",
                "strd r0, r1, [{pd}], #32",
                "subs {n}, {n}, #1",
                "bne 2b",
                ps = inout(reg) src.as_ptr() => _,
                pd = inout(reg) dst.as_mut_ptr() => _,
                n = inout(reg) groups => _,
                w = out(reg) _,
                out("r0") _,
                out("r1") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(mote_dsp))]
    for (c, d) in src.chunks_exact(4).zip(dst.chunks_mut(8)).take(groups) {
        let (e, o) = ext_pair(c);
        if let [de, dd, ..] = d {
            *de = e;
            *dd = o;
        }
    }
}

/// Sign-extends the groups of four int8 values of `src` into consecutive
/// word pairs of `dst` (`(v0, v2)`, `(v1, v3)`), as many groups as both
/// hold, and returns the sum of the values extended.
#[inline(always)]
pub(crate) fn ext_words(src: &[i8], dst: &mut [u32]) -> i32 {
    let groups = (src.len() / 4).min(dst.len() / 2);
    let mut total = 0i32;
    if groups == 0 {
        return total;
    }
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        // SAFETY: `groups >= 1` words are read from `src` (unaligned LDR is
        // allowed for normal memory) and `2·groups` words written to `dst`
        // (a `u32` slice, 4-aligned for STRD), both inside by the `min`
        // above. r0/r1 form an even register pair (A32 STRD). SMLAD by
        // `0x0001_0001` adds both lanes.
        unsafe {
            asm!(
                "2:",
                "ldr {w}, [{ps}], #4",
                "sxtb16 r0, {w}",
                "sxtb16 r1, {w}, ror #8",
                "strd r0, r1, [{pd}], #8",
                "smlad {t}, r0, {one}, {t}",
                "smlad {t}, r1, {one}, {t}",
                "subs {n}, {n}, #1",
                "bne 2b",
                ps = inout(reg) src.as_ptr() => _,
                pd = inout(reg) dst.as_mut_ptr() => _,
                n = inout(reg) groups => _,
                t = inout(reg) total,
                one = in(reg) 0x0001_0001u32,
                w = out(reg) _,
                out("r0") _,
                out("r1") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(mote_dsp))]
    for (c, d) in src
        .chunks_exact(4)
        .zip(dst.chunks_exact_mut(2))
        .take(groups)
    {
        (d[0], d[1]) = ext_pair(c);
        total = total.wrapping_add(c.iter().map(|&v| i32::from(v)).sum::<i32>());
    }
    total
}

/// [`ext_words`] of any number of values: the last group padded with
/// zeros. Returns the sum of the values.
#[inline(always)]
pub(crate) fn ext_padded(src: &[i8], dst: &mut [u32]) -> i32 {
    let whole = src.len() / 4 * 4;
    let mut total = ext_words(src.get(..whole).unwrap_or(&[]), dst);
    if whole < src.len() {
        let mut last = [0i8; 4];
        for (l, &v) in last.iter_mut().zip(src.get(whole..).unwrap_or(&[])) {
            *l = v;
            total = total.wrapping_add(i32::from(v));
        }
        if let Some(e) = dst.get_mut(whole / 2..whole / 2 + 2) {
            (e[0], e[1]) = ext_pair(&last);
        }
    }
    total
}

/// `clamp(v[i] + oo, lo, hi)` for four values, packed as bytes (`v[0]` in
/// the low byte). `lo4`/`hi4` hold `lo`/`hi` (within int8, `lo <= hi`) in
/// every byte. On DSP cores: `SSAT` to int8, pack, then byte-wise max/min
/// with `SSUB8` + `SEL`.
#[inline(always)]
pub(crate) fn clamp4_pack(v: (i32, i32, i32, i32), oo: i32, lo4: u32, hi4: u32) -> u32 {
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        let (mut a0, mut a1, mut a2, mut a3) = v;
        let r: u32;
        // SAFETY: register arithmetic only; the GE flags SSUB8 sets are
        // consumed by the following SEL, the Q flag SSAT may set is never
        // read.
        unsafe {
            asm!(
                "add {a0}, {a0}, {oo}",
                "add {a1}, {a1}, {oo}",
                "add {a2}, {a2}, {oo}",
                "add {a3}, {a3}, {oo}",
                "ssat {a0}, #8, {a0}",
                "ssat {a1}, #8, {a1}",
                "ssat {a2}, #8, {a2}",
                "ssat {a3}, #8, {a3}",
                "uxtb {a0}, {a0}",
                "uxtb {a1}, {a1}",
                "uxtb {a2}, {a2}",
                "orr {a0}, {a0}, {a1}, lsl #8",
                "orr {a0}, {a0}, {a2}, lsl #16",
                "orr {a0}, {a0}, {a3}, lsl #24",
                "ssub8 {a1}, {a0}, {lo}",
                "sel {a0}, {a0}, {lo}",
                "ssub8 {a1}, {a0}, {hi}",
                "sel {r}, {hi}, {a0}",
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                oo = in(reg) oo,
                lo = in(reg) lo4,
                hi = in(reg) hi4,
                r = lateout(reg) r,
                options(pure, nomem, nostack),
            );
        }
        let _ = (a0, a1, a2, a3);
        r
    }
    #[cfg(not(mote_dsp))]
    {
        let lo = i32::from(lo4 as u8 as i8);
        let hi = i32::from(hi4 as u8 as i8);
        let c = |x: i32| u32::from(x.wrapping_add(oo).max(lo).min(hi) as i8 as u8);
        c(v.0) | (c(v.1) << 8) | (c(v.2) << 16) | (c(v.3) << 24)
    }
}
