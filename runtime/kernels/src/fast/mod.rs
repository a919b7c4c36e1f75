//! Optimised int8 twins of the reference kernels.
//!
//! Each function here has the same signature, the same validation and the
//! same integer arithmetic as its reference kernel and returns bit-identical
//! results (property tests in `tests/fast_equiv.rs` check every twin against
//! its reference). What differs is the loop structure: everything is
//! validated up front, each output pixel's valid kernel window is computed
//! once, and the work runs as contiguous dot products (`SXTB16` + `SMLAD` on
//! Cortex-M cores with the DSP extension). The input offset is folded out of
//! the inner loops: `Σ w·(x + off) = Σ w·x + off·Σ w`, exact in wrapping
//! `i32` arithmetic. Rare shapes (grouped convolution, depth multiplier > 1,
//! broadcasting) fall back to the reference kernel.

mod add;
mod conv;
mod depthwise;
mod dot;
mod dw_chans;
mod fc;
mod wide;

pub use add::add_s8_fast;
pub use conv::conv2d_s8_fast;
pub use depthwise::depthwise_conv2d_s8_fast;
pub use fc::fully_connected_s8_fast;
pub use wide::fully_connected_wide_s8;

/// Whether the conv tiles gather this convolution's windows row-padded
/// (each kernel row padded to whole groups of four and extended straight
/// from the input; the `conv-rows` feature): kernel rows of `k_w·in_c`
/// bytes that are not whole groups, at most a third longer padded, dilation
/// 1 across, and few enough filters that the extra groups' MACs cost less
/// than the gather they save (VWW's first layer: 8 filters, 2 extra groups).
pub fn conv_rows_apply(filter_dims: [usize; 4], dil_w: usize) -> bool {
    let [out_c, k_h, k_w, in_c] = filter_dims;
    let seg_len = k_w.saturating_mul(in_c);
    let seg_pad = seg_len.div_ceil(4) * 4;
    let plain = k_h.saturating_mul(seg_len).div_ceil(4) * 4;
    let extra_groups = k_h.saturating_mul(seg_pad).saturating_sub(plain) / 4;
    dil_w == 1
        && seg_len % 4 != 0
        && k_h > 1
        && 3 * seg_pad <= 4 * seg_len
        && out_c.saturating_mul(extra_groups) <= 16
}

/// Whether a depthwise convolution (depth multiplier 1) runs channels side
/// by side (`dw_chans`, the `depthwise-chans` feature): 3×3 kernels over a
/// multiple of four channels, on strided or small (at most 64 pixels)
/// output maps, with the full int8 activation range.
pub fn dw_chans_apply(
    filter_dims: [usize; 4],
    stride: [usize; 2],
    out_hw: usize,
    act: (i32, i32),
) -> bool {
    let [_, k_h, k_w, c] = filter_dims;
    k_h == 3 && k_w == 3 && c % 4 == 0 && (stride != [1, 1] || out_hw <= 64) && act == (-128, 127)
}

/// The valid filter taps `[lo, hi)` along one axis for output position `out`
/// and the input coordinate of tap `lo`: those `k < taps` with
/// `0 <= out*stride - pad + dil*k < len`. Matches the reference's per-tap
/// `inside` test (whose saturating coordinates only saturate far past any
/// valid index). Empty (`(0, 0, 0)`) if `len == 0`.
///
/// `stride`, `pad` and `dil` come from [`crate::conv::Window`] (at most
/// `i32::MAX`). With those and 32-bit `out` and `len` (always, on a 32-bit
/// target) every division is a 32-bit one: Cortex-M has no 64-bit divide,
/// and the library routine would cost about 1 KB of flash. Wider values
/// (64-bit hosts only) take [`tap_range_wide`].
#[inline]
pub(crate) fn tap_range(
    out: usize,
    stride: i64,
    pad: i64,
    dil: i64,
    len: usize,
    taps: usize,
) -> (usize, usize, usize) {
    const EMPTY: (usize, usize, usize) = (0, 0, 0);
    let (Ok(out32), Ok(len32), Ok(stride), Ok(pad), Ok(dil)) = (
        u32::try_from(out),
        u32::try_from(len),
        u32::try_from(stride),
        u32::try_from(pad),
        u32::try_from(dil),
    ) else {
        return tap_range_wide(out, stride, pad, dil, len, taps);
    };
    if len32 == 0 || taps == 0 || dil == 0 {
        return EMPTY;
    }
    // out * stride < 2^64: exact.
    let start = u64::from(out32) * u64::from(stride);
    let pad64 = u64::from(pad);
    let (lo, first) = if start >= pad64 {
        (0u32, start - pad64)
    } else {
        // pad - start <= pad < 2^32, and lo * dil < pad - start + dil < 2^33.
        let lo = ((pad64 - start) as u32).div_ceil(dil);
        (lo, start + u64::from(lo) * u64::from(dil) - pad64)
    };
    if first >= u64::from(len32) || lo as usize >= taps {
        return EMPTY;
    }
    // first < len < 2^32.
    let count = (len32 - first as u32).div_ceil(dil);
    let hi = (lo as usize).saturating_add(count as usize).min(taps);
    (lo as usize, hi, first as usize)
}

