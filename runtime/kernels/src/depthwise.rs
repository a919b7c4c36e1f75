//! Depthwise 2-D convolution, int8 per-channel
//! (TFLM `reference_integer_ops::DepthwiseConvPerChannel`).

use crate::conv::{inside, ConvParams, Window};
use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, num_elements, offset, Dims4};
use crate::weights::Weights;

/// Int8 depthwise convolution.
///
/// `input_dims = [N, H, W, C]`, `filter_dims = [1, KH, KW, OC]` with
/// `OC = C * depth_multiplier`, `output_dims = [N, OH, OW, OC]`, `bias` empty
/// or `OC` long. Output channel `c * depth_multiplier + m` reads input
/// channel `c`. Arithmetic as in [`crate::conv2d_s8`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_s8(
    p: &ConvParams,
    depth_multiplier: usize,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[i8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    depthwise_with(
        p,
        depth_multiplier,
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

/// [`depthwise_conv2d_s8`] over any weight storage (dense int8 or packed
/// int4).
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_with<W: Weights>(
    p: &ConvParams,
    depth_multiplier: usize,
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
    if depth_multiplier == 0 {
        return Err(KernelError::InvalidParameter);
    }
    let [batches, in_h, in_w, in_c] = input_dims;
    let [f_one, k_h, k_w, f_oc] = filter_dims;
    let [o_n, out_h, out_w, out_c] = output_dims;
    let expected_oc = in_c
        .checked_mul(depth_multiplier)
        .ok_or(KernelError::SizeOverflow)?;
    if f_one != 1 || o_n != batches || f_oc != out_c || out_c != expected_oc {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    rq.validate(out_c)?;
    let win = Window::new(p.stride, p.dilation, p.padding)?;

    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                for ic in 0..in_c {
                    for m in 0..depth_multiplier {
                        let oc = ic * depth_multiplier + m;
                        let mut acc: i32 = 0;
                        for ky in 0..k_h {
                            let Some(iy) = inside(win.input_coord(0, oy, ky), in_h) else {
                                continue;
                            };
                            for kx in 0..k_w {
                                let Some(ix) = inside(win.input_coord(1, ox, kx), in_w) else {
                                    continue;
                                };
                                let iv = input
                                    .get(offset(input_dims, b, iy, ix, ic))
                                    .map_or(0, |&x| i32::from(x));
                                let fv = filter.at(offset(filter_dims, 0, ky, kx, oc));
                                acc = acc
                                    .wrapping_add(fv.wrapping_mul(iv.wrapping_add(p.input_offset)));
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
    }
    Ok(())
}
