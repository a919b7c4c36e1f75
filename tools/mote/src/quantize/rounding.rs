//! Rounding optimisation (GPTQ, Frantar et al. 2022): each layer's int8
//! weights are chosen, one input column at a time, so that the layer's
//! output on the float teacher's inputs stays close to the teacher's; each
//! rounding error is spread over the columns not yet quantized through the
//! inverse of the inputs' second-moment matrix H = Σ x xᵀ. Pruned weights
//! (zero in the student, non-zero in the teacher) are held at zero and
//! their loss compensated the same way (SparseGPT's reconstruction).
//!
//! The chosen per-channel scales are stored next to the weights as a
//! `<weight>::scale` constant, which quantization then uses as is.

use anyhow::{bail, Result};
use tract_onnx::prelude::Datum;

use super::layers::{self, Layer};
use super::proto;
use crate::float_ref::FloatModel;
use crate::import::onnx::{Const, Data, Node, OnnxModel};

/// Name of the fixed per-channel scale constant of weight `w`.
pub fn scale_name(w: &str) -> String {
    format!("{w}::scale")
}

/// Convolution geometry (NCHW, 1-D convolutions as H = 1).
struct Geometry {
    group: usize,
    icg: usize,
    k: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 2],
}

fn geometry(n: &Node, w: &Const, in_shape: &[usize]) -> Result<Geometry> {
    let two = |name: &str, d: usize| -> Vec<usize> {
        let v: Vec<usize> = n
            .ints(name)
            .map(|v| v.iter().map(|&x| x.max(0) as usize).collect())
            .unwrap_or_else(|| vec![d; w.shape.len() - 2]);
        if v.len() == 1 {
            vec![1, v[0]]
        } else {
            v
        }
    };
    let (s, d) = (two("strides", 1), two("dilations", 1));
    let kk = if w.shape.len() == 3 {
        [1, w.shape[2]]
    } else {
        [w.shape[2], w.shape[3]]
    };
    let pads: Vec<usize> = n
        .ints("pads")
        .map(|v| v.iter().map(|&x| x.max(0) as usize).collect())
        .unwrap_or_default();
    let pad = match pads.len() {
        4 => [pads[0], pads[1]],
        2 => [0, pads[0]],
        _ => [0, 0],
    };
    let auto = n.string("auto_pad").unwrap_or("NOTSET");
    let spatial: Vec<usize> = in_shape.iter().skip(2).copied().collect();
    let hw = if spatial.len() == 1 {
        [1, spatial[0]]
    } else if spatial.len() == 2 {
        [spatial[0], spatial[1]]
    } else {
        bail!("node '{}': only 1-D and 2-D convolutions", n.name);
    };
    let pad = if auto == "SAME_UPPER" || auto == "SAME_LOWER" {
        let mut p = [0; 2];
        for a in 0..2 {
            let out = hw[a].div_ceil(s[a]);
            let need = ((out - 1) * s[a] + (kk[a] - 1) * d[a] + 1).saturating_sub(hw[a]);
            p[a] = if auto == "SAME_UPPER" {
                need / 2
            } else {
                need.div_ceil(2)
            };
        }
        p
    } else {
        pad
    };
    Ok(Geometry {
        group: n.int("group", 1).max(1) as usize,
        icg: w.shape[1],
        k: kk,
        stride: [s[0], s[1]],
        dilation: [d[0], d[1]],
        pad,
    })
}

