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
    m.nodes.iter().flat_map(|n| n.inputs.iter()).filter(|i| *i == value).count()
        + m.outputs.iter().filter(|o| o.name == value).count()
}

fn f32s(m: &OnnxModel, name: &str) -> Option<Vec<f32>> {
    m.consts.get(name).map(Const::to_f32)
}

/// Removes Identity/Dropout and folds Conv → BatchNormalization.
pub fn prepare(m: &mut OnnxModel) -> Result<()> {
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
        let Some(ci) = m.nodes.iter().position(|n| n.op_type == "Conv" && n.outputs.first() == Some(&x)) else {
            bail!("node '{}': BatchNormalization must follow a Conv to be folded", bn.name);
        };
        if uses(m, &x) != 1 {
            bail!("node '{}': the Conv output feeds more than the BatchNormalization", bn.name);
        }
        let get = |k: usize| bn.input(k).and_then(|n| f32s(m, n));
        let (Some(gamma), Some(beta), Some(mean), Some(var)) = (get(1), get(2), get(3), get(4)) else {
            bail!("node '{}': BatchNormalization parameters must be constant", bn.name);
        };
        let eps = bn.float("epsilon", 1e-5);
        let conv = m.nodes[ci].clone();
        let wname = conv.inputs.get(1).cloned().unwrap_or_default();
        let Some(w) = m.consts.get(&wname).cloned() else {
            bail!("node '{}': Conv weights must be constant to fold BatchNormalization", conv.name);
        };
        let oc = w.shape.first().copied().unwrap_or(0);
        if gamma.len() != oc || beta.len() != oc || mean.len() != oc || var.len() != oc {
            bail!("node '{}': BatchNormalization has the wrong channel count", bn.name);
        }
        let per = w.len() / oc.max(1);
        let factor: Vec<f32> = (0..oc).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
        let wv: Vec<f32> = w.to_f32().iter().enumerate().map(|(k, &v)| v * factor[k / per]).collect();
        let old_b = conv.input(2).and_then(|n| f32s(m, n)).unwrap_or_else(|| vec![0.0; oc]);
        let bv: Vec<f32> = (0..oc).map(|c| (old_b[c] - mean[c]) * factor[c] + beta[c]).collect();
        let new_w = format!("{}::folded_w", conv.name);
        let new_b = format!("{}::folded_b", conv.name);
        m.consts.insert(new_w.clone(), Const { shape: w.shape.clone(), data: Data::F32(wv) });
        m.consts.insert(new_b.clone(), Const { shape: vec![oc], data: Data::F32(bv) });
        let c = &mut m.nodes[ci];
        c.inputs.truncate(1);
        c.inputs.push(new_w);
        c.inputs.push(new_b);
        c.outputs[0] = bn.outputs[0].clone();
        m.nodes.remove(i);
    }
    Ok(())
}
