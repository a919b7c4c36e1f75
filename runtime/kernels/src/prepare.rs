//! Host-side parameter preparation (feature `std`), reproducing TFLite's
//! `quantization_util.cc`, `kernel_util.cc` and the TFLM `*_common.cc`
//! `Prepare` computations, including their exact float/double evaluation
//! order. Functions that TFLite guards with `TFLITE_CHECK` return
//! [`KernelError::InvalidParameter`] instead of aborting.

use crate::activation::LutActParams;
use crate::elementwise::{AddParams, MulParams};
use crate::error::KernelError;
use crate::mean::MeanParams;
use crate::softmax::SoftmaxParams;

/// C `frexp`: `x = m * 2^e` with `0.5 <= |m| < 1` (or `m = x`, `e = 0` for
/// zero, infinities and NaN).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    if exp_bits == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * f64::from_bits(0x4350_0000_0000_0000)); // 2^54
        return (m, e - 54);
    }
    let e = exp_bits - 1022;
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, e)
}

/// TFLite `QuantizeMultiplier`: `(q, shift)` with `m ≈ q * 2^(shift - 31)`,
/// `q` in `[2^30, 2^31)` for positive `m`. Handles the rounding-up-to-2^31
/// case and flushes `shift < -31` to `(0, 0)`.
pub fn quantize_multiplier(double_multiplier: f64) -> (i32, i32) {
    if double_multiplier == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(double_multiplier);
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (
        q_fixed.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        shift,
    )
}

/// TFLite `QuantizeMultiplierSmallerThanOneExp`: requires `0 < m < 1`;
/// returns `(q, left_shift)` with `left_shift <= 0`.
pub fn quantize_multiplier_smaller_than_one_exp(m: f64) -> Result<(i32, i32), KernelError> {
    if m.is_nan() || m <= 0.0 || m >= 1.0 {
        return Err(KernelError::InvalidParameter);
    }
    let (q, shift) = quantize_multiplier(m);
    if shift > 0 {
        return Err(KernelError::InvalidParameter);
    }
    Ok((q, shift))
}

/// TFLite `QuantizeMultiplierGreaterThanOne`: requires `m > 1`; returns
/// `(q, left_shift)` with `left_shift >= 0`.
pub fn quantize_multiplier_greater_than_one(m: f64) -> Result<(i32, i32), KernelError> {
    if m.is_nan() || m <= 1.0 {
        return Err(KernelError::InvalidParameter);
    }
    let (q, shift) = quantize_multiplier(m);
    if shift < 0 {
        return Err(KernelError::InvalidParameter);
    }
    Ok((q, shift))
}

/// Fused activation of an op, for [`activation_range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// No fused activation.
    None,
    /// ReLU.
    Relu,
    /// ReLU6.
    Relu6,
    /// ReLU_N1_TO_1 (clamp to [-1, 1]).
    ReluN1To1,
}

/// TFLite `CalculateActivationRangeQuantized` for an int8 output:
/// `zp + (int)round(f / scale)` in `f32`, intersected with `[-128, 127]`.
pub fn activation_range(act: Activation, scale: f32, zero_point: i32) -> (i32, i32) {
    let qmin = i32::from(i8::MIN);
    let qmax = i32::from(i8::MAX);
    let quantize = |f: f32| zero_point.saturating_add((f / scale).round() as i32);
    match act {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(quantize(0.0)), qmax),
        Activation::Relu6 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
        Activation::ReluN1To1 => (qmin.max(quantize(-1.0)), qmax.min(quantize(1.0))),
    }
}

/// Per-channel conv/depthwise (and per-channel FC) output multipliers, as
/// TFLite `PopulateConvolutionQuantizationParams`: for each channel
/// `QuantizeMultiplier((double)input_scale * (double)filter_scale[c] /
/// (double)output_scale)`. Pass one filter scale for per-tensor weights.
pub fn conv_multipliers(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
) -> (Vec<i32>, Vec<i32>) {
    filter_scales
        .iter()
        .map(|&fs| {
            quantize_multiplier(f64::from(input_scale) * f64::from(fs) / f64::from(output_scale))
        })
        .unzip()
}

/// Per-tensor fully connected multiplier, as TFLite
/// `GetQuantizedConvolutionMultipler`: the input and filter scales are
/// multiplied in `f32` first, then divided by the output scale in `f64`.
pub fn fc_multiplier(input_scale: f32, filter_scale: f32, output_scale: f32) -> (i32, i32) {
    quantize_multiplier(f64::from(input_scale * filter_scale) / f64::from(output_scale))
}

