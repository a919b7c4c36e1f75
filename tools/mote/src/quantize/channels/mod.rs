//! Structured pruning (`mote compress --prune-channels <s>`): whole output
//! channels of Conv and fully connected layers are removed, with the input
//! channels of the layer that reads them (and the per-channel ops in
//! between: activations, pooling, depthwise Conv, per-channel Mul/Add,
//! Flatten's column groups). The result is a smaller dense float model.
//!
//! Layers are taken in execution order. For each, the channels to drop are
//! the ones whose loss changes the next layer's output on the calibration
//! data least; then, unless told not to, that next layer's weights and bias
//! are refitted by ridge-regularised least squares so that its output on the
//! pruned model's own activations reconstructs the float teacher's (the
//! unpruned model's) output of that layer.

pub mod chain;
pub mod moments;
pub mod refit;
pub mod rewrite;

use anyhow::{bail, Result};

use super::bias_correction::Teacher;
use super::layers;
use crate::import::onnx::OnnxModel;

/// Most input columns (channels × kernel size) of a consumer layer: its
/// least-squares statistics are a square matrix of that size.
pub const MAX_COLUMNS: usize = 4096;

/// What `--prune-channels` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Channels {
    /// Fraction of each prunable layer's output channels removed (0 to 1).
    pub fraction: f32,
    /// Refit the next layer by least squares on the calibration data.
    pub reconstruct: bool,
}

/// Parses a channel fraction: a number in [0, 1), or a percentage ending
/// in `%`.
pub fn fraction(s: &str) -> Result<f32> {
    let (v, pct) = match s.trim().strip_suffix('%') {
        Some(p) => (p, true),
        None => (s.trim(), false),
    };
    let Ok(x) = v.trim().parse::<f32>() else {
        bail!("--prune-channels: '{s}' is not a number (use a fraction such as 0.25, or 25%)");
    };
    let x = if pct { x / 100.0 } else { x };
    if !x.is_finite() || !(0.0..1.0).contains(&x) {
        bail!("--prune-channels must be at least 0 and below 1 (100%), got '{s}'");
    }
    Ok(x)
}

/// One pruned layer.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// The layer whose output channels were removed.
    pub layer: String,
    /// Its output channels before and after.
    pub channels: (usize, usize),
    /// The layer reading them (whose input channels were removed too).
    pub consumer: String,
    /// The consumer's output error against the teacher on the calibration
    /// data, relative to the teacher output's energy: with the removed
    /// channels simply dropped, and after the refit (`None` without one).
    pub error: (f64, Option<f64>),
    /// Calibration rows the consumer saw, and its input columns after
    /// pruning (with the bias): fewer rows than columns let the refit
    /// match the calibration data exactly and generalise poorly.
    pub fit: (usize, usize),
}

/// What structured pruning did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Pruned layers, in execution order.
    pub pruned: Vec<Pruned>,
    /// Layers left alone, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl Report {
    /// Human-readable lines (one per layer).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for p in &self.pruned {
            s += &format!(
                "pruned channels of '{}': {} -> {} (consumer '{}': calibration output error {:.2}% dropped",
                p.layer,
                p.channels.0,
                p.channels.1,
                p.consumer,
                100.0 * p.error.0
            );
            match p.error.1 {
                Some(e) => s += &format!(", {:.2}% refitted)\n", 100.0 * e),
                None => s += ", not refitted)\n",
            }
            if p.error.1.is_some() && p.fit.0 < p.fit.1 {
                s += &format!(
                    "warning: '{}' was refitted on {} calibration rows for {} unknowns per output: it fits them exactly and may not generalise; give more calibration samples\n",
                    p.consumer, p.fit.0, p.fit.1
                );
            }
        }
        for (name, why) in &self.skipped {
            s += &format!("note: channels of '{name}' kept: {why}\n");
        }
        s
    }
}

/// Removes `opts.fraction` of the output channels of every prunable layer
/// of prepared float model `m`, in place. `ctx` holds the calibration
/// samples; the teacher is `m` as given.
pub fn prune_channels(m: &mut OnnxModel, opts: Channels, ctx: &Teacher) -> Result<Report> {
    let teacher = m.clone();
    let found = layers::find(m);
    let mut report = Report::default();
    let mut pairs = Vec::new();
    for l in &found {
        match chain::follow(m, l, &found) {
            Ok(p) => pairs.push(p),
            Err(why) => report.skipped.push((l.name.clone(), why)),
        }
    }
    for pair in pairs {
        let layer = layers::find(m)
            .into_iter()
            .find(|l| l.node == pair.producer)
            .ok_or_else(|| anyhow::anyhow!("internal error: a pruned layer disappeared"))?;
        let c = layer.channels;
        let remove = ((c as f64 * f64::from(opts.fraction)).round() as usize).min(c - 1);
        if remove == 0 {
            continue;
        }
        let consumer = layers::find(m)
            .into_iter()
            .find(|l| l.node == pair.consumer)
            .ok_or_else(|| anyhow::anyhow!("internal error: a consumer layer disappeared"))?;
        let columns = m.consts[&consumer.weight].len() / consumer.channels.max(1);
        if columns > MAX_COLUMNS {
            report.skipped.push((
                layer.name.clone(),
                format!(
                    "'{}' reads {columns} input columns, more than the refit handles ({MAX_COLUMNS})",
                    consumer.name
                ),
            ));
            continue;
        }
        let input = m.nodes[pair.consumer].inputs[0].clone();
        let student = ctx.load(m, &[input], "the channel-pruned float model")?;
        let target = ctx.load(
            &teacher,
            std::slice::from_ref(&consumer.output),
            "the float teacher",
        )?;
        let mom = moments::collect(
            m,
            pair.consumer,
            &consumer,
            c,
            1,
            &student,
            &target,
            ctx.samples,
        )?
        .swap_remove(0);
        let current = refit::current_weights(m, &consumer, &mom)?;
        let keep = if opts.reconstruct {
            refit::select_refit(&mom, remove)?
        } else {
            refit::select_energy(&mom, &current, remove)
        };
        let dropped = refit::error(&mom, &keep, &refit::restrict(&mom, &current, &keep));
        let fitted = if opts.reconstruct {
            let w = refit::solve(&mom, &keep)?;
            let e = refit::error(&mom, &keep, &w);
            Some((w, e))
        } else {
            None
        };
        rewrite::remove_channels(m, &pair, &layer, &consumer, &keep)?;
        if let Some((w, _)) = &fitted {
            rewrite::set_consumer(m, pair.consumer, w)?;
        }
        report.pruned.push(Pruned {
            layer: layer.name.clone(),
            channels: (c, keep.len()),
            consumer: consumer.name.clone(),
            error: (dropped, fitted.map(|(_, e)| e)),
            fit: (mom.rows, refit::columns(&mom, &keep).len()),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_parse_or_explain() {
        assert_eq!(fraction("0.25").unwrap(), 0.25);
        assert_eq!(fraction("25%").unwrap(), 0.25);
        assert_eq!(fraction("0").unwrap(), 0.0);
        for bad in ["-0.1", "1", "1.5", "100%", "abc", "", "nan"] {
            assert!(fraction(bad).is_err(), "{bad}");
        }
        assert!(fraction("x")
            .unwrap_err()
            .to_string()
            .contains("not a number"));
        assert!(fraction("1").unwrap_err().to_string().contains("below 1"));
    }
}
