//! Turns a float ONNX graph into a QDQ graph: int8 per-channel weights, and
//! QuantizeLinear → DequantizeLinear pairs after the activations that TFLite
//! would quantize, with calibrated parameters. The QDQ importer then lowers
//! it like any quantized model.

use std::collections::HashMap;

use anyhow::{bail, Result};

use crate::import::onnx::{Attr, Const, Data, Node, OnnxModel};

/// What quantization an activation value receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// Its own calibrated range.
    Calibrated,
    /// Fixed parameters (softmax, logistic, tanh outputs).
    Fixed(f32, i32),
    /// The same parameters as another value (pooling, padding).
    SameAs(String),
}

fn consumers<'a>(m: &'a OnnxModel, value: &str) -> Vec<&'a Node> {
    m.nodes
        .iter()
        .filter(|n| n.inputs.iter().any(|i| i == value))
        .collect()
}

fn is_graph_output(m: &OnnxModel, value: &str) -> bool {
    m.outputs.iter().any(|o| o.name == value)
}

fn is_const(m: &OnnxModel, value: &str) -> bool {
    m.consts.contains_key(value)
}

/// The values to quantize and how. Outputs fused into their single consumer
/// (Conv → Relu, MatMul → bias Add) and layout-only ops get none.
pub fn quant_points(m: &OnnxModel) -> Result<Vec<(String, Role)>> {
    let mut points = Vec::new();
    for i in &m.inputs {
        points.push((i.name.clone(), Role::Calibrated));
    }
    for n in &m.nodes {
        let Some(out) = n.outputs.first() else {
            continue;
        };
        let users = consumers(m, out);
        let sole = if users.len() == 1 && !is_graph_output(m, out) {
            Some(users[0])
        } else {
            None
        };
        let fused_act = sole.is_some_and(|u| matches!(u.op_type.as_str(), "Relu" | "Clip"));
        let bias_add =
            sole.is_some_and(|u| u.op_type == "Add" && u.inputs.iter().any(|i| is_const(m, i)));
        let role = match n.op_type.as_str() {
            "Conv" | "Gemm" | "MatMul" if fused_act || bias_add => None,
            "Add" | "Mul" if fused_act => None,
            "Conv" | "Gemm" | "MatMul" | "Add" | "Mul" | "Relu" | "Clip" | "Concat"
            | "ReduceMean" => Some(Role::Calibrated),
            "Softmax" | "Sigmoid" => Some(Role::Fixed(1.0 / 256.0, -128)),
            "Tanh" => Some(Role::Fixed(1.0 / 128.0, 0)),
            "MaxPool" | "AveragePool" | "GlobalAveragePool" | "Pad" => {
                Some(Role::SameAs(n.inputs[0].clone()))
            }
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Transpose" | "Constant" => None,
            _ => bail!(
                "unsupported op: node '{}' is {}; Mote quantizes {}",
                n.name,
                n.op_type,
                crate::import::SUPPORTED.join(", ")
            ),
        };
        if let Some(r) = role {
            points.push((out.clone(), r));
        }
    }
    Ok(points)
}

fn scalar_f32(v: f32) -> Const {
    Const {
        shape: vec![],
        data: Data::F32(vec![v]),
    }
}

fn scalar_i8(v: i32) -> Const {
    Const {
        shape: vec![],
        data: Data::I8(vec![v as i8]),
    }
}

fn node(
    name: String,
    op: &str,
    inputs: Vec<String>,
    output: String,
    attrs: HashMap<String, Attr>,
) -> Node {
    Node {
        name,
        op_type: op.into(),
        domain: String::new(),
        inputs,
        outputs: vec![output],
        attrs,
    }
}

