//! `mote prune-scan`: how much each layer suffers from unstructured
//! magnitude pruning. Every prunable layer is pruned alone at each level,
//! quantized, and compared with the float model on held-out data; from
//! that table a greedy search suggests per-layer levels that reach a
//! target weight size for the least loss.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use crate::import::onnx;
use crate::quantize::{self, layers, prepare, prune::Prune, Options};

/// One measurement: the model quantized with some layers pruned.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    /// Output SQNR against the float model (dB).
    pub sqnr_db: f64,
    /// int8 top-1 accuracy with labels.
    pub accuracy: Option<f64>,
    /// int8 top-1 agreement with the float model.
    pub agreement: f64,
}

/// A layer pruned alone at one level.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// ONNX node name.
    pub layer: String,
    /// Sparsity (fraction of the layer's weights zeroed).
    pub level: f32,
    /// What that costs.
    pub measure: Measure,
}

/// A prunable layer and its int8 weight bytes.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSize {
    /// ONNX node name.
    pub layer: String,
    /// Weights (one int8 byte each).
    pub weights: usize,
}

/// Per-layer levels suggested for a target size.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// The target: non-zero int8 weight bytes.
    pub target_bytes: usize,
    /// Whether the levels reach it (false: even the highest levels do not).
    pub met: bool,
    /// (layer, sparsity) for every layer pruned.
    pub levels: Vec<(String, f32)>,
    /// Non-zero int8 weight bytes with these levels.
    pub weight_bytes: usize,
    /// Output SQNR predicted from the single-layer table (noise powers added).
    pub predicted_sqnr_db: f64,
    /// Measured with all the levels at once.
    pub measured: Measure,
}

/// The scan's result.
#[derive(Debug, Clone, Serialize)]
pub struct Scan {
    /// Evaluation samples.
    pub samples: usize,
    /// Float model accuracy with labels.
    pub float_accuracy: Option<f64>,
    /// Unpruned int8 model.
    pub baseline: Measure,
    /// Sparsity levels scanned.
    pub levels: Vec<f32>,
    /// Prunable layers in execution order.
    pub layers: Vec<LayerSize>,
    /// Every layer at every level.
    pub rows: Vec<Row>,
    /// Suggested levels, with --target-size.
    pub suggestion: Option<Suggestion>,
}

/// Parses a size: bytes (`20000`, `20000B`) or kilobytes of 1024 bytes
/// (`19.5KB`, `20 kB`, `20KiB`).
pub fn parse_size(s: &str) -> Result<usize> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = if let Some(v) = t.strip_suffix("kib").or_else(|| t.strip_suffix("kb")) {
        (v, 1024.0)
    } else if let Some(v) = t.strip_suffix('b') {
        (v, 1.0)
    } else {
        (t.as_str(), 1.0)
    };
    let x: f64 = num.trim().parse().map_err(|_| {
        anyhow!("--target-size: '{s}' is not a size (use bytes such as 16000, or 15.5KB)")
    })?;
    if !x.is_finite() || x <= 0.0 {
        bail!("--target-size must be positive, got '{s}'");
    }
    Ok((x * mul).round() as usize)
}

/// Parses `0.25,0.5,0.75` (fractions or percentages), sorted.
pub fn parse_levels(s: &str) -> Result<Vec<f32>> {
    let mut v: Vec<f32> = s
        .split(',')
        .map(|x| quantize::prune::sparsity(x.trim()).context("--levels"))
        .collect::<Result<_>>()?;
    v.retain(|&x| x > 0.0);
    v.sort_by(f32::total_cmp);
    v.dedup();
    if v.is_empty() {
        bail!("--levels needs at least one sparsity above 0");
    }
    Ok(v)
}

/// What the scan needs.
pub struct Inputs<'a> {
    /// The float ONNX model.
    pub model: &'a Path,
    /// Calibration samples (.npy).
    pub calibration: &'a Path,
    /// Held-out inputs.
    pub data: &'a [Vec<f32>],
    /// Held-out labels.
    pub labels: Option<&'a [i64]>,
    /// Sparsity levels.
    pub levels: &'a [f32],
    /// Target of non-zero int8 weight bytes.
    pub target: Option<usize>,
    /// Print progress on stderr.
    pub progress: bool,
}

fn measure(inp: &Inputs, per_layer: Vec<(String, f32)>) -> Result<(Measure, Option<f64>)> {
    let opts = Options {
        prune: Prune {
            global: None,
            per_layer,
        },
        ..Options::default()
    };
    let (bytes, _) = crate::compress::quantize_bytes(inp.model, inp.calibration, &opts)?;
    let aligned = crate::AlignedBytes::new(&bytes);
    let r = crate::eval::evaluate(aligned.as_slice(), inp.model, inp.data, inp.labels)?;
    Ok((
        Measure {
            sqnr_db: r.output_sqnr_db,
            accuracy: r.int8_accuracy,
            agreement: r.top1_agreement,
        },
        r.float_accuracy,
    ))
}

