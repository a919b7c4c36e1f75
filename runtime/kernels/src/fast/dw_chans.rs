//! Depthwise 3×3 over channels side by side (NHWC as stored), four at a
//! time: per output pixel and group of four channels, each tap's four input
//! bytes are one word, sign-extended into two 16-bit pairs and multiplied
//! lane by lane (`SMLABB`/`SMLATT`) by the tap's four weights, extended
//! once per call. About 30 instructions per output on Cortex-M DSP cores,
//! with no per-channel set-up: the path for small or strided maps (MobileNet's
//! late layers, 6×6 and 3×3), where the planar path's per-channel cost
//! dominates. Padding reads a row of `-input_offset`, which contributes
//! nothing once `input_offset · Σw` is folded into the bias.

use super::dot::{add16, ext_pair};
use super::{band_of, band_ok, seg, seg_mut, tap_range, ColTaps};
use crate::conv::{ConvParams, Window};
use crate::requant::Requant;
use crate::shape::Dims4;

/// Channels per chunk (the extended weights and per-channel constants are
/// built per chunk, on the stack).
const CH: usize = 64;
/// Taps of the kernel this path takes (3×3).
const TAPS: usize = 9;

/// Whether [`dw_chans`] takes this depthwise shape (depth multiplier 1;
/// [`super::dw_chans_apply`] in builds with the `depthwise-chans` feature).
pub(crate) fn takes(p: &ConvParams, filter_dims: Dims4, out_hw: usize) -> bool {
    cfg!(feature = "depthwise-chans")
        && super::dw_chans_apply(filter_dims, p.stride, out_hw, (p.act_min, p.act_max))
}

