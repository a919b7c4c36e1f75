//! Bias correction: the float model is the teacher. After quantization,
//! each Conv / depthwise Conv / fully connected layer's mean output error
//! per output channel on the calibration data is folded into its bias
//! (which lowering turns into the int32 bias).
//!
//! - `empirical`: layer by layer in execution order, the fake-quantized
//!   model (int8 weights, every activation quantized as the int8 model
//!   quantizes it, run by tract) is compared with the float teacher at the
//!   layer's pre-activation output; later layers see the corrected earlier
//!   ones. This catches the bias of weight and activation rounding and of
//!   the error that earlier layers pass on.
//! - `analytic`: per layer, independently, the weight rounding error times
//!   the mean float input of each input channel (padding ignored), as in
//!   Nagel et al., "Data-Free Quantization" (with measured input means
//!   instead of batch-norm statistics).

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use tract_onnx::pb;
use tract_onnx::prelude::Datum;

use super::layers::{self, Layer};
use super::{proto, qdq};
use crate::float_ref::FloatModel;
use crate::import::onnx::{Const, Data, OnnxModel};

/// Which bias correction to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Measured layer by layer on the fake-quantized model.
    Empirical,
    /// Weight rounding error times the mean layer input.
    Analytic,
}

impl std::str::FromStr for Mode {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "empirical" => Ok(Mode::Empirical),
            "analytic" => Ok(Mode::Analytic),
            _ => bail!("unknown bias correction '{s}' (use empirical or analytic)"),
        }
    }
}

/// The float teacher's context: the source file's protobuf (opset), the
/// input shape and the calibration samples.
pub struct Teacher<'a> {
    /// Protobuf of the source model (for its opset and IR version).
    pub template: &'a pb::ModelProto,
    /// Directory of the source model (external data).
    pub dir: Option<&'a str>,
    /// Input shape.
    pub input_shape: &'a [usize],
    /// Calibration samples.
    pub samples: &'a [Vec<f32>],
}

impl Teacher<'_> {
    /// A tract model of `m` exposing `probes` (`what` names it in errors).
    pub(crate) fn load(&self, m: &OnnxModel, probes: &[String], what: &str) -> Result<FloatModel> {
        let p = proto::to_proto(m, self.template, self.input_shape)?;
        FloatModel::from_proto(
            &p,
            self.dir,
            what,
            self.input_shape,
            probes,
            f32::datum_type(),
        )
    }

    /// Per-channel means of the probed values over all samples.
    fn means(&self, model: &FloatModel, specs: &[(usize, bool)]) -> Result<Vec<Vec<f64>>> {
        let mut acc: Vec<Vec<f64>> = specs.iter().map(|&(c, _)| vec![0.0; c]).collect();
        let mut counts = vec![0usize; specs.len()];
        for s in self.samples {
            for (k, (shape, v)) in model.run(s)?.iter().enumerate() {
                let (ch, conv) = specs[k];
                counts[k] += channel_sums(shape, v, conv, ch, &mut acc[k])?;
            }
        }
        for (a, &n) in acc.iter_mut().zip(&counts) {
            for x in a.iter_mut() {
                *x /= n.max(1) as f64;
            }
        }
        Ok(acc)
    }
}

/// Elements per channel step of a layer tensor: channels on axis 1 for a
/// Conv's NCHW tensor, else on the last axis.
fn inner_len(shape: &[usize], conv: bool, ch: usize) -> Result<usize> {
    let (c, inner) = if conv {
        (
            shape.get(1).copied().unwrap_or(0),
            shape.iter().skip(2).product(),
        )
    } else {
        (shape.last().copied().unwrap_or(0), 1)
    };
    if c != ch || ch == 0 {
        bail!("internal error: a layer tensor of shape {shape:?} does not have {ch} channels");
    }
    Ok(inner)
}

/// Adds `v`'s values into per-channel sums; returns values per channel.
fn channel_sums(
    shape: &[usize],
    v: &[f32],
    conv: bool,
    ch: usize,
    acc: &mut [f64],
) -> Result<usize> {
    let inner = inner_len(shape, conv, ch)?;
    for (i, &x) in v.iter().enumerate() {
        acc[(i / inner) % ch] += f64::from(x);
    }
    Ok(v.len() / ch)
}

