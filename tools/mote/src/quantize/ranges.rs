//! Activation ranges from calibration data, and the int8 parameters they give.

use anyhow::{bail, Result};

/// How a tensor's range is chosen from its calibration values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The observed minimum and maximum.
    MinMax,
    /// The given percentile of the low and high tails (e.g. 99.99).
    Percentile(f64),
    /// The range (a shrunk min/max) that minimises the mean squared
    /// quantization error on the calibration values.
    Mse,
}

impl std::str::FromStr for Method {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "minmax" => Ok(Method::MinMax),
            "mse" => Ok(Method::Mse),
            _ => match s.strip_prefix("percentile:") {
                Some(p) => {
                    let p: f64 = p
                        .parse()
                        .map_err(|_| anyhow::anyhow!("bad percentile '{p}'"))?;
                    if !(50.0..=100.0).contains(&p) {
                        bail!("percentile must be between 50 and 100, got {p}");
                    }
                    Ok(Method::Percentile(p))
                }
                None => {
                    bail!("unknown calibration method '{s}' (use minmax, percentile:<p> or mse)")
                }
            },
        }
    }
}

/// Values seen for one tensor: exact min/max plus a bounded, evenly strided
/// sample of the values for percentile and MSE searches.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Smallest value seen.
    pub min: f32,
    /// Largest value seen.
    pub max: f32,
    seen: u64,
    sample: Vec<f32>,
}

/// Most values kept per tensor.
const SAMPLE_CAP: usize = 1 << 18;

impl Stats {
    /// Adds a batch of values; errors on NaN or infinity.
    pub fn add(&mut self, values: &[f32], name: &str) -> Result<()> {
        if values.iter().any(|v| !v.is_finite()) {
            bail!("the float model produces NaN or infinite values in '{name}' on the calibration data");
        }
        if self.seen == 0 {
            self.min = f32::INFINITY;
            self.max = f32::NEG_INFINITY;
        }
        for &v in values {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        // Keep a strided subsample so memory stays bounded.
        let stride = (values.len() / (SAMPLE_CAP / 64).max(1)).max(1);
        self.sample.extend(values.iter().step_by(stride));
        if self.sample.len() > SAMPLE_CAP {
            let keep: Vec<f32> = self.sample.iter().step_by(2).copied().collect();
            self.sample = keep;
        }
        self.seen += values.len() as u64;
        Ok(())
    }

    /// The range chosen by `method`, always containing 0.
    pub fn range(&self, method: Method) -> (f32, f32) {
        let (lo, hi) = match method {
            Method::MinMax => (self.min, self.max),
            Method::Percentile(p) => {
                let mut s = self.sample.clone();
                s.sort_by(f32::total_cmp);
                if s.is_empty() {
                    (self.min, self.max)
                } else {
                    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
                    (at(1.0 - p / 100.0), at(p / 100.0))
                }
            }
            Method::Mse => self.mse_range(),
        };
        (lo.min(0.0), hi.max(0.0))
    }

    /// Sum of squared quantization errors of the kept values with range [lo, hi].
    pub fn error(&self, lo: f32, hi: f32) -> f64 {
        let (scale, zp) = act_params(lo, hi);
        self.sample
            .iter()
            .map(|&x| {
                let q = ((x / scale).round() as i32 + zp).clamp(-128, 127);
                f64::from(x - (q - zp) as f32 * scale).powi(2)
            })
            .sum()
    }

    fn mse_range(&self) -> (f32, f32) {
        let (lo0, hi0) = (self.min.min(0.0), self.max.max(0.0));
        let mut best = (lo0, hi0);
        let mut best_err = f64::INFINITY;
        for step in 0..=40 {
            let a = 1.0 - step as f32 * 0.02; // 1.0 down to 0.2
            let (lo, hi) = (lo0 * a, hi0 * a);
            let err = self.error(lo, hi);
            if err < best_err {
                best_err = err;
                best = (lo, hi);
            }
        }
        best
    }
}

/// int8 asymmetric parameters (scale, zero point) for the range [lo, hi]
/// (which must contain 0): 0.0 is exactly representable.
pub fn act_params(lo: f32, hi: f32) -> (f32, i32) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let span = hi - lo;
    if span <= f32::MIN_POSITIVE {
        return (1.0 / 256.0, -128);
    }
    let scale = span / 255.0;
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    (scale, zp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_exact_and_range_covered() {
        let (s, z) = act_params(-1.0, 3.0);
        assert!((s - 4.0 / 255.0).abs() < 1e-7);
        assert_eq!(((0.0f32 / s).round() as i32) + z, z);
        assert_eq!(z, -64);
        assert_eq!(act_params(0.0, 6.0).1, -128);
    }

    #[test]
    fn methods_narrow_outliers() {
        let mut st = Stats::default();
        let mut v: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        v.push(50.0);
        st.add(&v, "t").unwrap();
        assert_eq!(st.range(Method::MinMax), (0.0, 50.0));
        assert!(st.range(Method::Percentile(99.9)).1 < 1.0);
        // A single outlier costs more clipped than the finer step gains.
        assert_eq!(st.range(Method::Mse).1, 50.0);
        // On a heavy tail its range never quantizes worse than min/max.
        let mut exp = Stats::default();
        let tail: Vec<f32> = (1..20_000).map(|i| 20_000.0 / i as f32 - 1.0).collect();
        exp.add(&tail, "e").unwrap();
        let (lo, hi) = exp.range(Method::Mse);
        let (mlo, mhi) = exp.range(Method::MinMax);
        assert!(exp.error(lo, hi) <= exp.error(mlo, mhi));
        assert!(hi <= mhi && lo >= mlo);
        assert!("percentile:99.9".parse::<Method>().is_ok());
        assert!("bogus".parse::<Method>().is_err());
    }
}
