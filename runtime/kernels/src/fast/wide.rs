//! FullyConnected over the wide filter layout (the `.mote` `WideS8`
//! encoding: int8 weights stored as `i16`, four rows interleaved per group
//! of four inputs, see [`crate::weights::Wide`]). The input row is
//! sign-extended once with its offset; each group then costs one `LDRD` of
//! the input, two `LDM` of the four rows' weights and eight `SMLAD`: no
//! per-weight sign extension, about 0.73 instructions per MAC on Cortex-M
//! DSP cores instead of 1.4 for int8 weights.

use super::dot::off_fits_i16;
use super::fc::{rescale, XG_MAX};
use super::{band_of, seg};
use crate::error::KernelError;
use crate::fully_connected::{check_fc, fully_connected_with, FcParams};
use crate::requant::Requant;
use crate::weights::Wide;

/// Int8-activation fully connected whose `[out_features, in_features]`
/// filter is in the wide layout (`filter`: `8·ceil(out/4)·ceil(in/4)`
/// little-endian words). Same arithmetic, validation and results bit for bit
/// as [`crate::fully_connected_s8`] fed the int8 values; a per-tensor
/// `filter_offset` other than 0 is refused with
/// [`KernelError::InvalidParameter`] (the layout holds symmetric weights).
/// Rows longer than 1024 inputs, or an input offset beyond ±32,640, run
/// through the reference loop over the same layout.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn fully_connected_wide_s8(
    p: &FcParams,
    rq: &Requant,
    input: &[i8],
    batches: usize,
    in_features: usize,
    filter: &[u32],
    bias: &[i32],
    output: &mut [i8],
    out_features: usize,
) -> Result<(), KernelError> {
    if !rq.is_per_channel() && p.filter_offset != 0 {
        return Err(KernelError::InvalidParameter);
    }
    let wide = Wide {
        words: filter,
        rows: out_features,
        cols: in_features,
    };
    check_fc(
        p,
        rq,
        (input.len(), output.len()),
        batches,
        in_features,
        wide,
        bias,
        out_features,
    )?;
    let groups = in_features.div_ceil(4);
    if groups > XG_MAX || !off_fits_i16(p.input_offset) {
        return fully_connected_with(
            p,
            rq,
            input,
            batches,
            in_features,
            wide,
            bias,
            output,
            out_features,
        );
    }

    let mut xbuf = [0u32; 2 * XG_MAX];
    let oo = p.output_offset;
    let (m0, s0) = rq.get(0);
    let tensor = (m0, s0, band_of(m0, s0, oo));
    for (b, out_row) in output.chunks_exact_mut(out_features.max(1)).enumerate() {
        extend(
            seg(input, b * in_features, in_features),
            p.input_offset,
            &mut xbuf,
        );
        let row = Row {
            x16: xbuf.get(..2 * groups).unwrap_or(&[]),
            filter,
            groups,
            bias,
            p,
        };
        quads(&row, out_row, rq, tensor);
    }
    Ok(())
}

/// One batch row: the extended input and what every output shares.
struct Row<'a> {
    x16: &'a [u32],
    filter: &'a [u32],
    groups: usize,
    bias: &'a [i32],
    p: &'a FcParams,
}

/// Every output of one batch row, four per pass over the input; `tensor`
/// holds the per-tensor multiplier, shift and band constants (used unless
/// `rq` is per channel).
#[inline(always)]
fn quads(r: &Row, out: &mut [i8], rq: &Requant, tensor: (i32, i32, Option<[u32; 3]>)) {
    let block = 8 * r.groups;
    let per_channel = rq.is_per_channel();
    let oo = r.p.output_offset;
    let mut quads = out.chunks_exact_mut(4);
    let mut o = 0;
    for quad in &mut quads {
        let d = dot4_wide(r.x16, seg(r.filter, o * 2 * r.groups, block), r.groups);
        let b4: [i32; 4] = seg(r.bias, o, 4).try_into().unwrap_or([0; 4]);
        let y: [i8; 4] = if per_channel {
            let m4: [i32; 4] = seg(rq.multiplier, o, 4).try_into().unwrap_or([0; 4]);
            let s4: [i32; 4] = seg(rq.shift, o, 4).try_into().unwrap_or([0; 4]);
            core::array::from_fn(|k| {
                let c = (m4[k], s4[k], band_of(m4[k], s4[k], oo));
                rescale(d[k].wrapping_add(b4[k]), c, r.p)
            })
        } else {
            core::array::from_fn(|k| rescale(d[k].wrapping_add(b4[k]), tensor, r.p))
        };
        quad.copy_from_slice(&y);
        o += 4;
    }
    let rest = quads.into_remainder();
    if !rest.is_empty() {
        let d = dot4_wide(r.x16, seg(r.filter, o * 2 * r.groups, block), r.groups);
        for (k, y) in rest.iter_mut().enumerate() {
            let (m, s) = rq.get(o + k);
            let c = if per_channel {
                (m, s, band_of(m, s, oo))
            } else {
                tensor
            };
            let b = r.bias.get(o + k).copied().unwrap_or(0);
            *y = rescale(d[k % 4].wrapping_add(b), c, r.p);
        }
    }
}