/// Adds x xᵀ of every input patch of one NCHW sample to the per-group
/// matrices `h` (each K×K, K = icg·kh·kw).
fn conv_moments(g: &Geometry, shape: &[usize], x: &[f32], h: &mut [Vec<f64>]) {
    let c = shape[1];
    let (ih, iw) = if shape.len() == 3 {
        (1, shape[2])
    } else {
        (shape[2], shape[3])
    };
    let span = |a: usize, len: usize| {
        (len + 2 * g.pad[a]).saturating_sub((g.k[a] - 1) * g.dilation[a] + 1) / g.stride[a] + 1
    };
    let (oh, ow) = (span(0, ih), span(1, iw));
    let kn = g.icg * g.k[0] * g.k[1];
    let mut patch = vec![0f64; kn];
    for b in 0..shape[0] {
        for (grp, hg) in h.iter_mut().enumerate().take(g.group) {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut j = 0;
                    for ci in 0..g.icg {
                        let ch = grp * g.icg + ci;
                        for ky in 0..g.k[0] {
                            for kx in 0..g.k[1] {
                                let y = (oy * g.stride[0] + ky * g.dilation[0]) as isize
                                    - g.pad[0] as isize;
                                let xx = (ox * g.stride[1] + kx * g.dilation[1]) as isize
                                    - g.pad[1] as isize;
                                patch[j] = if y >= 0
                                    && xx >= 0
                                    && (y as usize) < ih
                                    && (xx as usize) < iw
                                    && ch < c
                                {
                                    f64::from(
                                        x[((b * c + ch) * ih + y as usize) * iw + xx as usize],
                                    )
                                } else {
                                    0.0
                                };
                                j += 1;
                            }
                        }
                    }
                    add_outer(hg, &patch);
                }
            }
        }
    }
}

fn add_outer(h: &mut [f64], v: &[f64]) {
    let n = v.len();
    for i in 0..n {
        if v[i] == 0.0 {
            continue;
        }
        let row = &mut h[i * n..(i + 1) * n];
        for (r, &b) in row.iter_mut().zip(v) {
            *r += v[i] * b;
        }
    }
}

/// Lower Cholesky factor of the symmetric n×n `a`, in place; false when
/// `a` is not positive definite.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
        for k in j + 1..n {
            a[j * n + k] = 0.0;
        }
    }
    true
}

/// The upper factor U of H⁻¹ = Uᵀ U, with H damped by 1 % of its mean
/// diagonal (more if it is still singular).
pub(crate) fn inverse_factor(h: &[f64], n: usize) -> Result<Vec<f64>> {
    let mean = (0..n).map(|i| h[i * n + i]).sum::<f64>() / n.max(1) as f64;
    let mut damp = 0.01 * mean.max(1e-12);
    for _ in 0..8 {
        let mut l = h.to_vec();
        for i in 0..n {
            if l[i * n + i] == 0.0 {
                l[i * n + i] = 1.0;
            }
            l[i * n + i] += damp;
        }
        if !cholesky(&mut l, n) {
            damp *= 10.0;
            continue;
        }
        // L⁻¹ (lower), then H⁻¹ = L⁻ᵀ L⁻¹.
        let mut li = vec![0f64; n * n];
        for i in 0..n {
            li[i * n + i] = 1.0 / l[i * n + i];
            for j in 0..i {
                let mut s = 0.0;
                for k in j..i {
                    s += l[i * n + k] * li[k * n + j];
                }
                li[i * n + j] = -s / l[i * n + i];
            }
        }
        let mut hinv = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..=i {
                let mut s = 0.0;
                for k in i..n {
                    s += li[k * n + i] * li[k * n + j];
                }
                hinv[i * n + j] = s;
                hinv[j * n + i] = s;
            }
        }
        if !cholesky(&mut hinv, n) {
            damp *= 10.0;
            continue;
        }
        // Upper U = Lᵀ of H⁻¹'s lower factor.
        let mut u = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..=i {
                u[j * n + i] = hinv[i * n + j];
            }
        }
        return Ok(u);
    }
    bail!("the layer inputs' second-moment matrix cannot be inverted")
}

/// GPTQ on one row: `w` (the teacher's weights) becomes integers in
/// `-qmax..=qmax` times `scale`; `keep[j]` false holds column j at zero.
pub(crate) fn quantize_row(w: &mut [f64], keep: &[bool], scale: f64, u: &[f64], qmax: f64) {
    let n = w.len();
    for j in 0..n {
        let q = if keep[j] {
            (w[j] / scale).round().clamp(-qmax, qmax) * scale
        } else {
            0.0
        };
        let err = (w[j] - q) / u[j * n + j];
        w[j] = q;
        for k in j + 1..n {
            w[k] -= err * u[j * n + k];
        }
    }
}

