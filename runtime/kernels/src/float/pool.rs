//! Float average and max pooling, and the spatial mean.

use super::FloatAct;
use crate::conv::Window;
use crate::error::KernelError;
use crate::shape::{check_len, coord, offset, Dims4};

/// Pooling geometry and output clamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatPoolParams {
    /// `[stride_h, stride_w]`, each >= 1.
    pub stride: [usize; 2],
    /// `[filter_h, filter_w]`.
    pub filter: [usize; 2],
    /// `[pad_top, pad_left]`.
    pub padding: [usize; 2],
    /// Output clamp.
    pub act: FloatAct,
}

/// Validated pooling geometry.
struct Pool {
    win: Window,
    filter: [i64; 2],
}

impl Pool {
    fn new(
        p: &FloatPoolParams,
        input: &[f32],
        input_dims: Dims4,
        output: &[f32],
        output_dims: Dims4,
    ) -> Result<Self, KernelError> {
        check_len(input.len(), input_dims)?;
        check_len(output.len(), output_dims)?;
        p.act.check()?;
        if input_dims[0] != output_dims[0] || input_dims[3] != output_dims[3] {
            return Err(KernelError::ShapeMismatch);
        }
        let win = Window::new(p.stride, [1, 1], p.padding)?;
        let filter = [coord(p.filter[0])?, coord(p.filter[1])?];
        Ok(Pool { win, filter })
    }

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

/// Float average pooling: the mean of the in-bounds part of each window
/// (padding is excluded from the count), then the clamp. A window with no
/// in-bounds element is [`KernelError::InvalidParameter`].
pub fn avg_pool_f32(
    p: &FloatPoolParams,
    input: &[f32],
    input_dims: Dims4,
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    let pool = Pool::new(p, input, input_dims, output, output_dims)?;
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
                for c in 0..depth {
                    let mut acc = 0.0f32;
                    for iy in ry.clone() {
                        for ix in rx.clone() {
                            acc += input[offset(input_dims, b, iy, ix, c)];
                        }
                    }
                    output[offset(output_dims, b, oy, ox, c)] = p.act.apply(acc / count as f32);
                }
            }
        }
    }
    Ok(())
}

/// Float max pooling over the in-bounds part of each window, then the clamp.
/// An empty window yields `f32::MIN` before clamping (TFLite's `lowest()`);
/// NaN inputs are skipped.
pub fn max_pool_f32(
    p: &FloatPoolParams,
    input: &[f32],
    input_dims: Dims4,
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    let pool = Pool::new(p, input, input_dims, output, output_dims)?;
    let [batches, in_h, in_w, depth] = input_dims;
    for b in 0..batches {
        for oy in 0..output_dims[1] {
            let ry = pool.range(0, oy, in_h);
            for ox in 0..output_dims[2] {
                let rx = pool.range(1, ox, in_w);
                for c in 0..depth {
                    let mut m = f32::MIN;
                    for iy in ry.clone() {
                        for ix in rx.clone() {
                            let v = input[offset(input_dims, b, iy, ix, c)];
                            if v > m {
                                m = v;
                            }
                        }
                    }
                    output[offset(output_dims, b, oy, ox, c)] = p.act.apply(m);
                }
            }
        }
    }
    Ok(())
}

/// Float mean over H and W: `input_dims = [N, H, W, C]`, `output_dims =
/// [N, 1, 1, C]`. An empty window (`H * W == 0`) writes zeros.
pub fn mean_hw_f32(
    input: &[f32],
    input_dims: Dims4,
    output: &mut [f32],
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
        output.iter_mut().for_each(|o| *o = 0.0);
        return Ok(());
    }
    for b in 0..batches {
        for c in 0..depth {
            let mut sum = 0.0f32;
            for y in 0..h {
                for x in 0..w {
                    sum += input[offset(input_dims, b, y, x, c)];
                }
            }
            output[offset(output_dims, b, 0, 0, c)] = sum / count as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(stride: usize, filter: usize, padding: usize) -> FloatPoolParams {
        FloatPoolParams {
            stride: [stride; 2],
            filter: [filter; 2],
            padding: [padding; 2],
            act: FloatAct::NONE,
        }
    }

    /// 3x3 single-channel input 1..=9.
    const X: [f32; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];

    #[test]
    fn avg_excludes_padding() {
        // 2x2 windows, stride 2, pad 1 on 3x3: output 2x2, windows
        // {1}, {2,3}, {4,7}, {5,6,8,9}.
        let mut out = [0.0f32; 4];
        avg_pool_f32(&params(2, 2, 1), &X, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]).unwrap();
        assert_eq!(out, [1.0, 2.5, 5.5, 7.0]);
        // The whole input in one window.
        let mut one = [0.0f32; 1];
        avg_pool_f32(&params(1, 3, 0), &X, [1, 3, 3, 1], &mut one, [1, 1, 1, 1]).unwrap();
        assert_eq!(one, [5.0]);
        // A window entirely in the padding has nothing to average.
        assert_eq!(
            avg_pool_f32(&params(1, 1, 1), &X, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]),
            Err(KernelError::InvalidParameter)
        );
    }

    #[test]
    fn max_and_clamp() {
        let mut out = [0.0f32; 4];
        max_pool_f32(&params(1, 2, 0), &X, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]).unwrap();
        assert_eq!(out, [5.0, 6.0, 8.0, 9.0]);
        let p = FloatPoolParams {
            act: FloatAct::new(0.0, 7.0),
            ..params(1, 2, 0)
        };
        max_pool_f32(&p, &X, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]).unwrap();
        assert_eq!(out, [5.0, 6.0, 7.0, 7.0]);
        // An empty window is the lowest float, then the clamp.
        let mut out = [0.0f32; 4];
        max_pool_f32(&params(1, 1, 1), &X, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]).unwrap();
        assert_eq!(out, [f32::MIN, f32::MIN, f32::MIN, 1.0]);
        assert_eq!(
            max_pool_f32(&params(0, 1, 0), &X, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]),
            Err(KernelError::InvalidParameter)
        );
        assert_eq!(
            max_pool_f32(&params(1, 1, 0), &X, [1, 3, 3, 1], &mut out, [1, 2, 2, 2]),
            Err(KernelError::BufferLength)
        );
    }

    #[test]
    fn mean() {
        // Two channels: 1..=9 and 10 x that.
        let x: Vec<f32> = X.iter().flat_map(|&v| [v, 10.0 * v]).collect();
        let mut out = [0.0f32; 2];
        mean_hw_f32(&x, [1, 3, 3, 2], &mut out, [1, 1, 1, 2]).unwrap();
        assert_eq!(out, [5.0, 50.0]);
        assert_eq!(
            mean_hw_f32(&x, [1, 3, 3, 2], &mut out[..1], [1, 1, 1, 1]),
            Err(KernelError::ShapeMismatch)
        );
        let mut z = [3.0f32; 2];
        mean_hw_f32(&[], [1, 0, 3, 2], &mut z, [1, 1, 1, 2]).unwrap();
        assert_eq!(z, [0.0, 0.0]);
    }
}
