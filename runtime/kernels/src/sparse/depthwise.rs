//! Sparse int8 depthwise convolution, bit-exact with
//! [`crate::depthwise_conv2d_s8`].

use super::SparseFilter;
use crate::conv::{inside, ConvParams, Window};
use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, offset, Dims4};

/// Int8 depthwise convolution over a sparse filter of dense dims
/// `filter_dims` (`[1, KH, KW, OC]`); shapes, arithmetic and errors as
/// [`crate::depthwise_conv2d_s8`]. The filter must have `OC` rows of one
/// group of `KH·KW` taps (row-major over KH, KW).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_sparse_s8(
    p: &ConvParams,
    depth_multiplier: usize,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &SparseFilter,
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
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
    let taps = k_h.checked_mul(k_w).ok_or(KernelError::SizeOverflow)?;
    if filter.rows != out_c || filter.groups != 1 || filter.group_len != taps {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    rq.validate(out_c)?;
    let win = Window::new(p.stride, p.dilation, p.padding)?;
    let gb = filter.group_bytes();
    let values = filter.values;

    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                let mut bitmap = filter.bitmap.chunks_exact(gb.max(1));
                let mut vi = 0usize;
                for ic in 0..in_c {
                    for m in 0..depth_multiplier {
                        let oc = ic * depth_multiplier + m;
                        let bits = if gb == 0 {
                            &[][..]
                        } else {
                            bitmap.next().unwrap_or(&[])
                        };
                        let mut acc: i32 = 0;
                        let mut tap = 0usize;
                        for ky in 0..k_h {
                            let iy = inside(win.input_coord(0, oy, ky), in_h);
                            for kx in 0..k_w {
                                let set =
                                    bits.get(tap / 8).is_some_and(|&x| x >> (tap % 8) & 1 != 0);
                                tap += 1;
                                if !set {
                                    continue;
                                }
                                let w = values.get(vi).map_or(0, |&x| i32::from(x as i8));
                                vi += 1;
                                let ix = inside(win.input_coord(1, ox, kx), in_w);
                                let (Some(iy), Some(ix)) = (iy, ix) else {
                                    continue;
                                };
                                let iv = input
                                    .get(offset(input_dims, b, iy, ix, ic))
                                    .map_or(0, |&x| i32::from(x));
                                acc = acc
                                    .wrapping_add(w.wrapping_mul(iv.wrapping_add(p.input_offset)));
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
