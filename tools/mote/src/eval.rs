//! `mote eval`: the runtime's int8 results against tract's float model on
//! the same inputs — output agreement, SQNR, and SQNR per layer.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use mote_runtime::{Hook, Interpreter, Model};
use serde::Serialize;

use crate::float_ref::FloatModel;
use crate::import::onnx;

/// Signal-to-quantization-noise ratio accumulator.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sqnr {
    signal: f64,
    noise: f64,
    max_abs: f64,
    count: usize,
}

impl Sqnr {
    /// Adds reference values `r` and their approximation `q`.
    pub fn add(&mut self, r: &[f32], q: &[f32]) {
        for (&a, &b) in r.iter().zip(q) {
            self.count += 1;
            self.signal += f64::from(a).powi(2);
            let e = f64::from(a - b);
            self.noise += e * e;
            self.max_abs = self.max_abs.max(e.abs());
        }
    }

    /// SQNR in dB (infinite when exact).
    pub fn db(&self) -> f64 {
        if self.noise == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (self.signal / self.noise).log10()
        }
    }

    /// Largest absolute error.
    pub fn max_abs(&self) -> f64 {
        self.max_abs
    }
}

/// One layer's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// Op index.
    pub index: usize,
    /// Op kind.
    pub op: String,
    /// Tensor (float value) name.
    pub tensor: String,
    /// SQNR of the dequantized int8 tensor against the float one, dB.
    pub sqnr_db: f64,
}

/// The evaluation report; field names are the `--json` contract.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Inputs evaluated.
    pub samples: usize,
    /// Fraction of inputs whose top-1 class agrees with the float model.
    pub top1_agreement: f64,
    /// Float model accuracy against labels, when given.
    pub float_accuracy: Option<f64>,
    /// int8 model accuracy against labels, when given.
    pub int8_accuracy: Option<f64>,
    /// Output SQNR against the float model, dB.
    pub output_sqnr_db: f64,
    /// Largest absolute output error.
    pub max_abs_error: f64,
    /// Per-layer SQNR, for the tensors that exist in both models.
    pub layers: Vec<Layer>,
    /// Arena bytes of the model.
    pub arena_bytes: usize,
    /// Bytes of activations live while each op runs (its inputs, its output
    /// and everything still needed later).
    pub memory_timeline: Vec<usize>,
    /// Every output error (int8 dequantized minus float), for the report.
    #[serde(skip)]
    pub output_errors: Vec<f32>,
}

/// Live activation bytes while each op runs, from the ops' tensor uses.
pub fn memory_timeline(model: &Model<'_>) -> Vec<usize> {
    let ops: Vec<_> = model.ops().collect();
    let mut span: HashMap<u16, (usize, usize, usize)> = HashMap::new();
    let mut touch = |t: u16, dims: [u32; 4], step: usize| {
        let bytes = dims.iter().map(|&d| d as usize).product();
        let e = span.entry(t).or_insert((step, step, bytes));
        e.0 = e.0.min(step);
        e.1 = e.1.max(step);
    };
    for (i, op) in ops.iter().enumerate() {
        for a in op.inputs.iter().chain(std::iter::once(&op.output)) {
            touch(a.tensor, a.dims, i);
        }
    }
    for k in 0..model.output_count() {
        if let Ok(t) = model.output_tensor(k) {
            if let Some(e) = span.get_mut(&t) {
                e.1 = ops.len();
            }
        }
    }
    (0..ops.len())
        .map(|i| {
            span.values()
                .filter(|(a, b, _)| *a <= i && i <= *b)
                .map(|(_, _, s)| s)
                .sum()
        })
        .collect()
}

struct Capture {
    outputs: Vec<(u16, u16, Vec<u8>)>,
}

impl Hook for Capture {
    fn after_op(&mut self, index: u16, tensor: u16, output: &[u8]) {
        self.outputs.push((index, tensor, output.to_vec()));
    }
}

/// One sample's results in `evaluate`.
struct SampleOut {
    /// The float model's output.
    fo: Vec<f32>,
    /// The runtime's output, dequantized.
    q: Vec<f32>,
    /// Per compared layer: float tensor (runtime layout) and dequantized
    /// int8 tensor, or `None` when they cannot be matched.
    layers: Vec<Option<(Vec<f32>, Vec<f32>)>>,
}

/// Samples evaluated in parallel at a time (bounds the memory held).
const EVAL_CHUNK: usize = 64;

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

