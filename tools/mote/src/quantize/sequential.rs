//! Sequential rounding optimisation (`--optimize-rounding=sequential`):
//! layer-wise distillation with the quantization in the loop. In execution
//! order, each layer sees its inputs on the calibration data as the
//! student produces them (the layers before it already on their int8 or
//! int4 grid), and the float teacher's output of that layer. Its weights
//! are first refitted by least squares towards that output on their
//! non-zero support (so the errors of the layers before are paid back
//! here), then rounded to the grid by GPTQ under the student inputs'
//! second moments, and its bias is refitted last, given the rounded
//! weights. [`super::rounding`] does the same rounding on the teacher's own
//! inputs, each layer on its own.

use anyhow::Result;
use nalgebra::DMatrix;

use super::bias_correction::Teacher;
use super::channels::moments::Moments;
use super::channels::refit;
use super::layers::{self, Layer};
use super::prune_refit::{layer_fit, LayerFit};
use super::rounding::{inverse_factor, quantize_row, scale_name, Rounding};
use crate::import::onnx::{Const, Data, OnnxModel};

/// One layer's weights ((K + 1) × outputs of one group, the bias last):
/// refitted on their support, rounded to `-qmax..=qmax` times a scale per
/// output (max |w| / qmax), the bias refitted to the rounded weights.
/// Returns the weights and the scales.
fn round_group(
    mom: &Moments,
    w: &DMatrix<f64>,
    how: &Rounding,
) -> Result<(DMatrix<f64>, Vec<f64>)> {
    let k = w.nrows() - 1;
    let fit = refit::solve_support(mom, w)?;
    let h: Vec<f64> = (0..k * k).map(|i| mom.g[(i / k, i % k)]).collect();
    let u = inverse_factor(&h, k)?;
    let n = mom.g[(k, k)].max(1.0);
    let mut out = DMatrix::zeros(k + 1, w.ncols());
    let mut scales = vec![1.0; w.ncols()];
    for o in 0..w.ncols() {
        let keep: Vec<bool> = (0..k).map(|r| w[(r, o)] != 0.0).collect();
        let mut row: Vec<f64> = (0..k).map(|r| fit[(r, o)]).collect();
        let maxabs = (0..k)
            .filter(|&r| keep[r])
            .map(|r| row[r].abs())
            .fold(0.0, f64::max);
        if maxabs > 0.0 {
            let scale = maxabs / how.qmax;
            scales[o] = scale;
            quantize_row(&mut row, &keep, scale, &u, how.qmax);
        }
        // The bias that best fits the teacher given the rounded weights:
        // (Σ y - w·Σ x) / N.
        let wx: f64 = (0..k).map(|r| mom.g[(k, r)] * row[r]).sum();
        for (r, v) in row.iter().enumerate() {
            out[(r, o)] = *v;
        }
        out[(k, o)] = (mom.b[(k, o)] - wx) / n;
    }
    Ok((out, scales))
}

/// Rounds layer `l` of `m` (see the module doc).
fn round_layer(
    m: &mut OnnxModel,
    teacher: &OnnxModel,
    ctx: &Teacher,
    l: &Layer,
    how: &Rounding,
) -> Result<()> {
    let LayerFit { moms, current } = layer_fit(m, teacher, ctx, l)?;
    let og = current.ncols() / moms.len().max(1);
    let mut rounded = current.clone();
    let mut scales = vec![1f32; current.ncols()];
    for (gi, mom) in moms.iter().enumerate() {
        let cur = current.columns(gi * og, og).into_owned();
        let (w, s) = round_group(mom, &cur, how)?;
        rounded.columns_mut(gi * og, og).copy_from(&w);
        for (d, v) in scales[gi * og..(gi + 1) * og].iter_mut().zip(s) {
            *d = v as f32;
        }
    }
    super::channels::rewrite::set_consumer(m, l.node, &rounded)?;
    // The weight constant may have a new name: the scale goes with it.
    let weight = layers::find(m)
        .into_iter()
        .find(|x| x.node == l.node)
        .map_or_else(|| l.weight.clone(), |x| x.weight);
    m.consts.insert(
        scale_name(&weight),
        Const {
            shape: vec![scales.len()],
            data: Data::F32(scales),
        },
    );
    Ok(())
}

/// Rounds every layer of `m` in execution order against `teacher` (the
/// float model) on the calibration samples of `ctx`. Zero weights always
/// stay zero here (`how.hold_zeros` is implied). Returns the layers left to
/// plain rounding to nearest, with the reason (a shape the least squares do
/// not handle, or degenerate calibration data).
pub fn optimize(
    m: &mut OnnxModel,
    teacher: &OnnxModel,
    ctx: &Teacher,
    how: &Rounding,
) -> Result<Vec<(String, String)>> {
    // Node indices stay put: rounding only replaces constants and inputs.
    let nodes: Vec<usize> = layers::find(m).into_iter().map(|l| l.node).collect();
    let bar = if how.progress {
        indicatif::ProgressBar::new(nodes.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message("optimising rounding, layer by layer");
    let mut skipped = Vec::new();
    for node in nodes {
        bar.inc(1);
        let Some(l) = layers::find(m).into_iter().find(|l| l.node == node) else {
            continue;
        };
        if let Err(e) = round_layer(m, teacher, ctx, &l, how) {
            skipped.push((l.name, format!("{e:#}")));
        }
    }
    bar.finish_and_clear();
    Ok(skipped)
}
