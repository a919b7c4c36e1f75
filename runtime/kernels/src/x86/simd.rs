//! AVX2 building blocks: widened weight loads and the dot-product micro
//! kernels the twins share.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_add_epi64, _mm256_and_si256, _mm256_blend_epi32,
    _mm256_castsi256_si128, _mm256_cmpgt_epi32, _mm256_cvtepi8_epi16, _mm256_extracti128_si256,
    _mm256_hadd_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_max_epi32, _mm256_min_epi32,
    _mm256_mul_epi32, _mm256_packs_epi16, _mm256_packs_epi32, _mm256_permute2x128_si256,
    _mm256_permutevar8x32_epi32, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_setr_epi32,
    _mm256_setzero_si256, _mm256_slli_epi64, _mm256_sllv_epi32, _mm256_srai_epi32,
    _mm256_srav_epi32, _mm256_srli_epi32, _mm256_srli_epi64, _mm256_storeu_si256, _mm256_sub_epi32,
    _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_shuffle_epi32, _mm_storel_epi64,
};

use crate::requant::Requant;
use crate::shape::clamp_to_i8;

/// True if this CPU runs AVX2 code (CPU and operating system), asked once
/// with `cpuid`/`xgetbv` and cached; `no_std`, so it needs no `std_detect`.
#[inline]
pub(crate) fn has_avx2() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    // 0: not asked yet, 1: no, 2: yes.
    static AVX2: AtomicU8 = AtomicU8::new(0);
    match AVX2.load(Ordering::Relaxed) {
        0 => {
            let yes = detect_avx2();
            AVX2.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

/// `cpuid` leaf 7 reports AVX2, leaf 1 AVX and OSXSAVE, and `XCR0` shows
/// the OS saves the SSE and AVX register state.
fn detect_avx2() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: `cpuid` exists on every x86_64 CPU (the intrinsics are safe
    // to call on newer compilers, hence the allow).
    #[allow(unused_unsafe)]
    let (max_leaf, l1, l7) = unsafe { (__cpuid(0).eax, __cpuid(1), __cpuid_count(7, 0)) };
    let osxsave = l1.ecx & (1 << 27) != 0;
    let avx = l1.ecx & (1 << 28) != 0;
    if max_leaf < 7 || !osxsave || !avx || l7.ebx & (1 << 5) == 0 {
        return false;
    }
    // SAFETY: OSXSAVE is set, so `xgetbv` is available and enabled.
    let xcr0 = unsafe { xcr0() };
    xcr0 & 0b110 == 0b110
}

/// Reads `XCR0`.
///
/// # Safety
/// The CPU must report OSXSAVE.
#[target_feature(enable = "xsave")]
unsafe fn xcr0() -> u64 {
    core::arch::x86_64::_xgetbv(0)
}

/// Sixteen weights `w[pos..pos + 16]` sign-extended to 16 bits; those past
/// the end of `w` read as 0.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn wload(w: &[i8], pos: usize) -> __m256i {
    let v = match w.get(pos..pos.saturating_add(16)) {
        // 16 readable bytes.
        Some(s) => _mm_loadu_si128(s.as_ptr().cast()),
        None => {
            let mut t = [0i8; 16];
            for (d, s) in t.iter_mut().zip(w.get(pos..).unwrap_or(&[])) {
                *d = *s;
            }
            _mm_loadu_si128(t.as_ptr().cast())
        }
    };
    _mm256_cvtepi8_epi16(v)
}

/// Wrapping sum of the eight 32-bit lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b0100_1110>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b1011_0001>(s));
    _mm_cvtsi128_si32(s)
}

/// `acc + Σ a·b` over 16 lanes (pairwise `vpmaddwd`, wrapping adds).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn mac(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
}

/// Sixteen 16-bit values from `r[k..k + 16]`, or zeros if `r` is shorter.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn xload(r: &[i16], k: usize) -> __m256i {
    match r.get(k..k.saturating_add(16)) {
        // 16 readable lanes (32 bytes).
        Some(s) => _mm256_loadu_si256(s.as_ptr().cast()),
        None => _mm256_setzero_si256(),
    }
}