/// TFLM int8 add `Prepare` (`left_shift = 20`).
#[allow(clippy::too_many_arguments)]
pub fn add_params(
    input1_scale: f32,
    input1_zero_point: i32,
    input2_scale: f32,
    input2_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    act: Activation,
) -> Result<AddParams, KernelError> {
    let left_shift = 20;
    let twice_max_input_scale = 2.0 * f64::from(input1_scale.max(input2_scale));
    let real_input1 = f64::from(input1_scale) / twice_max_input_scale;
    let real_input2 = f64::from(input2_scale) / twice_max_input_scale;
    let real_output =
        twice_max_input_scale / (f64::from(1i32 << left_shift) * f64::from(output_scale));
    let (input1_multiplier, input1_shift) = quantize_multiplier_smaller_than_one_exp(real_input1)?;
    let (input2_multiplier, input2_shift) = quantize_multiplier_smaller_than_one_exp(real_input2)?;
    let (output_multiplier, output_shift) = quantize_multiplier_smaller_than_one_exp(real_output)?;
    let (act_min, act_max) = activation_range(act, output_scale, output_zero_point);
    Ok(AddParams {
        input1_offset: input1_zero_point.wrapping_neg(),
        input2_offset: input2_zero_point.wrapping_neg(),
        output_offset: output_zero_point,
        left_shift,
        input1_multiplier,
        input1_shift,
        input2_multiplier,
        input2_shift,
        output_multiplier,
        output_shift,
        act_min,
        act_max,
    })
}

/// TFLM int8 mul `Prepare`: `QuantizeMultiplier(s1 * s2 / s_out)` in `f64`.
pub fn mul_params(
    input1_scale: f32,
    input1_zero_point: i32,
    input2_scale: f32,
    input2_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    act: Activation,
) -> MulParams {
    let real = f64::from(input1_scale) * f64::from(input2_scale) / f64::from(output_scale);
    let (output_multiplier, output_shift) = quantize_multiplier(real);
    let (act_min, act_max) = activation_range(act, output_scale, output_zero_point);
    MulParams {
        input1_offset: input1_zero_point.wrapping_neg(),
        input2_offset: input2_zero_point.wrapping_neg(),
        output_offset: output_zero_point,
        output_multiplier,
        output_shift,
        act_min,
        act_max,
    }
}

/// TFLite `CalculateInputRadius`:
/// `floor((2^ib - 1) * 2^(total_bits - ib) / 2^left_shift)`.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
    total_signed_bits: i32,
) -> i32 {
    let max_input_rescaled = 1.0
        * f64::from((1i32 << input_integer_bits) - 1)
        * 2f64.powi(total_signed_bits - input_integer_bits)
        / 2f64.powi(input_left_shift);
    max_input_rescaled.floor() as i32
}

/// TFLite `PreprocessSoftmaxScaling` (double-rounding build):
/// `QuantizeMultiplierGreaterThanOne(min(beta * scale * 2^(31 - ib), 2^31 - 1))`.
pub fn preprocess_softmax_scaling(
    beta: f64,
    input_scale: f64,
    input_integer_bits: i32,
) -> Result<(i32, i32), KernelError> {
    let max_real_multiplier = ((1i64 << 31) - 1) as f64;
    let real = (beta * input_scale * f64::from(1i32 << (31 - input_integer_bits)))
        .min(max_real_multiplier);
    quantize_multiplier_greater_than_one(real)
}

/// TFLM int8 softmax `Prepare` (output must be scale 1/256, zero point -128).
pub fn softmax_params(beta: f32, input_scale: f32) -> Result<SoftmaxParams, KernelError> {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let (input_multiplier, input_left_shift) = preprocess_softmax_scaling(
        f64::from(beta),
        f64::from(input_scale),
        SCALED_DIFF_INTEGER_BITS,
    )?;
    let diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, input_left_shift, 31);
    Ok(SoftmaxParams {
        input_multiplier,
        input_left_shift,
        diff_min,
    })
}

/// TFLM int8 logistic/tanh `Prepare`: `frexp(input_scale * 2^27)`, multiplier
/// `(int32)round(q * 2^31)` (no 2^31 fix-up, saturating here where C++ would
/// overflow), radius `CalculateInputRadius(4, shift, 31)`.
fn lut_act_params(input_scale: f32, input_zero_point: i32) -> LutActParams {
    const INPUT_INTEGER_BITS: i32 = 4;
    let real = f64::from(input_scale) * f64::from(1i32 << (31 - INPUT_INTEGER_BITS));
    let (q, input_left_shift) = frexp(real);
    let input_multiplier = (q * (1i64 << 31) as f64).round() as i32;
    LutActParams {
        input_zero_point,
        input_range_radius: calculate_input_radius(INPUT_INTEGER_BITS, input_left_shift, 31),
        input_multiplier,
        input_left_shift,
    }
}

/// TFLM int8 logistic `Prepare` (output must be scale 1/256, zero point -128).
pub fn logistic_params(input_scale: f32, input_zero_point: i32) -> LutActParams {
    lut_act_params(input_scale, input_zero_point)
}

/// TFLM int8 tanh `Prepare` (output must be scale 1/128, zero point 0).
pub fn tanh_params(input_scale: f32, input_zero_point: i32) -> LutActParams {
    lut_act_params(input_scale, input_zero_point)
}

