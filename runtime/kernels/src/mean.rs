//! Mean over height and width, int8 (TFLM `EvalIntegerMean`: reference
//! `Mean` when input and output quantisation are identical, otherwise
//! `QuantizedMeanOrSum`).

use crate::error::KernelError;
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::shape::{check_len, offset, Dims4};

/// Quantisation of an int8 spatial mean (TFLM `OpDataReduce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeanParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Q0.31 multiplier for `input_scale / output_scale`.
    pub multiplier: i32,
    /// Shift for `multiplier` (positive = left).
    pub shift: i32,
    /// True when input and output scale and zero point are identical; TFLM
    /// then takes the plain integer mean path (sum / count, truncating).
    pub same_quantization: bool,
}

/// Int8 mean over H and W: `input_dims = [N, H, W, C]`,
/// `output_dims = [N, 1, 1, C]` (also valid for `keep_dims = false`, the data
/// layout is the same). An empty window (`H * W == 0`) writes zeros.
pub fn mean_hw_s8(
    p: &MeanParams,
    input: &[i8],
    input_dims: Dims4,
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_len(output.len(), output_dims)?;
    let [batches, h, w, depth] = input_dims;
    if output_dims != [batches, 1, 1, depth] {
        return Err(KernelError::ShapeMismatch);
    }
    let count = h.checked_mul(w).ok_or(KernelError::SizeOverflow)?;
    if count == 0 {
        output.iter_mut().for_each(|o| *o = 0);
        return Ok(());
    }
    let count_i64 = i64::try_from(count).map_err(|_| KernelError::SizeOverflow)?;

    // QuantizedMeanOrSum folds 1/count into the multiplier.
    let mut shift = 63 - (count as u64).leading_zeros() as i32;
    shift = shift.min(32).min(p.shift.saturating_add(31)).max(0);
    let multiplier = ((i64::from(p.multiplier) << shift) / count_i64) as i32;
    let out_shift = p.shift.wrapping_sub(shift);
    let zp_total = i64::from(p.input_zero_point).wrapping_mul(count_i64);

    for b in 0..batches {
        for c in 0..depth {
            let mut sum: i32 = 0;
            for y in 0..h {
                for x in 0..w {
                    sum = sum.wrapping_add(i32::from(input[offset(input_dims, b, y, x, c)]));
                }
            }
            let v = if p.same_quantization {
                // Mean<int8_t, int32_t>: truncating division, narrowing cast.
                let d = count_i64 as i32;
                let q = if d == 0 { 0 } else { sum.wrapping_div(d) };
                q as i8
            } else {
                let shifted = i64::from(sum).wrapping_sub(zp_total) as i32;
                let r = multiply_by_quantized_multiplier(shifted, multiplier, out_shift)
                    .wrapping_add(p.output_zero_point);
                r.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8
            };
            output[offset(output_dims, b, 0, 0, c)] = v;
        }
    }
    Ok(())
}
