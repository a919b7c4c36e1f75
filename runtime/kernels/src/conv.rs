//! 2-D convolution, int8 per-channel (TFLM `reference_integer_ops::ConvPerChannel`).

use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, coord, num_elements, offset, Dims4};
use crate::weights::Weights;

/// Geometry and quantisation of a convolution (also used by depthwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParams {
    /// `[stride_h, stride_w]`, each >= 1.
    pub stride: [usize; 2],
    /// `[dilation_h, dilation_w]`, each >= 1.
    pub dilation: [usize; 2],
    /// `[pad_top, pad_left]`; bottom/right padding is implied by the output size.
    pub padding: [usize; 2],
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// Lower clamp in output units.
    pub act_min: i32,
    /// Upper clamp in output units.
    pub act_max: i32,
}

/// Signed window geometry shared by conv, depthwise and pooling.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub stride: [i64; 2],
    pub dilation: [i64; 2],
    pub padding: [i64; 2],
}

impl Window {
    pub(crate) fn new(
        stride: [usize; 2],
        dilation: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Self, KernelError> {
        if stride.contains(&0) || dilation.contains(&0) {
            return Err(KernelError::InvalidParameter);
        }
        Ok(Self {
            stride: [coord(stride[0])?, coord(stride[1])?],
            dilation: [coord(dilation[0])?, coord(dilation[1])?],
            padding: [coord(padding[0])?, coord(padding[1])?],
        })
    }

    /// Input coordinate along `axis` (0 = H, 1 = W) for output position `out`
    /// and filter tap `k`; may be negative or past the edge.
    #[inline]
    pub(crate) fn input_coord(&self, axis: usize, out: usize, k: usize) -> i64 {
        (out as i64)
            .saturating_mul(self.stride[axis])
            .saturating_sub(self.padding[axis])
            .saturating_add(self.dilation[axis].saturating_mul(k as i64))
    }
}

/// Maps a signed coordinate to an index if it lies in `0..len`.
#[inline]
pub(crate) fn inside(c: i64, len: usize) -> Option<usize> {
    if c >= 0 && (c as u64) < len as u64 {
        Some(c as usize)
    } else {
        None
    }
}

/// Int8 convolution with per-channel (or per-tensor) requantisation.
///
/// `input_dims = [N, H, W, C]`, `filter_dims = [OC, KH, KW, FC]` (OHWI) with
/// `C % FC == 0` (grouped convolution when `FC < C`, as TFLM supports),
/// `output_dims = [N, OH, OW, OC]`, `bias` empty or `OC` long.
/// Positions outside the input contribute nothing (zero padding in real
/// terms). `acc = Σ filter * (input + input_offset) + bias`, then
/// `MultiplyByQuantizedMultiplier`, `+ output_offset`, clamp.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_s8(
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[i8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    conv2d_with(
        p,
        rq,
        input,
        input_dims,
        filter,
        filter_dims,
        bias,
        output,
        output_dims,
    )
}

/// [`conv2d_s8`] over any weight storage (dense int8 or packed int4).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_with<W: Weights>(
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: W,
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    filter.check(num_elements(filter_dims)?)?;
    check_len(output.len(), output_dims)?;
    check_act_range(p.act_min, p.act_max)?;
    let [batches, in_h, in_w, in_c] = input_dims;
    let [out_c, k_h, k_w, f_c] = filter_dims;
    let [o_n, out_h, out_w, o_c] = output_dims;
    if o_n != batches || o_c != out_c {
        return Err(KernelError::ShapeMismatch);
    }
    if f_c == 0 || in_c % f_c != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    rq.validate(out_c)?;
    let win = Window::new(p.stride, p.dilation, p.padding)?;
    let groups = in_c / f_c;
    if output.is_empty() {
        return Ok(());
    }
    if groups == 0 || out_c % groups != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    let filters_per_group = out_c / groups;

    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                for oc in 0..out_c {
                    let group = oc / filters_per_group;
                    let mut acc: i32 = 0;
                    for ky in 0..k_h {
                        let Some(iy) = inside(win.input_coord(0, oy, ky), in_h) else {
                            continue;
                        };
                        for kx in 0..k_w {
                            let Some(ix) = inside(win.input_coord(1, ox, kx), in_w) else {
                                continue;
                            };
                            let in_base = offset(input_dims, b, iy, ix, group * f_c);
                            let f_base = offset(filter_dims, oc, ky, kx, 0);
                            let ins = input.get(in_base..in_base + f_c).unwrap_or(&[]);
                            acc = acc.wrapping_add(filter.dot(f_base, ins, p.input_offset, 0));
                        }
                    }
                    if let Some(&bv) = bias.get(oc) {
                        acc = acc.wrapping_add(bv);
                    }
                    let v = rq.apply(acc, oc).wrapping_add(p.output_offset);
                    if let Some(o) = output.get_mut(offset(output_dims, b, oy, ox, oc)) {
                        *o = clamp_to_i8(v, p.act_min, p.act_max);
                    }
                }
            }
        }
    }
    Ok(())
}