/// TFLM int8 mean `Prepare`: `QuantizeMultiplier(in_scale / out_scale)` in
/// `f64`; `same_quantization` selects TFLM's plain integer-mean path.
pub fn mean_params(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
) -> MeanParams {
    let (multiplier, shift) = quantize_multiplier(f64::from(input_scale) / f64::from(output_scale));
    MeanParams {
        input_zero_point,
        output_zero_point,
        multiplier,
        shift,
        same_quantization: input_zero_point == output_zero_point && input_scale == output_scale,
    }
}

/// TFLM int8→int8 quantize `Prepare`: `QuantizeMultiplier(in_scale /
/// out_scale)` in `f64`; returns `(multiplier, shift)` for
/// [`crate::requantize_s8`].
pub fn requantize_params(input_scale: f32, output_scale: f32) -> (i32, i32) {
    quantize_multiplier(f64::from(input_scale) / f64::from(output_scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(f64::from_bits(1)), (0.5, -1073));
        assert_eq!(frexp(0.0), (0.0, 0));
    }

    #[test]
    fn quantize_multiplier_cases() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        // q * 2^31 rounds up to 2^31: halved, shift incremented.
        assert_eq!(quantize_multiplier(1.0 - 2f64.powi(-40)), (1 << 30, 1));
        // Below 2^-32 the shift would be < -31: flushed to zero.
        assert_eq!(quantize_multiplier(2f64.powi(-40)), (0, 0));
        assert_eq!(quantize_multiplier(2f64.powi(-32)), (1 << 30, -31));
        // 0.3 = 0.6 * 2^-1; round(0.6 * 2^31) = 1288490189.
        assert_eq!(quantize_multiplier(0.3), (1_288_490_189, -1));
        assert!(quantize_multiplier_smaller_than_one_exp(1.5).is_err());
        assert!(quantize_multiplier_greater_than_one(0.5).is_err());
        assert_eq!(quantize_multiplier_greater_than_one(3.0), Ok((3 << 29, 2)));
    }

    #[test]
    fn activation_ranges() {
        assert_eq!(activation_range(Activation::None, 0.1, 3), (-128, 127));
        assert_eq!(activation_range(Activation::Relu, 0.1, -5), (-5, 127));
        // ReLU6 with the full range mapped to [0, 6].
        assert_eq!(
            activation_range(Activation::Relu6, 6.0 / 255.0, -128),
            (-128, 127)
        );
        // 6 / 0.05 = 120 -> 120 - 10 = 110.
        assert_eq!(activation_range(Activation::Relu6, 0.05, -10), (-10, 110));
        assert_eq!(activation_range(Activation::ReluN1To1, 0.1, 0), (-10, 10));
    }

    #[test]
    fn softmax_params_closed_form() {
        // beta * scale * 2^26 = 2^22 -> (2^30, 23); radius floor(31 * 2^26 / 2^23).
        let p = softmax_params(1.0, 1.0 / 16.0).unwrap();
        assert_eq!(p.input_multiplier, 1 << 30);
        assert_eq!(p.input_left_shift, 23);
        assert_eq!(p.diff_min, -248);
    }

    #[test]
    fn add_params_equal_scales() {
        let p = add_params(0.5, -3, 0.5, 7, 0.5, 1, Activation::None).unwrap();
        assert_eq!((p.input1_multiplier, p.input1_shift), (1 << 30, 0));
        assert_eq!((p.input2_multiplier, p.input2_shift), (1 << 30, 0));
        // 2 * 0.5 / (2^20 * 0.5) = 2^-19.
        assert_eq!((p.output_multiplier, p.output_shift), (1 << 30, -18));
        assert_eq!(
            (p.input1_offset, p.input2_offset, p.output_offset),
            (3, -7, 1)
        );
        assert_eq!(p.left_shift, 20);
    }

    #[test]
    fn fc_multiplier_uses_float_product() {
        let (i, f, o) = (0.1f32, 0.3f32, 0.7f32);
        let expected = quantize_multiplier(f64::from(i * f) / f64::from(o));
        assert_eq!(fc_multiplier(i, f, o), expected);
        let (m, s) = conv_multipliers(i, &[f], o);
        assert_eq!(
            (m[0], s[0]),
            quantize_multiplier(f64::from(i) * f64::from(f) / f64::from(o))
        );
    }

    #[test]
    fn logistic_params_closed_form() {
        // scale 1/16: 2^-4 * 2^27 = 2^23 -> frexp (0.5, 24).
        let p = logistic_params(1.0 / 16.0, -3);
        assert_eq!(p.input_multiplier, 1 << 30);
        assert_eq!(p.input_left_shift, 24);
        // floor(15 * 2^27 / 2^24) = 120.
        assert_eq!(p.input_range_radius, 120);
        assert_eq!(p.input_zero_point, -3);
    }

    #[test]
    fn mean_and_requantize_params() {
        let p = mean_params(0.5, 2, 0.5, 2);
        assert!(p.same_quantization);
        assert_eq!((p.multiplier, p.shift), (1 << 30, 1));
        assert!(!mean_params(0.5, 2, 0.25, 2).same_quantization);
        assert_eq!(requantize_params(0.5, 0.25), (1 << 30, 2));
    }
}