/// Runs the depthwise convolution (depth multiplier 1, shapes validated by
/// the caller, [`takes`] true) if every channel has band constants and the
/// padding value fits int8; returns false (nothing written) otherwise.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(crate) fn dw_chans(
    p: &ConvParams,
    win: &Window,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[i8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> bool {
    let [batches, in_h, in_w, c_n] = input_dims;
    let [_, k_h, k_w, _] = filter_dims;
    let [_, out_h, out_w, _] = output_dims;
    let off = p.input_offset;
    let Ok(pad_value) = i8::try_from(off.wrapping_neg()) else {
        return false;
    };
    if k_h * k_w != TAPS || c_n % 4 != 0 || c_n == 0 {
        return false;
    }
    let oo = p.output_offset;
    let banded = rq
        .multiplier
        .iter()
        .zip(rq.shift)
        .all(|(&m, &s)| band_ok(m, s, oo));
    if !banded {
        return false;
    }
    // Saturating: an empty input (no valid tap) may pair 0 with a huge size.
    let row_len = in_w.saturating_mul(c_n);
    let img_len = in_h.saturating_mul(row_len);
    let pad = [pad_value; CH];
    let cols = ColTaps::new(
        out_w,
        win.stride[1],
        win.padding[1],
        win.dilation[1],
        in_w,
        k_w,
    );
    let dil = [win.dilation[0] as usize, win.dilation[1] as usize];
    // Per group of four channels: the taps' weights as pairs (c0, c2),
    // (c1, c3), and [bias' ×4, (m, H, sh) ×4].
    let mut w16 = [0u32; CH / 4 * TAPS * 2];
    let mut cq = [0u32; CH / 4 * 16];
    let mut c0 = 0;
    while c0 < c_n {
        let nb = (c_n - c0).min(CH);
        let groups = nb / 4;
        let per_channel = rq.is_per_channel();
        let (m0, s0) = rq.get(0);
        let tensor = band_of(m0, s0, oo).unwrap_or([0; 3]);
        for (g, (wg, q)) in w16
            .chunks_exact_mut(TAPS * 2)
            .zip(cq.chunks_exact_mut(16))
            .take(groups)
            .enumerate()
        {
            let c = c0 + 4 * g;
            // The taps' four weights as pairs, and their sums per channel
            // (lanes c0, c2 and c1, c3; nine int8 values fit 16 bits).
            let (mut se, mut so) = (0u32, 0u32);
            for (t, w) in wg.chunks_exact_mut(2).enumerate() {
                let (e, o) = ext_pair(seg(filter, t * c_n + c, 4));
                (w[0], w[1]) = (e, o);
                se = add16(se, e);
                so = add16(so, o);
            }
            let lane = super::dot::lane16;
            let sums = [
                lane(se, false),
                lane(so, false),
                lane(se, true),
                lane(so, true),
            ];
            let b4: [i32; 4] = seg(bias, c, 4).try_into().unwrap_or([0; 4]);
            for (k, (e, sw)) in q.iter_mut().zip(sums).enumerate() {
                *e = b4[k].wrapping_add(off.wrapping_mul(sw)) as u32;
            }
            let bands = q.get_mut(4..16).unwrap_or(&mut []).chunks_exact_mut(3);
            if per_channel {
                let chans = seg(rq.multiplier, c, 4).iter().zip(seg(rq.shift, c, 4));
                for (e, (&m, &s)) in bands.zip(chans) {
                    let b = band_of(m, s, oo).unwrap_or([0; 3]);
                    (e[0], e[1], e[2]) = (b[0], b[1], b[2]);
                }
            } else {
                for e in bands {
                    (e[0], e[1], e[2]) = (tensor[0], tensor[1], tensor[2]);
                }
            }
        }
        let inner = Inner::new(
            dil[0].saturating_mul(row_len),
            dil[1].saturating_mul(c_n),
            nb,
        );
        for b in 0..batches {
            let img = seg(input, b * img_len, img_len);
            for oy in 0..out_h {
                let (ky0, ky1, iy0) = tap_range(
                    oy,
                    win.stride[0],
                    win.padding[0],
                    win.dilation[0],
                    in_h,
                    k_h,
                );
                let ob_row = (b * out_h + oy) * out_w * c_n + c0;
                for ox in 0..out_w {
                    let (kx0, kx1, ix0) = cols.get(ox);
                    let out = seg_mut(output, ob_row + ox * c_n, nb);
                    let at = iy0 * row_len + ix0 * c_n + c0;
                    if ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w {
                        let window = img.get(at..).unwrap_or(&[]);
                        inner.pixel(window, &w16, &cq, groups, out);
                        continue;
                    }
                    // A window over the padding: its inside taps from the
                    // image, the others from the padding row.
                    let mut taps = [pad.get(..nb).unwrap_or(&[]); TAPS];
                    for ky in ky0..ky1 {
                        let iy = iy0 + (ky - ky0) * dil[0];
                        for kx in kx0..kx1 {
                            let ix = ix0 + (kx - kx0) * dil[1];
                            if let Some(t) = taps.get_mut(ky * k_w + kx) {
                                *t = seg(img, iy * row_len + ix * c_n + c0, nb);
                            }
                        }
                    }
                    pixel_taps(&taps, &w16, &cq, groups, out);
                }
            }
        }
        c0 += nb;
    }
    true
}

/// The tap offsets of a window whose taps are all inside the image, from
/// its first tap's byte, and how far such a window reads.
struct Inner {
    offs: [usize; TAPS],
    reach: usize,
}

impl Inner {
    /// Rows `row` bytes apart, columns `col` apart, `n` channels read.
    fn new(row: usize, col: usize, n: usize) -> Self {
        let mut offs = [0usize; TAPS];
        for (t, o) in offs.iter_mut().enumerate() {
            *o = (t / 3)
                .saturating_mul(row)
                .saturating_add((t % 3).saturating_mul(col));
        }
        // The last tap is the furthest (row and column steps are >= 0; a
        // saturated reach is never inside an input).
        let reach = offs[TAPS - 1].saturating_add(n);
        Inner { offs, reach }
    }

    /// One output pixel of a window whose taps all lie in `window` (from
    /// its first tap's byte on); nothing unless `window` reaches that far.
    #[inline(always)]
    fn pixel(&self, window: &[i8], w16: &[u32], cq: &[u32], groups: usize, out: &mut [i8]) {
        let n = 4 * groups;
        if window.len() < self.reach || self.reach < self.offs[TAPS - 1].saturating_add(n) {
            return;
        }
        #[cfg(mote_dsp)]
        if tables_fit(w16, cq, groups, out) {
            let ptrs = self.offs.map(|o| window.as_ptr().wrapping_add(o));
            // SAFETY: every tap's `n` bytes lie in `window`: its offset is
            // at most the last one, and `offs[8] + n <= reach <=
            // window.len()`; the tables and `out` fit (checked).
            unsafe { run(&ptrs, w16, cq, groups, out) };
        }
        #[cfg(not(mote_dsp))]
        {
            let taps = self.offs.map(|o| window.get(o..o + n).unwrap_or(&[]));
            pixel_taps(&taps, w16, cq, groups, out);
        }
    }
}

/// Whether `w16` and `cq` hold `groups` groups and `out` their outputs.
#[inline(always)]
fn tables_fit(w16: &[u32], cq: &[u32], groups: usize, out: &[i8]) -> bool {
    groups > 0
        && out.len() == 4 * groups
        && w16.len() >= groups * TAPS * 2
        && cq.len() >= groups * 16
}

/// One output pixel from its taps' input bytes (`4·groups` each); nothing
/// unless every tap, `out` and the tables hold that many.
#[inline(never)]
fn pixel_taps(taps: &[&[i8]; TAPS], w16: &[u32], cq: &[u32], groups: usize, out: &mut [i8]) {
    if !tables_fit(w16, cq, groups, out) || taps.iter().any(|t| t.len() != 4 * groups) {
        return;
    }
    #[cfg(mote_dsp)]
    {
        let ptrs = taps.map(<[i8]>::as_ptr);
        // SAFETY: each tap holds `4·groups` bytes, the tables and `out` fit
        // (checked above).
        unsafe { run(&ptrs, w16, cq, groups, out) };
    }
    #[cfg(not(mote_dsp))]
    {
        let h = super::dot::lane16;
        for (g, (o4, (wg, q))) in out
            .chunks_exact_mut(4)
            .zip(w16.chunks_exact(TAPS * 2).zip(cq.chunks_exact(16)))
            .enumerate()
        {
            let mut acc = [q[0] as i32, q[1] as i32, q[2] as i32, q[3] as i32];
            for (t, w) in taps.iter().zip(wg.chunks_exact(2)) {
                let x = |k: usize| t.get(4 * g + k).map_or(0, |&b| i32::from(b));
                acc[0] = acc[0].wrapping_add(x(0) * h(w[0], false));
                acc[2] = acc[2].wrapping_add(x(2) * h(w[0], true));
                acc[1] = acc[1].wrapping_add(x(1) * h(w[1], false));
                acc[3] = acc[3].wrapping_add(x(3) * h(w[1], true));
            }
            for (k, (o, a)) in o4.iter_mut().zip(acc).enumerate() {
                let c = [q[4 + 3 * k], q[5 + 3 * k], q[6 + 3 * k]];
                *o = super::band_one(&c, a) as i8;
            }
        }
    }
}

/// The DSP loop over the `groups` groups of one output pixel. It names r9
/// (all twelve allocatable registers are needed), so it does not build for
/// targets that reserve r9 (`+reserve-r9`, RWPI).
///
/// # Safety
/// Each `ptrs[t]` addresses `4·groups` readable bytes; `w16` holds
/// `18·groups` words, `cq` `16·groups` and `out` `4·groups` bytes.
#[cfg(mote_dsp)]
#[inline(always)]
unsafe fn run(ptrs: &[*const i8; TAPS], w16: &[u32], cq: &[u32], groups: usize, out: &mut [i8]) {
    use core::arch::asm;
    macro_rules! tap {
        ($t:literal) => {
            concat!(
                "ldr r8, [r10, #",
                stringify!($t),
                "*4]\n",
                "ldr r8, [r8, r11]\n",
                "sxtb16 r9, r8\n",
                "sxtb16 r8, r8, ror #8\n",
                "ldrd r4, r5, [r12], #8\n",
                "smlabb r0, r9, r4, r0\n",
                "smlatt r2, r9, r4, r2\n",
                "smlabb r1, r8, r5, r1\n",
                "smlatt r3, r8, r5, r3\n",
            )
        };
    }
    macro_rules! rescale {
        ($r:literal) => {
            concat!(
                "ldm lr!, {{r4, r5, r8}}\n",
                "add r5, r5, ",
                $r,
                ", asr #31\n",
                "and r9, ",
                $r,
                ", #0x80000000\n",
                "orr r9, r9, #0x40000000\n",
                "smlal r9, r5, ",
                $r,
                ", r4\n",
                "asr ",
                $r,
                ", r5, r8\n",
                "ssat ",
                $r,
                ", #8, ",
                $r,
                "\n",
            )
        };
    }
    // SAFETY: per group `g < groups`: the word at byte `4g` of each tap
    // (`ptrs`, `4·groups` bytes each by the caller's contract; unaligned
    // LDR is allowed for normal memory; r11 = 4g), 18 words of `w16` and
    // 16 of `cq` (`u32` slices, 4-aligned for LDRD/LDM) are read and the
    // word at byte `4g` of `out` written (unaligned STR allowed). An
    // 8-byte frame (output pointer, end offset) is pushed below `sp` and
    // popped before the block ends. The flags are clobbered; SMLAxy's
    // and SSAT's Q flag is never read.
    unsafe {
        asm!(
            "sub sp, sp, #8",
            "str r0, [sp]",
            "str r1, [sp, #4]",
            "2:",
            "ldm lr!, {{r0, r1, r2, r3}}",
            tap!(0),
            tap!(1),
            tap!(2),
            tap!(3),
            tap!(4),
            tap!(5),
            tap!(6),
            tap!(7),
            tap!(8),
            rescale!("r0"),
            rescale!("r1"),
            rescale!("r2"),
            rescale!("r3"),
            "bfi r0, r1, #8, #8",
            "bfi r0, r2, #16, #8",
            "bfi r0, r3, #24, #8",
            "ldr r4, [sp]",
            "str r0, [r4], #4",
            "str r4, [sp]",
            "add r11, r11, #4",
            "ldr r4, [sp, #4]",
            "cmp r11, r4",
            "bne 2b",
            "add sp, sp, #8",
            inout("r0") out.as_mut_ptr() => _,
            inout("r1") 4 * groups => _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            in("r10") ptrs.as_ptr(),
            inout("r11") 0usize => _,
            inout("r12") w16.as_ptr() => _,
            inout("lr") cq.as_ptr() => _,
        );
    }
}