/// `x + io` as the 16-bit pairs the wide layout multiplies: group `g` in
/// words `2g` (`x[4g]`, `x[4g + 2]`) and `2g + 1` (`x[4g + 1]`, `x[4g + 3]`);
/// lanes past the end of `x` are 0.
fn extend(x: &[i8], io: i32, buf: &mut [u32]) {
    let lane = |v: Option<&i8>| v.map_or(0, |&v| (i32::from(v) + io) as u32 & 0xffff);
    for (c, d) in x.chunks(4).zip(buf.chunks_exact_mut(2)) {
        d[0] = lane(c.first()) | (lane(c.get(2)) << 16);
        d[1] = lane(c.get(1)) | (lane(c.get(3)) << 16);
    }
}

/// Four rows' dot products over `groups` groups: `x` holds two words per
/// group, `w` eight (rows 0..4, two words each) per group.
#[inline(always)]
fn dot4_wide(x: &[u32], w: &[u32], groups: usize) -> [i32; 4] {
    let groups = groups.min(x.len() / 2).min(w.len() / 8);
    let mut a = [0i32; 4];
    if groups == 0 {
        return a;
    }
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        let [mut a0, mut a1, mut a2, mut a3] = a;
        // Four groups per iteration; `groups % 4 = r > 0` enters the body at
        // its group `4 - r` (a byte table of half-word offsets from its own
        // start, indexed by r).
        macro_rules! group {
            () => {
                concat!(
                    "ldrd {x0}, {x1}, [{px}], #8\n",
                    "ldm {pw}!, {{r2, r3, r4, r5}}\n",
                    "smlad {a0}, {x0}, r2, {a0}\n",
                    "smlad {a0}, {x1}, r3, {a0}\n",
                    "smlad {a1}, {x0}, r4, {a1}\n",
                    "smlad {a1}, {x1}, r5, {a1}\n",
                    "ldm {pw}!, {{r2, r3, r4, r5}}\n",
                    "smlad {a2}, {x0}, r2, {a2}\n",
                    "smlad {a2}, {x1}, r3, {a2}\n",
                    "smlad {a3}, {x0}, r4, {a3}\n",
                    "smlad {a3}, {x1}, r5, {a3}\n",
                )
            };
        }
        // SAFETY: `groups >= 1` groups are read: 8 bytes of `x` and 32 of
        // `w` each, both `u32` slices (4-aligned for LDRD and LDM) holding at
        // least that many; the loop ends when `px` reaches the end pointer
        // (`x + 8·groups` bytes), kept in an 8-byte slot pushed below `sp`
        // and popped before the block ends. The flags are clobbered.
        unsafe {
            asm!(
                "add {x1}, {px}, {x0}, lsl #3",
                "str {x1}, [sp, #-8]!",
                "and {x0}, {x0}, #3",
                "tbb [pc, {x0}]",
                "8:",
                ".byte (2f - 8b) / 2",
                ".byte (13f - 8b) / 2",
                ".byte (12f - 8b) / 2",
                ".byte (11f - 8b) / 2",
                "2:",
                group!(),
                "11:",
                group!(),
                "12:",
                group!(),
                "13:",
                group!(),
                "ldr {x1}, [sp]",
                "cmp {px}, {x1}",
                "bne 2b",
                "add sp, sp, #8",
                px = inout(reg) x.as_ptr() => _,
                pw = inout(reg) w.as_ptr() => _,
                x0 = inout(reg) groups => _,
                x1 = out(reg) _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
            );
        }
        a = [a0, a1, a2, a3];
    }
    #[cfg(not(mote_dsp))]
    {
        let h = super::dot::lane16;
        let smlad = |x: u32, w: u32| {
            (h(x, false).wrapping_mul(h(w, false)))
                .wrapping_add(h(x, true).wrapping_mul(h(w, true)))
        };
        for (xg, wg) in x.chunks_exact(2).zip(w.chunks_exact(8)).take(groups) {
            for (k, acc) in a.iter_mut().enumerate() {
                let s = smlad(xg[0], wg[2 * k]).wrapping_add(smlad(xg[1], wg[2 * k + 1]));
                *acc = acc.wrapping_add(s);
            }
        }
    }
    a
}