/// [`tap_range`] for values wider than 32 bits, in 64-bit arithmetic:
/// reachable only where `usize` or the window parameters exceed `u32`,
/// which never happens on a 32-bit target (there it is empty, so that no
/// 64-bit division is linked into firmware).
#[cfg_attr(target_pointer_width = "32", allow(unused_variables))]
fn tap_range_wide(
    out: usize,
    stride: i64,
    pad: i64,
    dil: i64,
    len: usize,
    taps: usize,
) -> (usize, usize, usize) {
    #[cfg(target_pointer_width = "32")]
    {
        (0, 0, 0)
    }
    #[cfg(not(target_pointer_width = "32"))]
    {
        if len == 0 || taps == 0 || dil <= 0 {
            return (0, 0, 0);
        }
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let base = i64::try_from(out)
            .unwrap_or(i64::MAX)
            .saturating_mul(stride)
            .saturating_sub(pad);
        if base >= len {
            return (0, 0, 0);
        }
        let lo = if base >= 0 {
            0
        } else {
            (base.saturating_neg().saturating_add(dil - 1)) / dil
        };
        let hi = (len.saturating_sub(base).saturating_add(dil - 1)) / dil;
        let lo = usize::try_from(lo).unwrap_or(usize::MAX).min(taps);
        let hi = usize::try_from(hi).unwrap_or(usize::MAX).min(taps);
        if lo < hi {
            let first = base.saturating_add(dil.saturating_mul(lo as i64));
            (lo, hi, usize::try_from(first).unwrap_or(0))
        } else {
            (0, 0, 0)
        }
    }
}

/// Whether the DSP-shaped paths run (the conv's four-pixel tiles over
/// sign-extended 16-bit pairs, the depthwise pre-extended weight tables):
/// always on builds with the DSP extension, where they pay off; in debug
/// builds elsewhere, so that their portable twins are property-tested on the
/// host; not in release builds without DSP (Cortex-M33 without `+dsp`, host
/// benchmarks), where the plain vectorisable loops are faster.
pub(crate) const DSP_SHAPED: bool = cfg!(mote_dsp) || cfg!(debug_assertions);

/// Output columns whose [`tap_range`] is precomputed by [`ColTaps`].
const COL_TAPS: usize = 96;

/// [`tap_range`] along the width for each output column, computed once per
/// layer for the first [`COL_TAPS`] columns (the rest on demand).
pub(crate) struct ColTaps {
    taps: [(u16, u16, u32); COL_TAPS],
    stride: i64,
    pad: i64,
    dil: i64,
    len: usize,
    k: usize,
    /// The table is filled (the ranges fit its fields).
    filled: bool,
}

impl ColTaps {
    /// The ranges for `out_w` columns of a window (`stride`, `pad`, `dil`
    /// along the width, input width `len`, kernel width `k`). Inlined: an
    /// outlined copy would add its own 0.8 KB frame under the conv tiles'.
    #[inline(always)]
    pub(crate) fn new(out_w: usize, stride: i64, pad: i64, dil: i64, len: usize, k: usize) -> Self {
        let mut taps = [(0u16, 0u16, 0u32); COL_TAPS];
        let small = k <= usize::from(u16::MAX) && u32::try_from(len).is_ok();
        if small {
            for (ox, t) in taps.iter_mut().enumerate().take(out_w) {
                let (a, b, c) = tap_range(ox, stride, pad, dil, len, k);
                *t = (a as u16, b as u16, c as u32);
            }
        }
        ColTaps {
            taps,
            stride,
            pad,
            dil,
            len,
            k,
            filled: small,
        }
    }

