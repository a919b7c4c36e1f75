//! Reconstruction after unstructured pruning (`mote compress --prune`,
//! unless `--no-reconstruct`): layer-wise distillation from the float
//! teacher. The layers are taken in execution order; each pruned layer's
//! remaining weights and its bias are refitted by ridge-regularised least
//! squares so that its output on the pruned model's own activations (the
//! layers before it already refitted) reconstructs the teacher's output of
//! that layer on the calibration data. Zeroed weights stay zero, so the
//! sparsity and the sparse storage are unchanged.

use anyhow::Result;
use nalgebra::DMatrix;

use super::bias_correction::Teacher;
use super::channels::moments::{self, Moments};
use super::channels::{refit, MAX_COLUMNS};
use super::layers::{self, Layer};
use crate::import::onnx::OnnxModel;

/// One refitted layer.
#[derive(Debug, Clone)]
pub struct Refitted {
    /// ONNX node name.
    pub layer: String,
    /// Its output error against the teacher on the calibration data,
    /// relative to the teacher output's energy: pruned, then refitted.
    pub error: (f64, f64),
    /// Calibration rows it saw, and the most unknowns of one output (its
    /// non-zero weights plus the bias).
    pub fit: (usize, usize),
}

/// What the reconstruction did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Refitted layers, in execution order.
    pub refitted: Vec<Refitted>,
    /// Pruned layers left as pruned, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl Report {
    /// Human-readable lines (one per layer).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for r in &self.refitted {
            s += &format!(
                "refitted pruned layer '{}': calibration output error {:.2}% pruned, {:.2}% refitted\n",
                r.layer,
                100.0 * r.error.0,
                100.0 * r.error.1
            );
            if r.fit.0 < r.fit.1 {
                s += &format!(
                    "warning: '{}' was refitted on {} calibration rows for up to {} unknowns per output: it can fit them almost exactly and may not generalise; give more calibration samples\n",
                    r.layer, r.fit.0, r.fit.1
                );
            }
        }
        for (name, why) in &self.skipped {
            s += &format!("note: pruned layer '{name}' not refitted: {why}\n");
        }
        s
    }
}

/// True when some weight of `l` is zero in `m` and not in `teacher`.
fn is_pruned(m: &OnnxModel, teacher: &OnnxModel, l: &Layer) -> bool {
    let (Some(w), Some(t)) = (m.consts.get(&l.weight), teacher.consts.get(&l.weight)) else {
        return false;
    };
    let (w, t) = (w.to_f32(), t.to_f32());
    w.len() == t.len() && w.iter().zip(&t).any(|(a, b)| *a == 0.0 && *b != 0.0)
}

/// Why layer `l` of `m` cannot be refitted, if it cannot.
fn unsupported(m: &OnnxModel, l: &Layer) -> Option<String> {
    let columns = m.consts[&l.weight].len() / l.channels.max(1);
    (columns > MAX_COLUMNS)
        .then(|| format!("{columns} input columns, more than the refit handles ({MAX_COLUMNS})"))
}

/// A layer's least-squares statistics on the calibration data and its
/// current weights in their column order.
pub(crate) struct LayerFit {
    /// One per group (one for a non-grouped layer).
    pub moms: Vec<Moments>,
    /// (K + 1) × outputs, each output's columns those of its group, the
    /// bias last.
    pub current: DMatrix<f64>,
}

