//! Data movement kernels: pad, concatenation, transpose (no arithmetic). The
//! generic bodies serve the int8 kernels here and the f32 ones in `float`.

use crate::error::KernelError;
use crate::shape::{check_len, num_elements, Dims4};

/// Row-major strides of `dims` (element counts, already validated).
fn strides(dims: Dims4) -> [usize; 4] {
    [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1]
}

/// Pads a 4-D tensor with `pad_value` (TFLM `Pad`/`PadV2`; for plain `Pad` the
/// value is the output zero point). `pads[d] = [before, after]` and
/// `output_dims[d] = before + input_dims[d] + after`.
pub fn pad_s8(
    input: &[i8],
    input_dims: Dims4,
    pads: [[usize; 2]; 4],
    pad_value: i8,
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    pad(input, input_dims, pads, pad_value, output, output_dims)
}

/// [`pad_s8`] for any element type.
pub(crate) fn pad<T: Copy>(
    input: &[T],
    input_dims: Dims4,
    pads: [[usize; 2]; 4],
    pad_value: T,
    output: &mut [T],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_len(output.len(), output_dims)?;
    for d in 0..4 {
        let total = input_dims[d]
            .checked_add(pads[d][0])
            .and_then(|v| v.checked_add(pads[d][1]))
            .ok_or(KernelError::SizeOverflow)?;
        if total != output_dims[d] {
            return Err(KernelError::ShapeMismatch);
        }
    }
    output.iter_mut().for_each(|o| *o = pad_value);
    if input.is_empty() {
        return Ok(());
    }
    let os = strides(output_dims);
    let rows = input_dims[0] * input_dims[1] * input_dims[2];
    let c = input_dims[3];
    for (r, row) in input.chunks_exact(c).enumerate().take(rows) {
        let b = r / (input_dims[1] * input_dims[2]);
        let y = (r / input_dims[2]) % input_dims[1];
        let x = r % input_dims[2];
        let start = (b + pads[0][0]) * os[0]
            + (y + pads[1][0]) * os[1]
            + (x + pads[2][0]) * os[2]
            + pads[3][0];
        output[start..start + c].copy_from_slice(row);
    }
    Ok(())
}

/// Concatenates int8 tensors along `axis` (0..4). All inputs must match the
/// output in every other dimension and their `axis` extents must sum to the
/// output's. Inputs must share the output's quantisation.
pub fn concat_s8(
    inputs: &[(&[i8], Dims4)],
    axis: usize,
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    concat(inputs, axis, output, output_dims)
}

/// [`concat_s8`] for any element type.
pub(crate) fn concat<T: Copy>(
    inputs: &[(&[T], Dims4)],
    axis: usize,
    output: &mut [T],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    if axis >= 4 {
        return Err(KernelError::InvalidParameter);
    }
    check_len(output.len(), output_dims)?;
    let mut axis_total = 0usize;
    for (data, dims) in inputs {
        check_len(data.len(), *dims)?;
        for d in 0..4 {
            if d != axis && dims[d] != output_dims[d] {
                return Err(KernelError::ShapeMismatch);
            }
        }
        axis_total = axis_total
            .checked_add(dims[axis])
            .ok_or(KernelError::SizeOverflow)?;
    }
    if axis_total != output_dims[axis] {
        return Err(KernelError::ShapeMismatch);
    }
    let outer: usize = output_dims[..axis].iter().product();
    let inner: usize = output_dims[axis + 1..].iter().product();
    let out_row = output_dims[axis] * inner;
    let mut col = 0usize;
    for (data, dims) in inputs {
        let chunk = dims[axis] * inner;
        if chunk == 0 {
            continue;
        }
        for (o, src) in data.chunks_exact(chunk).enumerate().take(outer) {
            let start = o * out_row + col;
            output[start..start + chunk].copy_from_slice(src);
        }
        col += chunk;
    }
    Ok(())
}

/// Transposes a 4-D int8 tensor: `output_dims[i] = input_dims[perm[i]]`, and
/// output index `(i0, i1, i2, i3)` reads the input at the position whose
/// `perm[k]`-th coordinate is `ik`.
pub fn transpose_s8(
    input: &[i8],
    input_dims: Dims4,
    perm: [usize; 4],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    transpose(input, input_dims, perm, output, output_dims)
}

/// [`transpose_s8`] for any element type.
pub(crate) fn transpose<T: Copy>(
    input: &[T],
    input_dims: Dims4,
    perm: [usize; 4],
    output: &mut [T],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_len(output.len(), output_dims)?;
    let mut seen = [false; 4];
    for &p in &perm {
        if p >= 4 || seen[p] {
            return Err(KernelError::InvalidParameter);
        }
        seen[p] = true;
    }
    for i in 0..4 {
        if output_dims[i] != input_dims[perm[i]] {
            return Err(KernelError::ShapeMismatch);
        }
    }
    if num_elements(output_dims)? == 0 {
        return Ok(());
    }
    let is = strides(input_dims);
    let s = [is[perm[0]], is[perm[1]], is[perm[2]], is[perm[3]]];
    let mut o = 0usize;
    for i0 in 0..output_dims[0] {
        for i1 in 0..output_dims[1] {
            for i2 in 0..output_dims[2] {
                let base = i0 * s[0] + i1 * s[1] + i2 * s[2];
                for i3 in 0..output_dims[3] {
                    output[o] = input[base + i3 * s[3]];
                    o += 1;
                }
            }
        }
    }
    Ok(())
}
