//! Float fully connected layer (TFLite `reference_ops::FullyConnected`, float).

use super::{FloatAct, Weights, Widen};
use crate::error::KernelError;

/// Float fully connected: `output[b, o] = clamp(Σ_i filter[o, i] * input[b, i]
/// + bias[o])`.
///
/// `input` is `[batches, in_features]`, `filter` `[out_features,
/// in_features]`, `bias` empty or `out_features` long, `output`
/// `[batches, out_features]`.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_f32(
    act: FloatAct,
    input: &[f32],
    batches: usize,
    in_features: usize,
    filter: Weights<'_>,
    bias: &[f32],
    output: &mut [f32],
    out_features: usize,
) -> Result<(), KernelError> {
    match filter {
        Weights::F32(f) => fc(
            act,
            input,
            batches,
            in_features,
            f,
            bias,
            output,
            out_features,
        ),
        Weights::F16(f) => fc(
            act,
            input,
            batches,
            in_features,
            f,
            bias,
            output,
            out_features,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn fc<W: Widen>(
    act: FloatAct,
    input: &[f32],
    batches: usize,
    in_features: usize,
    filter: &[W],
    bias: &[f32],
    output: &mut [f32],
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
    if input.len() != in_len || filter.len() != f_len || output.len() != o_len {
        return Err(KernelError::BufferLength);
    }
    if !(bias.is_empty() || bias.len() == out_features) {
        return Err(KernelError::BufferLength);
    }
    act.check()?;
    if in_features == 0 {
        // No products: the output is the (clamped) bias.
        for row in output.chunks_exact_mut(out_features.max(1)) {
            for (o, v) in row.iter_mut().enumerate() {
                *v = act.apply(bias.get(o).copied().unwrap_or(0.0));
            }
        }
        return Ok(());
    }
    for (x, row) in input
        .chunks_exact(in_features)
        .zip(output.chunks_exact_mut(out_features.max(1)))
    {
        for ((o, w), v) in filter.chunks_exact(in_features).enumerate().zip(row) {
            let mut acc = 0.0f32;
            for (&iv, &fv) in x.iter().zip(w) {
                acc += iv * fv.widen();
            }
            *v = act.apply(acc + bias.get(o).copied().unwrap_or(0.0));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float::f16;
    use crate::float::test_util::{assert_close, data};

    #[test]
    fn closed_form() {
        // Two rows of [1, 2], W = [[1, 1], [2, -1], [0, 0.5]], b = [0, 1, -1].
        let x = [1.0f32, 2.0, -1.0, 0.5];
        let w = [1.0f32, 1.0, 2.0, -1.0, 0.0, 0.5];
        let b = [0.0f32, 1.0, -1.0];
        let mut out = [0.0f32; 6];
        fully_connected_f32(FloatAct::NONE, &x, 2, 2, Weights::F32(&w), &b, &mut out, 3).unwrap();
        assert_eq!(out, [3.0, 1.0, 0.0, -0.5, -1.5, -0.75]);
        fully_connected_f32(FloatAct::RELU, &x, 2, 2, Weights::F32(&w), &b, &mut out, 3).unwrap();
        assert_eq!(out, [3.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn matches_naive_and_f16_is_within_rounding() {
        let (rows, inf, outf) = (3, 37, 11);
        let x = data(rows * inf, 11);
        let w = data(outf * inf, 12);
        let b = data(outf, 13);
        let mut out = vec![0.0f32; rows * outf];
        fully_connected_f32(
            FloatAct::NONE,
            &x,
            rows,
            inf,
            Weights::F32(&w),
            &b,
            &mut out,
            outf,
        )
        .unwrap();
        let mut want = vec![0.0f32; rows * outf];
        let mut bound = vec![0.0f32; rows * outf];
        for r in 0..rows {
            for o in 0..outf {
                let mut acc = f64::from(b[o]);
                for i in 0..inf {
                    acc += f64::from(x[r * inf + i]) * f64::from(w[o * inf + i]);
                    bound[r * outf + o] += (x[r * inf + i] * w[o * inf + i]).abs();
                }
                want[r * outf + o] = acc as f32;
            }
        }
        assert_close(&out, &want, 1e-5);
        let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let mut half_out = vec![0.0f32; rows * outf];
        fully_connected_f32(
            FloatAct::NONE,
            &x,
            rows,
            inf,
            Weights::F16(&h),
            &b,
            &mut half_out,
            outf,
        )
        .unwrap();
        for ((u, v), m) in half_out.iter().zip(&want).zip(&bound) {
            assert!((u - v).abs() <= m * 2f32.powi(-11) + 1e-5, "{u} vs {v}");
        }
    }

    #[test]
    fn bad_lengths() {
        let x = [0.0f32; 4];
        let w = [0.0f32; 6];
        let mut out = [0.0f32; 6];
        let r = |x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]| {
            fully_connected_f32(FloatAct::NONE, x, 2, 2, Weights::F32(w), b, out, 3)
        };
        assert_eq!(r(&x, &w, &[], &mut out), Ok(()));
        assert_eq!(
            r(&x[..3], &w, &[], &mut out),
            Err(KernelError::BufferLength)
        );
        assert_eq!(
            r(&x, &w[..5], &[], &mut out),
            Err(KernelError::BufferLength)
        );
        assert_eq!(r(&x, &w, &[0.0], &mut out), Err(KernelError::BufferLength));
        assert_eq!(
            r(&x, &w, &[], &mut out[..5]),
            Err(KernelError::BufferLength)
        );
        assert_eq!(
            fully_connected_f32(
                FloatAct::NONE,
                &x,
                usize::MAX,
                2,
                Weights::F32(&w),
                &[],
                &mut out,
                3
            ),
            Err(KernelError::SizeOverflow)
        );
        assert_eq!(
            fully_connected_f32(
                FloatAct::new(1.0, 0.0),
                &x,
                2,
                2,
                Weights::F32(&w),
                &[],
                &mut out,
                3
            ),
            Err(KernelError::InvalidParameter)
        );
        // No input features: the output is the bias.
        let mut o = [9.0f32; 2];
        fully_connected_f32(
            FloatAct::NONE,
            &[],
            1,
            0,
            Weights::F32(&[]),
            &[1.0, 2.0],
            &mut o,
            2,
        )
        .unwrap();
        assert_eq!(o, [1.0, 2.0]);
    }
}