/// Collects [`LayerFit`] for layer `l` of `m`: its inputs from `m` itself
/// (the student), its outputs before the activation from `teacher`.
pub(crate) fn layer_fit(
    m: &OnnxModel,
    teacher: &OnnxModel,
    ctx: &Teacher,
    l: &Layer,
) -> Result<LayerFit> {
    if let Some(why) = unsupported(m, l) {
        anyhow::bail!("{why}");
    }
    let w = &m.consts[&l.weight];
    // Input channels per group: a Conv's weight axis 1; each input of a
    // fully connected layer counts as one.
    let (channels, groups) = if l.conv {
        let g = m.nodes[l.node].int("group", 1).max(1) as usize;
        (w.shape.get(1).copied().unwrap_or(1), g)
    } else {
        (w.len() / l.channels.max(1), 1)
    };
    let input = m.nodes[l.node].inputs[0].clone();
    let student = ctx.load(m, &[input], "the student model")?;
    let target = ctx.load(
        teacher,
        std::slice::from_ref(&l.output),
        "the float teacher",
    )?;
    let moms = moments::collect(
        m,
        l.node,
        l,
        channels,
        groups,
        &student,
        &target,
        ctx.samples,
    )?;
    let Some(first) = moms.first() else {
        anyhow::bail!("no calibration statistics");
    };
    let current = refit::current_weights(m, l, first)?;
    Ok(LayerFit { moms, current })
}

/// Refits one pruned layer; its report line, or `None` when the refit
/// would not lower its calibration error (it is then left as pruned).
fn refit_layer(
    m: &mut OnnxModel,
    teacher: &OnnxModel,
    ctx: &Teacher,
    l: &Layer,
) -> Result<Option<Refitted>> {
    let LayerFit { moms, current } = layer_fit(m, teacher, ctx, l)?;
    let (fitted, before, after, energy) = solve_groups(&moms, &current)?;
    let energy = energy.max(f64::MIN_POSITIVE);
    let (before, after) = (before / energy, after / energy);
    if after >= before {
        return Ok(None);
    }
    let k = current.nrows() - 1;
    let unknowns = (0..current.ncols())
        .map(|o| (0..k).filter(|&r| current[(r, o)] != 0.0).count() + 1)
        .max()
        .unwrap_or(1);
    super::channels::rewrite::set_consumer(m, l.node, &fitted)?;
    Ok(Some(Refitted {
        layer: l.name.clone(),
        error: (before, after),
        fit: (moms.iter().map(|g| g.rows).max().unwrap_or(0), unknowns),
    }))
}

/// `w` ((K + 1) × outputs, each output's columns those of its group)
/// refitted group by group on `moms`; with the squared output errors
/// (before, after) and the teacher output energy summed over the groups.
fn solve_groups(moms: &[Moments], w: &DMatrix<f64>) -> Result<(DMatrix<f64>, f64, f64, f64)> {
    let og = w.ncols() / moms.len().max(1);
    let mut fitted = w.clone();
    let (mut before, mut after, mut energy) = (0.0, 0.0, 0.0);
    for (gi, mom) in moms.iter().enumerate() {
        let cur = w.columns(gi * og, og).into_owned();
        let fit = refit::solve_support(mom, &cur)?;
        before += refit::error_full(mom, &cur) * mom.yy;
        after += refit::error_full(mom, &fit) * mom.yy;
        energy += mom.yy;
        fitted.columns_mut(gi * og, og).copy_from(&fit);
    }
    Ok((fitted, before, after, energy))
}

/// Refits every pruned layer of `m` (pruned from `teacher`, the same graph
/// with its float weights) on the calibration samples of `ctx`, in place.
/// A layer the refit cannot handle (its shape, or degenerate calibration
/// data) stays as pruned and is named in the report.
pub fn refit_pruned(m: &mut OnnxModel, teacher: &OnnxModel, ctx: &Teacher) -> Result<Report> {
    let mut report = Report::default();
    // Node indices stay put: a refit only replaces constants and inputs.
    let nodes: Vec<usize> = layers::find(m)
        .into_iter()
        .filter(|l| is_pruned(m, teacher, l))
        .map(|l| l.node)
        .collect();
    for node in nodes {
        let Some(l) = layers::find(m).into_iter().find(|l| l.node == node) else {
            continue;
        };
        match refit_layer(m, teacher, ctx, &l) {
            Ok(Some(r)) => report.refitted.push(r),
            Ok(None) => report.skipped.push((
                l.name,
                "the refit did not lower its calibration output error".into(),
            )),
            Err(e) => report.skipped.push((l.name, format!("{e:#}"))),
        }
    }
    Ok(report)
}