/// How [`optimize`] rounds.
#[derive(Debug, Clone, Copy)]
pub struct Rounding {
    /// The symmetric grid `-qmax..=qmax`: 127 for int8, 7 for int4.
    pub qmax: f64,
    /// Keep every weight that is zero in the student at zero. Otherwise only
    /// the pruned ones (zero in the student, non-zero in the reference) are
    /// held, and weights zero in both may take up rounding errors.
    pub hold_zeros: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// Chooses the weights of every layer of `m` (pruned or not) on the
/// symmetric grid of `how` (per-channel scale max|w| / qmax) against
/// `reference`, the float teacher (or, after a pruning refit, the refitted
/// model), on the calibration `samples`. Returns the number of layers
/// optimised.
pub fn optimize(
    m: &mut OnnxModel,
    reference: &OnnxModel,
    teacher: &super::bias_correction::Teacher<'_>,
    how: &Rounding,
) -> Result<usize> {
    let Rounding {
        qmax,
        hold_zeros,
        progress,
    } = *how;
    let found = layers::find(m);
    if found.is_empty() {
        return Ok(0);
    }
    let ins: Vec<String> = found
        .iter()
        .map(|l| m.nodes[l.node].inputs[0].clone())
        .collect();
    let p = proto::to_proto(reference, teacher.template, teacher.input_shape)?;
    let float = FloatModel::from_proto(
        &p,
        teacher.dir,
        "the prepared float model",
        teacher.input_shape,
        &ins,
        f32::datum_type(),
    )?;
    // Per layer: geometry (convs) and the per-group moment matrices.
    let mut geo: Vec<Option<Geometry>> = Vec::new();
    let mut hs: Vec<Vec<Vec<f64>>> = Vec::new();
    let bar = if progress {
        indicatif::ProgressBar::new((teacher.samples.len() + found.len()) as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message("optimising rounding");
    for (si, s) in teacher.samples.iter().enumerate() {
        let outs = float.run(s)?;
        for (k, l) in found.iter().enumerate() {
            let (shape, x) = &outs[k];
            let w = &m.consts[&l.weight];
            if si == 0 {
                let g = if l.conv {
                    Some(geometry(&m.nodes[l.node], w, shape)?)
                } else {
                    None
                };
                let (groups, kn) = match &g {
                    Some(g) => (g.group, g.icg * g.k[0] * g.k[1]),
                    None => (1, w.shape[1 - l.weight_axis]),
                };
                hs.push(vec![vec![0f64; kn * kn]; groups]);
                geo.push(g);
            }
            match &geo[k] {
                Some(g) => conv_moments(g, shape, x, &mut hs[k]),
                None => {
                    let kn = w.shape[1 - l.weight_axis];
                    let mut row = vec![0f64; kn];
                    for chunk in x.chunks(kn) {
                        for (r, &v) in row.iter_mut().zip(chunk) {
                            *r = f64::from(v);
                        }
                        add_outer(&mut hs[k][0], &row);
                    }
                }
            }
        }
        bar.inc(1);
    }
    for (k, l) in found.iter().enumerate() {
        optimize_layer(m, reference, l, &hs[k], qmax, hold_zeros)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(found.len())
}

fn optimize_layer(
    m: &mut OnnxModel,
    reference: &OnnxModel,
    l: &Layer,
    hs: &[Vec<f64>],
    qmax: f64,
    hold_zeros: bool,
) -> Result<()> {
    let w = m.consts[&l.weight].clone();
    let student = w.to_f32();
    let target = reference
        .consts
        .get(&l.weight)
        .map(Const::to_f32)
        .filter(|v| v.len() == student.len())
        .unwrap_or_else(|| student.clone());
    let oc = l.channels;
    let kn = student.len() / oc.max(1);
    // Row r of output channel c, as (index of element j) for j < kn.
    let at = |c: usize, j: usize| {
        if l.weight_axis == 0 {
            c * kn + j
        } else {
            j * oc + c
        }
    };
    let groups = hs.len();
    let ocg = (oc / groups).max(1);
    let factors: Vec<Vec<f64>> = hs
        .iter()
        .map(|h| inverse_factor(h, kn))
        .collect::<Result<_>>()?;
    let mut out = student.clone();
    let mut scales = vec![1f32; oc];
    for c in 0..oc {
        let mut row: Vec<f64> = (0..kn).map(|j| f64::from(target[at(c, j)])).collect();
        let keep: Vec<bool> = (0..kn)
            .map(|j| student[at(c, j)] != 0.0 || (!hold_zeros && target[at(c, j)] == 0.0))
            .collect();
        let maxabs = (0..kn)
            .filter(|&j| keep[j])
            .map(|j| row[j].abs())
            .fold(0.0, f64::max);
        if maxabs == 0.0 {
            continue;
        }
        let scale = maxabs / qmax;
        scales[c] = scale as f32;
        let u = &factors[(c / ocg).min(groups - 1)];
        quantize_row(&mut row, &keep, scale, u, qmax);
        for (j, v) in row.iter().enumerate() {
            out[at(c, j)] = *v as f32;
        }
    }
    m.consts.insert(
        l.weight.clone(),
        Const {
            shape: w.shape.clone(),
            data: Data::F32(out),
        },
    );
    m.consts.insert(
        scale_name(&l.weight),
        Const {
            shape: vec![oc],
            data: Data::F32(scales),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gptq_never_does_worse_than_rounding_on_its_own_inputs() {
        // Correlated inputs: x1 ≈ x0, so an error in w0 can be paid back by w1.
        let xs: Vec<[f64; 3]> = (0..50)
            .map(|i| {
                let a = ((i * 37) % 17) as f64 / 8.0 - 1.0;
                let b = ((i * 11) % 13) as f64 / 6.0 - 1.0;
                [a, a + 0.05 * b, b]
            })
            .collect();
        let mut h = vec![0f64; 9];
        for x in &xs {
            add_outer(&mut h, x);
        }
        let w = [0.33f64, -0.71, 1.0];
        let scale = 1.0 / 127.0 * 1.0 / 0.9;
        let loss = |q: &[f64]| -> f64 {
            xs.iter()
                .map(|x| (0..3).map(|j| (q[j] - w[j]) * x[j]).sum::<f64>().powi(2))
                .sum()
        };
        let rtn: Vec<f64> = w.iter().map(|v| (v / scale).round() * scale).collect();
        let mut g = w.to_vec();
        quantize_row(
            &mut g,
            &[true; 3],
            scale,
            &inverse_factor(&h, 3).unwrap(),
            127.0,
        );
        for v in &g {
            let q = v / scale;
            assert!((q - q.round()).abs() < 1e-9, "off the grid: {q}");
        }
        assert!(
            loss(&g) <= loss(&rtn) + 1e-12,
            "{} > {}",
            loss(&g),
            loss(&rtn)
        );
        // A pruned column stays zero.
        let mut p = w.to_vec();
        quantize_row(
            &mut p,
            &[true, false, true],
            scale,
            &inverse_factor(&h, 3).unwrap(),
            127.0,
        );
        assert_eq!(p[1], 0.0);
        // The int4 grid: every value an integer multiple of the scale in -7..=7.
        // A scale of 0.1 puts 1.0 at 10 steps: beyond the grid, so it clamps.
        let s4 = 0.1;
        let mut q = w.to_vec();
        quantize_row(&mut q, &[true; 3], s4, &inverse_factor(&h, 3).unwrap(), 7.0);
        for v in &q {
            let k = v / s4;
            assert!((k - k.round()).abs() < 1e-9 && k.abs() <= 7.0 + 1e-9, "{k}");
        }
        assert!(
            q.iter().any(|v| ((v / s4).abs() - 7.0).abs() < 1e-9),
            "1.0 / 0.1 clamps to 7: {q:?}"
        );
    }
}