    /// `tap_range(ox, ..)`.
    #[inline(always)]
    pub(crate) fn get(&self, ox: usize) -> (usize, usize, usize) {
        match self.taps.get(ox) {
            Some(&(a, b, c)) if self.filled => (usize::from(a), usize::from(b), c as usize),
            _ => tap_range(ox, self.stride, self.pad, self.dil, self.len, self.k),
        }
    }
}

/// `s[start..start + len]`, or an empty slice if that range is not inside
/// `s` or overflows (callers only ask for validated ranges).
#[inline(always)]
pub(crate) fn seg<T>(s: &[T], start: usize, len: usize) -> &[T] {
    match start.checked_add(len) {
        Some(end) => s.get(start..end).unwrap_or(&[]),
        None => &[],
    }
}

/// Mutable twin of [`seg`].
#[inline(always)]
pub(crate) fn seg_mut<T>(s: &mut [T], start: usize, len: usize) -> &mut [T] {
    match start.checked_add(len) {
        Some(end) => s.get_mut(start..end).unwrap_or(&mut []),
        None => &mut [],
    }
}

/// [`Requant::apply`] for the optimised kernels: the same
/// `multiply_by_quantized_multiplier`, with the common case (shifts within
/// ±31, multiplier not `i32::MIN`) inlined branch-light; anything else goes
/// through the reference function.
#[inline(always)]
pub(crate) fn requant(rq: &crate::requant::Requant, acc: i32, channel: usize) -> i32 {
    let (m, shift) = rq.get(channel);
    mbqm(acc, m, shift)
}

/// `multiply_by_quantized_multiplier(x, m, shift)`, bit for bit.
#[inline(always)]
pub(crate) fn mbqm(x: i32, m: i32, shift: i32) -> i32 {
    if !(-31..=31).contains(&shift) || m == i32::MIN {
        return crate::fixedpoint::multiply_by_quantized_multiplier(x, m, shift);
    }
    let (left, right) = if shift > 0 {
        (shift as u32, 0u32)
    } else {
        (0u32, shift.unsigned_abs())
    };
    let x = ((x as u32) << left) as i32;
    // Saturating rounding doubling high multiply; m != i32::MIN, so the
    // only saturating case (both i32::MIN) cannot occur. TFLite's
    // `trunc((ab + (ab >= 0 ? 2^30 : 1 - 2^30)) / 2^31)` equals
    // `floor((ab + 2^30) / 2^31)` for every `ab` (write ab = q*2^31 + r,
    // 0 <= r < 2^31: both give q + [r >= 2^30]), an arithmetic shift.
    let ab = i64::from(x) * i64::from(m);
    let h = ((ab + (1 << 30)) >> 31) as i32;
    // Rounding divide by 2^right (0 <= right <= 31).
    let mask = ((1u32 << right) - 1) as i32;
    let rem = h & mask;
    let threshold = (mask >> 1) + i32::from(h < 0);
    (h >> right) + i32::from(rem > threshold)
}

/// One channel's requantisation, precomputed for the fast paths: the same
/// result as `multiply_by_quantized_multiplier(x, m, shift)` for
/// `m != i32::MIN` and `-31 <= shift <= 31`, as one 64-bit multiply-add and
/// one shift. With `e = -shift > 0` (a right shift), the reference's
/// `RoundingDivideByPOT(SRDHM(x, m), e)` is
/// `floor((x·m + 2^30 + 2^(30+e) - s·2^31) / 2^(31+e))`, where `s` says
/// whether the doubled high product is negative (the two floors merge
/// because the second divides an integer). Taking `s = [x·m < 0]` (the sign
/// of `x ^ m`) instead is exact too: the two differ only for
/// `-2^30 <= x·m < 0`, where both give 0. The result is the high word
/// shifted right by `e - 1`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChanRq {
    /// Q0.31 multiplier.
    m: i32,
    /// Left shift (`shift > 0`), else 0.
    left: u32,
    /// `e - 1` for a right shift `e >= 1`; `u32::MAX` for no right shift.
    sh: u32,
    /// `2^30 + 2^(30+e)` (right shift), unused otherwise.
    k: i64,
}

