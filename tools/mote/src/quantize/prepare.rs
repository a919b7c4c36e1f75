//! Graph preparation before quantization: pass-through nodes removed and
//! BatchNormalization (and Keras' Mul/Add form of it) folded into the
//! convolution or fully connected layer before it.

use anyhow::{bail, Result};

use crate::import::onnx::{Const, Data, OnnxModel};

/// Replaces every read of value `old` (node inputs, graph outputs) by `new`.
pub fn rename_uses(m: &mut OnnxModel, old: &str, new: &str) {
    for n in &mut m.nodes {
        for i in &mut n.inputs {
            if i == old {
                *i = new.to_string();
            }
        }
    }
    for o in &mut m.outputs {
        if o.name == old {
            o.name = new.to_string();
        }
    }
}

fn uses(m: &OnnxModel, value: &str) -> usize {
    m.nodes
        .iter()
        .flat_map(|n| n.inputs.iter())
        .filter(|i| *i == value)
        .count()
        + m.outputs.iter().filter(|o| o.name == value).count()
}

fn f32s(m: &OnnxModel, name: &str) -> Option<Vec<f32>> {
    m.consts.get(name).map(Const::to_f32)
}

/// Per-channel values of a constant that broadcasts along the channel axis
/// of a Conv output (NCHW: `[C,1,1]`, `[1,C,1,1]`) or a Gemm output
/// (`[C]`, `[1,C]`); a scalar applies to every channel.
fn channel_vector(c: &Const, channels: usize, conv: bool) -> Option<Vec<f32>> {
    let v = c.to_f32();
    if v.len() == 1 {
        return Some(vec![v[0]; channels]);
    }
    if v.len() != channels {
        return None;
    }
    let long: Vec<usize> = (0..c.shape.len()).filter(|&i| c.shape[i] != 1).collect();
    let from_end = c.shape.len() - long.first().copied().unwrap_or(0);
    let ok = if conv { from_end == 3 } else { from_end == 1 };
    ok.then_some(v)
}

/// Where a linear op keeps its output channels: (channels, weights' channel
/// axis) for Conv (OIHW, axis 0), Gemm with transB (axis 0), and Gemm or
/// MatMul with [K, N] weights (axis 1). `None` for anything else.
fn linear_channels(m: &OnnxModel, pi: usize) -> Option<(usize, usize)> {
    let p = &m.nodes[pi];
    let w = p.inputs.get(1).and_then(|w| m.consts.get(w))?;
    match p.op_type.as_str() {
        "Conv" => Some((*w.shape.first()?, 0)),
        "Gemm" if p.int("transB", 0) == 1 && w.shape.len() == 2 => Some((w.shape[0], 0)),
        "Gemm" | "MatMul" if w.shape.len() == 2 => Some((w.shape[1], 1)),
        _ => None,
    }
}

/// Replaces the linear op `pi`'s weights W and bias b by W·k and b·k + shift
/// per output channel (MatMul becomes a Gemm to carry the bias), and makes it
/// produce `out`.
fn apply_affine(m: &mut OnnxModel, pi: usize, k: &[f32], shift: &[f32], out: &str) -> bool {
    let Some((oc, axis)) = linear_channels(m, pi) else {
        return false;
    };
    let p = m.nodes[pi].clone();
    let Some(w) = p.inputs.get(1).and_then(|w| m.consts.get(w)).cloned() else {
        return false;
    };
    let mut bias = p
        .input(2)
        .and_then(|b| f32s(m, b))
        .unwrap_or_else(|| vec![0.0; oc]);
    if bias.len() != oc || k.len() != oc || shift.len() != oc {
        return false;
    }
    let mut wv = w.to_f32();
    let per = wv.len() / oc.max(1);
    for (j, x) in wv.iter_mut().enumerate() {
        let c = if axis == 0 { j / per.max(1) } else { j % oc };
        *x *= k[c];
    }
    for ((b, kk), sh) in bias.iter_mut().zip(k).zip(shift) {
        *b = *b * kk + sh;
    }
    let tag = m.consts.len();
    let (new_w, new_b) = (format!("{}::w{tag}", p.name), format!("{}::b{tag}", p.name));
    m.consts.insert(
        new_w.clone(),
        Const {
            shape: w.shape.clone(),
            data: Data::F32(wv),
        },
    );
    m.consts.insert(
        new_b.clone(),
        Const {
            shape: vec![oc],
            data: Data::F32(bias),
        },
    );
    let node = &mut m.nodes[pi];
    if node.op_type == "MatMul" {
        node.op_type = "Gemm".into();
    }
    node.inputs.truncate(1);
    node.inputs.push(new_w);
    node.inputs.push(new_b);
    node.outputs[0] = out.to_string();
    true
}

