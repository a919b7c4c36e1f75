//! Softmax, int8 in / int8 out (TFLM `reference_ops::Softmax` quantised path).

use crate::error::KernelError;
use crate::fixedpoint::{
    exp_on_negative_values, get_reciprocal, multiply_by_quantized_multiplier_greater_than_one,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
    saturating_rounding_multiply_by_pot,
};

/// Softmax quantisation (TFLM `SoftmaxParams` for int8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxParams {
    /// Q0.31 multiplier of `beta * input_scale * 2^(31-5)`.
    pub input_multiplier: i32,
    /// Left shift for `input_multiplier` (`>= 0`).
    pub input_left_shift: i32,
    /// Differences below this (in input units, `<= 0`) contribute zero.
    pub diff_min: i32,
}

/// Integer bits of the scaled input difference (Q5.26).
const SCALED_DIFF_INTEGER_BITS: u32 = 5;
/// Integer bits of the exp accumulator (Q12.19).
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Int8 softmax over consecutive rows of `row_len` elements. The output scale
/// is 1/256 with zero point -128. `input.len()` must be a multiple of
/// `row_len` and equal `output.len()`.
pub fn softmax_s8(
    p: &SoftmaxParams,
    input: &[i8],
    row_len: usize,
    output: &mut [i8],
) -> Result<(), KernelError> {
    if input.len() != output.len() {
        return Err(KernelError::BufferLength);
    }
    if input.is_empty() {
        return Ok(());
    }
    if row_len == 0 || input.len() % row_len != 0 {
        return Err(KernelError::BufferLength);
    }
    let scaled_diff = |diff: i32| {
        multiply_by_quantized_multiplier_greater_than_one(
            diff,
            p.input_multiplier,
            p.input_left_shift,
        )
    };
    for (row, out) in input
        .chunks_exact(row_len)
        .zip(output.chunks_exact_mut(row_len))
    {
        let max = row.iter().copied().max().unwrap_or(i8::MIN);
        let max = i32::from(max);

        let mut sum_of_exps: i32 = 0; // Q12.19
        for &v in row {
            let diff = i32::from(v) - max;
            if diff >= p.diff_min {
                let e = exp_on_negative_values(scaled_diff(diff), SCALED_DIFF_INTEGER_BITS);
                // Rescale<12> from Q0.31.
                sum_of_exps = sum_of_exps.wrapping_add(saturating_rounding_multiply_by_pot(
                    e,
                    -ACCUMULATION_INTEGER_BITS,
                ));
            }
        }

        let (shifted_scale, num_bits_over_unit) =
            get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        // TFLM checks 0 <= exponent <= 31; clamp instead of aborting.
        let exponent = num_bits_over_unit.saturating_add(31 - 8).clamp(0, 31);

        for (&v, o) in row.iter().zip(out.iter_mut()) {
            let diff = i32::from(v) - max;
            *o = if diff >= p.diff_min {
                let e = exp_on_negative_values(scaled_diff(diff), SCALED_DIFF_INTEGER_BITS);
                let unsat = rounding_divide_by_pot(
                    saturating_rounding_doubling_high_mul(shifted_scale, e),
                    exponent,
                );
                unsat
                    .wrapping_add(i32::from(i8::MIN))
                    .clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8
            } else {
                i8::MIN
            };
        }
    }
    Ok(())
}
