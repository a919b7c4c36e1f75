//! Batch throughput of the runtime against the number of worker threads:
//! the parsed model is shared, each worker owns an arena and an interpreter
//! (the same path as `mote run` on a batch).

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use mote_runtime::Model;
use serde::Serialize;

/// Throughput with one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Worker threads.
    pub threads: usize,
    /// Inferences per second over the batch (best of three batches).
    pub inferences_per_s: f64,
    /// Speed-up over one thread.
    pub speedup: f64,
}

/// Runs a batch of `samples` deterministic int8 inputs through `model_bytes`
/// with 1, 2, 4, … up to `max_threads` workers (and `max_threads` itself).
pub fn scan(model_bytes: &[u8], samples: usize, max_threads: usize) -> Result<Vec<Throughput>> {
    if samples == 0 || max_threads == 0 {
        bail!("throughput: need at least one sample and one thread");
    }
    let model = Model::parse(model_bytes).map_err(|e| anyhow!("invalid model: {e}"))?;
    let in_desc = model.input(0).map_err(|e| anyhow!("{e}"))?;
    let out_desc = model.output(0).map_err(|e| anyhow!("{e}"))?;
    if in_desc.dtype != mote_format::DType::I8 || out_desc.dtype != mote_format::DType::I8 {
        bail!("throughput: the model must have int8 input and output");
    }
    let per_in: usize = in_desc.shape().iter().map(|&d| d as usize).product();
    let per_out: usize = out_desc.shape().iter().map(|&d| d as usize).product();
    let mut x = 1u32;
    let inputs: Vec<i8> = (0..per_in.max(1) * samples)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8 as i8
        })
        .collect();
    let mut counts: Vec<usize> = std::iter::successors(Some(1usize), |t| t.checked_mul(2))
        .take_while(|&t| t < max_threads)
        .collect();
    counts.push(max_threads);
    let mut out: Vec<Throughput> = Vec::new();
    for threads in counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| anyhow!("cannot start {threads} threads: {e}"))?;
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            pool.install(|| crate::run::run_batch(&model, &inputs, per_in.max(1), per_out))?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        let ips = samples as f64 / best.max(1e-12);
        let base = out.first().map_or(ips, |o| o.inferences_per_s);
        out.push(Throughput {
            threads,
            inferences_per_s: ips,
            speedup: ips / base,
        });
    }
    Ok(out)
}
