//! Int8 logistic and tanh (TFLM `reference_integer_ops::Logistic`/`Tanh`,
//! gemmlowp fixed-point evaluation on a Q4.27 input).

use crate::error::KernelError;
use crate::fixedpoint::{logistic, multiply_by_quantized_multiplier, rounding_divide_by_pot, tanh};

/// Input rescaling for the fixed-point logistic / tanh (TFLM `OpDataLogistic`,
/// tanh `OpData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LutActParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Inputs with `|x - zp| >= radius` saturate.
    pub input_range_radius: i32,
    /// Q0.31 multiplier of `input_scale * 2^27`.
    pub input_multiplier: i32,
    /// Shift for `input_multiplier` (positive = left).
    pub input_left_shift: i32,
}

/// Integer bits of the fixed-point input (Q4.27).
const INPUT_INTEGER_BITS: u32 = 4;

fn map<F: Fn(i32) -> i8>(
    p: &LutActParams,
    input: &[i8],
    output: &mut [i8],
    f: F,
) -> Result<(), KernelError> {
    if input.len() != output.len() {
        return Err(KernelError::BufferLength);
    }
    for (&v, o) in input.iter().zip(output.iter_mut()) {
        let x = i32::from(v).wrapping_sub(p.input_zero_point);
        *o = if x <= p.input_range_radius.wrapping_neg() {
            i8::MIN
        } else if x >= p.input_range_radius {
            i8::MAX
        } else {
            f(multiply_by_quantized_multiplier(
                x,
                p.input_multiplier,
                p.input_left_shift,
            ))
        };
    }
    Ok(())
}

/// Int8 logistic; output scale 1/256, zero point -128.
pub fn logistic_s8(p: &LutActParams, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
    map(p, input, output, |q4| {
        let q0 = logistic(q4, INPUT_INTEGER_BITS);
        rounding_divide_by_pot(q0, 31 - 8)
            .wrapping_add(-128)
            .clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8
    })
}

/// Int8 tanh; output scale 1/128, zero point 0.
pub fn tanh_s8(p: &LutActParams, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
    map(p, input, output, |q4| {
        let q0 = tanh(q4, INPUT_INTEGER_BITS);
        rounding_divide_by_pot(q0, 31 - 7).clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8
    })
}