impl ChanRq {
    /// The constants for `(multiplier, shift)`, or `None` when the fast
    /// form does not apply (`m == i32::MIN` or `|shift| > 31`).
    #[inline]
    pub(crate) fn new(m: i32, shift: i32) -> Option<Self> {
        if !(-31..=31).contains(&shift) || m == i32::MIN {
            return None;
        }
        Some(if shift >= 0 {
            ChanRq {
                m,
                left: shift as u32,
                sh: u32::MAX,
                k: 1 << 30,
            }
        } else {
            let e = shift.unsigned_abs();
            ChanRq {
                m,
                left: 0,
                sh: e - 1,
                k: (1i64 << 30) + (1i64 << (30 + e)),
            }
        })
    }

    /// `multiply_by_quantized_multiplier(x, m, shift)`.
    #[inline(always)]
    pub(crate) fn apply(&self, x: i32) -> i32 {
        if self.sh == u32::MAX {
            let x = ((x as u32) << (self.left & 31)) as i32;
            ((i64::from(x) * i64::from(self.m) + (1 << 30)) >> 31) as i32
        } else {
            self.apply_right(x)
        }
    }

    /// [`Self::apply`] for a channel known to shift right (`e >= 1`).
    #[inline(always)]
    pub(crate) fn apply_right(&self, x: i32) -> i32 {
        #[cfg(mote_dsp)]
        {
            use core::arch::asm;
            let r: i32;
            // SAFETY: register arithmetic only (the flags are clobbered).
            // `w = x·m + k` by SMLAL, then `-2^31` added as a 64-bit value
            // (`0x8000_0000` to the low word, all ones plus the carry to the
            // high word) when `x ^ m` is negative; the result is the high
            // word shifted right by `sh <= 30`.
            unsafe {
                asm!(
                    "smlal {lo}, {hi}, {x}, {m}",
                    "eor {t}, {x}, {m}",
                    "and {x}, {t}, #0x80000000",
                    "adds {lo}, {lo}, {x}",
                    "adc {hi}, {hi}, {t}, asr #31",
                    "asr {hi}, {hi}, {sh}",
                    lo = inout(reg) self.k as u32 => _,
                    hi = inout(reg) (self.k >> 32) as u32 => r,
                    x = inout(reg) x => _,
                    m = in(reg) self.m,
                    sh = in(reg) self.sh & 31,
                    t = out(reg) _,
                    options(pure, nomem, nostack),
                );
            }
            r
        }
        #[cfg(not(mote_dsp))]
        {
            let s = i64::from((x ^ self.m) >> 31) << 31;
            let w = i64::from(x) * i64::from(self.m) + self.k + s;
            ((w >> 32) as i32) >> (self.sh & 31)
        }
    }

    /// [`band_of`] for this channel: the band constants (output offset
    /// `oo` included) of a right shift `2 <= e <= 21`, else `None`.
    #[inline]
    pub(crate) fn band_words(&self, oo: i32) -> Option<[u32; 3]> {
        if !(1..=20).contains(&self.sh) {
            return None;
        }
        band_of(self.m, -(self.sh as i32) - 1, oo)
    }

    /// True if the channel shifts right (then [`Self::apply_right`] applies).
    #[inline(always)]
    pub(crate) fn is_right(&self) -> bool {
        self.sh != u32::MAX
    }
}

/// [`band_one`] for four values of one channel, the constants loaded once
/// (the sparse tiled kernels).
#[inline(always)]
pub(crate) fn band4(q: &[u32; 3], a: [i32; 4]) -> [i8; 4] {
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        let [mut a0, mut a1, mut a2, mut a3] = a;
        // SAFETY: register arithmetic only (SSAT's Q flag is never read);
        // per value the sequence of `band_one`.
        unsafe {
            asm!(
                "add {hi}, {h}, {a0}, asr #31",
                "and {t}, {a0}, #0x80000000",
                "orr {t}, {t}, #0x40000000",
                "smlal {t}, {hi}, {a0}, {m}",
                "asr {a0}, {hi}, {sh}",
                "ssat {a0}, #8, {a0}",
                "add {hi}, {h}, {a1}, asr #31",
                "and {t}, {a1}, #0x80000000",
                "orr {t}, {t}, #0x40000000",
                "smlal {t}, {hi}, {a1}, {m}",
                "asr {a1}, {hi}, {sh}",
                "ssat {a1}, #8, {a1}",
                "add {hi}, {h}, {a2}, asr #31",
                "and {t}, {a2}, #0x80000000",
                "orr {t}, {t}, #0x40000000",
                "smlal {t}, {hi}, {a2}, {m}",
                "asr {a2}, {hi}, {sh}",
                "ssat {a2}, #8, {a2}",
                "add {hi}, {h}, {a3}, asr #31",
                "and {t}, {a3}, #0x80000000",
                "orr {t}, {t}, #0x40000000",
                "smlal {t}, {hi}, {a3}, {m}",
                "asr {a3}, {hi}, {sh}",
                "ssat {a3}, #8, {a3}",
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                m = in(reg) q[0],
                h = in(reg) q[1],
                sh = in(reg) q[2],
                t = out(reg) _,
                hi = out(reg) _,
                options(pure, nomem, nostack),
            );
        }
        [a0 as i8, a1 as i8, a2 as i8, a3 as i8]
    }
    #[cfg(not(mote_dsp))]
    {
        a.map(|x| band_one(q, x) as i8)
    }
}

