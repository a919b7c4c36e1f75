//! Optimised twin of [`crate::add_s8`].

use super::dot::clamp4_pack;
use super::ChanRq;
use crate::elementwise::{add_s8, AddParams};
use crate::error::KernelError;
use crate::fixedpoint::{multiply_by_quantized_multiplier_smaller_than_one_exp, shl_wrapping};
use crate::shape::{check_act_range, check_len, clamp_to_i8, Dims4};

/// Below this many elements the tables cost more than they save.
const TABLE_MIN_LEN: usize = 512;

/// Optimised [`crate::add_s8`]: same signature, validation and results bit
/// for bit. For same-shape inputs of at least 512 elements, each input's
/// offset, headroom shift and rescale (which depend on one int8 value only)
/// are precomputed into a 256-entry table, leaving one requantisation per
/// element. Broadcasts and short tensors use the reference kernel.
pub fn add_s8_fast(
    p: &AddParams,
    in1: &[i8],
    in1_dims: Dims4,
    in2: &[i8],
    in2_dims: Dims4,
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    if in1_dims != output_dims || in2_dims != output_dims || output.len() < TABLE_MIN_LEN {
        return add_s8(p, in1, in1_dims, in2, in2_dims, output, output_dims);
    }
    check_act_range(p.act_min, p.act_max)?;
    if !(0..=31).contains(&p.left_shift) {
        return Err(KernelError::InvalidParameter);
    }
    check_len(in1.len(), in1_dims)?;
    check_len(in2.len(), in2_dims)?;
    check_len(output.len(), output_dims)?;
    let table = |offset: i32, mult: i32, shift: i32| -> [i32; 256] {
        let mut t = [0i32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let x = i32::from(i as u8 as i8);
            let a = shl_wrapping(x.wrapping_add(offset), p.left_shift);
            *e = multiply_by_quantized_multiplier_smaller_than_one_exp(a, mult, shift);
        }
        t
    };
    let t1 = table(p.input1_offset, p.input1_multiplier, p.input1_shift);
    let t2 = table(p.input2_offset, p.input2_multiplier, p.input2_shift);
    // The output rescale is `multiply_by_quantized_multiplier` with the
    // shift capped at 0; [`ChanRq`] computes it with one 64-bit
    // multiply-add when it applies.
    if let Some(c) = ChanRq::new(p.output_multiplier, p.output_shift.min(0)) {
        add_tables(&t1, &t2, in1, in2, output, c, p);
        return Ok(());
    }
    for ((o, &a), &b) in output.iter_mut().zip(in1).zip(in2) {
        let s = t1[usize::from(a as u8)].wrapping_add(t2[usize::from(b as u8)]);
        let raw = multiply_by_quantized_multiplier_smaller_than_one_exp(
            s,
            p.output_multiplier,
            p.output_shift,
        )
        .wrapping_add(p.output_offset);
        *o = clamp_to_i8(raw, p.act_min, p.act_max);
    }
    Ok(())
}