/// The prunable layers of the float model at `path`.
pub fn prunable(path: &Path) -> Result<Vec<LayerSize>> {
    let mut m = onnx::load(path)?;
    prepare::prepare(&mut m)?;
    Ok(layers::find(&m)
        .into_iter()
        .map(|l| LayerSize {
            weights: m.consts[&l.weight].len(),
            layer: l.name,
        })
        .collect())
}

/// Noise power relative to the signal, from an SQNR.
fn noise(db: f64) -> f64 {
    10f64.powf(-db / 10.0)
}

/// Runs the scan.
pub fn scan(inp: &Inputs) -> Result<Scan> {
    let layers = prunable(inp.model)?;
    if layers.is_empty() {
        bail!(
            "{}: no Conv or fully connected layer to prune",
            inp.model.display()
        );
    }
    let say = |s: String| {
        if inp.progress {
            eprintln!("{s}");
        }
    };
    let (baseline, float_accuracy) = measure(inp, Vec::new())?;
    say(format!("baseline: {:.2} dB", baseline.sqnr_db));
    let mut rows = Vec::new();
    for l in &layers {
        for &level in inp.levels {
            let (m, _) = measure(inp, vec![(l.layer.clone(), level)])?;
            say(format!(
                "{} at {:.0}%: {:.2} dB",
                l.layer,
                100.0 * level,
                m.sqnr_db
            ));
            rows.push(Row {
                layer: l.layer.clone(),
                level,
                measure: m,
            });
        }
    }
    let suggestion = match inp.target {
        Some(t) => Some(suggest(inp, &layers, &rows, &baseline, t)?),
        None => None,
    };
    Ok(Scan {
        samples: inp.data.len(),
        float_accuracy,
        baseline,
        levels: inp.levels.to_vec(),
        layers,
        rows,
        suggestion,
    })
}

/// Greedy choice: from no pruning, repeatedly raise the layer whose next
/// level adds the least noise power per byte saved, until the target is
/// met; then lower, one step at a time, the layer whose step back removes
/// most noise while the target still holds.
pub fn greedy(
    layers: &[LayerSize],
    levels: &[f32],
    noise_at: &dyn Fn(usize, usize) -> f64,
    base_noise: f64,
    target: usize,
) -> (Vec<Option<usize>>, usize) {
    let mut at: Vec<Option<usize>> = vec![None; layers.len()];
    let bytes = |at: &[Option<usize>]| -> usize {
        layers
            .iter()
            .zip(at)
            .map(|(l, a)| {
                let s = a.map_or(0.0, |i| f64::from(levels[i]));
                l.weights - (l.weights as f64 * s).round() as usize
            })
            .sum()
    };
    while bytes(&at) > target {
        let mut best: Option<(f64, usize)> = None;
        for (li, l) in layers.iter().enumerate() {
            let next = at[li].map_or(0, |i| i + 1);
            if next >= levels.len() {
                continue;
            }
            let (n0, s0) = match at[li] {
                Some(i) => (noise_at(li, i), f64::from(levels[i])),
                None => (base_noise, 0.0),
            };
            let saved = l.weights as f64 * (f64::from(levels[next]) - s0);
            let cost = (noise_at(li, next) - n0) / saved.max(1.0);
            if best.is_none_or(|(c, _)| cost < c) {
                best = Some((cost, li));
            }
        }
        let Some((_, li)) = best else { break };
        at[li] = Some(at[li].map_or(0, |i| i + 1));
    }
    // Coarse levels overshoot: step back the layer that gains most while
    // the target still holds.
    loop {
        let mut best: Option<(f64, usize)> = None;
        for li in 0..layers.len() {
            let Some(i) = at[li] else { continue };
            let mut back = at.clone();
            back[li] = i.checked_sub(1);
            if bytes(&back) > target {
                continue;
            }
            let lower = back[li].map_or(base_noise, |j| noise_at(li, j));
            let gain = noise_at(li, i) - lower;
            if gain > 0.0 && best.is_none_or(|(g, _)| gain > g) {
                best = Some((gain, li));
            }
        }
        let Some((_, li)) = best else { break };
        at[li] = at[li].and_then(|i| i.checked_sub(1));
    }
    let b = bytes(&at);
    (at, b)
}

