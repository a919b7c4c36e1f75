//! Which layers can lose output channels: the path from a Conv or fully
//! connected layer's output, through per-channel ops only, to the single
//! Conv or fully connected layer that reads it.

use super::super::layers::Layer;
use crate::import::onnx::{Node, OnnxModel};

/// A layer whose output channels can be removed, and the layer reading them.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Node index of the layer losing output channels.
    pub producer: usize,
    /// Node index of the Conv or fully connected layer losing input channels.
    pub consumer: usize,
    /// Node indices of the per-channel ops in between, in order.
    pub between: Vec<usize>,
}

/// Elementwise ops that keep every channel to itself.
const ELEMENTWISE: &[&str] = &[
    "Relu",
    "Clip",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Elu",
    "Selu",
    "Softplus",
    "Identity",
    "Dropout",
];

/// Ops over the spatial axes of an NCHW tensor, channel by channel.
const POOLING: &[&str] = &[
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
];

fn describe(n: &Node) -> String {
    format!("{} '{}'", n.op_type, n.name)
}

/// True when the constant operand of a binary op is a scalar or one value
/// per channel.
fn per_channel_const(m: &OnnxModel, n: &Node, data: &str, channels: usize) -> bool {
    if n.inputs.len() != 2 {
        return false;
    }
    let other = if n.inputs[0] == data {
        &n.inputs[1]
    } else {
        &n.inputs[0]
    };
    m.consts.get(other).is_some_and(|c| {
        let long = c.shape.iter().filter(|&&d| d != 1).count();
        c.len() == 1 || (c.len() == channels && long == 1)
    })
}

/// Follows `layer`'s output to the layer that reads it. `Err` says, for the
/// user, why the layer's channels must stay.
pub fn follow(m: &OnnxModel, layer: &Layer, all: &[Layer]) -> Result<Pair, String> {
    let p = &m.nodes[layer.node];
    if p.op_type == "Conv" && p.int("group", 1) != 1 {
        return Err("a grouped or depthwise Conv: its channels are its input's".into());
    }
    if layer.channels < 2 {
        return Err("it has a single output channel".into());
    }
    let mut between = Vec::new();
    let mut flattened = false;
    let mut v = layer.output.clone();
    for _ in 0..m.nodes.len() {
        if m.outputs.iter().any(|o| o.name == v) {
            return Err(format!("its output '{v}' is a graph output"));
        }
        let users: Vec<usize> = (0..m.nodes.len())
            .filter(|&j| m.nodes[j].inputs.contains(&v))
            .collect();
        let [u] = users[..] else {
            let names: Vec<String> = users.iter().map(|&j| describe(&m.nodes[j])).collect();
            return Err(format!(
                "its output '{v}' is read by {} nodes ({}), e.g. a residual branch",
                users.len(),
                names.join(", ")
            ));
        };
        let n = &m.nodes[u];
        if n.inputs.first() != Some(&v) && !matches!(n.op_type.as_str(), "Mul" | "Add") {
            return Err(format!("its output is an operand of {}", describe(n)));
        }
        if let Some(l) = all.iter().find(|l| l.node == u) {
            match n.op_type.as_str() {
                "Conv" if flattened => {
                    return Err(format!("{} reads it after a reshape", describe(n)))
                }
                "Conv" if n.int("group", 1) == 1 => {
                    return Ok(Pair {
                        producer: layer.node,
                        consumer: u,
                        between,
                    })
                }
                "Conv"
                    if n.int("group", 1) as usize == layer.channels
                        && l.channels == layer.channels =>
                {
                    between.push(u);
                    v = l.output.clone();
                    continue;
                }
                "Conv" => return Err(format!("it feeds the grouped {}", describe(n))),
                _ if layer.conv && !flattened => {
                    return Err(format!(
                        "{} reads the unflattened convolution output",
                        describe(n)
                    ))
                }
                _ => {
                    return Ok(Pair {
                        producer: layer.node,
                        consumer: u,
                        between,
                    })
                }
            }
        }
        let op = n.op_type.as_str();
        let passes = ELEMENTWISE.contains(&op)
            || (POOLING.contains(&op) && layer.conv && !flattened)
            || (op == "BatchNormalization" && !flattened)
            || (matches!(op, "Mul" | "Add" | "Sub" | "Div")
                && !flattened
                && per_channel_const(m, n, &v, layer.channels));
        let flattens = match op {
            "Flatten" => n.int("axis", 1) == 1,
            "Reshape" => n
                .input(1)
                .and_then(|s| m.consts.get(s))
                .is_some_and(|s| s.len() == 2 && s.to_i64().first().is_some_and(|&d| d <= 1)),
            "Squeeze" => true,
            _ => false,
        };
        if !passes && !flattens {
            let why = match op {
                "Add" | "Sum" => "a residual Add",
                "Concat" => "a Concat",
                "Conv" | "Gemm" | "MatMul" => "a layer kept in float or without constant weights",
                _ => "an op that does not keep channels apart",
            };
            return Err(format!("its output feeds {why}: {}", describe(n)));
        }
        flattened |= flattens;
        between.push(u);
        v = n.outputs[0].clone();
    }
    Err("its output path does not end".into())
}
