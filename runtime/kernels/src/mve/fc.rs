//! Helium twin of [`crate::fully_connected_s8`].

use super::vec::{dot, dot2_sums, sum, Scales};
use super::OCMAX;
use crate::error::KernelError;
use crate::fast::requant;
use crate::fully_connected::FcParams;
use crate::requant::Requant;
use crate::shape::{check_act_range, clamp_to_i8};

/// [`crate::fully_connected_s8`] on Helium: same signature, validation and
/// results bit for bit. Two output rows share each pass over the input
/// (`VMLADAVA` for the products, `VADDVA` for the rows' sums), and both
/// offsets are folded out: `Σ (w + fo)(x + io) = Σ w·x + io·Σ w + fo·(Σ x +
/// n·io)` (wrapping). Calls with inconsistent lengths or parameters go to
/// [`crate::fast::fully_connected_s8_fast`], which refuses them like the
/// reference.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_s8_mve(
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
    let covered = batches.checked_mul(in_features) == Some(input.len())
        && out_features.checked_mul(in_features) == Some(filter.len())
        && batches.checked_mul(out_features) == Some(output.len())
        && (bias.is_empty() || bias.len() == out_features)
        && check_act_range(p.act_min, p.act_max).is_ok()
        && rq.validate(out_features).is_ok()
        && out_features > 0
        && in_features > 0;
    if !covered {
        return crate::fast::fully_connected_s8_fast(
            p,
            rq,
            input,
            batches,
            in_features,
            filter,
            bias,
            output,
            out_features,
        );
    }
    let fo = if rq.is_per_channel() {
        0
    } else {
        p.filter_offset
    };
    let io = p.input_offset;
    // n·io, with n reduced mod 2^32 (exact in wrapping arithmetic).
    let nio = (in_features as u32 as i32).wrapping_mul(io);
    let finish = |acc: i32, o: usize| -> i8 {
        let v = requant(rq, acc, o).wrapping_add(p.output_offset);
        clamp_to_i8(v, p.act_min, p.act_max)
    };
    let mut accs = [0i32; OCMAX];
    for (b, out) in output.chunks_exact_mut(out_features).enumerate() {
        let start = b * in_features;
        let x = input.get(start..start + in_features).unwrap_or(&[]);
        let xterm = fo.wrapping_mul(sum(x).wrapping_add(nio));
        // Output rows in chunks of OCMAX: products, then one vector
        // requantisation per chunk.
        let mut o0 = 0;
        for out in out.chunks_mut(OCMAX) {
            let n = out.len();
            let w = filter.get(o0 * in_features..).unwrap_or(&[]);
            let mut rows = w.chunks_exact(in_features).take(n);
            let mut j = 0;
            while j < n {
                let (d, s) = match (rows.next(), (j + 1 < n).then(|| rows.next()).flatten()) {
                    (Some(w0), Some(w1)) => {
                        let (d0, d1, s0, s1) = dot2_sums(x, w0, w1);
                        ([d0, d1], [s0, s1])
                    }
                    (Some(w0), None) => ([dot(x, w0), 0], [sum(w0), 0]),
                    _ => break,
                };
                for k in 0..2 {
                    let o = o0 + j + k;
                    if let Some(a) = accs.get_mut(j + k).filter(|_| j + k < n) {
                        *a = d[k]
                            .wrapping_add(io.wrapping_mul(s[k]))
                            .wrapping_add(xterm)
                            .wrapping_add(bias.get(o).copied().unwrap_or(0));
                    }
                }
                j += 2;
            }
            let acc = accs.get(..n).unwrap_or(&[]);
            match Scales::new(rq, o0, n) {
                Some(q) => q.apply(acc, p.output_offset, p.act_min, p.act_max, out),
                None => {
                    for (i, (y, &a)) in out.iter_mut().zip(acc).enumerate() {
                        *y = finish(a, o0 + i);
                    }
                }
            }
            o0 += n;
        }
    }
    Ok(())
}