fn suggest(
    inp: &Inputs,
    layers: &[LayerSize],
    rows: &[Row],
    baseline: &Measure,
    target: usize,
) -> Result<Suggestion> {
    let n = inp.levels.len();
    let noise_at = |li: usize, i: usize| noise(rows[li * n + i].measure.sqnr_db);
    let base = noise(baseline.sqnr_db);
    let (at, weight_bytes) = greedy(layers, inp.levels, &noise_at, base, target);
    let mut total = base;
    let mut levels = Vec::new();
    for (li, a) in at.iter().enumerate() {
        if let Some(i) = *a {
            total += noise_at(li, i) - base;
            levels.push((layers[li].layer.clone(), inp.levels[i]));
        }
    }
    let measured = if levels.is_empty() {
        baseline.clone()
    } else {
        measure(inp, levels.clone())?.0
    };
    Ok(Suggestion {
        target_bytes: target,
        met: weight_bytes <= target,
        levels,
        weight_bytes,
        predicted_sqnr_db: -10.0 * total.max(f64::MIN_POSITIVE).log10(),
        measured,
    })
}

fn cell(m: &Measure) -> String {
    match m.accuracy {
        Some(a) => format!("{:>8.2} dB {:>6.1}%", m.sqnr_db, 100.0 * a),
        None => format!("{:>8.2} dB {:>5.1}%*", m.sqnr_db, 100.0 * m.agreement),
    }
}

/// The scan as a table.
pub fn render(s: &Scan) -> String {
    let n = s.levels.len();
    let levels = &s.levels;
    let mut out = format!(
        "{} samples; int8 unpruned: {}{}\n",
        s.samples,
        cell(&s.baseline),
        s.float_accuracy
            .map(|a| format!(" (float {:.1}%)", 100.0 * a))
            .unwrap_or_default()
    );
    out += &format!("{:<40} {:>8}", "layer", "weights");
    for l in levels {
        out += &format!(" {:>20}", format!("{:.0}% pruned", 100.0 * l));
    }
    out += "\n";
    for (li, l) in s.layers.iter().enumerate() {
        out += &format!("{:<40} {:>8}", l.layer, l.weights);
        for r in &s.rows[li * n..(li + 1) * n] {
            out += &format!(" {:>20}", cell(&r.measure));
        }
        out += "\n";
    }
    if s.baseline.accuracy.is_none() {
        out += "(* top-1 agreement with the float model; give --labels for accuracy)\n";
    }
    if let Some(g) = &s.suggestion {
        let total: usize = s.layers.iter().map(|l| l.weights).sum();
        out += &format!(
            "target {} B of non-zero int8 weights (unpruned {total} B): {}\n",
            g.target_bytes,
            if g.met {
                format!("met with {} B", g.weight_bytes)
            } else {
                format!("NOT met, the highest levels leave {} B", g.weight_bytes)
            }
        );
        if g.levels.is_empty() {
            out += "  nothing to prune\n";
        }
        for (name, level) in &g.levels {
            out += &format!("  --prune-layer {name}={level}\n");
        }
        out += &format!(
            "  predicted {:.2} dB; measured {}\n",
            g.predicted_sqnr_db,
            cell(&g.measured)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_levels_parse() {
        assert_eq!(parse_size("16000").unwrap(), 16000);
        assert_eq!(parse_size("2KB").unwrap(), 2048);
        assert_eq!(parse_size("1.5 kB").unwrap(), 1536);
        assert_eq!(parse_size("100B").unwrap(), 100);
        assert!(parse_size("-1").is_err() && parse_size("lots").is_err());
        assert_eq!(parse_levels("0.5, 25%,0.5").unwrap(), vec![0.25, 0.5]);
        assert!(parse_levels("1.5").is_err() && parse_levels("0").is_err());
    }

    #[test]
    fn greedy_prunes_the_cheapest_bytes_first() {
        let layers = vec![
            LayerSize {
                layer: "a".into(),
                weights: 1000,
            },
            LayerSize {
                layer: "b".into(),
                weights: 1000,
            },
        ];
        let levels = [0.5f32, 0.9];
        // Layer a is sensitive, b is not.
        let noise = |li: usize, i: usize| [[0.1, 1.0], [0.002, 0.01]][li][i];
        let (at, bytes) = greedy(&layers, &levels, &noise, 0.001, 1500);
        assert_eq!(at, vec![None, Some(0)]);
        assert_eq!(bytes, 1500);
        let (at, bytes) = greedy(&layers, &levels, &noise, 0.001, 1100);
        assert_eq!(at, vec![None, Some(1)]);
        assert_eq!(bytes, 1100);
        // b at 90 % and a at 50 % overshoot 1000 B; b steps back to 50 %.
        let (at, bytes) = greedy(&layers, &levels, &noise, 0.001, 1000);
        assert_eq!(at, vec![Some(0), Some(0)]);
        assert_eq!(bytes, 1000);
        // Out of reach: everything at the top level.
        let (at, _) = greedy(&layers, &levels, &noise, 0.001, 10);
        assert_eq!(at, vec![Some(1), Some(1)]);
    }
}
