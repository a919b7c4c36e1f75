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
use super::channels::moments::{self, Moments};
use super::channels::refit;
use super::layers::{self, Layer};
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

/// Input channels per group and the group count of layer `l`.
fn channels(m: &OnnxModel, l: &Layer) -> (usize, usize) {
    let w = &m.consts[&l.weight];
    if l.conv {
        let g = m.nodes[l.node].int("group", 1).max(1) as usize;
        (w.shape.get(1).copied().unwrap_or(1), g)
    } else {
        (w.len() / l.channels.max(1), 1)
    }
}

/// Rounds every layer of `m` in execution order against `teacher` (the
/// float model) on the calibration samples of `ctx`; zero weights stay
/// zero. Returns the number of layers rounded.
pub fn optimize(
    m: &mut OnnxModel,
    teacher: &OnnxModel,
    ctx: &Teacher,
    how: &Rounding,
) -> Result<usize> {
    let names: Vec<String> = layers::find(m).into_iter().map(|l| l.name).collect();
    let bar = if how.progress {
        indicatif::ProgressBar::new(names.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message("optimising rounding, layer by layer");
    let mut done = 0;
    for name in names {
        bar.inc(1);
        let Some(l) = layers::find(m).into_iter().find(|l| l.name == name) else {
            continue;
        };
        let columns = m.consts[&l.weight].len() / l.channels.max(1);
        if columns > super::channels::MAX_COLUMNS {
            continue;
        }
        let (ch, groups) = channels(m, &l);
        let input = m.nodes[l.node].inputs[0].clone();
        let student = ctx.load(m, &[input], "the student model")?;
        let target = ctx.load(
            teacher,
            std::slice::from_ref(&l.output),
            "the float teacher",
        )?;
        let moms = moments::collect(m, l.node, &l, ch, groups, &student, &target, ctx.samples)?;
        let Some(first) = moms.first() else {
            continue;
        };
        let current = refit::current_weights(m, &l, first)?;
        let og = current.ncols() / moms.len();
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
            .find(|x| x.name == name)
            .map(|x| x.weight)
            .unwrap_or(l.weight);
        m.consts.insert(
            scale_name(&weight),
            Const {
                shape: vec![scales.len()],
                data: Data::F32(scales),
            },
        );
        done += 1;
    }
    bar.finish_and_clear();
    Ok(done)
}
