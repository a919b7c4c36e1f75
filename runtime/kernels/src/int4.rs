//! int4-weight kernels: Conv2D, DepthwiseConv2D and FullyConnected whose
//! filter holds two's-complement 4-bit weights, two per byte (element `i`
//! in the low nibble of byte `i / 2` when even, the high nibble when odd;
//! the `.mote` `S4` encoding, see `mote_format::WeightEncoding`), in the
//! dense filter's element order. Each nibble is sign-extended to an int8
//! value in -8..=7 and accumulated exactly as the int8 reference kernels
//! accumulate it, so every result is bit-identical to [`crate::conv2d_s8`],
//! [`crate::depthwise_conv2d_s8`] and [`crate::fully_connected_s8`] fed the
//! unpacked values.

use crate::conv::{conv2d_with, ConvParams};
use crate::depthwise::depthwise_with;
use crate::error::KernelError;
use crate::fully_connected::{fully_connected_with, FcParams};
use crate::requant::Requant;
use crate::shape::Dims4;
use crate::weights::S4;

/// Weight `i` of a packed int4 filter, sign-extended (0 past the end).
#[inline(always)]
pub fn s4_at(packed: &[u8], i: usize) -> i32 {
    let byte = packed.get(i / 2).copied().unwrap_or(0);
    let nibble = if i % 2 == 0 { byte << 4 } else { byte & 0xf0 };
    i32::from((nibble as i8) >> 4)
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
    conv2d_with(
        p,
        rq,
        input,
        input_dims,
        S4(filter),
        filter_dims,
        bias,
        output,
        output_dims,
    )
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
    depthwise_with(
        p,
        depth_multiplier,
        rq,
        input,
        input_dims,
        S4(filter),
        filter_dims,
        bias,
        output,
        output_dims,
    )
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
    if !rq.is_per_channel() && p.filter_offset != 0 {
        return Err(KernelError::InvalidParameter);
    }
    fully_connected_with(
        p,
        rq,
        input,
        batches,
        in_features,
        S4(filter),
        bias,
        output,
        out_features,
    )
}
