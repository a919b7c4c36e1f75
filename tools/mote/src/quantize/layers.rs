//! The weighted layers of a prepared float graph (Conv, depthwise Conv,
//! Gemm, and MatMul followed by a bias Add) with where their weights, bias
//! and output channels are: what bias correction and pruning work on.

use crate::import::onnx::{Attr, Const, Data, OnnxModel};

/// Where a layer's bias lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Bias {
    /// Input 2 of the node (Conv, Gemm); `None` when absent.
    Input(Option<String>),
    /// The constant operand of the bias Add node at this index.
    Add(usize, String),
}

/// One weighted layer.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Index of the node in `m.nodes`.
    pub node: usize,
    /// ONNX node name.
    pub name: String,
    /// Name of the float weight constant.
    pub weight: String,
    /// Axis of the weights that holds the output channels.
    pub weight_axis: usize,
    /// Output channels.
    pub channels: usize,
    /// Where the bias is.
    pub bias: Bias,
    /// The value holding the layer's output before its activation (after
    /// its bias).
    pub output: String,
    /// A Conv (output channels on axis 1); otherwise fully connected
    /// (channels on the last axis).
    pub conv: bool,
    /// The clamp of a Relu or Clip that alone follows the output, if any:
    /// only values inside it reach the next layer.
    pub clamp: Option<(f32, f32)>,
}

/// The range of a Relu or Clip that is the only reader of `value`.
fn clamp_after(m: &OnnxModel, value: &str) -> Option<(f32, f32)> {
    let users: Vec<&crate::import::onnx::Node> = m
        .nodes
        .iter()
        .filter(|n| n.inputs.iter().any(|i| i == value))
        .collect();
    let [u] = users[..] else { return None };
    let scalar = |k: usize| {
        u.input(k)
            .and_then(|n| m.consts.get(n))
            .and_then(|c| c.to_f32().first().copied())
    };
    match u.op_type.as_str() {
        "Relu" => Some((0.0, f32::INFINITY)),
        "Clip" => Some((
            scalar(1).unwrap_or(u.float("min", f32::NEG_INFINITY)),
            scalar(2).unwrap_or(u.float("max", f32::INFINITY)),
        )),
        _ => None,
    }
}

fn is_kept_float(m: &OnnxModel, i: usize) -> bool {
    matches!(
        m.nodes[i].attrs.get(crate::import::KEEP_FLOAT),
        Some(Attr::Int(1))
    )
}

/// The weighted layers of `m`, in graph (execution) order. Layers kept in
/// float, weights that are not float constants, and MatMuls without a bias
/// Add are left out.
pub fn find(m: &OnnxModel) -> Vec<Layer> {
    let mut out = Vec::new();
    for (i, n) in m.nodes.iter().enumerate() {
        if is_kept_float(m, i) {
            continue;
        }
        let Some(w) = n.input(1).and_then(|w| m.consts.get(w).map(|c| (w, c))) else {
            continue;
        };
        if !matches!(w.1.data, Data::F32(_)) {
            continue;
        }
        let (axis, channels) = match n.op_type.as_str() {
            "Conv" if w.1.shape.len() >= 3 => (0, w.1.shape[0]),
            "Gemm" if w.1.shape.len() == 2 && n.int("transA", 0) == 0 => {
                if n.int("transB", 0) != 0 {
                    (0, w.1.shape[0])
                } else {
                    (1, w.1.shape[1])
                }
            }
            "MatMul" if w.1.shape.len() == 2 => (1, w.1.shape[1]),
            _ => continue,
        };
        let (bias, output) = if n.op_type == "MatMul" {
            let Some(o) = n.outputs.first() else { continue };
            let users: Vec<usize> = (0..m.nodes.len())
                .filter(|&j| m.nodes[j].inputs.contains(o))
                .collect();
            let Some((j, b)) = users.first().and_then(|&j| {
                let a = &m.nodes[j];
                let other = a.inputs.iter().find(|x| *x != o)?;
                let c = m.consts.get(other)?;
                (users.len() == 1 && a.op_type == "Add" && c.len() == channels)
                    .then(|| (j, other.clone()))
            }) else {
                continue;
            };
            (Bias::Add(j, b), m.nodes[j].outputs[0].clone())
        } else {
            (
                Bias::Input(n.input(2).map(str::to_string)),
                n.outputs[0].clone(),
            )
        };
        let clamp = clamp_after(m, &output);
        out.push(Layer {
            node: i,
            name: n.name.clone(),
            weight: w.0.to_string(),
            weight_axis: axis,
            channels,
            bias,
            output,
            conv: n.op_type == "Conv",
            clamp,
        });
    }
    out
}

/// The layer's float bias (zeros when it has none).
pub fn bias(m: &OnnxModel, l: &Layer) -> Vec<f32> {
    let name = match &l.bias {
        Bias::Input(Some(b)) | Bias::Add(_, b) => Some(b),
        Bias::Input(None) => None,
    };
    name.and_then(|b| m.consts.get(b))
        .map(Const::to_f32)
        .filter(|v| v.len() == l.channels)
        .unwrap_or_else(|| vec![0.0; l.channels])
}

/// Gives the layer the float bias `b` in a new constant of its own (a bias
/// constant may be shared), creating the bias input when it had none.
pub fn set_bias(m: &mut OnnxModel, l: &mut Layer, b: Vec<f32>) {
    let name = format!("{}::bias_corrected", l.name);
    let shape = match &l.bias {
        Bias::Add(_, old) => m
            .consts
            .get(old)
            .map(|c| c.shape.clone())
            .unwrap_or_else(|| vec![b.len()]),
        Bias::Input(_) => vec![b.len()],
    };
    m.consts.insert(
        name.clone(),
        Const {
            shape,
            data: Data::F32(b),
        },
    );
    match &l.bias {
        Bias::Input(_) => {
            let inputs = &mut m.nodes[l.node].inputs;
            inputs.resize(inputs.len().max(3), String::new());
            inputs[2] = name.clone();
            l.bias = Bias::Input(Some(name));
        }
        Bias::Add(j, old) => {
            let j = *j;
            for i in m.nodes[j].inputs.iter_mut() {
                if i == old {
                    *i = name.clone();
                }
            }
            l.bias = Bias::Add(j, name);
        }
    }
}
