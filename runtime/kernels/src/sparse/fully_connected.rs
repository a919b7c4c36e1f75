//! Sparse int8 fully connected layer, bit-exact with
//! [`crate::fully_connected_s8`] when the filter offset is 0.

use super::{dot_group, SparseFilter};
use crate::error::KernelError;
use crate::fully_connected::FcParams;
use crate::requant::Requant;
use crate::shape::{check_act_range, clamp_to_i8};

/// Int8 fully connected over a sparse `[out_features, in_features]` filter
/// (`out_features` rows of one group of `in_features`); shapes and
/// arithmetic as [`crate::fully_connected_s8`]. A sparse filter's zeros
/// are stored value 0, so a per-tensor `filter_offset` other than 0 is
/// refused with [`KernelError::InvalidParameter`].
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_sparse_s8(
    p: &FcParams,
    rq: &Requant,
    input: &[i8],
    batches: usize,
    in_features: usize,
    filter: &SparseFilter,
    bias: &[i32],
    output: &mut [i8],
    out_features: usize,
) -> Result<(), KernelError> {
    let in_len = batches
        .checked_mul(in_features)
        .ok_or(KernelError::SizeOverflow)?;
    let o_len = batches
        .checked_mul(out_features)
        .ok_or(KernelError::SizeOverflow)?;
    if input.len() != in_len || output.len() != o_len {
        return Err(KernelError::BufferLength);
    }
    if filter.rows != out_features || filter.groups != 1 || filter.group_len != in_features {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_features) {
        return Err(KernelError::BufferLength);
    }
    check_act_range(p.act_min, p.act_max)?;
    rq.validate(out_features)?;
    if !rq.is_per_channel() && p.filter_offset != 0 {
        return Err(KernelError::InvalidParameter);
    }
    let gb = filter.group_bytes();
    for b in 0..batches {
        let x = input
            .get(b * in_features..(b + 1) * in_features)
            .unwrap_or(&[]);
        let mut bitmap = filter.bitmap.chunks_exact(gb.max(1));
        let mut vals = filter.values.iter();
        for o in 0..out_features {
            let bits = if gb == 0 {
                &[][..]
            } else {
                bitmap.next().unwrap_or(&[])
            };
            let mut acc = dot_group(bits, x, &mut vals, p.input_offset);
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