/// Dot products of four widened rows with two filter rows: `out[2p + j] =
/// Σ_k rows[p][k] * w[start[j] + k]` for `k < kp` (`kp` a multiple of 16, each
/// row `kp` long). Filter bytes past a row's taps meet the rows' zero tails,
/// so they add nothing; bytes past the end of `w` read as 0.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn dot4x2(rows: [&[i16]; 4], kp: usize, w: &[i8], start: [usize; 2]) -> [i32; 8] {
    let z = _mm256_setzero_si256();
    let (mut a00, mut a01, mut a10, mut a11) = (z, z, z, z);
    let (mut a20, mut a21, mut a30, mut a31) = (z, z, z, z);
    let [r0, r1, r2, r3] = rows;
    let rows_ok = rows.iter().all(|r| r.len() >= kp);
    let w_ok = start
        .iter()
        .all(|&s| s.checked_add(kp).is_some_and(|e| e <= w.len()));
    if rows_ok && w_ok {
        // Every load below is in bounds: rows hold `kp` lanes, `w` holds
        // `start[j] + kp` bytes.
        let (p0, p1, p2, p3) = (r0.as_ptr(), r1.as_ptr(), r2.as_ptr(), r3.as_ptr());
        let (q0, q1) = (w.as_ptr().add(start[0]), w.as_ptr().add(start[1]));
        let mut k = 0;
        while k < kp {
            let w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(q0.add(k).cast()));
            let w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(q1.add(k).cast()));
            let x = _mm256_loadu_si256(p0.add(k).cast());
            a00 = mac(a00, x, w0);
            a01 = mac(a01, x, w1);
            let x = _mm256_loadu_si256(p1.add(k).cast());
            a10 = mac(a10, x, w0);
            a11 = mac(a11, x, w1);
            let x = _mm256_loadu_si256(p2.add(k).cast());
            a20 = mac(a20, x, w0);
            a21 = mac(a21, x, w1);
            let x = _mm256_loadu_si256(p3.add(k).cast());
            a30 = mac(a30, x, w0);
            a31 = mac(a31, x, w1);
            k += 16;
        }
    } else {
        let mut k = 0;
        while k < kp {
            let w0 = wload(w, start[0].saturating_add(k));
            let w1 = wload(w, start[1].saturating_add(k));
            let x = xload(r0, k);
            a00 = mac(a00, x, w0);
            a01 = mac(a01, x, w1);
            let x = xload(r1, k);
            a10 = mac(a10, x, w0);
            a11 = mac(a11, x, w1);
            let x = xload(r2, k);
            a20 = mac(a20, x, w0);
            a21 = mac(a21, x, w1);
            let x = xload(r3, k);
            a30 = mac(a30, x, w0);
            a31 = mac(a31, x, w1);
            k += 16;
        }
    }
    reduce4x2([a00, a01, a10, a11, a20, a21, a30, a31])
}

/// The eight lane sums of `a` (wrapping `vphaddd`): per 128-bit half
/// [a0 a1 a2 a3] and [a4 a5 a6 a7], then the halves added.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn reduce4x2(a: [__m256i; 8]) -> [i32; 8] {
    let u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    let u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[4], a[5]), _mm256_hadd_epi32(a[6], a[7]));
    let s = _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(u0, u1),
        _mm256_permute2x128_si256::<0x31>(u0, u1),
    );
    let mut out = [0i32; 8];
    _mm256_storeu_si256(out.as_mut_ptr().cast(), s);
    out
}

/// A window of `rows` segments of `seg` lanes (a multiple of 16) read straight
/// from a padded, widened image: segment `r` of pixel `p` starts at
/// `img[base[p] + r * step]`, of filter `j` at `w[start[j] + r * seg]`.
pub(crate) struct WinDot<'a> {
    /// The padded image (lanes past the window meet zero weights).
    pub img: &'a [i16],
    /// Lanes between a window's segments.
    pub step: usize,
    /// Segments per window.
    pub rows: usize,
    /// Lanes per segment (multiple of 16).
    pub seg: usize,
    /// Widened filters, `rows * seg` lanes each, zero past each segment's taps.
    pub w: &'a [i16],
}

