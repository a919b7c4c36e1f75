//! Calibration and evaluation data: a `.npy` file with a leading sample
//! axis, or a directory of `.npy` files.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::npy::{self, Array};
use crate::run::match_shape;

/// Reads float32 samples shaped like `input_shape` (one `Vec` per sample).
pub fn load_samples(path: &Path, input_shape: &[usize]) -> Result<Vec<Vec<f32>>> {
    let mut files = Vec::new();
    if path.is_dir() {
        for e in
            std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
        {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "npy") {
                files.push(p);
            }
        }
        files.sort();
        if files.is_empty() {
            bail!("{} holds no .npy files", path.display());
        }
    } else {
        files.push(path.to_path_buf());
    }
    let per: usize = input_shape.iter().product();
    let mut samples = Vec::new();
    for f in &files {
        let (shape, data) = npy::read(f)?;
        let Array::F32(values) = data else {
            bail!("{}: calibration data must be float32", f.display());
        };
        let b = match_shape(&shape, input_shape).with_context(|| format!("{}", f.display()))?;
        if values.iter().any(|v| !v.is_finite()) {
            bail!("{}: contains NaN or infinite values", f.display());
        }
        for i in 0..b.samples {
            samples.push(values[i * per..(i + 1) * per].to_vec());
        }
    }
    if samples.is_empty() {
        bail!("{}: the calibration set is empty", path.display());
    }
    Ok(samples)
}
