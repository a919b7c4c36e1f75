//! Quantize / dequantize / requantize (TFLM `AffineQuantize`, `Dequantize`,
//! `Requantize`).

use crate::error::KernelError;
use crate::fixedpoint::multiply_by_quantized_multiplier;

/// Int8 to int8 requantisation: `clamp(MBQM(x - in_zp, multiplier, shift) +
/// out_zp, -128, 127)`.
pub fn requantize_s8(
    input: &[i8],
    input_zero_point: i32,
    multiplier: i32,
    shift: i32,
    output_zero_point: i32,
    output: &mut [i8],
) -> Result<(), KernelError> {
    if input.len() != output.len() {
        return Err(KernelError::BufferLength);
    }
    for (&v, o) in input.iter().zip(output.iter_mut()) {
        let x = i32::from(v).wrapping_sub(input_zero_point);
        let r =
            multiply_by_quantized_multiplier(x, multiplier, shift).wrapping_add(output_zero_point);
        *o = r.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8;
    }
    Ok(())
}

/// Rounds to the nearest integer with ties away from zero (C `roundf`),
/// without `std`. NaN maps to NaN; infinities are returned unchanged.
#[inline]
pub fn round_half_away_from_zero(x: f32) -> f32 {
    // At or above 2^23 every f32 is already an integer (or inf/NaN).
    if x.is_nan() || x.abs() >= 8_388_608.0 {
        return x;
    }
    let t = x as i32 as f32; // truncation toward zero, exact here
    let frac = x - t; // exact
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// Float to int8 (TFLite `AffineQuantize`): `clamp(round(x / scale) + zp)`
/// with the division in `f32` and ties away from zero. Out-of-range values
/// saturate and NaN maps to the zero point.
pub fn quantize_f32_s8(
    input: &[f32],
    scale: f32,
    zero_point: i32,
    output: &mut [i8],
) -> Result<(), KernelError> {
    if input.len() != output.len() {
        return Err(KernelError::BufferLength);
    }
    for (&v, o) in input.iter().zip(output.iter_mut()) {
        let r = round_half_away_from_zero(v / scale) as i32; // saturating cast
        *o = r
            .saturating_add(zero_point)
            .clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8;
    }
    Ok(())
}

/// Int8 to float (TFLite `Dequantize`): `(float)((double)scale * (x - zp))`.
/// The product is computed in `f32` when `x - zp` is exactly representable
/// (then both give the correctly rounded product), else in `f64` as TFLite.
pub fn dequantize_s8_f32(
    input: &[i8],
    scale: f32,
    zero_point: i32,
    output: &mut [f32],
) -> Result<(), KernelError> {
    if input.len() != output.len() {
        return Err(KernelError::BufferLength);
    }
    for (&v, o) in input.iter().zip(output.iter_mut()) {
        let d = i32::from(v).wrapping_sub(zero_point);
        *o = if d.unsigned_abs() <= 1 << 24 {
            scale * d as f32
        } else {
            (f64::from(scale) * f64::from(d)) as f32
        };
    }
    Ok(())
}
