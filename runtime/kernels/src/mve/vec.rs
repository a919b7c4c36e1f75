//! Helium inner loops in `asm!` (MVE intrinsics are not stable in Rust).
//!
//! Each loop is `DLSTP.8 lr, n` ... `LETP lr`: sixteen int8 lanes per
//! iteration, the last iteration predicated to the `n % 16` lanes left, so
//! the loads never touch a byte at or past `n`. Sums wrap like TFLite's
//! `int32_t` accumulation. The scalar accumulator of `VMLADAVA`/`VADDVA`
//! must be an even-numbered register, hence the fixed r0/r2/r4/r8.

use core::arch::asm;

/// `(Σ x·w0, Σ x·w1)` over the first `n = min(len)` lanes.
#[inline]
pub(crate) fn dot2(x: &[i8], w0: &[i8], w1: &[i8]) -> (i32, i32) {
    let n = x.len().min(w0.len()).min(w1.len());
    let (mut a0, mut a1) = (0i32, 0i32);
    if n == 0 {
        return (0, 0);
    }
    // SAFETY: the loop reads exactly `n` bytes from each pointer (the last
    // iteration is predicated), all within the slices; it writes only the
    // named registers and the clobbered q0/q1 (d0-d3) and lr.
    unsafe {
        asm!(
            "dlstp.8 lr, {n}",
            "2:",
            "vldrb.8 q0, [{x}], #16",
            "vldrb.8 q1, [{w0}], #16",
            "vmladava.s8 r0, q0, q1",
            "vldrb.8 q1, [{w1}], #16",
            "vmladava.s8 r2, q0, q1",
            "letp lr, 2b",
            n = in(reg) n,
            x = inout(reg) x.as_ptr() => _,
            w0 = inout(reg) w0.as_ptr() => _,
            w1 = inout(reg) w1.as_ptr() => _,
            inout("r0") a0,
            inout("r2") a1,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            options(nostack, readonly)
        );
    }
    (a0, a1)
}

/// `Σ x·w` over the first `min(len)` lanes.
#[inline]
pub(crate) fn dot(x: &[i8], w: &[i8]) -> i32 {
    let n = x.len().min(w.len());
    let mut a = 0i32;
    if n == 0 {
        return 0;
    }
    // SAFETY: as in [`dot2`]: `n` bytes read from each slice.
    unsafe {
        asm!(
            "dlstp.8 lr, {n}",
            "2:",
            "vldrb.8 q0, [{x}], #16",
            "vldrb.8 q1, [{w}], #16",
            "vmladava.s8 r0, q0, q1",
            "letp lr, 2b",
            n = in(reg) n,
            x = inout(reg) x.as_ptr() => _,
            w = inout(reg) w.as_ptr() => _,
            inout("r0") a,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            options(nostack, readonly)
        );
    }
    a
}

/// `Σ x` over all lanes.
#[inline]
pub(crate) fn sum(x: &[i8]) -> i32 {
    let n = x.len();
    let mut a = 0i32;
    if n == 0 {
        return 0;
    }
    // SAFETY: as in [`dot2`]: `n` bytes read from `x`.
    unsafe {
        asm!(
            "dlstp.8 lr, {n}",
            "2:",
            "vldrb.8 q0, [{x}], #16",
            "vaddva.s8 r0, q0",
            "letp lr, 2b",
            n = in(reg) n,
            x = inout(reg) x.as_ptr() => _,
            inout("r0") a,
            out("lr") _,
            out("d0") _, out("d1") _,
            options(nostack, readonly)
        );
    }
    a
}