/// Float data laid out like the runtime tensor: NCHW floats of a tensor the
/// runtime holds as NHWC are transposed. `None` when the shapes don't match.
fn to_runtime_layout(fshape: &[usize], f: &[f32], rshape: &[usize]) -> Option<Vec<f32>> {
    let fe: usize = fshape.iter().product();
    let re: usize = rshape.iter().product();
    if fe != re {
        return None;
    }
    let strip = |s: &[usize]| -> Vec<usize> { s.iter().copied().filter(|&d| d != 1).collect() };
    if strip(fshape) == strip(rshape) {
        return Some(f.to_vec());
    }
    // [N, C, L] floats of a 1-D convolution held as NHWC [N, 1, L, C].
    if let ([n, c, l], [rn, 1, rl, rc]) = (fshape, rshape) {
        if (n, c, l) == (rn, rc, rl) {
            let mut out = vec![0f32; fe];
            for b in 0..*n {
                for x in 0..*l {
                    for ch in 0..*c {
                        out[(b * l + x) * c + ch] = f[(b * c + ch) * l + x];
                    }
                }
            }
            return Some(out);
        }
    }
    if let ([n, c, h, w], [rn, rh, rw, rc]) = (fshape, rshape) {
        if (n, c, h, w) == (rn, rc, rh, rw) {
            let mut out = vec![0f32; fe];
            for b in 0..*n {
                for y in 0..*h {
                    for x in 0..*w {
                        for ch in 0..*c {
                            out[((b * h + y) * w + x) * c + ch] = f[((b * c + ch) * h + y) * w + x];
                        }
                    }
                }
            }
            return Some(out);
        }
    }
    None
}

