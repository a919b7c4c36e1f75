//! Elementwise int8 add and mul with 4-D numpy-style broadcasting
//! (TFLM `reference_integer_ops::Add`/`BroadcastAdd6DSlow`, `Mul`/`BroadcastMul4DSlow`).

use crate::error::KernelError;
use crate::fixedpoint::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_smaller_than_one_exp,
    shl_wrapping,
};
use crate::shape::{check_act_range, check_len, clamp_to_i8, Dims4};

/// Quantisation of an int8 add (TFLM `OpDataAdd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    /// `-input1_zero_point`.
    pub input1_offset: i32,
    /// `-input2_zero_point`.
    pub input2_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// Headroom shift applied to both inputs (20 for int8), `0..=31`.
    pub left_shift: i32,
    /// Input 1 multiplier (Q0.31).
    pub input1_multiplier: i32,
    /// Input 1 shift (`<= 0`).
    pub input1_shift: i32,
    /// Input 2 multiplier (Q0.31).
    pub input2_multiplier: i32,
    /// Input 2 shift (`<= 0`).
    pub input2_shift: i32,
    /// Output multiplier (Q0.31).
    pub output_multiplier: i32,
    /// Output shift (`<= 0`).
    pub output_shift: i32,
    /// Lower clamp in output units.
    pub act_min: i32,
    /// Upper clamp in output units.
    pub act_max: i32,
}

/// Quantisation of an int8 mul (TFLM `OpDataMul`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulParams {
    /// `-input1_zero_point`.
    pub input1_offset: i32,
    /// `-input2_zero_point`.
    pub input2_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// Output multiplier (Q0.31) for `s1 * s2 / s_out`.
    pub output_multiplier: i32,
    /// Output shift (positive = left).
    pub output_shift: i32,
    /// Lower clamp in output units.
    pub act_min: i32,
    /// Upper clamp in output units.
    pub act_max: i32,
}

/// The int8 add of one element pair (TFLM `AddFunc`).
#[inline]
pub fn add_element(p: &AddParams, x: i8, y: i8) -> i8 {
    let a = shl_wrapping(i32::from(x).wrapping_add(p.input1_offset), p.left_shift);
    let b = shl_wrapping(i32::from(y).wrapping_add(p.input2_offset), p.left_shift);
    let a = multiply_by_quantized_multiplier_smaller_than_one_exp(
        a,
        p.input1_multiplier,
        p.input1_shift,
    );
    let b = multiply_by_quantized_multiplier_smaller_than_one_exp(
        b,
        p.input2_multiplier,
        p.input2_shift,
    );
    let raw = multiply_by_quantized_multiplier_smaller_than_one_exp(
        a.wrapping_add(b),
        p.output_multiplier,
        p.output_shift,
    )
    .wrapping_add(p.output_offset);
    clamp_to_i8(raw, p.act_min, p.act_max)
}

/// The int8 mul of one element pair (TFLM `MulElementwise` body).
#[inline]
pub fn mul_element(p: &MulParams, x: i8, y: i8) -> i8 {
    let a = i32::from(x).wrapping_add(p.input1_offset);
    let b = i32::from(y).wrapping_add(p.input2_offset);
    let raw =
        multiply_by_quantized_multiplier(a.wrapping_mul(b), p.output_multiplier, p.output_shift)
            .wrapping_add(p.output_offset);
    clamp_to_i8(raw, p.act_min, p.act_max)
}

/// Element strides of an input broadcast to `out`: each input dimension must
/// equal the output's or be 1 (stride 0).
fn broadcast_strides(input: Dims4, out: Dims4) -> Result<[usize; 4], KernelError> {
    let mut strides = [0usize; 4];
    let mut s = 1usize;
    for i in (0..4).rev() {
        if input[i] == out[i] {
            strides[i] = if input[i] == 1 { 0 } else { s };
        } else if input[i] == 1 {
            strides[i] = 0;
        } else {
            return Err(KernelError::ShapeMismatch);
        }
        s = s.checked_mul(input[i]).ok_or(KernelError::SizeOverflow)?;
    }
    Ok(strides)
}

/// Shared driver (int8 and f32): validates shapes and applies `f` over the broadcast.
pub(crate) fn binary_broadcast<T: Copy, F: Fn(T, T) -> T>(
    in1: &[T],
    in1_dims: Dims4,
    in2: &[T],
    in2_dims: Dims4,
    output: &mut [T],
    output_dims: Dims4,
    f: F,
) -> Result<(), KernelError> {
    check_len(in1.len(), in1_dims)?;
    check_len(in2.len(), in2_dims)?;
    check_len(output.len(), output_dims)?;
    for i in 0..4 {
        if output_dims[i] != in1_dims[i].max(in2_dims[i])
            && !(output_dims[i] == 0 && (in1_dims[i] <= 1 || in2_dims[i] <= 1))
        {
            return Err(KernelError::ShapeMismatch);
        }
    }
    if in1_dims == output_dims && in2_dims == output_dims {
        for ((o, &a), &b) in output.iter_mut().zip(in1).zip(in2) {
            *o = f(a, b);
        }
        return Ok(());
    }
    let s1 = broadcast_strides(in1_dims, output_dims)?;
    let s2 = broadcast_strides(in2_dims, output_dims)?;
    if output.is_empty() {
        return Ok(());
    }
    let mut o = 0usize;
    for i0 in 0..output_dims[0] {
        for i1 in 0..output_dims[1] {
            for i2 in 0..output_dims[2] {
                let base1 = i0 * s1[0] + i1 * s1[1] + i2 * s1[2];
                let base2 = i0 * s2[0] + i1 * s2[1] + i2 * s2[2];
                for i3 in 0..output_dims[3] {
                    output[o] = f(in1[base1 + i3 * s1[3]], in2[base2 + i3 * s2[3]]);
                    o += 1;
                }
            }
        }
    }
    Ok(())
}

/// Int8 add with 4-D broadcasting: every input dimension equals the output's
/// or is 1, and `output_dims[i] = max(in1_dims[i], in2_dims[i])`.
pub fn add_s8(
    p: &AddParams,
    in1: &[i8],
    in1_dims: Dims4,
    in2: &[i8],
    in2_dims: Dims4,
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_act_range(p.act_min, p.act_max)?;
    if !(0..=31).contains(&p.left_shift) {
        return Err(KernelError::InvalidParameter);
    }
    binary_broadcast(in1, in1_dims, in2, in2_dims, output, output_dims, |a, b| {
        add_element(p, a, b)
    })
}

/// Int8 mul with the same broadcasting rules as [`add_s8`].
pub fn mul_s8(
    p: &MulParams,
    in1: &[i8],
    in1_dims: Dims4,
    in2: &[i8],
    in2_dims: Dims4,
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_act_range(p.act_min, p.act_max)?;
    binary_broadcast(in1, in1_dims, in2, in2_dims, output, output_dims, |a, b| {
        mul_element(p, a, b)
    })
}
