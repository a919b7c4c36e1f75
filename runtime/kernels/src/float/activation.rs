//! Float softmax, logistic, tanh and clamp (element-wise or per row).

use super::FloatAct;
use crate::error::KernelError;

/// Softmax over consecutive rows of `row_len` elements: `exp(x - max) /
/// Σ exp(x - max)` (max-subtracted, so no overflow). `input.len()` must be a
/// multiple of `row_len` and equal `output.len()`.
pub fn softmax_f32(input: &[f32], row_len: usize, output: &mut [f32]) -> Result<(), KernelError> {
    if input.len() != output.len() {
        return Err(KernelError::BufferLength);
    }
    if input.is_empty() {
        return Ok(());
    }
    if row_len == 0 || input.len() % row_len != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    for (x, y) in input
        .chunks_exact(row_len)
        .zip(output.chunks_exact_mut(row_len))
    {
        let max = x
            .iter()
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        let mut sum = 0.0f32;
        for (o, &v) in y.iter_mut().zip(x) {
            *o = libm::expf(v - max);
            sum += *o;
        }
        for o in y.iter_mut() {
            *o /= sum;
        }
    }
    Ok(())
}

/// Logistic `1 / (1 + exp(-x))`, element-wise, with TFLite's cutoffs:
/// 1 above 16.619047, `exp(x)` below -9 (accurate in the tail).
pub fn logistic_f32(input: &[f32], output: &mut [f32]) -> Result<(), KernelError> {
    const UPPER: f32 = 16.619_047;
    const LOWER: f32 = -9.0;
    map(input, output, |x| {
        if x > UPPER {
            1.0
        } else if x < LOWER {
            libm::expf(x)
        } else {
            1.0 / (1.0 + libm::expf(-x))
        }
    })
}

/// Hyperbolic tangent, element-wise.
pub fn tanh_f32(input: &[f32], output: &mut [f32]) -> Result<(), KernelError> {
    map(input, output, libm::tanhf)
}

/// Clamp to `[act.min, act.max]`, element-wise (a standalone ReLU / ReLU6 /
/// Clip); NaN stays NaN.
pub fn clamp_f32(act: FloatAct, input: &[f32], output: &mut [f32]) -> Result<(), KernelError> {
    act.check()?;
    map(input, output, |x| act.apply(x))
}

fn map(input: &[f32], output: &mut [f32], f: impl Fn(f32) -> f32) -> Result<(), KernelError> {
    if input.len() != output.len() {
        return Err(KernelError::BufferLength);
    }
    for (o, &x) in output.iter_mut().zip(input) {
        *o = f(x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float::test_util::{assert_close, data};

    #[test]
    fn softmax_rows_sum_to_one() {
        let x = data(5 * 7, 21);
        let scaled: Vec<f32> = x.iter().map(|v| v * 30.0).collect();
        let mut y = vec![0.0f32; 35];
        softmax_f32(&scaled, 7, &mut y).unwrap();
        for (row, xr) in y.chunks(7).zip(scaled.chunks(7)) {
            let s: f32 = row.iter().sum();
            assert!((s - 1.0).abs() < 1e-6, "row sums to {s}");
            // Same order as the logits.
            for i in 0..7 {
                for j in 0..7 {
                    if xr[i] > xr[j] {
                        assert!(row[i] >= row[j]);
                    }
                }
            }
            // Against an f64 reference.
            let m = xr
                .iter()
                .cloned()
                .fold(f64::MIN, |a, b| a.max(f64::from(b)));
            let e: Vec<f64> = xr.iter().map(|&v| (f64::from(v) - m).exp()).collect();
            let t: f64 = e.iter().sum();
            let want: Vec<f32> = e.iter().map(|v| (v / t) as f32).collect();
            assert_close(row, &want, 1e-6);
        }
    }

    #[test]
    fn softmax_closed_form_and_no_overflow() {
        // [0, ln 3] -> [1/4, 3/4]; a constant shift changes nothing.
        let mut y = [0.0f32; 2];
        softmax_f32(&[0.0, 3f32.ln()], 2, &mut y).unwrap();
        assert_close(&y, &[0.25, 0.75], 1e-6);
        softmax_f32(&[1000.0, 1000.0 + 3f32.ln()], 2, &mut y).unwrap();
        assert_close(&y, &[0.25, 0.75], 1e-4);
        softmax_f32(&[-1e30, 5.0], 2, &mut y).unwrap();
        assert_eq!(y, [0.0, 1.0]);
        assert_eq!(
            softmax_f32(&[0.0; 6], 4, &mut [0.0; 6]),
            Err(KernelError::ShapeMismatch)
        );
        assert_eq!(
            softmax_f32(&[0.0; 6], 0, &mut [0.0; 6]),
            Err(KernelError::ShapeMismatch)
        );
        assert_eq!(
            softmax_f32(&[0.0; 6], 3, &mut [0.0; 5]),
            Err(KernelError::BufferLength)
        );
    }

    #[test]
    fn logistic_and_tanh() {
        let x = [0.0f32, 2.0, -2.0, 20.0, -20.0, -100.0];
        let mut y = [0.0f32; 6];
        logistic_f32(&x, &mut y).unwrap();
        let want: Vec<f32> = x
            .iter()
            .map(|&v| (1.0 / (1.0 + (-f64::from(v)).exp())) as f32)
            .collect();
        assert_eq!(y[0], 0.5);
        assert_eq!(y[3], 1.0);
        assert_close(&y, &want, 1e-6);
        assert!(y[5] > 0.0 && (y[5] / want[5] - 1.0).abs() < 1e-5);
        tanh_f32(&x, &mut y).unwrap();
        let want: Vec<f32> = x.iter().map(|&v| f64::from(v).tanh() as f32).collect();
        assert_close(&y, &want, 1e-6);
        assert_eq!((y[0], y[3], y[5]), (0.0, 1.0, -1.0));
        assert_eq!(tanh_f32(&x, &mut y[..5]), Err(KernelError::BufferLength));
        assert_eq!(
            logistic_f32(&x[..1], &mut y),
            Err(KernelError::BufferLength)
        );
    }

    #[test]
    fn clamp() {
        let x = [-3.0f32, 0.5, 9.0, f32::NAN];
        let mut y = [0.0f32; 4];
        clamp_f32(FloatAct::RELU6, &x, &mut y).unwrap();
        assert_eq!(y[..3], [0.0, 0.5, 6.0]);
        assert!(y[3].is_nan());
        clamp_f32(FloatAct::NONE, &x[..3], &mut y[..3]).unwrap();
        assert_eq!(y[..3], x[..3]);
        assert_eq!(
            clamp_f32(FloatAct::new(1.0, -1.0), &x, &mut y),
            Err(KernelError::InvalidParameter)
        );
    }
}
