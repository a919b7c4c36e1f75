//! Host timing of a `.mote` model against tract on the same input, in the
//! same process: medians of repeated single-thread inferences. Absolute
//! figures depend on the machine; the ratio is what to compare.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use mote_runtime::{Interpreter, Model};
use serde::Serialize;

use tract_onnx::prelude::*;

use crate::float_ref::FloatModel;

/// Timing of one engine.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Engine name.
    pub engine: String,
    /// Median microseconds per inference.
    pub median_us: f64,
    /// Inferences timed.
    pub runs: usize,
}

/// Runs `f` repeatedly for about `budget` and returns the median duration.
pub fn median<F: FnMut() -> Result<()>>(budget: Duration, mut f: F) -> Result<(f64, usize)> {
    f()?; // warm-up
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || times.len() < 5 {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        if times.len() >= 100_000 {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times.len()))
}

/// Times the runtime on `model_bytes` (a zero input) and, when given, tract
/// on `reference` (typed, not optimized: the oracle path) with the
/// dequantized same input.
pub fn bench(
    model_bytes: &[u8],
    reference: Option<&Path>,
    budget: Duration,
) -> Result<Vec<Timing>> {
    let model = Model::parse(model_bytes).map_err(|e| anyhow!("invalid model: {e}"))?;
    let mut arena = crate::Arena::new(model.arena_len());
    let mut interp = Interpreter::new(&model, arena.bytes()).map_err(|e| anyhow!("{e}"))?;
    let in_desc = model.input(0).map_err(|e| anyhow!("{e}"))?;
    let shape: Vec<usize> = in_desc.shape().iter().map(|&d| d as usize).collect();
    let n: usize = shape.iter().product();
    // A deterministic input (LCG, top byte), as in the peers' measurements.
    let mut x = 1u32;
    let input: Vec<i8> = (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8 as i8
        })
        .collect();
    // The same values as floats: dequantized for an int8 input, scaled to
    // [-2, 2) for a float input.
    let float_input = in_desc.dtype == mote_format::DType::F32;
    let xf: Vec<f32> = input
        .iter()
        .map(|&q| {
            if float_input {
                f32::from(q) / 64.0
            } else {
                in_desc.scale * (i32::from(q) - in_desc.zero_point) as f32
            }
        })
        .collect();
    if float_input {
        interp.set_input_f32(0, &xf).map_err(|e| anyhow!("{e}"))?;
    } else {
        interp
            .input_mut(0)
            .map_err(|e| anyhow!("{e}"))?
            .copy_from_slice(&input);
    }
    let (us, runs) = median(budget, || interp.invoke().map_err(|e| anyhow!("{e}")))?;
    let mut out = vec![Timing {
        engine: if cfg!(feature = "reference-kernels") {
            "mote (reference kernels)"
        } else {
            "mote"
        }
        .into(),
        median_us: us,
        runs,
    }];
    if let Some(r) = reference {
        let out_name = crate::import::onnx::load(r)?
            .outputs
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| anyhow!("{} has no output", r.display()))?;
        let onnx = crate::import::onnx::load(r)?;
        let int8_input =
            onnx.inputs.first().map(|i| i.elem_type) == Some(crate::import::onnx::elem::INT8);
        let (us, runs) = if int8_input {
            let m = FloatModel::load_typed(r, &shape, &[out_name], i8::datum_type())?;
            median(budget, || m.run_i8(&input).map(|_| ()))?
        } else {
            let m = FloatModel::load(r, &shape, &[out_name])?;
            median(budget, || m.run(&xf).map(|_| ()))?
        };
        out.push(Timing {
            engine: "tract typed".into(),
            median_us: us,
            runs,
        });
        // tract at its best on a float model: `into_optimized()`. (Not for
        // quantized graphs, where its optimizer is known to change results.)
        if !int8_input {
            let plan = optimized(r, &shape)?;
            let (us, runs) = median(budget, || {
                let t = Tensor::from_shape(&shape, &xf)?;
                plan.run(tvec!(t.into()))
                    .map(|_| ())
                    .map_err(|e| anyhow!("tract optimized failed: {e:#}"))
            })?;
            out.push(Timing {
                engine: "tract optimized".into(),
                median_us: us,
                runs,
            });
        }
    }
    Ok(out)
}

/// tract's optimized plan of the float ONNX model at `path`.
fn optimized(path: &Path, shape: &[usize]) -> Result<std::sync::Arc<TypedSimplePlan>> {
    tract_onnx::onnx()
        .model_for_path(path)
        .and_then(|m| m.with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape)))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| anyhow!("tract cannot optimize {}: {e:#}", path.display()))
}