impl WinDot<'_> {
    /// `out[2p + j] = Σ_r Σ_k img[base[p] + r*step + k] * w[start[j] + r*seg + k]`.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn dot4x2(&self, base: [usize; 4], start: [usize; 2]) -> [i32; 8] {
        let z = _mm256_setzero_si256();
        let mut a = [z; 8];
        let span = self
            .rows
            .saturating_sub(1)
            .saturating_mul(self.step)
            .saturating_add(self.seg);
        let wspan = self.rows.saturating_mul(self.seg);
        let img_ok = base
            .iter()
            .all(|&b| b.checked_add(span).is_some_and(|e| e <= self.img.len()));
        let w_ok = start
            .iter()
            .all(|&b| b.checked_add(wspan).is_some_and(|e| e <= self.w.len()));
        if !(img_ok && w_ok) {
            return [0; 8]; // never: the caller sizes the image and filters
        }
        // Every load below is in bounds (checked just above).
        let ip = self.img.as_ptr();
        let wp = self.w.as_ptr();
        for r in 0..self.rows {
            let xo = r * self.step;
            let wo = r * self.seg;
            let (x0, x1, x2, x3) = (
                ip.add(base[0] + xo),
                ip.add(base[1] + xo),
                ip.add(base[2] + xo),
                ip.add(base[3] + xo),
            );
            let (w0p, w1p) = (wp.add(start[0] + wo), wp.add(start[1] + wo));
            let mut k = 0;
            while k < self.seg {
                let w0 = _mm256_loadu_si256(w0p.add(k).cast());
                let w1 = _mm256_loadu_si256(w1p.add(k).cast());
                let x = _mm256_loadu_si256(x0.add(k).cast());
                a[0] = mac(a[0], x, w0);
                a[1] = mac(a[1], x, w1);
                let x = _mm256_loadu_si256(x1.add(k).cast());
                a[2] = mac(a[2], x, w0);
                a[3] = mac(a[3], x, w1);
                let x = _mm256_loadu_si256(x2.add(k).cast());
                a[4] = mac(a[4], x, w0);
                a[5] = mac(a[5], x, w1);
                let x = _mm256_loadu_si256(x3.add(k).cast());
                a[6] = mac(a[6], x, w0);
                a[7] = mac(a[7], x, w1);
                k += 16;
            }
        }
        reduce4x2(a)
    }
}

/// Dot products of one widened row (`kp` long, a multiple of 16, zero tail)
/// with four filter rows starting at `start[j]` in `w`: `out[j] = Σ_k x[k] *
/// w[start[j] + k]`; bytes past the end of `w` read as 0.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn dot1x4(x: &[i16], kp: usize, w: &[i8], start: [usize; 4]) -> [i32; 4] {
    let z = _mm256_setzero_si256();
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    let inside = kp % 16 == 0
        && x.len() >= kp
        && start
            .iter()
            .all(|&s| s.checked_add(kp).is_some_and(|e| e <= w.len()));
    if inside {
        // Every load below is inside `x` and `w` (checked above), so they
        // skip the per-load bounds checks.
        // (`kp` a multiple of 16, so every load ends at or before `kp`:
        // `k + 16 <= kp <= x.len()` into `x`, `start[j] + k + 16 <= start[j]
        // + kp <= w.len()` into `w`.)
        let px = x.as_ptr();
        let [p0, p1, p2, p3] = start.map(|s| w.as_ptr().wrapping_add(s));
        let mut k = 0;
        while k < kp {
            let v = _mm256_loadu_si256(px.add(k).cast());
            a0 = mac(
                a0,
                v,
                _mm256_cvtepi8_epi16(_mm_loadu_si128(p0.add(k).cast())),
            );
            a1 = mac(
                a1,
                v,
                _mm256_cvtepi8_epi16(_mm_loadu_si128(p1.add(k).cast())),
            );
            a2 = mac(
                a2,
                v,
                _mm256_cvtepi8_epi16(_mm_loadu_si128(p2.add(k).cast())),
            );
            a3 = mac(
                a3,
                v,
                _mm256_cvtepi8_epi16(_mm_loadu_si128(p3.add(k).cast())),
            );
            k += 16;
        }
        return [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
    }
    let mut k = 0;
    while k < kp {
        let v = xload(x, k);
        a0 = mac(a0, v, wload(w, start[0].saturating_add(k)));
        a1 = mac(a1, v, wload(w, start[1].saturating_add(k)));
        a2 = mac(a2, v, wload(w, start[2].saturating_add(k)));
        a3 = mac(a3, v, wload(w, start[3].saturating_add(k)));
        k += 16;
    }
    [hsum(a0), hsum(a1), hsum(a2), hsum(a3)]
}

/// How a row of accumulators becomes int8: bias, requantisation, output
/// offset and clamp.
pub(crate) struct Finish<'a> {
    /// Empty or one entry per channel.
    pub bias: &'a [i32],
    /// The channels' scales (validated for the channel count).
    pub rq: &'a Requant<'a>,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// Lower clamp.
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

