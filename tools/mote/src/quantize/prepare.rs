//! Graph preparation before quantization: pass-through nodes removed and
//! BatchNormalization folded into the convolution before it.

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

/// Folds `Mul`/`Add` by a per-channel constant that directly follows a Conv
/// or Gemm (Keras' exported BatchNormalization) into its weights and bias.
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
        let p = &m.nodes[pi];
        let conv = p.op_type == "Conv";
        if !(conv || (p.op_type == "Gemm" && p.int("transB", 0) == 1)) || uses(m, &v) != 1 {
            continue;
        }
        let Some(w) = p.inputs.get(1).and_then(|w| m.consts.get(w)).cloned() else {
            continue;
        };
        let oc = w.shape.first().copied().unwrap_or(0);
        let Some(k) = m
            .consts
            .get(&k_name)
            .and_then(|c| channel_vector(c, oc, conv))
        else {
            continue;
        };
        let mut bias = p
            .input(2)
            .and_then(|b| f32s(m, b))
            .unwrap_or_else(|| vec![0.0; oc]);
        if bias.len() != oc {
            continue;
        }
        let (op, pname, out) = (n.op_type.clone(), p.name.clone(), n.outputs[0].clone());
        let mut wv = w.to_f32();
        if op == "Mul" {
            let per = wv.len() / oc.max(1);
            for (j, x) in wv.iter_mut().enumerate() {
                *x *= k[j / per];
            }
            for (b, kk) in bias.iter_mut().zip(&k) {
                *b *= kk;
            }
        } else {
            for (b, kk) in bias.iter_mut().zip(&k) {
                *b += kk;
            }
        }
        let new_w = format!("{pname}::w{i}");
        let new_b = format!("{pname}::b{i}");
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
        let p = &mut m.nodes[pi];
        p.inputs.truncate(1);
        p.inputs.push(new_w);
        p.inputs.push(new_b);
        p.outputs[0] = out;
        m.nodes.remove(i);
        return true;
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
    // BatchNormalization after a Conv that feeds only it.
    let mut i = 0;
    while i < m.nodes.len() {
        if m.nodes[i].op_type != "BatchNormalization" {
            i += 1;
            continue;
        }
        let bn = m.nodes[i].clone();
        let x = bn.inputs[0].clone();
        let Some(ci) = m
            .nodes
            .iter()
            .position(|n| n.op_type == "Conv" && n.outputs.first() == Some(&x))
        else {
            bail!(
                "node '{}': BatchNormalization must follow a Conv to be folded",
                bn.name
            );
        };
        if uses(m, &x) != 1 {
            bail!(
                "node '{}': the Conv output feeds more than the BatchNormalization",
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
        let conv = m.nodes[ci].clone();
        let wname = conv.inputs.get(1).cloned().unwrap_or_default();
        let Some(w) = m.consts.get(&wname).cloned() else {
            bail!(
                "node '{}': Conv weights must be constant to fold BatchNormalization",
                conv.name
            );
        };
        let oc = w.shape.first().copied().unwrap_or(0);
        if gamma.len() != oc || beta.len() != oc || mean.len() != oc || var.len() != oc {
            bail!(
                "node '{}': BatchNormalization has the wrong channel count",
                bn.name
            );
        }
        let per = w.len() / oc.max(1);
        let factor: Vec<f32> = (0..oc).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
        let wv: Vec<f32> = w
            .to_f32()
            .iter()
            .enumerate()
            .map(|(k, &v)| v * factor[k / per])
            .collect();
        let old_b = conv
            .input(2)
            .and_then(|n| f32s(m, n))
            .unwrap_or_else(|| vec![0.0; oc]);
        let bv: Vec<f32> = (0..oc)
            .map(|c| (old_b[c] - mean[c]) * factor[c] + beta[c])
            .collect();
        let new_w = format!("{}::folded_w", conv.name);
        let new_b = format!("{}::folded_b", conv.name);
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
                data: Data::F32(bv),
            },
        );
        let c = &mut m.nodes[ci];
        c.inputs.truncate(1);
        c.inputs.push(new_w);
        c.inputs.push(new_b);
        c.outputs[0] = bn.outputs[0].clone();
        m.nodes.remove(i);
    }
    Ok(())
}
