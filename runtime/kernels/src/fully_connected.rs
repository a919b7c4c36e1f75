//! Fully connected layer, int8 (TFLM `reference_integer_ops::FullyConnected`
//! and `FullyConnectedPerChannel`).

use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, clamp_to_i8};
use crate::weights::Weights;

/// Quantisation of a fully connected layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FcParams {
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `-filter_zero_point` (0 for int8 weights; ignored when per-channel,
    /// exactly like TFLM's `FullyConnectedPerChannel`).
    pub filter_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// Lower clamp in output units.
    pub act_min: i32,
    /// Upper clamp in output units.
    pub act_max: i32,
}

/// Int8 fully connected: `output[b, o] = clamp(requant(Σ_i (filter[o, i] +
/// filter_offset) * (input[b, i] + input_offset) + bias[o]) + output_offset)`.
///
/// `input` is `[batches, in_features]`, `filter` `[out_features, in_features]`,
/// `bias` empty or `out_features`, `output` `[batches, out_features]`.
/// With a per-channel `rq` (more than one entry) the filter offset is not
/// applied, matching TFLM.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_s8(
    p: &FcParams,
    rq: &Requant,
    input: &[i8],
    batches: usize,
    in_features: usize,
    filter: &[i8],
    bias: &[i32],
    output: &mut [i8],
    out_features: usize,
) -> Result<(), KernelError> {
    fully_connected_with(
        p,
        rq,
        input,
        batches,
        in_features,
        filter,
        bias,
        output,
        out_features,
    )
}

/// The validation every fully connected kernel shares: `(input, output)`
/// lengths of `batches` rows of `in_features` and `out_features`, the
/// filter's (through `filter`), the bias, the activation range and the
/// scales, in the reference's order of errors.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_fc<W: Weights>(
    p: &FcParams,
    rq: &Requant,
    (input_len, output_len): (usize, usize),
    batches: usize,
    in_features: usize,
    filter: W,
    bias: &[i32],
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
    if input_len != in_len || output_len != o_len {
        return Err(KernelError::BufferLength);
    }
    filter.check(f_len)?;
    if !(bias.is_empty() || bias.len() == out_features) {
        return Err(KernelError::BufferLength);
    }
    check_act_range(p.act_min, p.act_max)?;
    rq.validate(out_features)
}

/// [`fully_connected_s8`] over any weight storage (dense int8 or packed
/// int4).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fully_connected_with<W: Weights>(
    p: &FcParams,
    rq: &Requant,
    input: &[i8],
    batches: usize,
    in_features: usize,
    filter: W,
    bias: &[i32],
    output: &mut [i8],
    out_features: usize,
) -> Result<(), KernelError> {
    check_fc(
        p,
        rq,
        (input.len(), output.len()),
        batches,
        in_features,
        filter,
        bias,
        out_features,
    )?;
    let filter_offset = if rq.is_per_channel() {
        0
    } else {
        p.filter_offset
    };

    for b in 0..batches {
        let x = input
            .get(b * in_features..(b + 1) * in_features)
            .unwrap_or(&[]);
        for o in 0..out_features {
            let mut acc = filter.dot(o * in_features, x, p.input_offset, filter_offset);
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