/// Symmetric per-channel int8 quantization of `w` along `axis`, with the
/// scales `fixed` when given (chosen by rounding optimisation), else
/// max|w| / 127 per channel.
pub(crate) fn quantize_weights(
    w: &Const,
    axis: usize,
    fixed: Option<&Const>,
) -> Result<(Const, Vec<f32>)> {
    let v = w.to_f32();
    if v.iter().any(|x| !x.is_finite()) {
        bail!("weights contain NaN or infinite values");
    }
    let ch = w.shape[axis];
    let inner: usize = w.shape[axis + 1..].iter().product();
    let mut maxabs = vec![0f32; ch];
    for (i, &x) in v.iter().enumerate() {
        let c = (i / inner) % ch;
        maxabs[c] = maxabs[c].max(x.abs());
    }
    let scales: Vec<f32> = match fixed.map(Const::to_f32) {
        Some(f) if f.len() == ch => f,
        _ => maxabs
            .iter()
            .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
            .collect(),
    };
    let q: Vec<i8> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| (x / scales[(i / inner) % ch]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    Ok((
        Const {
            shape: w.shape.clone(),
            data: Data::I8(q),
        },
        scales,
    ))
}

/// Fixes the per-channel scale of every weighted layer's weights at
/// max|w| / `qmax` (as a `<weight>::scale` constant, which
/// [`quantize_weights`] then uses), so they quantize onto the symmetric grid
/// `-qmax..=qmax`: 7 for int4 weights. Layers whose scale is already fixed
/// (by rounding optimisation) keep it.
pub fn fix_weight_grid(m: &mut OnnxModel, qmax: f32) {
    for l in super::layers::find(m) {
        let name = super::rounding::scale_name(&l.weight);
        if m.consts.contains_key(&name) {
            continue;
        }
        let w = &m.consts[&l.weight];
        let v = w.to_f32();
        let ch = w.shape[l.weight_axis];
        let inner: usize = w.shape[l.weight_axis + 1..].iter().product();
        let mut maxabs = vec![0f32; ch];
        for (i, &x) in v.iter().enumerate() {
            let c = (i / inner) % ch;
            maxabs[c] = maxabs[c].max(x.abs());
        }
        let scales = maxabs
            .iter()
            .map(|&m| if m > 0.0 { m / qmax } else { 1.0 })
            .collect();
        m.consts.insert(
            name,
            Const {
                shape: vec![ch],
                data: Data::F32(scales),
            },
        );
    }
}

/// Rewrites `m` in place into QDQ form with the given activation parameters.
pub fn to_qdq(m: &mut OnnxModel, params: &HashMap<String, (f32, i32)>) -> Result<()> {
    // Weights: int8 initializer + DequantizeLinear (per output channel).
    let mut weight_nodes = Vec::new();
    for n in m.nodes.iter_mut() {
        if matches!(n.attrs.get(crate::import::KEEP_FLOAT), Some(Attr::Int(1))) {
            continue;
        }
        let axis = match n.op_type.as_str() {
            "Conv" => 0,
            "Gemm" if n.int("transB", 0) != 0 => 0,
            "Gemm" | "MatMul" => 1,
            _ => continue,
        };
        let Some(wname) = n.inputs.get(1).cloned() else {
            continue;
        };
        let Some(w) = m.consts.get(&wname).cloned() else {
            continue;
        };
        if matches!(w.data, Data::I8(_) | Data::U8(_)) {
            continue;
        }
        if n.op_type != "Conv" && w.shape.len() != 2 {
            bail!(
                "node '{}': only 2-D MatMul/Gemm weights are supported",
                n.name
            );
        }
        let fixed = m.consts.get(&super::rounding::scale_name(&wname));
        let (q, scales) = quantize_weights(&w, axis, fixed)
            .map_err(|e| anyhow::anyhow!("node '{}': {e}", n.name))?;
        let base = format!("{}::w", n.name);
        let ch = scales.len();
        m.consts.insert(format!("{base}_q"), q);
        m.consts.insert(
            format!("{base}_scale"),
            Const {
                shape: vec![ch],
                data: Data::F32(scales),
            },
        );
        m.consts.insert(
            format!("{base}_zp"),
            Const {
                shape: vec![ch],
                data: Data::I8(vec![0; ch]),
            },
        );
        let mut attrs = HashMap::new();
        attrs.insert("axis".to_string(), Attr::Int(axis as i64));
        weight_nodes.push(node(
            format!("{base}_dq"),
            "DequantizeLinear",
            vec![
                format!("{base}_q"),
                format!("{base}_scale"),
                format!("{base}_zp"),
            ],
            format!("{base}_dq"),
            attrs,
        ));
        n.inputs[1] = format!("{base}_dq");
    }
    // Activations: Q -> DQ right after the producer (or first, for inputs).
    let mut nodes = weight_nodes;
    let pairs = |nodes: &mut Vec<Node>, m_consts: &mut HashMap<String, Const>, value: &str| {
        let Some(&(scale, zp)) = params.get(value) else {
            return;
        };
        m_consts.insert(format!("{value}::scale"), scalar_f32(scale));
        m_consts.insert(format!("{value}::zp"), scalar_i8(zp));
        let qi = vec![
            value.to_string(),
            format!("{value}::scale"),
            format!("{value}::zp"),
        ];
        nodes.push(node(
            value.to_string(),
            "QuantizeLinear",
            qi,
            format!("{value}::q"),
            HashMap::new(),
        ));
        let di = vec![
            format!("{value}::q"),
            format!("{value}::scale"),
            format!("{value}::zp"),
        ];
        nodes.push(node(
            format!("{value}::dequantize"),
            "DequantizeLinear",
            di,
            format!("{value}::dq"),
            HashMap::new(),
        ));
    };
    let mut consts = std::mem::take(&mut m.consts);
    for i in m.inputs.clone() {
        pairs(&mut nodes, &mut consts, &i.name);
    }
    for n in m.nodes.clone() {
        let out = n.outputs.first().cloned();
        nodes.push(n);
        if let Some(o) = out {
            pairs(&mut nodes, &mut consts, &o);
        }
    }
    m.consts = consts;
    // Readers of a quantized value read its dequantized copy.
    for value in params.keys() {
        let dq = format!("{value}::dq");
        for n in nodes.iter_mut() {
            if n.op_type == "QuantizeLinear" && n.inputs[0] == *value {
                continue;
            }
            for i in n.inputs.iter_mut() {
                if i == value {
                    *i = dq.clone();
                }
            }
        }
        for o in m.outputs.iter_mut() {
            if o.name == *value {
                o.name = dq.clone();
            }
        }
    }
    m.nodes = nodes;
    Ok(())
}
