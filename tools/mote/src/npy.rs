//! Reading and writing `.npy` arrays (int8 and float32).

use std::path::Path;

use anyhow::{bail, Context, Result};
use npyz::WriterBuilder;

/// Array data read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    /// int8 values.
    I8(Vec<i8>),
    /// float32 values.
    F32(Vec<f32>),
}

/// Reads `path`, returning its shape and data.
pub fn read(path: &Path) -> Result<(Vec<usize>, Array)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a .npy file", path.display()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let descr = npy
        .dtype()
        .descr()
        .trim_matches(|c| c == '\'' || c == '"')
        .to_string();
    let short = || {
        format!(
            "{}: the array data is shorter than its header says",
            path.display()
        )
    };
    let data = match descr.as_str() {
        "|i1" | "<i1" | "i1" => Array::I8(npy.into_vec::<i8>().with_context(short)?),
        "<f4" => Array::F32(npy.into_vec::<f32>().with_context(short)?),
        other => bail!(
            "{}: element type {other} is not supported (use int8 or float32)",
            path.display()
        ),
    };
    Ok((shape, data))
}

/// Reads integer class labels (any integer dtype) as i64.
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a .npy file", path.display()))?;
    let descr = npy
        .dtype()
        .descr()
        .trim_matches(|c| c == '\'' || c == '"')
        .to_string();
    Ok(match descr.as_str() {
        "<i8" => npy.into_vec::<i64>()?,
        "<i4" => npy.into_vec::<i32>()?.into_iter().map(i64::from).collect(),
        "|i1" => npy.into_vec::<i8>()?.into_iter().map(i64::from).collect(),
        "|u1" => npy.into_vec::<u8>()?.into_iter().map(i64::from).collect(),
        other => bail!("{}: labels must be integers, found {other}", path.display()),
    })
}

/// Encodes an array as `.npy` bytes.
pub fn encode(shape: &[usize], data: &Array) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    match data {
        Array::I8(v) => {
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut out)
                .begin_nd()?;
            w.extend(v.iter().copied())?;
            w.finish()?;
        }
        Array::F32(v) => {
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut out)
                .begin_nd()?;
            w.extend(v.iter().copied())?;
            w.finish()?;
        }
    }
    Ok(out)
}

/// Writes an array to `path` atomically.
pub fn write(path: &Path, shape: &[usize], data: &Array) -> Result<()> {
    crate::write::atomic_write(path, &encode(shape, data)?)
}