/// The fake-quantized twin of prepared float `m`: `to_qdq`'s graph with
/// the int8 weights dequantized into float constants.
pub fn fake_quantized(m: &OnnxModel, params: &HashMap<String, (f32, i32)>) -> Result<OnnxModel> {
    let mut s = m.clone();
    qdq::to_qdq(&mut s, params)?;
    let nodes = std::mem::take(&mut s.nodes);
    for n in nodes {
        let weight = (n.op_type == "DequantizeLinear")
            .then(|| s.consts.get(&n.inputs[0]))
            .flatten();
        let Some(Const {
            shape,
            data: Data::I8(q),
        }) = weight
        else {
            s.nodes.push(n);
            continue;
        };
        let scales = n
            .input(1)
            .and_then(|x| s.consts.get(x))
            .map(Const::to_f32)
            .ok_or_else(|| anyhow!("internal error: weight scale of '{}' missing", n.name))?;
        let axis = n.int("axis", 1).max(0) as usize;
        let ch = shape.get(axis).copied().unwrap_or(1);
        let inner: usize = shape.iter().skip(axis + 1).product();
        let deq: Vec<f32> = q
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = if scales.len() == 1 {
                    0
                } else {
                    (i / inner) % ch
                };
                f32::from(v) * scales[c]
            })
            .collect();
        let c = Const {
            shape: shape.clone(),
            data: Data::F32(deq),
        };
        s.consts.insert(n.outputs[0].clone(), c);
    }
    Ok(s)
}

