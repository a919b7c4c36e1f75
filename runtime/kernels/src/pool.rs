//! Average and max pooling, int8 (TFLM `reference_integer_ops::AveragePool`/`MaxPool`).

use crate::conv::Window;
use crate::error::KernelError;
use crate::shape::{check_act_range, check_len, clamp_to_i8, offset, Dims4};

/// Pooling geometry and clamp range. Input and output share quantisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolParams {
    /// `[stride_h, stride_w]`, each >= 1.
    pub stride: [usize; 2],
    /// `[filter_h, filter_w]`.
    pub filter: [usize; 2],
    /// `[pad_top, pad_left]`.
    pub padding: [usize; 2],
    /// Lower clamp in output units.
    pub act_min: i32,
    /// Upper clamp in output units.
    pub act_max: i32,
}

/// Validated pooling geometry.
struct Pool {
    win: Window,
    filter: [i64; 2],
}

fn validate(
    p: &PoolParams,
    input: &[i8],
    input_dims: Dims4,
    output: &[i8],
    output_dims: Dims4,
) -> Result<Pool, KernelError> {
    check_len(input.len(), input_dims)?;
    check_len(output.len(), output_dims)?;
    check_act_range(p.act_min, p.act_max)?;
    if input_dims[0] != output_dims[0] || input_dims[3] != output_dims[3] {
        return Err(KernelError::ShapeMismatch);
    }
    let win = Window::new(p.stride, [1, 1], p.padding)?;
    let filter = [
        crate::shape::coord(p.filter[0])?,
        crate::shape::coord(p.filter[1])?,
    ];
    Ok(Pool { win, filter })
}

impl Pool {
    /// In-bounds input index range along `axis` for output position `out`.
    fn range(&self, axis: usize, out: usize, in_len: usize) -> core::ops::Range<usize> {
        let origin = self.win.input_coord(axis, out, 0);
        let start = origin.max(0);
        let end = origin.saturating_add(self.filter[axis]).min(in_len as i64);
        if end <= start {
            0..0
        } else {
            start as usize..end as usize
        }
    }
}

/// Int8 average pooling. Only in-bounds elements are averaged; the division
/// rounds half away from zero: `(sum ± count/2) / count` with truncation.
/// A window with no in-bounds element is an error (TFLM returns failure).
pub fn avg_pool_s8(
    p: &PoolParams,
    input: &[i8],
    input_dims: Dims4,
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    let pool = validate(p, input, input_dims, output, output_dims)?;
    let [batches, in_h, in_w, depth] = input_dims;
    for b in 0..batches {
        for oy in 0..output_dims[1] {
            let ry = pool.range(0, oy, in_h);
            for ox in 0..output_dims[2] {
                let rx = pool.range(1, ox, in_w);
                let count = ry.len().saturating_mul(rx.len());
                if count == 0 {
                    return Err(KernelError::InvalidParameter);
                }
                let count = i32::try_from(count).map_err(|_| KernelError::SizeOverflow)?;
                for c in 0..depth {
                    let mut acc: i32 = 0;
                    for iy in ry.clone() {
                        for ix in rx.clone() {
                            acc = acc
                                .wrapping_add(i32::from(input[offset(input_dims, b, iy, ix, c)]));
                        }
                    }
                    let half = count / 2;
                    let avg = if acc > 0 {
                        acc.wrapping_add(half) / count
                    } else {
                        acc.wrapping_sub(half) / count
                    };
                    output[offset(output_dims, b, oy, ox, c)] =
                        clamp_to_i8(avg, p.act_min, p.act_max);
                }
            }
        }
    }
    Ok(())
}

/// Int8 max pooling over the in-bounds part of each window (an empty window
/// yields -128 before clamping, as in TFLM).
pub fn max_pool_s8(
    p: &PoolParams,
    input: &[i8],
    input_dims: Dims4,
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    let pool = validate(p, input, input_dims, output, output_dims)?;
    let [batches, in_h, in_w, depth] = input_dims;
    for b in 0..batches {
        for oy in 0..output_dims[1] {
            let ry = pool.range(0, oy, in_h);
            for ox in 0..output_dims[2] {
                let rx = pool.range(1, ox, in_w);
                for c in 0..depth {
                    let mut m = i8::MIN;
                    for iy in ry.clone() {
                        for ix in rx.clone() {
                            m = m.max(input[offset(input_dims, b, iy, ix, c)]);
                        }
                    }
                    output[offset(output_dims, b, oy, ox, c)] =
                        clamp_to_i8(i32::from(m), p.act_min, p.act_max);
                }
            }
        }
    }
    Ok(())
}