/// The constants `[m, H, e - 1]` of the requantisation of a channel with
/// multiplier `m` and right shift `e = -shift`, output offset `oo` included:
/// `H = 2^(e-2) + oo·2^(e-1)`, for `2 <= e <= 21`, `m > 0` (as every
/// TFLite multiplier) and `|oo| <= 256` (else `None`). `multiply_by_quantized_multiplier(x, m,
/// -e)` is `floor((x·m + 2^30 + 2^(30+e) - s·2^31) / 2^(31+e))` with
/// `s = [x·m < 0]` (the rounding of the doubling high multiply and of the
/// divide merged; with `m > 0`, `s` is the sign bit of `x`). As a 64-bit value `2^30 + 2^(30+e) - s·2^31`
/// has low word `2^30 | s·2^31` and high word `2^(e-2) - s`; adding
/// `oo·2^(e-1)` to the high word before its shift by `e - 1` adds `oo` to
/// the result, and nothing overflows (the high word stays below
/// `2^30 + 2^28 + 2^19 + 1` in magnitude). [`band_one`] applies them.
#[inline(always)]
pub(crate) fn band_of(m: i32, shift: i32, oo: i32) -> Option<[u32; 3]> {
    if !band_ok(m, shift, oo) {
        return None;
    }
    let sh = shift.unsigned_abs() - 1;
    let h = (1i32 << (sh - 1)) + (oo << sh);
    Some([m as u32, h as u32, sh])
}

/// Whether [`band_of`] has constants for `(m, shift, oo)`.
#[inline(always)]
pub(crate) fn band_ok(m: i32, shift: i32, oo: i32) -> bool {
    m > 0 && (-21..=-2).contains(&shift) && (-256..=256).contains(&oo)
}

/// `clamp(mbqm(x) + oo, -128, 127)` by the constants of [`band_of`]
/// (which hold the output offset): one value of the
/// band requantisation of the conv tiles and the planar depthwise (`SMLAL`,
/// `ASR`, `SSAT` on DSP cores).
#[cfg(mote_dsp)]
#[inline(always)]
pub(crate) fn band_one(q: &[u32; 3], x: i32) -> i32 {
    use core::arch::asm;
    let r: i32;
    // SAFETY: register arithmetic only (SSAT's Q flag is never read); the
    // sequence of `tile_block`'s requantisation.
    unsafe {
        asm!(
            "add {hi}, {h}, {x}, asr #31",
            "and {t}, {x}, #0x80000000",
            "orr {t}, {t}, #0x40000000",
            "smlal {t}, {hi}, {x}, {m}",
            "asr {hi}, {hi}, {sh}",
            "ssat {hi}, #8, {hi}",
            x = in(reg) x,
            m = in(reg) q[0],
            h = in(reg) q[1],
            sh = in(reg) q[2],
            t = out(reg) _,
            hi = out(reg) r,
            options(pure, nomem, nostack),
        );
    }
    r
}

/// `clamp(mbqm(x) + oo, -128, 127)` by the constants of [`band_of`]
/// (which hold the output offset): the portable twin
/// of the band requantisation in the conv tiles and the planar depthwise.
#[cfg(not(mote_dsp))]
#[inline(always)]
pub(crate) fn band_one(q: &[u32; 3], x: i32) -> i32 {
    let (m, h, sh) = (q[0] as i32, q[1] as i32, q[2]);
    // `m > 0`: the product's sign is `x`'s.
    let lo = (x as u32 & 0x8000_0000) | 0x4000_0000;
    let hi = h.wrapping_add(x >> 31);
    let w = ((i64::from(hi) << 32) | i64::from(lo)) + i64::from(x) * i64::from(m);
    (((w >> 32) as i32) >> (sh & 31)).clamp(-128, 127)
}

