//! int4-weight kernels: Conv2D, DepthwiseConv2D and FullyConnected whose
//! filter holds two's-complement 4-bit weights, two per byte (element `i`
//! in the low nibble of byte `i / 2` when even, the high nibble when odd;
//! the `.mote` `S4` encoding, see `mote_format::WeightEncoding`), in the
//! dense filter's element order. Each nibble is sign-extended to an int8
//! value in -8..=7 and accumulated exactly as the int8 reference kernels
//! accumulate it, so every result is bit-identical to [`crate::conv2d_s8`],
//! [`crate::depthwise_conv2d_s8`] and [`crate::fully_connected_s8`] fed the
//! unpacked values.

use crate::conv::{inside, ConvParams, Window};
use crate::error::KernelError;
use crate::fully_connected::FcParams;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, num_elements, offset, Dims4};

/// Weight `i` of a packed int4 filter, sign-extended (0 past the end).
#[inline(always)]
pub fn s4_at(packed: &[u8], i: usize) -> i32 {
    let byte = packed.get(i / 2).copied().unwrap_or(0);
    let nibble = if i % 2 == 0 { byte << 4 } else { byte & 0xf0 };
    i32::from((nibble as i8) >> 4)
}

/// Checks that `packed` holds exactly `elements` int4 weights.
fn check_packed(packed: &[u8], elements: usize) -> Result<(), KernelError> {
    if packed.len() == elements.div_ceil(2) {
        Ok(())
    } else {
        Err(KernelError::BufferLength)
    }
}

/// Int8-activation convolution with an int4 OHWI filter of dims
/// `filter_dims`; shapes, arithmetic and errors as [`crate::conv2d_s8`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d_s4(
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[u8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_packed(filter, num_elements(filter_dims)?)?;
    check_len(output.len(), output_dims)?;
    check_act_range(p.act_min, p.act_max)?;
    let [batches, in_h, in_w, in_c] = input_dims;
    let [out_c, k_h, k_w, f_c] = filter_dims;
    let [o_n, out_h, out_w, o_c] = output_dims;
    if o_n != batches || o_c != out_c || f_c == 0 || in_c % f_c != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    rq.validate(out_c)?;
    let win = Window::new(p.stride, p.dilation, p.padding)?;
    if output.is_empty() {
        return Ok(());
    }
    let groups = in_c / f_c;
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
                            for (i, &iv) in ins.iter().enumerate() {
                                let x = i32::from(iv).wrapping_add(p.input_offset);
                                acc = acc.wrapping_add(s4_at(filter, f_base + i).wrapping_mul(x));
                            }
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

/// Int8-activation depthwise convolution with an int4 filter of dims
/// `[1, KH, KW, OC]`; as [`crate::depthwise_conv2d_s8`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_s4(
    p: &ConvParams,
    depth_multiplier: usize,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &[u8],
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_packed(filter, num_elements(filter_dims)?)?;
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
                                let fv = s4_at(filter, offset(filter_dims, 0, ky, kx, oc));
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

/// Int8-activation fully connected with an int4 `[out_features,
/// in_features]` filter; as [`crate::fully_connected_s8`] (int4 weights are
/// symmetric: a per-tensor `filter_offset` other than 0 is refused with
/// [`KernelError::InvalidParameter`]).
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_s4(
    p: &FcParams,
    rq: &Requant,
    input: &[i8],
    batches: usize,
    in_features: usize,
    filter: &[u8],
    bias: &[i32],
    output: &mut [i8],
    out_features: usize,
) -> Result<(), KernelError> {
    let in_len = batches
        .checked_mul(in_features)
        .ok_or(KernelError::SizeOverflow)?;
    let f_len = out_features
        .checked_mul(in_features)
        .ok_or(KernelError::SizeOverflow)?;
    let o_len = batches
        .checked_mul(out_features)
        .ok_or(KernelError::SizeOverflow)?;
    if input.len() != in_len || output.len() != o_len {
        return Err(KernelError::BufferLength);
    }
    check_packed(filter, f_len)?;
    if !(bias.is_empty() || bias.len() == out_features) {
        return Err(KernelError::BufferLength);
    }
    check_act_range(p.act_min, p.act_max)?;
    rq.validate(out_features)?;
    if !rq.is_per_channel() && p.filter_offset != 0 {
        return Err(KernelError::InvalidParameter);
    }
    for b in 0..batches {
        let x = input
            .get(b * in_features..(b + 1) * in_features)
            .unwrap_or(&[]);
        for o in 0..out_features {
            let base = o * in_features;
            let mut acc: i32 = 0;
            for (i, &iv) in x.iter().enumerate() {
                let c = i32::from(iv).wrapping_add(p.input_offset);
                acc = acc.wrapping_add(s4_at(filter, base + i).wrapping_mul(c));
            }
            if let Some(&bv) = bias.get(o) {
                acc = acc.wrapping_add(bv);
            }
            let v = rq.apply(acc, o).wrapping_add(p.output_offset);
            if let Some(out) = output.get_mut(b * out_features + o) {
                *out = clamp_to_i8(v, p.act_min, p.act_max);
            }
        }
    }
    Ok(())
}
