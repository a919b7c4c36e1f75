//! The least-squares statistics of one consumer layer on the calibration
//! data: its input rows x (a convolution's patches, or a fully connected
//! layer's input vector) with a trailing 1 for the bias, taken from the
//! pruned model, against the teacher's outputs y of the same layer:
//! G = Σ x xᵀ, B = Σ x yᵀ and Σ |y|².

use anyhow::{anyhow, bail, Result};
use nalgebra::DMatrix;

use super::super::layers::Layer;
use crate::float_ref::FloatModel;
use crate::import::onnx::{Node, OnnxModel};

/// Least-squares statistics of one consumer layer.
#[derive(Debug, Clone)]
pub struct Moments {
    /// Input channels of the consumer (the producer's output channels).
    pub channels: usize,
    /// Input columns per channel: kh·kw for a Conv, the flattened group
    /// (e.g. H·W) for a fully connected layer.
    pub per_channel: usize,
    /// Σ x xᵀ, (K + 1)², K = channels · per_channel, the bias last.
    pub g: DMatrix<f64>,
    /// Σ x yᵀ, (K + 1) × outputs.
    pub b: DMatrix<f64>,
    /// Σ |y|².
    pub yy: f64,
    /// Rows (input vectors or patches) seen.
    pub rows: usize,
}

impl Moments {
    /// Empty statistics.
    pub fn new(channels: usize, per_channel: usize, outputs: usize) -> Self {
        let k = channels * per_channel + 1;
        Moments {
            channels,
            per_channel,
            g: DMatrix::zeros(k, k),
            b: DMatrix::zeros(k, outputs),
            yy: 0.0,
            rows: 0,
        }
    }

    /// Adds rows `x` (each K + 1 long, the last 1) with targets `y`.
    pub fn add(&mut self, x: &DMatrix<f64>, y: &DMatrix<f64>) {
        self.g.gemm_tr(1.0, x, x, 1.0);
        self.b.gemm_tr(1.0, x, y, 1.0);
        self.yy += y.norm_squared();
        self.rows += x.nrows();
    }
}

/// Convolution geometry of a Conv node (1-D taken as H = 1).
struct Geometry {
    k: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 2],
}

fn geometry(n: &Node, kernel: &[usize]) -> Result<Geometry> {
    if n.string("auto_pad")
        .is_some_and(|a| a != "NOTSET" && a != "VALID")
    {
        bail!(
            "node '{}': auto_pad {} is not supported by the channel refit",
            n.name,
            n.string("auto_pad").unwrap_or_default()
        );
    }
    let pair = |name: &str, d: i64| -> [usize; 2] {
        let v: Vec<usize> = n
            .ints(name)
            .unwrap_or_else(|| vec![d; kernel.len()])
            .iter()
            .map(|&x| x.max(0) as usize)
            .collect();
        match v[..] {
            [a] => [1, a],
            [a, b, ..] => [a, b],
            [] => [d as usize; 2],
        }
    };
    let pads: Vec<usize> = n
        .ints("pads")
        .map(|v| v.iter().map(|&x| x.max(0) as usize).collect())
        .unwrap_or_default();
    let pad = match pads[..] {
        [t, l, _, _] => [t, l],
        [l, _] => [0, l],
        _ => [0, 0],
    };
    let k = match kernel {
        [w] => [1, *w],
        [h, w] => [*h, *w],
        _ => bail!("node '{}': only 1-D and 2-D convolutions", n.name),
    };
    Ok(Geometry {
        k,
        stride: pair("strides", 1),
        dilation: pair("dilations", 1),
        pad,
    })
}