/// [`ChanRq::apply_right`] of one channel for four values: the constants
/// loaded once.
#[inline(always)]
pub(crate) fn requant4_same(c: &ChanRq, a: (i32, i32, i32, i32)) -> (i32, i32, i32, i32) {
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        let (mut a0, mut a1, mut a2, mut a3) = a;
        // SAFETY: register arithmetic only (the flags are clobbered); the
        // same sequence as `ChanRq::apply_right`, with `k` copied into the
        // SMLAL accumulator pair for each value.
        unsafe {
            asm!(
                "mov {lo}, {kl}",
                "mov {hi}, {kh}",
                "smlal {lo}, {hi}, {a0}, {m}",
                "eor {t}, {a0}, {m}",
                "and {a0}, {t}, #0x80000000",
                "adds {lo}, {lo}, {a0}",
                "adc {hi}, {hi}, {t}, asr #31",
                "asr {a0}, {hi}, {sh}",
                "mov {lo}, {kl}",
                "mov {hi}, {kh}",
                "smlal {lo}, {hi}, {a1}, {m}",
                "eor {t}, {a1}, {m}",
                "and {a1}, {t}, #0x80000000",
                "adds {lo}, {lo}, {a1}",
                "adc {hi}, {hi}, {t}, asr #31",
                "asr {a1}, {hi}, {sh}",
                "mov {lo}, {kl}",
                "mov {hi}, {kh}",
                "smlal {lo}, {hi}, {a2}, {m}",
                "eor {t}, {a2}, {m}",
                "and {a2}, {t}, #0x80000000",
                "adds {lo}, {lo}, {a2}",
                "adc {hi}, {hi}, {t}, asr #31",
                "asr {a2}, {hi}, {sh}",
                "mov {lo}, {kl}",
                "mov {hi}, {kh}",
                "smlal {lo}, {hi}, {a3}, {m}",
                "eor {t}, {a3}, {m}",
                "and {a3}, {t}, #0x80000000",
                "adds {lo}, {lo}, {a3}",
                "adc {hi}, {hi}, {t}, asr #31",
                "asr {a3}, {hi}, {sh}",
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                m = in(reg) c.m,
                kl = in(reg) c.k as u32,
                kh = in(reg) (c.k >> 32) as u32,
                sh = in(reg) c.sh & 31,
                lo = out(reg) _,
                hi = out(reg) _,
                t = out(reg) _,
                options(pure, nomem, nostack),
            );
        }
        (a0, a1, a2, a3)
    }
    #[cfg(not(mote_dsp))]
    {
        (
            c.apply_right(a.0),
            c.apply_right(a.1),
            c.apply_right(a.2),
            c.apply_right(a.3),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::fixedpoint::multiply_by_quantized_multiplier;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn mbqm_matches_reference(x in any::<i32>(), m in any::<i32>(), s in -40i32..=40) {
            prop_assert_eq!(super::mbqm(x, m, s), multiply_by_quantized_multiplier(x, m, s));
        }

        #[test]
        fn chan_rq_matches_reference(x in any::<i32>(), m in any::<i32>(), s in -31i32..=31) {
            if let Some(c) = super::ChanRq::new(m, s) {
                prop_assert_eq!(c.apply(x), multiply_by_quantized_multiplier(x, m, s));
            } else {
                prop_assert_eq!(m, i32::MIN);
            }
        }

        #[test]
        fn band_of_matches_reference(x in any::<i32>(), m in any::<i32>(), s in -40i32..=40, oo in -300i32..=300) {
            let want = multiply_by_quantized_multiplier(x, m, s).wrapping_add(oo).clamp(-128, 127);
            if let Some(q) = super::band_of(m, s, oo) {
                prop_assert_eq!(super::band_one(&q, x), want);
            } else {
                prop_assert!(m <= 0 || !(-21..=-2).contains(&s) || !(-256..=256).contains(&oo));
            }
        }

        #[test]
        fn chan_rq_near_ties(x in any::<i32>(), s in -31i32..=31, k in 0i32..4) {
            let m = (1 << 30) + k - 2;
            for m in [m, -m] {
                let c = super::ChanRq::new(m, s).unwrap();
                prop_assert_eq!(c.apply(x), multiply_by_quantized_multiplier(x, m, s));
            }
        }

        #[test]
        fn mbqm_matches_reference_near_ties(x in any::<i32>(), s in -31i32..=31, k in 0i32..4) {
            // Multipliers that make the product land on or next to a tie.
            let m = (1 << 30) + k - 2;
            prop_assert_eq!(super::mbqm(x, m, s), multiply_by_quantized_multiplier(x, m, s));
            prop_assert_eq!(super::mbqm(x, -m, s), multiply_by_quantized_multiplier(x, -m, s));
        }
    }

    /// The taps `tap_range` should return, by trying each one (the
    /// reference's per-tap test).
    fn taps_by_enumeration(
        out: usize,
        stride: i64,
        pad: i64,
        dil: i64,
        len: usize,
        taps: usize,
    ) -> (usize, usize, usize) {
        let pos = |k: usize| out as i64 * stride - pad + dil * k as i64;
        let ok: Vec<usize> = (0..taps)
            .filter(|&k| pos(k) >= 0 && pos(k) < len as i64)
            .collect();
        match (ok.first(), ok.last()) {
            (Some(&a), Some(&b)) => (a, b + 1, pos(a) as usize),
            _ => (0, 0, 0),
        }
    }

    proptest! {
        #[test]
        fn sum_matches_plain_sum(
            len in 0usize..1100,
            extreme in any::<bool>(),
            start in 0usize..4,
            seed in any::<u64>(),
        ) {
            // All -128 (the lanes' worst case) or pseudo-random bytes, from
            // an unaligned start.
            let mut s = seed | 1;
            let v: Vec<i8> = (0..len + start)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    if extreme { -128 } else { s as i8 }
                })
                .collect();
            let a = &v[start..];
            let want = a.iter().map(|&x| i32::from(x)).sum::<i32>();
            prop_assert_eq!(super::dot::sum(a), want);
        }
    }

    #[test]
    fn tap_range_matches_enumeration() {
        for out in 0..12 {
            for stride in 1..4 {
                for pad in 0..6 {
                    for dil in 1..4 {
                        for len in 0..9 {
                            for taps in 0..6 {
                                let want = taps_by_enumeration(out, stride, pad, dil, len, taps);
                                let got = super::tap_range(out, stride, pad, dil, len, taps);
                                assert_eq!(got, want, "{out} {stride} {pad} {dil} {len} {taps}");
                            }
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn tap_range_large_values(
            out in 0usize..1 << 20,
            stride in 1i64..=i64::from(i32::MAX),
            pad in 0i64..=i64::from(i32::MAX),
            dil in 1i64..=i64::from(i32::MAX),
            len in 0usize..=u32::MAX as usize,
            taps in 0usize..64,
        ) {
            // The 32-bit path against the 64-bit one (itself checked by
            // enumeration above on small values).
            prop_assert_eq!(
                super::tap_range(out, stride, pad, dil, len, taps),
                super::tap_range_wide(out, stride, pad, dil, len, taps)
            );
            prop_assert_eq!(
                super::tap_range(out, stride, pad, dil, len, taps),
                taps_by_enumeration(out, stride, pad, dil, len, taps)
            );
        }
    }

    #[test]
    fn chan_rq_extremes() {
        for x in [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30) - 1,
            -(1 << 30),
            -1,
            0,
            1,
            i32::MAX,
        ] {
            for m in [i32::MIN + 1, -1, 0, 1, 1 << 30, i32::MAX] {
                for s in -31..=31 {
                    let c = super::ChanRq::new(m, s).unwrap();
                    assert_eq!(c.apply(x), multiply_by_quantized_multiplier(x, m, s));
                }
            }
        }
    }

    #[test]
    fn mbqm_extremes() {
        for x in [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX] {
            for m in [i32::MIN, i32::MIN + 1, -1, 0, 1, 1 << 30, i32::MAX] {
                for s in [-63, -32, -31, -1, 0, 1, 31, 32, i32::MIN, i32::MAX] {
                    assert_eq!(
                        super::mbqm(x, m, s),
                        multiply_by_quantized_multiplier(x, m, s)
                    );
                }
            }
        }
    }
}
