//! x86_64 twin of [`crate::fully_connected_s8`].

use super::simd::{dot1x4, has_avx2, Finish};
use super::{sum16, widen, KMAX, OCMAX, OFF_MAX};
use crate::error::KernelError;
use crate::fully_connected::FcParams;
use crate::requant::Requant;
use crate::shape::check_act_range;

/// [`crate::fully_connected_s8`] on x86_64: same signature, validation and
/// results bit for bit. Each input row is widened once (offset added) and
/// four output rows share each pass over it (AVX2); the filter offset is
/// folded out, `Σ (w + fo)(x + io) = Σ w·(x + io) + fo·Σ (x + io)`.
/// Calls the vector path does not cover go to
/// [`crate::fast::fully_connected_s8_fast`].
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_s8_x86(
    p: &FcParams,
    rq: &Requant,
    input: &[i8],
    batches: usize,
    in_features: usize,
    filter: &[i8],
    bias: &[i32],
    output: &mut [i8],
    out_features: usize,
) -> Result<(), KernelError> {
    let covered = has_avx2()
        && batches.checked_mul(in_features) == Some(input.len())
        && out_features.checked_mul(in_features) == Some(filter.len())
        && batches.checked_mul(out_features) == Some(output.len())
        && (bias.is_empty() || bias.len() == out_features)
        && check_act_range(p.act_min, p.act_max).is_ok()
        && rq.validate(out_features).is_ok()
        && in_features <= KMAX
        && out_features > 0
        && out_features <= OCMAX
        && (-OFF_MAX..=OFF_MAX).contains(&p.input_offset);
    if covered {
        // SAFETY: the CPU supports AVX2 (checked above).
        unsafe {
            fc_avx2(
                p,
                rq,
                input,
                in_features,
                filter,
                bias,
                output,
                out_features,
            )
        };
        return Ok(());
    }
    crate::fast::fully_connected_s8_fast(
        p,
        rq,
        input,
        batches,
        in_features,
        filter,
        bias,
        output,
        out_features,
    )
}

/// The vector path over validated buffers.
///
/// # Safety
/// The CPU must support AVX2.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn fc_avx2(
    p: &FcParams,
    rq: &Requant,
    input: &[i8],
    in_features: usize,
    filter: &[i8],
    bias: &[i32],
    output: &mut [i8],
    out_features: usize,
) {
    let kp = in_features.div_ceil(16) * 16;
    let mut buf = [0i16; KMAX];
    let x = buf.get_mut(..kp).unwrap_or(&mut []);
    let fo = if rq.is_per_channel() {
        0
    } else {
        p.filter_offset
    };
    let off = p.input_offset as i16; // |off| <= OFF_MAX
    let mut accs = [0i32; OCMAX];
    let fin = Finish {
        bias,
        rq,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
    };
    let vector = fin.vector_ok();
    for (b, out_row) in output.chunks_exact_mut(out_features).enumerate() {
        let start = b.saturating_mul(in_features);
        let xin = input.get(start..).unwrap_or(&[]);
        widen(x, xin.get(..in_features).unwrap_or(&[]), off);
        let xterm = fo.wrapping_mul(sum16(x));
        let mut o = 0;
        while o < out_features {
            let last = out_features - 1;
            let idx = [o, (o + 1).min(last), (o + 2).min(last), (o + 3).min(last)];
            let d = dot1x4(x, kp, filter, idx.map(|j| j * in_features));
            for (&oj, &acc) in idx.iter().zip(&d) {
                if let Some(a) = accs.get_mut(oj) {
                    *a = acc.wrapping_add(xterm);
                }
            }
            o += 4;
        }
        fin.row(accs.get(..out_features).unwrap_or(&[]), out_row, vector);
    }
}
