//! Float element-wise add and mul with 4-D broadcasting.

use super::FloatAct;
use crate::elementwise::binary_broadcast;
use crate::error::KernelError;
use crate::shape::Dims4;

/// Float add with the broadcasting rules of [`crate::add_s8`] (every input
/// dimension equals the output's or is 1, `output_dims[i] =
/// max(in1_dims[i], in2_dims[i])`), then the clamp.
pub fn add_f32(
    act: FloatAct,
    in1: &[f32],
    in1_dims: Dims4,
    in2: &[f32],
    in2_dims: Dims4,
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    act.check()?;
    binary_broadcast(in1, in1_dims, in2, in2_dims, output, output_dims, |a, b| {
        act.apply(a + b)
    })
}

/// Float multiply with the same broadcasting as [`add_f32`], then the clamp.
pub fn mul_f32(
    act: FloatAct,
    in1: &[f32],
    in1_dims: Dims4,
    in2: &[f32],
    in2_dims: Dims4,
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    act.check()?;
    binary_broadcast(in1, in1_dims, in2, in2_dims, output, output_dims, |a, b| {
        act.apply(a * b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_shape() {
        let a = [1.0f32, -2.0, 3.5, 0.0];
        let b = [0.5f32, 4.0, -1.0, 2.0];
        let mut out = [0.0f32; 4];
        add_f32(
            FloatAct::NONE,
            &a,
            [1, 1, 2, 2],
            &b,
            [1, 1, 2, 2],
            &mut out,
            [1, 1, 2, 2],
        )
        .unwrap();
        assert_eq!(out, [1.5, 2.0, 2.5, 2.0]);
        mul_f32(
            FloatAct::RELU,
            &a,
            [1, 1, 2, 2],
            &b,
            [1, 1, 2, 2],
            &mut out,
            [1, 1, 2, 2],
        )
        .unwrap();
        assert_eq!(out, [0.5, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn broadcasts_both_ways() {
        // [1, 2, 1, 3] + [1, 1, 2, 1] -> [1, 2, 2, 3].
        let a = [1.0f32, 2.0, 3.0, 10.0, 20.0, 30.0];
        let b = [100.0f32, 200.0];
        let mut out = [0.0f32; 12];
        add_f32(
            FloatAct::NONE,
            &a,
            [1, 2, 1, 3],
            &b,
            [1, 1, 2, 1],
            &mut out,
            [1, 2, 2, 3],
        )
        .unwrap();
        assert_eq!(
            out,
            [101.0, 102.0, 103.0, 201.0, 202.0, 203.0, 110.0, 120.0, 130.0, 210.0, 220.0, 230.0]
        );
        // A scalar times a tensor, clamped.
        let mut out = [0.0f32; 6];
        mul_f32(
            FloatAct::new(-25.0, 25.0),
            &[2.0],
            [1, 1, 1, 1],
            &a,
            [1, 2, 1, 3],
            &mut out,
            [1, 2, 1, 3],
        )
        .unwrap();
        assert_eq!(out, [2.0, 4.0, 6.0, 20.0, 25.0, 25.0]);
    }

    #[test]
    fn bad_shapes() {
        let a = [0.0f32; 6];
        let mut out = [0.0f32; 6];
        assert_eq!(
            add_f32(
                FloatAct::NONE,
                &a,
                [1, 2, 1, 3],
                &a[..2],
                [1, 1, 1, 2],
                &mut out,
                [1, 2, 1, 3]
            ),
            Err(KernelError::ShapeMismatch)
        );
        assert_eq!(
            add_f32(
                FloatAct::NONE,
                &a,
                [1, 2, 1, 3],
                &a[..5],
                [1, 2, 1, 3],
                &mut out,
                [1, 2, 1, 3]
            ),
            Err(KernelError::BufferLength)
        );
        assert_eq!(
            mul_f32(
                FloatAct::new(f32::NAN, f32::NAN),
                &a,
                [1, 2, 1, 3],
                &a,
                [1, 2, 1, 3],
                &mut out,
                [1, 2, 1, 3]
            ),
            Err(KernelError::InvalidParameter)
        );
    }
}
