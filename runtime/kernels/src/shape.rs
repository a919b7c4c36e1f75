//! Shape helpers: checked element counts, length validation, clamp checks.

use crate::error::KernelError;

/// A 4-D shape, NHWC for activations (`[batch, height, width, channels]`).
pub type Dims4 = [usize; 4];

/// Number of elements of `dims`, or [`KernelError::SizeOverflow`].
pub fn num_elements(dims: Dims4) -> Result<usize, KernelError> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(KernelError::SizeOverflow)
}

/// Checks that a buffer of `len` elements holds exactly a tensor of `dims`.
pub fn check_len(len: usize, dims: Dims4) -> Result<(), KernelError> {
    if num_elements(dims)? == len {
        Ok(())
    } else {
        Err(KernelError::BufferLength)
    }
}

/// Checks an int8 activation clamp range: `-128 <= act_min <= act_max <= 127`.
pub fn check_act_range(act_min: i32, act_max: i32) -> Result<(), KernelError> {
    if act_min > act_max || act_min < i32::from(i8::MIN) || act_max > i32::from(i8::MAX) {
        Err(KernelError::InvalidParameter)
    } else {
        Ok(())
    }
}

/// Clamps `x` into `[lo, hi]` (`lo <= hi` must have been checked) and narrows
/// to `i8`; the range check guarantees the narrowing is lossless.
#[inline]
pub(crate) fn clamp_to_i8(x: i32, lo: i32, hi: i32) -> i8 {
    let v = if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    };
    // `lo`/`hi` are within int8 by `check_act_range`; saturate defensively.
    v.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8
}

/// Converts a size-like parameter to `i64` for signed coordinate arithmetic,
/// rejecting values above `i32::MAX` so that products of two stay in range.
pub(crate) fn coord(x: usize) -> Result<i64, KernelError> {
    if x > i32::MAX as usize {
        Err(KernelError::InvalidParameter)
    } else {
        Ok(x as i64)
    }
}

/// Row-major NHWC offset; callers guarantee all indices are in range of a
/// shape whose element count was validated.
#[inline]
pub(crate) fn offset(d: Dims4, b: usize, y: usize, x: usize, c: usize) -> usize {
    ((b * d[1] + y) * d[2] + x) * d[3] + c
}