impl Finish<'_> {
    /// True if every scale is one the vector requantisation reproduces:
    /// shift within `[-31, 31]` and multiplier not `i32::MIN` (the only case
    /// where the doubling high multiply saturates).
    pub(crate) fn vector_ok(&self) -> bool {
        self.rq.shift.iter().all(|s| (-31..=31).contains(s))
            && !self.rq.multiplier.contains(&i32::MIN)
    }

    /// One channel, scalar: the reference arithmetic.
    #[inline]
    fn one(&self, acc: i32, oc: usize) -> i8 {
        let acc = acc.wrapping_add(self.bias.get(oc).copied().unwrap_or(0));
        let v = self.rq.apply(acc, oc).wrapping_add(self.output_offset);
        clamp_to_i8(v, self.act_min, self.act_max)
    }

    /// [`Self::row`] for each `width`-channel row of `acc` and `out` (pixels
    /// one after the other).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn rows(&self, acc: &[i32], out: &mut [i8], width: usize, vector: bool) {
        let w = width.max(1);
        for (a, o) in acc.chunks_exact(w).zip(out.chunks_exact_mut(w)) {
            self.row(a, o, vector);
        }
    }

    /// `out[c] = finish(acc[c], c)` for channels `0..out.len()`, eight at a
    /// time when `vector` (the caller's [`Self::vector_ok`]).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn row(&self, acc: &[i32], out: &mut [i8], vector: bool) {
        let n = out.len().min(acc.len());
        let mut c = 0;
        if vector {
            let per_channel = self.rq.is_per_channel();
            let (m1, s1) = self.rq.get(0);
            while c + 8 <= n {
                let (Some(a), Some(o)) = (acc.get(c..c + 8), out.get_mut(c..c + 8)) else {
                    break;
                };
                let mut x = _mm256_loadu_si256(a.as_ptr().cast());
                if let Some(b) = self.bias.get(c..c + 8) {
                    x = _mm256_add_epi32(x, _mm256_loadu_si256(b.as_ptr().cast()));
                }
                let (m, s) = match (
                    per_channel,
                    self.rq.multiplier.get(c..c + 8),
                    self.rq.shift.get(c..c + 8),
                ) {
                    (true, Some(m), Some(s)) => (
                        _mm256_loadu_si256(m.as_ptr().cast()),
                        _mm256_loadu_si256(s.as_ptr().cast()),
                    ),
                    _ => (_mm256_set1_epi32(m1), _mm256_set1_epi32(s1)),
                };
                let v = self.vector8(x, m, s);
                // Lanes are clamped within i8, so the saturating packs are
                // exact: per 128-bit half r0..r3 / r4..r7 as bytes, then the
                // two dwords gathered into the low 64 bits.
                let b = _mm256_packs_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
                let b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
                _mm_storel_epi64(o.as_mut_ptr().cast(), _mm256_castsi256_si128(b));
                c += 8;
            }
        }
        for (i, (d, &a)) in out.iter_mut().zip(acc).enumerate().skip(c) {
            *d = self.one(a, i);
        }
    }

    /// Eight lanes of `multiply_by_quantized_multiplier(x, m, s)`, then the
    /// output offset and the clamp: the left shift wraps; the doubling high
    /// multiply is `floor((x·m + 2^30) / 2^31)` (no saturation for
    /// `m != i32::MIN`), whose low 32 bits a logical 64-bit shift gives; the
    /// rounding divide by `2^right` rounds half away from zero.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn vector8(&self, x: __m256i, m: __m256i, s: __m256i) -> __m256i {
        let zero = _mm256_setzero_si256();
        let one = _mm256_set1_epi32(1);
        let left = _mm256_max_epi32(s, zero);
        let right = _mm256_max_epi32(_mm256_sub_epi32(zero, s), zero);
        let x = _mm256_sllv_epi32(x, left);
        let nudge = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_mul_epi32(x, m);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(m));
        let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(even, nudge));
        let odd = _mm256_srli_epi64::<31>(_mm256_add_epi64(odd, nudge));
        let h = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
        let rem = _mm256_and_si256(h, mask);
        let neg = _mm256_and_si256(_mm256_srai_epi32::<31>(h), one);
        let threshold = _mm256_add_epi32(_mm256_srli_epi32::<1>(mask), neg);
        let up = _mm256_and_si256(_mm256_cmpgt_epi32(rem, threshold), one);
        let r = _mm256_add_epi32(_mm256_srav_epi32(h, right), up);
        let r = _mm256_add_epi32(r, _mm256_set1_epi32(self.output_offset));
        let r = _mm256_max_epi32(r, _mm256_set1_epi32(self.act_min));
        _mm256_min_epi32(r, _mm256_set1_epi32(self.act_max))
    }
}
