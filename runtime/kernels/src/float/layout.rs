//! Float data movement: pad, concatenation, transpose (the int8 kernels'
//! bodies, for `f32`).

use crate::error::KernelError;
use crate::layout::{concat, pad, transpose};
use crate::shape::Dims4;

/// Pads a 4-D tensor with `pad_value`: `pads[d] = [before, after]` and
/// `output_dims[d] = before + input_dims[d] + after` (as [`crate::pad_s8`]).
pub fn pad_f32(
    input: &[f32],
    input_dims: Dims4,
    pads: [[usize; 2]; 4],
    pad_value: f32,
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    pad(input, input_dims, pads, pad_value, output, output_dims)
}

/// Concatenates tensors along `axis` (0..4); the inputs match the output in
/// every other dimension and their `axis` extents sum to the output's (as
/// [`crate::concat_s8`]).
pub fn concat_f32(
    inputs: &[(&[f32], Dims4)],
    axis: usize,
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    concat(inputs, axis, output, output_dims)
}

/// Transposes a 4-D tensor: `output_dims[i] = input_dims[perm[i]]` (as
/// [`crate::transpose_s8`]).
pub fn transpose_f32(
    input: &[f32],
    input_dims: Dims4,
    perm: [usize; 4],
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    transpose(input, input_dims, perm, output, output_dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_concat_transpose() {
        let x = [1.0f32, 2.0, 3.0, 4.0]; // [1, 2, 2, 1]
        let mut p = [0.0f32; 9];
        pad_f32(
            &x,
            [1, 2, 2, 1],
            [[0, 0], [1, 0], [0, 1], [0, 0]],
            -1.5,
            &mut p,
            [1, 3, 3, 1],
        )
        .unwrap();
        assert_eq!(p, [-1.5, -1.5, -1.5, 1.0, 2.0, -1.5, 3.0, 4.0, -1.5]);
        assert_eq!(
            pad_f32(
                &x,
                [1, 2, 2, 1],
                [[0, 0]; 4],
                0.0,
                &mut p[..9],
                [1, 3, 3, 1]
            ),
            Err(KernelError::ShapeMismatch)
        );

        let y = [5.0f32, 6.0];
        let mut c = [0.0f32; 6];
        concat_f32(
            &[(&x, [1, 2, 2, 1]), (&y, [1, 2, 1, 1])],
            2,
            &mut c,
            [1, 2, 3, 1],
        )
        .unwrap();
        assert_eq!(c, [1.0, 2.0, 5.0, 3.0, 4.0, 6.0]);
        assert_eq!(
            concat_f32(&[(&x, [1, 2, 2, 1])], 4, &mut c, [1, 2, 3, 1]),
            Err(KernelError::InvalidParameter)
        );

        let mut t = [0.0f32; 4];
        transpose_f32(&x, [1, 2, 2, 1], [0, 2, 1, 3], &mut t, [1, 2, 2, 1]).unwrap();
        assert_eq!(t, [1.0, 3.0, 2.0, 4.0]);
        assert_eq!(
            transpose_f32(&x, [1, 2, 2, 1], [0, 1, 1, 3], &mut t, [1, 2, 2, 1]),
            Err(KernelError::InvalidParameter)
        );
    }
}