/// Corrects the float biases of prepared model `m` (activation parameters
/// `params`) so its int8 version's mean per-channel layer outputs match
/// those of `reference`, the float teacher (`m` itself before pruning, with
/// the same node and weight names). Returns the number of layers corrected.
pub fn correct(
    m: &mut OnnxModel,
    reference: &OnnxModel,
    params: &HashMap<String, (f32, i32)>,
    teacher: &Teacher<'_>,
    mode: Mode,
    progress: bool,
) -> Result<usize> {
    let mut found = layers::find(m);
    if found.is_empty() {
        return Ok(0);
    }
    let bar = if progress {
        indicatif::ProgressBar::new(found.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message("bias correction");
    match mode {
        Mode::Empirical => empirical(m, reference, params, teacher, &mut found, &bar)?,
        Mode::Analytic => analytic(m, reference, teacher, &mut found, &bar)?,
    }
    bar.finish_and_clear();
    Ok(found.len())
}

/// Per-channel differences between the student's and the teacher's layer
/// output, counted where the teacher's value passes the layer's clamp
/// (what reaches the next layer).
struct Diff {
    sum: Vec<f64>,
    count: Vec<f64>,
    /// Per channel, the mean difference of each sample.
    per_sample: Vec<Vec<f64>>,
}

impl Diff {
    fn new(ch: usize) -> Self {
        Diff {
            sum: vec![0.0; ch],
            count: vec![0.0; ch],
            per_sample: vec![Vec::new(); ch],
        }
    }

    fn add(&mut self, shape: &[usize], teacher: &[f32], student: &[f32], l: &Layer) -> Result<()> {
        let ch = l.channels;
        let inner = inner_len(shape, l.conv, ch)?;
        let (lo, hi) = l.clamp.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let (mut s, mut n) = (vec![0f64; ch], vec![0f64; ch]);
        for (i, (&t, &u)) in teacher.iter().zip(student).enumerate() {
            if t > lo && t < hi {
                let c = (i / inner) % ch;
                s[c] += f64::from(u - t);
                n[c] += 1.0;
            }
        }
        for c in 0..ch {
            if n[c] > 0.0 {
                self.per_sample[c].push(s[c] / n[c]);
                self.sum[c] += s[c];
                self.count[c] += n[c];
            }
        }
        Ok(())
    }

    /// The mean difference per channel, shrunk towards 0 by its sampling
    /// noise (James–Stein style: kept in full when it stands far above the
    /// standard error of the per-sample means, dropped when it does not).
    fn correction(&self) -> Vec<f64> {
        (0..self.sum.len())
            .map(|c| {
                let v = &self.per_sample[c];
                let n = v.len() as f64;
                if v.len() < 2 {
                    return 0.0;
                }
                let mean = self.sum[c] / self.count[c];
                let m = v.iter().sum::<f64>() / n;
                let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
                let se2 = var / n;
                if mean == 0.0 {
                    return 0.0;
                }
                mean * (1.0 - se2 / (mean * mean)).max(0.0)
            })
            .collect()
    }
}

fn empirical(
    m: &mut OnnxModel,
    reference: &OnnxModel,
    params: &HashMap<String, (f32, i32)>,
    teacher: &Teacher<'_>,
    found: &mut [Layer],
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let outs: Vec<String> = found.iter().map(|l| l.output.clone()).collect();
    let float = teacher.load(reference, &outs, "the prepared float model")?;
    for (k, l) in found.iter_mut().enumerate() {
        let student = fake_quantized(m, params)?;
        let sim = teacher.load(
            &student,
            std::slice::from_ref(&l.output),
            "the fake-quantized model",
        )?;
        let mut d = Diff::new(l.channels);
        for s in teacher.samples {
            let t = float.run(s)?;
            let u = sim.run(s)?;
            d.add(&t[k].0, &t[k].1, &u[0].1, l)?;
        }
        let mut b = layers::bias(m, l);
        for (b, e) in b.iter_mut().zip(d.correction()) {
            *b -= e as f32;
        }
        layers::set_bias(m, l, b);
        bar.inc(1);
    }
    Ok(())
}

fn analytic(
    m: &mut OnnxModel,
    reference: &OnnxModel,
    teacher: &Teacher<'_>,
    found: &mut [Layer],
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let ins: Vec<String> = found
        .iter()
        .map(|l| m.nodes[l.node].inputs[0].clone())
        .collect();
    let specs: Vec<(usize, bool)> = found
        .iter()
        .map(|l| {
            let w = &m.consts[&l.weight];
            let n = &m.nodes[l.node];
            let k = if l.conv {
                w.shape[1] * n.int("group", 1).max(1) as usize
            } else {
                w.shape[1 - l.weight_axis]
            };
            (k, l.conv)
        })
        .collect();
    let float = teacher.load(reference, &ins, "the prepared float model")?;
    let mean_in = teacher.means(&float, &specs)?;
    let teacher_layers = layers::find(reference);
    for (k, l) in found.iter_mut().enumerate() {
        let w = m.consts[&l.weight].clone();
        let fixed = m.consts.get(&super::rounding::scale_name(&l.weight));
        let (q, scales) = qdq::quantize_weights(&w, l.weight_axis, fixed)?;
        let Data::I8(q) = q.data else {
            bail!("internal error: weights of '{}' not int8", l.name);
        };
        // The teacher's weights (before pruning), found by node: a refit
        // may have given the student's weights a new name.
        let wf = teacher_layers
            .iter()
            .find(|t| t.node == l.node)
            .and_then(|t| reference.consts.get(&t.weight))
            .or_else(|| reference.consts.get(&l.weight))
            .map(Const::to_f32)
            .filter(|v| v.len() == q.len())
            .ok_or_else(|| anyhow!("internal error: teacher weights of '{}' missing", l.name))?;
        let oc = l.channels;
        let mut err = vec![0f64; oc];
        if l.conv {
            let group = m.nodes[l.node].int("group", 1).max(1) as usize;
            let icg = w.shape[1];
            let per_ic: usize = w.shape.iter().skip(2).product();
            let ocg = (oc / group).max(1);
            for (i, (&qv, &fv)) in q.iter().zip(&wf).enumerate() {
                let c = i / (icg * per_ic);
                let ci = (i / per_ic) % icg;
                let dw = f64::from(f32::from(qv) * scales[c] - fv);
                err[c] += dw * mean_in[k][(c / ocg) * icg + ci];
            }
        } else {
            let alpha = f64::from(m.nodes[l.node].float("alpha", 1.0));
            let cols = w.shape[1];
            for (i, (&qv, &fv)) in q.iter().zip(&wf).enumerate() {
                let (r, c) = (i / cols, i % cols);
                let (n, kk) = if l.weight_axis == 0 { (r, c) } else { (c, r) };
                let dw = f64::from(f32::from(qv) * scales[n] - fv);
                err[n] += alpha * dw * mean_in[k][kk];
            }
        }
        let mut b = layers::bias(m, l);
        for (b, e) in b.iter_mut().zip(&err) {
            *b -= *e as f32;
        }
        layers::set_bias(m, l, b);
        bar.inc(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_sums_follow_the_channel_axis() {
        let mut acc = vec![0.0; 2];
        // NCHW [1, 2, 1, 2]: channel 0 holds 1, 2; channel 1 holds 3, 4.
        let n = channel_sums(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0], true, 2, &mut acc).unwrap();
        assert_eq!((n, acc.clone()), (2, vec![3.0, 7.0]));
        let mut acc = vec![0.0; 2];
        // [2, 2] fully connected: channels on the last axis.
        channel_sums(&[2, 2], &[1.0, 2.0, 3.0, 4.0], false, 2, &mut acc).unwrap();
        assert_eq!(acc, vec![4.0, 6.0]);
        assert!(channel_sums(&[2, 3], &[0.0; 6], false, 2, &mut acc).is_err());
        assert!("bogus".parse::<Mode>().is_err());
        assert_eq!("analytic".parse::<Mode>().unwrap(), Mode::Analytic);
    }
}