/// `(Σ x·w0, Σ x·w1, Σ w0, Σ w1)` over the first `min(len)` lanes.
#[inline]
pub(crate) fn dot2_sums(x: &[i8], w0: &[i8], w1: &[i8]) -> (i32, i32, i32, i32) {
    let n = x.len().min(w0.len()).min(w1.len());
    let (mut a0, mut a1, mut s0, mut s1) = (0i32, 0i32, 0i32, 0i32);
    if n == 0 {
        return (0, 0, 0, 0);
    }
    // SAFETY: as in [`dot2`]: `n` bytes read from each slice.
    unsafe {
        asm!(
            "dlstp.8 lr, {n}",
            "2:",
            "vldrb.8 q0, [{x}], #16",
            "vldrb.8 q1, [{w0}], #16",
            "vmladava.s8 r0, q0, q1",
            "vaddva.s8 r4, q1",
            "vldrb.8 q1, [{w1}], #16",
            "vmladava.s8 r2, q0, q1",
            "vaddva.s8 r8, q1",
            "letp lr, 2b",
            n = in(reg) n,
            x = inout(reg) x.as_ptr() => _,
            w0 = inout(reg) w0.as_ptr() => _,
            w1 = inout(reg) w1.as_ptr() => _,
            inout("r0") a0,
            inout("r2") a1,
            inout("r4") s0,
            inout("r8") s1,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            options(nostack, readonly)
        );
    }
    (a0, a1, s0, s1)
}

/// `dst[..n] = src[..n]` for `n = min(len)`, sixteen bytes per step.
#[inline]
pub(crate) fn copy(dst: &mut [i8], src: &[i8]) {
    let n = dst.len().min(src.len());
    if n == 0 {
        return;
    }
    // SAFETY: reads and writes exactly `n` bytes (the last iteration is
    // predicated), within `src` and `dst`; `dst` is exclusively borrowed.
    unsafe {
        asm!(
            "dlstp.8 lr, {n}",
            "2:",
            "vldrb.8 q0, [{s}], #16",
            "vstrb.8 q0, [{d}], #16",
            "letp lr, 2b",
            n = in(reg) n,
            s = inout(reg) src.as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr() => _,
            out("lr") _,
            out("d0") _, out("d1") _,
            options(nostack)
        );
    }
}

/// Requantisation in the form the vector loops read: one scale for every
/// channel, as `(multiplier, left, -right, rounds)` (left shift `>= 0`, minus
/// the right shift `<= 0` for `VRSHL`, 1 if the right shift is positive), or
/// the per-channel multipliers and shifts as the model stores them.
pub(crate) enum Scales<'a> {
    /// One scale.
    PerTensor([i32; 4]),
    /// Per-channel multipliers and shifts (equal lengths, every shift
    /// within `[-31, 31]`).
    PerChannel {
        /// Q0.31 multipliers.
        mult: &'a [i32],
        /// Shifts, positive = left.
        shift: &'a [i32],
    },
}

impl<'a> Scales<'a> {
    /// The scales of channels `first..first + channels` of `rq`, or `None`
    /// if a shift is outside `[-31, 31]` (the scalar requantisation then
    /// handles them).
    pub(crate) fn new(
        rq: &crate::requant::Requant<'a>,
        first: usize,
        channels: usize,
    ) -> Option<Self> {
        if !rq.is_per_channel() {
            let (m, s) = rq.get(0);
            return (-31..=31)
                .contains(&s)
                .then(|| Self::PerTensor([m, s.max(0), s.min(0), i32::from(s < 0)]));
        }
        let end = first.checked_add(channels)?;
        let mult = rq.multiplier.get(first..end)?;
        let shift = rq.shift.get(first..end)?;
        shift
            .iter()
            .all(|s| (-31..=31).contains(s))
            .then_some(Self::PerChannel { mult, shift })
    }