/// Evaluates model bytes against float ONNX `reference` on `inputs`.
pub fn evaluate(
    model_bytes: &[u8],
    reference: &Path,
    inputs: &[Vec<f32>],
    labels: Option<&[i64]>,
) -> Result<Report> {
    let model = Model::parse(model_bytes).map_err(|e| anyhow!("invalid model: {e}"))?;
    let in_desc = model.input(0).map_err(|e| anyhow!("{e}"))?;
    let out_desc = model.output(0).map_err(|e| anyhow!("{e}"))?;
    let in_shape: Vec<usize> = in_desc.shape().iter().map(|&d| d as usize).collect();
    let float_model = onnx::load(reference)?;
    let out_name = float_model
        .outputs
        .first()
        .map(|o| o.name.clone())
        .ok_or_else(|| anyhow!("{} has no output", reference.display()))?;
    // Layers: runtime op outputs whose tensor name is a float value.
    let produced: std::collections::HashSet<&str> = float_model
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().map(String::as_str))
        .collect();
    let mut layer_names = Vec::new();
    let mut layer_ops = Vec::new();
    for (i, op) in model.ops().enumerate() {
        let t = model.tensor(op.output.tensor).map_err(|e| anyhow!("{e}"))?;
        if produced.contains(t.name)
            && t.name != out_name
            && !layer_names.iter().any(|n: &String| n == t.name)
        {
            layer_names.push(t.name.to_string());
            layer_ops.push((
                i,
                crate::inspect::kind_name(&op.kind).to_string(),
                op.output.tensor,
            ));
        }
    }
    let mut probes = vec![out_name];
    probes.extend(layer_names.iter().cloned());
    let float = FloatModel::load(reference, &in_shape, &probes)?;
    if let Some(l) = labels {
        if l.len() != inputs.len() {
            bail!("{} labels for {} inputs", l.len(), inputs.len());
        }
    }
    let mut out = Sqnr::default();
    let mut output_errors = Vec::new();
    let mut layer_sqnr = vec![Sqnr::default(); layer_names.len()];
    let (mut agree, mut float_ok, mut int8_ok) = (0usize, 0usize, 0usize);
    let descs: HashMap<u16, mote_runtime::TensorDesc<'_>> = layer_ops
        .iter()
        .map(|&(_, _, t)| model.tensor(t).map(|d| (t, d)))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("{e}"))?;
    let out_len = out_desc.elements().unwrap_or(0);
    // One sample through both engines: the float and int8 outputs, and per
    // layer the float tensor (in the runtime's layout) and the dequantized
    // int8 one.
    let one = |x: &Vec<f32>| -> Result<SampleOut> {
        let f = float.run(x)?;
        let mut arena = crate::Arena::new(model.arena_len());
        let mut interp = Interpreter::new(&model, arena.bytes()).map_err(|e| anyhow!("{e}"))?;
        interp.set_input_f32(0, x).map_err(|e| anyhow!("{e}"))?;
        let mut cap = Capture {
            outputs: Vec::new(),
        };
        interp
            .invoke_with(&mut cap)
            .map_err(|e| anyhow!("inference failed: {e}"))?;
        let mut q = vec![0f32; out_len];
        interp.output_f32(0, &mut q).map_err(|e| anyhow!("{e}"))?;
        let mut layers = Vec::with_capacity(layer_ops.len());
        for (k, &(_, _, t)) in layer_ops.iter().enumerate() {
            let d = &descs[&t];
            let Some((_, _, bytes)) = cap.outputs.iter().rev().find(|(_, tt, _)| *tt == t) else {
                layers.push(None);
                continue;
            };
            let deq: Vec<f32> = bytes
                .iter()
                .map(|&b| d.scale * (i32::from(b as i8) - d.zero_point) as f32)
                .collect();
            let rshape: Vec<usize> = d.dims.iter().map(|&x| x as usize).collect();
            let (fshape, fv) = &f[k + 1];
            layers.push(to_runtime_layout(fshape, fv, &rshape).map(|fv| (fv, deq)));
        }
        let fo = f.into_iter().next().map(|(_, v)| v).unwrap_or_default();
        Ok(SampleOut { fo, q, layers })
    };
    // Samples run in parallel over all cores, a bounded chunk at a time;
    // the sums are taken in sample order, so the report does not depend on
    // the number of cores.
    use rayon::prelude::*;
    for (c, chunk) in inputs.chunks(EVAL_CHUNK).enumerate() {
        let results: Vec<Result<SampleOut>> = chunk.par_iter().map(one).collect();
        for (i, r) in results.into_iter().enumerate() {
            let SampleOut { fo, q, layers } = r?;
            let s = c * EVAL_CHUNK + i;
            if fo.len() != q.len() {
                bail!(
                    "the float model's output has {} values, the .mote model's {}",
                    fo.len(),
                    q.len()
                );
            }
            out.add(&fo, &q);
            output_errors.extend(q.iter().zip(&fo).map(|(a, b)| a - b));
            let (fa, qa) = (argmax(&fo), argmax(&q));
            agree += usize::from(fa == qa);
            if let Some(l) = labels {
                float_ok += usize::from(fa as i64 == l[s]);
                int8_ok += usize::from(qa as i64 == l[s]);
            }
            for (acc, l) in layer_sqnr.iter_mut().zip(&layers) {
                if let Some((fv, deq)) = l {
                    acc.add(fv, deq);
                }
            }
        }
    }
    let n = inputs.len().max(1) as f64;
    // Layers whose tensors could not be matched element for element are left out.
    let layers = layer_ops
        .iter()
        .zip(&layer_names)
        .zip(&layer_sqnr)
        .filter(|(_, s)| s.count > 0)
        .map(|(((i, op, _), name), s)| Layer {
            index: *i,
            op: op.clone(),
            tensor: name.clone(),
            sqnr_db: s.db(),
        })
        .collect();
    Ok(Report {
        samples: inputs.len(),
        top1_agreement: agree as f64 / n,
        float_accuracy: labels.map(|_| float_ok as f64 / n),
        int8_accuracy: labels.map(|_| int8_ok as f64 / n),
        output_sqnr_db: out.db(),
        max_abs_error: out.max_abs(),
        layers,
        arena_bytes: model.arena_len(),
        memory_timeline: memory_timeline(&model),
        output_errors,
    })
}

/// Human-readable rendering.
pub fn render(r: &Report) -> String {
    let mut s = format!("{} inputs\n", r.samples);
    s += &format!(
        "top-1 agreement with float: {:.2}%\n",
        100.0 * r.top1_agreement
    );
    if let (Some(f), Some(q)) = (r.float_accuracy, r.int8_accuracy) {
        s += &format!(
            "accuracy: float {:.2}%, mote {:.2}% ({:+.2} points)\n",
            100.0 * f,
            100.0 * q,
            100.0 * (q - f)
        );
    }
    s += &format!(
        "output SQNR {:.2} dB, max abs error {:.5}\n",
        r.output_sqnr_db, r.max_abs_error
    );
    if !r.layers.is_empty() {
        s += &format!("{:>3}  {:<16} {:>10}  {}\n", "#", "op", "SQNR dB", "tensor");
        for l in &r.layers {
            s += &format!(
                "{:>3}  {:<16} {:>10.2}  {}\n",
                l.index, l.op, l.sqnr_db, l.tensor
            );
        }
    }
    s
}