/// The same-shape loop: two table lookups, one [`ChanRq`] rescale, offset
/// and clamp per element. Kept out of line so that its constants stay in
/// registers.
#[inline(never)]
fn add_tables(
    t1: &[i32; 256],
    t2: &[i32; 256],
    in1: &[i8],
    in2: &[i8],
    output: &mut [i8],
    c: ChanRq,
    p: &AddParams,
) {
    let (oo, lo, hi) = (p.output_offset, p.act_min, p.act_max);
    let lo4 = u32::from(lo as u8) * 0x0101_0101;
    let hi4 = u32::from(hi as u8) * 0x0101_0101;
    let n = output.len().min(in1.len()).min(in2.len());
    let (output, in1, in2) = (
        output.get_mut(..n).unwrap_or(&mut []),
        in1.get(..n).unwrap_or(&[]),
        in2.get(..n).unwrap_or(&[]),
    );
    #[cfg(mote_dsp)]
    if lo == -128 && hi == 127 && n > 0 {
        if let Some(q) = c.band_words(oo) {
            add_band(t1, t2, in1, in2, output, &q);
            return;
        }
    }
    let sum = |a: i8, b: i8| t1[usize::from(a as u8)].wrapping_add(t2[usize::from(b as u8)]);
    // Four elements per step: one packed clamp and one word store.
    let mut o4 = output.chunks_exact_mut(4);
    let mut a4 = in1.chunks_exact(4);
    let mut b4 = in2.chunks_exact(4);
    for ((o, a), b) in (&mut o4).zip(&mut a4).zip(&mut b4) {
        if let ([o0, o1, o2, o3], [a0, a1, a2, a3], [b0, b1, b2, b3]) = (o, a, b) {
            let (s0, s1, s2, s3) = (sum(*a0, *b0), sum(*a1, *b1), sum(*a2, *b2), sum(*a3, *b3));
            let v = if c.is_right() {
                (
                    c.apply_right(s0),
                    c.apply_right(s1),
                    c.apply_right(s2),
                    c.apply_right(s3),
                )
            } else {
                (c.apply(s0), c.apply(s1), c.apply(s2), c.apply(s3))
            };
            let q = clamp4_pack(v, oo, lo4, hi4);
            *o0 = q as u8 as i8;
            *o1 = (q >> 8) as u8 as i8;
            *o2 = (q >> 16) as u8 as i8;
            *o3 = (q >> 24) as u8 as i8;
        }
    }
    let tail = o4
        .into_remainder()
        .iter_mut()
        .zip(a4.remainder())
        .zip(b4.remainder());
    for ((o, &a), &b) in tail {
        *o = clamp_to_i8(c.apply(sum(a, b)).wrapping_add(oo), lo, hi);
    }
}

/// The same-shape loop on DSP cores for the full activation range: per
/// element two table lookups, then the band requantisation of
/// [`ChanRq::band_words`] (output offset included) and `SSAT`. The three
/// slices have one (non-zero) length.
#[cfg(mote_dsp)]
#[inline(never)]
fn add_band(
    t1: &[i32; 256],
    t2: &[i32; 256],
    in1: &[i8],
    in2: &[i8],
    output: &mut [i8],
    q: &[u32; 3],
) {
    use core::arch::asm;
    let n = output.len();
    if n == 0 || in1.len() != n || in2.len() != n {
        return;
    }
    // SAFETY: `n >= 1` bytes are read from `in1` and `in2` and written to
    // `output` (equal lengths, checked above); each table is indexed by an
    // unsigned byte (LDRB zero-extends), inside its 256 words. SMLAL/ASR/
    // SSAT arithmetic: see `ChanRq::band_words`; SSAT's Q flag is never
    // read; the flags are clobbered.
    unsafe {
        asm!(
            "2:",
            "ldrb {a}, [{pa}], #1",
            "ldrb {b}, [{pb}], #1",
            "ldr {a}, [{t1}, {a}, lsl #2]",
            "ldr {b}, [{t2}, {b}, lsl #2]",
            "add {a}, {a}, {b}",
            "add {hi}, {h}, {a}, asr #31",
            "and {b}, {a}, #0x80000000",
            "orr {b}, {b}, #0x40000000",
            "smlal {b}, {hi}, {a}, {m}",
            "asr {a}, {hi}, {sh}",
            "ssat {a}, #8, {a}",
            "strb {a}, [{po}], #1",
            "subs {n}, {n}, #1",
            "bne 2b",
            pa = inout(reg) in1.as_ptr() => _,
            pb = inout(reg) in2.as_ptr() => _,
            po = inout(reg) output.as_mut_ptr() => _,
            t1 = in(reg) t1.as_ptr(),
            t2 = in(reg) t2.as_ptr(),
            m = in(reg) q[0],
            h = in(reg) q[1],
            sh = in(reg) q[2],
            n = inout(reg) n => _,
            a = out(reg) _,
            b = out(reg) _,
            hi = out(reg) _,
            options(nostack),
        );
    }
}