    /// `out[c] = clamp(mbqm(acc[c], m_c, s_c) + oo, lo, hi)` for the first
    /// `min(len)` channels, four per step: `VSHL` (wrapping left shift),
    /// `VQRDMULH` (TFLite's saturating rounding doubling high multiply, the
    /// same floor((a·b + 2^30) / 2^31) with the same saturation), then the
    /// rounding right shift: `VRSHL` rounds half up, so negative values
    /// under a positive shift first lose 1, which makes ties round away from
    /// zero as `RoundingDivideByPOT` does (the high multiply never returns
    /// `i32::MIN`, so the subtraction cannot wrap). `lo..=hi` lies within
    /// int8, so the narrowing byte store is exact (its base register must be
    /// a low register, hence r3).
    pub(crate) fn apply(&self, acc: &[i32], oo: i32, lo: i32, hi: i32, out: &mut [i8]) {
        match self {
            Self::PerTensor([m, l, nr, k]) => {
                let n = acc.len().min(out.len());
                if n == 0 {
                    return;
                }
                // SAFETY: reads `n` words from `acc` and writes `n` bytes to
                // `out` (the last iteration predicated); only named
                // registers, q0-q5 (d0-d11) and lr are written.
                unsafe {
                    asm!(
                        "vdup.32 q4, {lo}",
                        "vdup.32 q5, {hi}",
                        "vdup.32 q3, {k}",
                        "dlstp.32 lr, {n}",
                        "2:",
                        "vldrw.32 q0, [{acc}], #16",
                        "vshl.s32 q0, {l}",
                        "vqrdmulh.s32 q0, q0, {m}",
                        "vshr.s32 q2, q0, #31",
                        "vand q2, q2, q3",
                        "vsub.i32 q0, q0, q2",
                        "vrshl.s32 q0, {nr}",
                        "vadd.i32 q0, q0, {oo}",
                        "vmax.s32 q0, q0, q4",
                        "vmin.s32 q0, q0, q5",
                        "vstrb.32 q0, [r3], #4",
                        "letp lr, 2b",
                        n = in(reg) n,
                        acc = inout(reg) acc.as_ptr() => _,
                        inout("r3") out.as_mut_ptr() => _,
                        l = in(reg) *l,
                        m = in(reg) *m,
                        nr = in(reg) *nr,
                        k = in(reg) *k,
                        oo = in(reg) oo,
                        lo = in(reg) lo,
                        hi = in(reg) hi,
                        out("lr") _,
                        out("d0") _, out("d1") _, out("d4") _, out("d5") _,
                        out("d6") _, out("d7") _, out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                        options(nostack)
                    );
                }
            }
            Self::PerChannel { mult, shift } => {
                let n = acc.len().min(out.len()).min(mult.len()).min(shift.len());
                if n == 0 {
                    return;
                }
                // SAFETY: reads `n` words from `acc`, `mult` and `shift` and
                // writes `n` bytes to `out`; the last iteration is
                // predicated. Only named registers, q0-q7 (d0-d15) and lr are
                // written.
                unsafe {
                    asm!(
                        "vdup.32 q4, {lo}",
                        "vdup.32 q5, {hi}",
                        "dlstp.32 lr, {n}",
                        "2:",
                        "vldrw.32 q0, [{acc}], #16",
                        "vldrw.32 q1, [{s}], #16",
                        "vmov.i32 q6, #0",
                        "vmax.s32 q7, q1, q6",
                        "vmin.s32 q6, q1, q6",
                        "vshl.s32 q0, q0, q7",
                        "vldrw.32 q1, [{m}], #16",
                        "vqrdmulh.s32 q0, q0, q1",
                        "vshr.s32 q2, q0, #31",
                        "vshr.s32 q3, q6, #31",
                        "vand q2, q2, q3",
                        "vadd.i32 q0, q0, q2",
                        "vrshl.s32 q0, q0, q6",
                        "vadd.i32 q0, q0, {oo}",
                        "vmax.s32 q0, q0, q4",
                        "vmin.s32 q0, q0, q5",
                        "vstrb.32 q0, [r3], #4",
                        "letp lr, 2b",
                        n = in(reg) n,
                        acc = inout(reg) acc.as_ptr() => _,
                        s = inout(reg) shift.as_ptr() => _,
                        m = inout(reg) mult.as_ptr() => _,
                        inout("r3") out.as_mut_ptr() => _,
                        oo = in(reg) oo,
                        lo = in(reg) lo,
                        hi = in(reg) hi,
                        out("lr") _,
                        out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
                        out("d6") _, out("d7") _, out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                        out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                        options(nostack)
                    );
                }
            }
        }
    }
}
