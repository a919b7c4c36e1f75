//! `mote run`: execute a `.mote` model on the host over `.npy` samples.

use anyhow::{anyhow, bail, Result};
use mote_runtime::{DType, Interpreter, Model};

use crate::npy::Array;

/// How the input array maps onto the model input.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Number of samples.
    pub samples: usize,
    /// True when the array had a leading sample axis.
    pub leading: bool,
    /// True when the model's batch dimension of 1 was omitted.
    pub batch_omitted: bool,
}

/// Matches an array shape to the model input shape: the shape itself, or
/// with a leading sample axis; a leading model batch of 1 may be omitted.
pub fn match_shape(given: &[usize], model: &[usize]) -> Result<Batch> {
    let unbatched = if model.first() == Some(&1) {
        Some(&model[1..])
    } else {
        None
    };
    if given == model {
        return Ok(Batch {
            samples: 1,
            leading: false,
            batch_omitted: false,
        });
    }
    if Some(given) == unbatched {
        return Ok(Batch {
            samples: 1,
            leading: false,
            batch_omitted: true,
        });
    }
    if let Some((&n, rest)) = given.split_first() {
        if n == 0 && (rest == model || model.first() == Some(&1) && rest == &model[1..]) {
            bail!("the input holds no samples (shape {given:?})");
        }
        if rest == model {
            return Ok(Batch {
                samples: n,
                leading: true,
                batch_omitted: false,
            });
        }
        if Some(rest) == unbatched {
            return Ok(Batch {
                samples: n,
                leading: true,
                batch_omitted: true,
            });
        }
    }
    bail!(
        "input shape {given:?} does not match the model input {model:?} (optionally with a leading sample axis; a batch of 1 may be omitted)"
    )
}

/// Runs every sample of `inputs` (int8, `per_in` values each) and returns the
/// concatenated int8 outputs. The batch is spread over all cores: the parsed
/// model is shared, and each worker owns an arena and an interpreter.
pub fn run_batch(
    model: &Model<'_>,
    inputs: &[i8],
    per_in: usize,
    per_out: usize,
) -> Result<Vec<i8>> {
    use rayon::prelude::*;
    let samples = inputs.len() / per_in;
    let workers = rayon::current_num_threads().max(1);
    let chunk = samples.div_ceil(workers).max(1);
    let parts: Vec<Result<Vec<i8>>> = inputs
        .par_chunks(chunk * per_in)
        .map(|part| {
            let mut arena = crate::Arena::new(model.arena_len());
            let mut interp = Interpreter::new(model, arena.bytes()).map_err(|e| anyhow!("{e}"))?;
            let mut out = Vec::with_capacity(part.len() / per_in * per_out);
            for sample in part.chunks(per_in) {
                interp
                    .input_mut(0)
                    .map_err(|e| anyhow!("{e}"))?
                    .copy_from_slice(sample);
                interp
                    .invoke()
                    .map_err(|e| anyhow!("inference failed: {e}"))?;
                out.extend_from_slice(interp.output(0).map_err(|e| anyhow!("{e}"))?);
            }
            Ok(out)
        })
        .collect();
    let mut out = Vec::with_capacity(samples * per_out);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Result of a run.
#[derive(Debug, Clone)]
pub struct Output {
    /// Output array shape.
    pub shape: Vec<usize>,
    /// int8 outputs, or float32 when dequantized.
    pub data: Array,
}

/// Runs model bytes over `input` (shape `shape`).
pub fn run(model_bytes: &[u8], shape: &[usize], input: &Array, dequantize: bool) -> Result<Output> {
    let model = Model::parse(model_bytes).map_err(|e| anyhow!("invalid model: {e}"))?;
    if model.input_count() != 1 {
        bail!(
            "mote run supports single-input models; this one has {}",
            model.input_count()
        );
    }
    let in_desc = model.input(0).map_err(|e| anyhow!("{e}"))?;
    let out_desc = model.output(0).map_err(|e| anyhow!("{e}"))?;
    let in_shape: Vec<usize> = in_desc.shape().iter().map(|&d| d as usize).collect();
    let out_shape: Vec<usize> = out_desc.shape().iter().map(|&d| d as usize).collect();
    let b = match_shape(shape, &in_shape)?;
    let per_in: usize = in_shape.iter().product();
    let per_out: usize = out_shape.iter().product();
    let mut shape_out = if b.batch_omitted && out_shape.first() == Some(&1) {
        out_shape[1..].to_vec()
    } else {
        out_shape.clone()
    };
    if b.leading {
        shape_out.insert(0, b.samples);
    }
    if in_desc.dtype == DType::F32 || out_desc.dtype == DType::F32 {
        // A model with float I/O: samples one by one through the float helpers.
        let x: Vec<f32> = match input {
            Array::F32(v) => v.clone(),
            Array::I8(_) => bail!("this model takes float32 input; give a float32 .npy"),
        };
        if x.len() != per_in * b.samples {
            bail!(
                "input holds {} values, expected {}",
                x.len(),
                per_in * b.samples
            );
        }
        let mut arena = crate::Arena::new(model.arena_len());
        let mut interp = Interpreter::new(&model, arena.bytes()).map_err(|e| anyhow!("{e}"))?;
        let mut out = vec![0f32; per_out * b.samples];
        for (sample, y) in x.chunks(per_in.max(1)).zip(out.chunks_mut(per_out.max(1))) {
            interp
                .set_input_f32(0, sample)
                .map_err(|e| anyhow!("{e}"))?;
            interp
                .invoke()
                .map_err(|e| anyhow!("inference failed: {e}"))?;
            interp.output_f32(0, y).map_err(|e| anyhow!("{e}"))?;
        }
        return Ok(Output {
            shape: shape_out,
            data: Array::F32(out),
        });
    }
    let quantized: Vec<i8> = match input {
        Array::I8(v) => v.clone(),
        Array::F32(v) => {
            let mut q = vec![0i8; v.len()];
            mote_kernels::quantize_f32_s8(v, in_desc.scale, in_desc.zero_point, &mut q)
                .map_err(|e| anyhow!("cannot quantize the input: {e}"))?;
            q
        }
    };
    if quantized.len() != per_in * b.samples {
        bail!(
            "input holds {} values, expected {}",
            quantized.len(),
            per_in * b.samples
        );
    }
    let out = run_batch(&model, &quantized, per_in.max(1), per_out)?;
    let data = if dequantize {
        let (s, z) = (out_desc.scale, out_desc.zero_point);
        Array::F32(out.iter().map(|&q| s * (i32::from(q) - z) as f32).collect())
    } else {
        Array::I8(out)
    };
    Ok(Output {
        shape: shape_out,
        data,
    })
}

/// Index of the largest value in each row of `out` (last axis = classes).
pub fn argmax_rows(out: &Output) -> Vec<usize> {
    let classes = out.shape.last().copied().unwrap_or(1).max(1);
    let values: Vec<f32> = match &out.data {
        Array::I8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        Array::F32(v) => v.clone(),
    };
    values
        .chunks(classes)
        .map(|row| {
            let mut best = 0;
            for (i, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Counts rows whose argmax equals the label: (correct, total).
pub fn top1_accuracy(out: &Output, labels: &[i64]) -> Result<(usize, usize)> {
    let pred = argmax_rows(out);
    if pred.len() != labels.len() {
        bail!("{} labels for {} samples", labels.len(), pred.len());
    }
    let correct = pred
        .iter()
        .zip(labels)
        .filter(|(&p, &l)| p as i64 == l)
        .count();
    Ok((correct, pred.len()))
}
