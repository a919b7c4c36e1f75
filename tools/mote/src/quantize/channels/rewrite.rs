//! Rewriting the graph once the kept channels are chosen: the producer's
//! weights and bias, the per-channel ops in between, and the consumer's
//! input columns (and, after a refit, its new weights and bias).

use anyhow::{bail, Result};
use nalgebra::DMatrix;

use super::super::layers::{self, Bias, Layer};
use super::chain::Pair;
use crate::import::onnx::{Attr, Const, Data, OnnxModel};

/// The entries of `c` whose index along `axis` is in `idx` (in that order).
pub fn take(c: &Const, axis: usize, idx: &[usize]) -> Const {
    let v = c.to_f32();
    let outer: usize = c.shape[..axis].iter().product();
    let inner: usize = c.shape[axis + 1..].iter().product();
    let n = c.shape[axis];
    let mut out = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in idx {
            out.extend_from_slice(&v[(o * n + i) * inner..][..inner]);
        }
    }
    let mut shape = c.shape.clone();
    shape[axis] = idx.len();
    Const {
        shape,
        data: Data::F32(out),
    }
}

/// A constant name not yet in `m`, from `base`.
fn fresh(m: &OnnxModel, base: &str) -> String {
    (0..)
        .map(|i| format!("{base}::channels{i}"))
        .find(|n| !m.consts.contains_key(n))
        .unwrap_or_default()
}

/// Replaces input `k` of node `node` by a new constant `c`.
fn replace_input(m: &mut OnnxModel, node: usize, k: usize, c: Const) {
    let name = fresh(m, &m.nodes[node].inputs[k]);
    m.consts.insert(name.clone(), c);
    m.nodes[node].inputs[k] = name;
}

/// The axis of `c` holding `channels` values, for a per-channel vector.
fn channel_axis(c: &Const, channels: usize) -> Option<usize> {
    (c.len() == channels && channels > 1)
        .then(|| c.shape.iter().position(|&d| d == channels))
        .flatten()
}

/// Slices every per-channel constant input of `node` (from input `from` on).
fn slice_vectors(m: &mut OnnxModel, node: usize, from: usize, channels: usize, keep: &[usize]) {
    for k in from..m.nodes[node].inputs.len() {
        let Some(c) = m.consts.get(&m.nodes[node].inputs[k]) else {
            continue;
        };
        if let Some(axis) = channel_axis(c, channels) {
            let c = take(c, axis, keep);
            replace_input(m, node, k, c);
        }
    }
}

/// Removes the producer's output channels not in `keep` and the matching
/// input channels of the consumer and of everything in between.
pub fn remove_channels(
    m: &mut OnnxModel,
    pair: &Pair,
    producer: &Layer,
    consumer: &Layer,
    keep: &[usize],
) -> Result<()> {
    let channels = producer.channels;
    let w = take(&m.consts[&producer.weight], producer.weight_axis, keep);
    replace_input(m, producer.node, 1, w);
    match &producer.bias {
        Bias::Input(Some(_)) => slice_vectors(m, producer.node, 2, channels, keep),
        Bias::Input(None) => {}
        Bias::Add(j, _) => slice_vectors(m, *j, 0, channels, keep),
    }
    for &j in &pair.between {
        match m.nodes[j].op_type.as_str() {
            "Conv" => {
                // Depthwise: one filter [1, kh, kw] per channel, and its bias.
                let w = take(&m.consts[&m.nodes[j].inputs[1]], 0, keep);
                replace_input(m, j, 1, w);
                slice_vectors(m, j, 2, channels, keep);
                m.nodes[j]
                    .attrs
                    .insert("group".into(), Attr::Int(keep.len() as i64));
            }
            "Reshape" => {
                let Some(s) = m.nodes[j].input(1).and_then(|s| m.consts.get(s)) else {
                    continue;
                };
                let mut dims = s.to_i64();
                if let Some(last) = dims.last_mut().filter(|d| **d > 0) {
                    if !(*last as usize).is_multiple_of(channels) {
                        bail!(
                            "node '{}': reshape to {} columns from {channels} channels",
                            m.nodes[j].name,
                            last
                        );
                    }
                    *last = *last / channels as i64 * keep.len() as i64;
                }
                let c = Const {
                    shape: s.shape.clone(),
                    data: Data::I64(dims),
                };
                replace_input(m, j, 1, c);
            }
            _ => slice_vectors(m, j, 1, channels, keep),
        }
    }
    // The consumer's input columns: one per channel on a Conv's axis 1,
    // groups of `per` columns for a fully connected layer.
    let cw = &m.consts[&consumer.weight];
    let k = cw.len() / consumer.channels;
    let per = k / channels;
    let (axis, idx): (usize, Vec<usize>) = if consumer.conv {
        (1, keep.to_vec())
    } else {
        let idx = keep.iter().flat_map(|&c| c * per..(c + 1) * per).collect();
        (1 - consumer.weight_axis, idx)
    };
    let c = take(cw, axis, &idx);
    replace_input(m, consumer.node, 1, c);
    Ok(())
}

/// Gives consumer node `node` the refitted weights and bias `w` ((K + 1) ×
/// outputs, in [`super::moments::Moments`] column order).
pub fn set_consumer(m: &mut OnnxModel, node: usize, w: &DMatrix<f64>) -> Result<()> {
    let Some(mut l) = layers::find(m).into_iter().find(|l| l.node == node) else {
        bail!("internal error: the refitted layer is gone");
    };
    let old = &m.consts[&l.weight];
    let (k, o) = (w.nrows() - 1, w.ncols());
    if old.len() != k * o || o != l.channels {
        bail!(
            "internal error: refit of '{}' is {k}×{o}, its weights {:?}",
            l.name,
            old.shape
        );
    }
    let mut v = vec![0f32; k * o];
    for r in 0..k {
        for c in 0..o {
            let i = if l.weight_axis == 0 {
                c * k + r
            } else {
                r * o + c
            };
            v[i] = w[(r, c)] as f32;
        }
    }
    let c = Const {
        shape: old.shape.clone(),
        data: Data::F32(v),
    };
    replace_input(m, node, 1, c);
    if m.nodes[node].op_type == "Gemm" {
        m.nodes[node].attrs.remove("alpha");
        m.nodes[node].attrs.remove("beta");
    }
    l = layers::find(m)
        .into_iter()
        .find(|x| x.node == node)
        .unwrap_or(l);
    let bias = (0..o).map(|c| w[(k, c)] as f32).collect();
    layers::set_bias(m, &mut l, bias);
    Ok(())
}