/// Patches of an NCHW input `x` (C channels, `ih`×`iw`), one row per output
/// position, each ending in 1; column ci·kh·kw + ky·kw + kx.
fn patches(
    g: &Geometry,
    x: &[f32],
    c: usize,
    ih: usize,
    iw: usize,
    out: [usize; 2],
) -> DMatrix<f64> {
    let kk = g.k[0] * g.k[1];
    let cols = c * kk + 1;
    let mut rows = DMatrix::zeros(out[0] * out[1], cols);
    for oy in 0..out[0] {
        for ox in 0..out[1] {
            let r = oy * out[1] + ox;
            for ci in 0..c {
                for ky in 0..g.k[0] {
                    for kx in 0..g.k[1] {
                        let y =
                            (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.pad[0] as isize;
                        let xx =
                            (ox * g.stride[1] + kx * g.dilation[1]) as isize - g.pad[1] as isize;
                        if y >= 0 && xx >= 0 && (y as usize) < ih && (xx as usize) < iw {
                            rows[(r, ci * kk + ky * g.k[1] + kx)] =
                                f64::from(x[(ci * ih + y as usize) * iw + xx as usize]);
                        }
                    }
                }
            }
            rows[(r, cols - 1)] = 1.0;
        }
    }
    rows
}

/// Spatial extent of an NCHW or NCW shape as (H, W).
fn spatial(shape: &[usize]) -> Result<[usize; 2]> {
    match shape[..] {
        [_, _, w] => Ok([1, w]),
        [_, _, h, w] => Ok([h, w]),
        _ => bail!("a convolution tensor of shape {shape:?}"),
    }
}

/// Collects the statistics of `consumer` (node `node` of `m`): its input
/// on `student` (the first probe), its output on `teacher` (the first
/// probe), over `samples`; one [`Moments`] per group of a grouped
/// convolution (`groups` of them, else one). `channels` is its input
/// channel count per group (the producer's output channels; a fully
/// connected layer may count each input column as a channel).
#[allow(clippy::too_many_arguments)]
pub fn collect(
    m: &OnnxModel,
    node: usize,
    consumer: &Layer,
    channels: usize,
    groups: usize,
    student: &FloatModel,
    teacher: &FloatModel,
    samples: &[Vec<f32>],
) -> Result<Vec<Moments>> {
    let node = &m.nodes[node];
    let w = &m.consts[&consumer.weight];
    let outputs = consumer.channels;
    let k = w.len() / outputs.max(1);
    let groups = groups.max(1);
    if !k.is_multiple_of(channels) {
        bail!(
            "layer '{}': {k} input columns are not a multiple of the {channels} channels of the layer before",
            consumer.name
        );
    }
    if !outputs.is_multiple_of(groups) {
        bail!(
            "layer '{}': {outputs} outputs are not a multiple of its {groups} groups",
            consumer.name
        );
    }
    let per_channel = k / channels;
    let og = outputs / groups;
    let mut moms = vec![Moments::new(channels, per_channel, og); groups];
    let geometry = if consumer.conv {
        Some(geometry(node, &w.shape[2..])?)
    } else if groups == 1 {
        None
    } else {
        bail!("layer '{}': a grouped fully connected layer", consumer.name);
    };
    for s in samples {
        let xs = student.run(s)?;
        let ys = teacher.run(s)?;
        let ((xshape, x), (yshape, y)) = xs
            .first()
            .zip(ys.first())
            .ok_or_else(|| anyhow!("internal error: a probe gave no value"))?;
        let batch = xshape.first().copied().unwrap_or(1).max(1);
        if let Some(g) = &geometry {
            let [ih, iw] = spatial(xshape)?;
            let out = spatial(yshape)?;
            let plane = out[0] * out[1];
            let (xper, yper) = (channels * groups * ih * iw, outputs * plane);
            if xshape[1] != channels * groups
                || yshape[1] != outputs
                || x.len() < batch * xper
                || y.len() < batch * yper
            {
                bail!(
                    "layer '{}': input {xshape:?} / output {yshape:?} do not have {} / {outputs} channels",
                    consumer.name,
                    channels * groups
                );
            }
            for bi in 0..batch {
                for (gi, mom) in moms.iter_mut().enumerate() {
                    let xg = &x[bi * xper + gi * channels * ih * iw..][..channels * ih * iw];
                    let rows = patches(g, xg, channels, ih, iw, out);
                    let t = DMatrix::from_fn(plane, og, |p, o| {
                        f64::from(y[bi * yper + (gi * og + o) * plane + p])
                    });
                    mom.add(&rows, &t);
                }
            }
        } else {
            if x.len() != batch * k || y.len() != batch * outputs {
                bail!(
                    "layer '{}': input {xshape:?} / output {yshape:?} are not {batch}×{k} / {batch}×{outputs}",
                    consumer.name
                );
            }
            let rows = DMatrix::from_fn(batch, k + 1, |r, c| {
                if c == k {
                    1.0
                } else {
                    f64::from(x[r * k + c])
                }
            });
            let t = DMatrix::from_fn(batch, outputs, |r, o| f64::from(y[r * outputs + o]));
            moms[0].add(&rows, &t);
        }
    }
    Ok(moms)
}
