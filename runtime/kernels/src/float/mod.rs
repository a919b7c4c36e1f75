//! Float (f32) reference kernels, for models or layers kept in float.
//!
//! Conventions, shared with the int8 kernels:
//! * tensors are NHWC, shapes are [`Dims4`](crate::Dims4);
//! * compute is `f32`; weights are stored as `f32` or `f16` ([`Weights`]),
//!   an `f16` weight is widened to `f32` exactly where it is used;
//! * the fused activation is a clamp to `[act.min, act.max]` ([`FloatAct`]),
//!   `-inf`/`+inf` meaning no bound; a NaN result stays NaN;
//! * every slice length is checked against its shape before any work is done
//!   (checked arithmetic, typed [`KernelError`]), so no input can make a
//!   kernel panic.
//!
//! The arithmetic follows TFLite's float reference kernels: products are
//! accumulated in `f32` in input order, the bias is added after the sum, and
//! the clamp comes last.

mod activation;
mod conv;
mod elementwise;
mod fc;
mod layout;
mod pool;

pub use activation::{clamp_f32, logistic_f32, softmax_f32, tanh_f32};
pub use conv::{conv2d_f32, depthwise_conv2d_f32, FloatConvParams};
pub use elementwise::{add_f32, mul_f32};
pub use fc::fully_connected_f32;
pub use half::f16;
pub use layout::{concat_f32, pad_f32, transpose_f32};
pub use pool::{avg_pool_f32, max_pool_f32, mean_hw_f32, FloatPoolParams};

use crate::error::KernelError;

/// Weights of a float layer, as stored in the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weights<'a> {
    /// IEEE binary32 weights, used as they are.
    F32(&'a [f32]),
    /// IEEE binary16 weights, widened to `f32` per element (exactly: every
    /// `f16` value is representable in `f32`).
    F16(&'a [f16]),
}

impl Weights<'_> {
    /// Number of weights.
    pub fn len(&self) -> usize {
        match self {
            Weights::F32(w) => w.len(),
            Weights::F16(w) => w.len(),
        }
    }

    /// True if there are no weights.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Weight `i` as `f32`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<f32> {
        match self {
            Weights::F32(w) => w.get(i).copied(),
            Weights::F16(w) => w.get(i).map(|h| h.to_f32()),
        }
    }
}

/// A stored weight element that widens to `f32`.
pub(crate) trait Widen: Copy {
    /// The value as `f32` (exact).
    fn widen(self) -> f32;
}

impl Widen for f32 {
    #[inline]
    fn widen(self) -> f32 {
        self
    }
}

impl Widen for f16 {
    #[inline]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

/// Output clamp of a float kernel (TFLite's fused activation range).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatAct {
    /// Lower bound (`f32::NEG_INFINITY` for none).
    pub min: f32,
    /// Upper bound (`f32::INFINITY` for none).
    pub max: f32,
}

impl FloatAct {
    /// No clamp.
    pub const NONE: FloatAct = FloatAct {
        min: f32::NEG_INFINITY,
        max: f32::INFINITY,
    };
    /// ReLU: `[0, +inf]`.
    pub const RELU: FloatAct = FloatAct {
        min: 0.0,
        max: f32::INFINITY,
    };
    /// ReLU6: `[0, 6]`.
    pub const RELU6: FloatAct = FloatAct { min: 0.0, max: 6.0 };

    /// A clamp to `[min, max]`.
    pub const fn new(min: f32, max: f32) -> Self {
        FloatAct { min, max }
    }

    /// Checks the range: neither bound NaN and `min <= max`
    /// ([`KernelError::InvalidParameter`] otherwise).
    pub fn check(&self) -> Result<(), KernelError> {
        if self.min <= self.max {
            Ok(())
        } else {
            Err(KernelError::InvalidParameter)
        }
    }

    /// Clamps `x` (TFLite `ActivationFunctionWithMinMax`); NaN stays NaN.
    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        if x < self.min {
            self.min
        } else if x > self.max {
            self.max
        } else {
            x
        }
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Deterministic data and comparison helpers for the float kernel tests.

    /// `n` pseudo-random values in `[-1, 1)` (xorshift, seeded).
    pub fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Asserts `|a - b| <= tol * max(1, |b|)` element-wise.
    pub fn assert_close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len(), "lengths differ");
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * y.abs().max(1.0),
                "element {i}: {x} vs {y} (tol {tol})"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_ranges() {
        assert_eq!(FloatAct::NONE.check(), Ok(()));
        assert_eq!(FloatAct::new(1.0, 1.0).check(), Ok(()));
        assert_eq!(
            FloatAct::new(2.0, 1.0).check(),
            Err(KernelError::InvalidParameter)
        );
        assert_eq!(
            FloatAct::new(f32::NAN, 1.0).check(),
            Err(KernelError::InvalidParameter)
        );
        assert_eq!(
            FloatAct::new(0.0, f32::NAN).check(),
            Err(KernelError::InvalidParameter)
        );
        assert_eq!(FloatAct::RELU.apply(-3.0), 0.0);
        assert_eq!(FloatAct::RELU6.apply(7.5), 6.0);
        assert_eq!(FloatAct::NONE.apply(-1e30), -1e30);
        assert!(FloatAct::RELU6.apply(f32::NAN).is_nan());
    }

    #[test]
    fn weights_widen() {
        let h = [f16::from_f32(0.5), f16::from_f32(-2.0)];
        let w = Weights::F16(&h);
        assert_eq!(
            (w.len(), w.get(0), w.get(1), w.get(2)),
            (2, Some(0.5), Some(-2.0), None)
        );
        let f = [1.25f32];
        assert_eq!(Weights::F32(&f).get(0), Some(1.25));
        assert!(Weights::F32(&[]).is_empty());
    }
}
