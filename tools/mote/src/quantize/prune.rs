//! Unstructured magnitude pruning of the float weights before
//! quantization: the smallest-magnitude weights of the Conv, depthwise Conv
//! and fully connected layers are set to zero, globally across layers
//! (one threshold for all of them) or per named layer.

use anyhow::{anyhow, bail, Result};

use super::layers;
use crate::import::onnx::{Const, Data, OnnxModel};

/// What to prune.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prune {
    /// Fraction of the weights (0 to 1) zeroed globally, by magnitude
    /// across every layer not named in `per_layer`.
    pub global: Option<f32>,
    /// Fraction zeroed within each named layer (ONNX node name).
    pub per_layer: Vec<(String, f32)>,
}

impl Prune {
    /// True when nothing is pruned.
    pub fn is_empty(&self) -> bool {
        self.global.is_none() && self.per_layer.is_empty()
    }

    /// Parses `<name>=<sparsity>` and adds it.
    pub fn add_layer(&mut self, spec: &str) -> Result<()> {
        let (name, s) = spec
            .rsplit_once('=')
            .ok_or_else(|| anyhow!("--prune-layer takes <node name>=<sparsity>, not '{spec}'"))?;
        self.per_layer.push((name.to_string(), sparsity(s)?));
        Ok(())
    }
}

/// Parses a sparsity: a fraction in [0, 1), or a percentage ending in `%`.
pub fn sparsity(s: &str) -> Result<f32> {
    let (v, pct) = match s.strip_suffix('%') {
        Some(p) => (p, true),
        None => (s, false),
    };
    let x: f32 = v
        .trim()
        .parse()
        .map_err(|_| anyhow!("bad sparsity '{s}' (use a fraction such as 0.5, or 50%)"))?;
    let x = if pct { x / 100.0 } else { x };
    if !(0.0..1.0).contains(&x) {
        bail!("sparsity must be at least 0 and below 1 (100%), got '{s}'");
    }
    Ok(x)
}

/// Zeroes the `fraction` smallest-magnitude values among `values` (ties at
/// the threshold included until the count is reached).
fn zero_smallest(values: &mut [&mut f32], fraction: f32) {
    let k = (values.len() as f64 * f64::from(fraction)).round() as usize;
    if k == 0 {
        return;
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()));
    for &i in &order[..k.min(values.len())] {
        *values[i] = 0.0;
    }
}

/// Prunes the float weights of prepared model `m` in place; returns, per
/// layer, (node name, fraction of its weights now zero).
pub fn prune(m: &mut OnnxModel, p: &Prune) -> Result<Vec<(String, f64)>> {
    let found = layers::find(m);
    for (name, _) in &p.per_layer {
        if !found.iter().any(|l| &l.name == name) {
            let names: Vec<&str> = found.iter().map(|l| l.name.as_str()).collect();
            bail!(
                "--prune-layer: '{name}' is not a Conv, depthwise Conv or fully connected layer of the model (those are: {})",
                names.join(", ")
            );
        }
    }
    let mut weights: Vec<(String, Vec<f32>)> = found
        .iter()
        .map(|l| (l.weight.clone(), m.consts[&l.weight].to_f32()))
        .collect();
    // Per-layer levels first; the rest share the global threshold.
    let mut pool: Vec<&mut f32> = Vec::new();
    for (l, (_, w)) in found.iter().zip(weights.iter_mut()) {
        match p.per_layer.iter().rev().find(|(n, _)| n == &l.name) {
            Some((_, s)) => zero_smallest(&mut w.iter_mut().collect::<Vec<_>>(), *s),
            None => pool.extend(w.iter_mut()),
        }
    }
    if let Some(s) = p.global {
        zero_smallest(&mut pool, s);
    }
    let mut report = Vec::new();
    for (l, (name, w)) in found.iter().zip(weights) {
        let zeros = w.iter().filter(|&&x| x == 0.0).count();
        report.push((l.name.clone(), zeros as f64 / w.len().max(1) as f64));
        let shape = m.consts[&name].shape.clone();
        m.consts.insert(
            name,
            Const {
                shape,
                data: Data::F32(w),
            },
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_magnitudes_go_first() {
        let mut v = [0.5f32, -0.1, 0.3, -0.9, 0.05, 0.2];
        zero_smallest(&mut v.iter_mut().collect::<Vec<_>>(), 0.5);
        assert_eq!(v, [0.5, 0.0, 0.3, -0.9, 0.0, 0.0]);
        assert_eq!(sparsity("50%").unwrap(), 0.5);
        assert_eq!(sparsity("0.25").unwrap(), 0.25);
        assert!(sparsity("1").is_err() && sparsity("-0.1").is_err() && sparsity("x").is_err());
        let mut p = Prune::default();
        assert!(p.add_layer("conv1").is_err());
        p.add_layer("a=b=0.5").unwrap();
        assert_eq!(p.per_layer, vec![("a=b".to_string(), 0.5)]);
    }
}