/// Folds `Mul`/`Add` by a per-channel constant that directly follows a Conv,
/// Gemm or MatMul (Keras' exported BatchNormalization) into its weights and bias.
fn fold_affine(m: &mut OnnxModel) -> bool {
    for i in 0..m.nodes.len() {
        let n = &m.nodes[i];
        if !matches!(n.op_type.as_str(), "Mul" | "Add") || n.inputs.len() != 2 {
            continue;
        }
        let (k_name, v) = if m.consts.contains_key(&n.inputs[1]) {
            (n.inputs[1].clone(), n.inputs[0].clone())
        } else if m.consts.contains_key(&n.inputs[0]) {
            (n.inputs[0].clone(), n.inputs[1].clone())
        } else {
            continue;
        };
        let Some(pi) = m.nodes.iter().position(|p| p.outputs.first() == Some(&v)) else {
            continue;
        };
        let Some((oc, _)) = linear_channels(m, pi) else {
            continue;
        };
        if uses(m, &v) != 1 {
            continue;
        }
        let conv = m.nodes[pi].op_type == "Conv";
        let Some(vals) = m
            .consts
            .get(&k_name)
            .and_then(|c| channel_vector(c, oc, conv))
        else {
            continue;
        };
        let (op, out) = (n.op_type.clone(), n.outputs[0].clone());
        let (k, shift) = if op == "Mul" {
            (vals, vec![0.0; oc])
        } else {
            (vec![1.0; oc], vals)
        };
        if apply_affine(m, pi, &k, &shift, &out) {
            m.nodes.remove(i);
            return true;
        }
    }
    false
}

/// Removes Identity/Dropout, folds Conv → BatchNormalization and per-channel
/// Mul/Add after Conv or Gemm.
pub fn prepare(m: &mut OnnxModel) -> Result<()> {
    while fold_affine(m) {}
    // Pass-through nodes.
    let mut i = 0;
    while i < m.nodes.len() {
        let n = &m.nodes[i];
        if matches!(n.op_type.as_str(), "Identity" | "Dropout") && !n.inputs.is_empty() {
            let (from, to) = (n.outputs[0].clone(), n.inputs[0].clone());
            m.nodes.remove(i);
            rename_uses(m, &from, &to);
        } else {
            i += 1;
        }
    }
    // BatchNormalization after a Conv, Gemm or MatMul that feeds only it.
    let mut i = 0;
    while i < m.nodes.len() {
        if m.nodes[i].op_type != "BatchNormalization" {
            i += 1;
            continue;
        }
        let bn = m.nodes[i].clone();
        let x = bn.inputs[0].clone();
        let producer = m.nodes.iter().position(|n| n.outputs.first() == Some(&x));
        let Some(pi) = producer.filter(|&pi| linear_channels(m, pi).is_some()) else {
            bail!(
                "node '{}': BatchNormalization must follow a Conv, Gemm or MatMul to be folded",
                bn.name
            );
        };
        if uses(m, &x) != 1 {
            bail!(
                "node '{}': the layer before it feeds more than the BatchNormalization",
                bn.name
            );
        }
        let get = |k: usize| bn.input(k).and_then(|n| f32s(m, n));
        let (Some(gamma), Some(beta), Some(mean), Some(var)) = (get(1), get(2), get(3), get(4))
        else {
            bail!(
                "node '{}': BatchNormalization parameters must be constant",
                bn.name
            );
        };
        let eps = bn.float("epsilon", 1e-5);
        let k: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + eps).sqrt())
            .collect();
        let shift: Vec<f32> = beta
            .iter()
            .zip(&mean)
            .zip(&k)
            .map(|((b, mu), kk)| b - mu * kk)
            .collect();
        if !apply_affine(m, pi, &k, &shift, &bn.outputs[0]) {
            bail!(
                "node '{}': BatchNormalization has the wrong channel count",
                bn.name
            );
        }
        m.nodes.remove(i);
    }
    Ok(())
}
