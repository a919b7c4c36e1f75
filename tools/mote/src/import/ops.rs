//! Per-node lowering: layout and quantization nodes are folded into values;
//! compute nodes wait as `Pending` until the QuantizeLinear that fixes their
//! output scale, then become one runtime op.

use anyhow::{anyhow, bail, ensure, Result};
use mote_format::OpKind;

use super::layout::*;
use super::linear::*;
use super::lower::{node_qparams, pending, unsupported, Lowerer};
use super::onnx::{Attr, Const, Data, Node};
use super::pending::*;
use super::values::{Pending, QParams, Val};

pub(super) const NCHW_IN_NHWC: [usize; 4] = [0, 3, 1, 2];

pub(super) fn identity(rank: usize) -> Vec<usize> {
    (0..rank).collect()
}

pub(super) fn val_rank(l: &Lowerer, v: &Val) -> usize {
    match v {
        Val::Act { perm, .. } | Val::FAct { perm, .. } | Val::F32Act { perm, .. } => perm.len(),
        Val::QConst(c, _) | Val::FQConst(c, _) | Val::Const(c) => c.shape.len(),
        Val::QPending(..) | Val::Pending(_) => {
            let _ = l;
            0
        }
    }
}

/// Quantization of a float model output computed by a QLinear op whose
/// bias was folded in: the op's declared range widened by the bias range,
/// so the bias cannot push results into saturation.
pub(super) fn output_quant(p: &Pending) -> (f32, i32) {
    let (s, z) = p.declared.unwrap_or((1.0, 0));
    let bias: Vec<f32> = match &p.bias {
        Some(Val::Const(c)) => c.to_f32(),
        Some(Val::FQConst(c, q)) => {
            let raw = c.to_f32();
            let n = q.scale.len().max(1);
            raw.iter()
                .enumerate()
                .map(|(i, &b)| b * q.scale[i % n])
                .collect()
        }
        _ => Vec::new(),
    };
    if bias.is_empty() {
        return (s, z);
    }
    let bmin = bias.iter().copied().fold(0.0f32, f32::min);
    let bmax = bias.iter().copied().fold(0.0f32, f32::max);
    let lo = (s * (-128 - z) as f32 + bmin).min(0.0);
    let hi = (s * (127 - z) as f32 + bmax).max(0.0);
    let scale = (hi - lo) / 255.0;
    if !(scale.is_finite() && scale > 0.0) {
        return (s, z);
    }
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    (scale, zp)
}

/// Lowers a QLinear op that a consumer needs as an int8 tensor.
pub(super) fn materialize(l: &mut Lowerer, v: Val) -> Result<Val> {
    match v {
        Val::QPending(p, s, z) => lower_pending(l, &p, s, z, &p.node.outputs[0].clone()),
        other => Ok(other),
    }
}

/// A float result with a declared quantization, lowered and seen as float
/// again (for consumers that cannot fuse it).
pub(super) fn settle(l: &mut Lowerer, v: Val) -> Result<Val> {
    match v {
        Val::Pending(p) if p.declared.is_some() => {
            let (s, z) = p.declared.unwrap_or((1.0, 0));
            match lower_pending(l, &p, s, z, &p.node.outputs[0].clone())? {
                Val::Act { t, perm } => Ok(Val::FAct { t, perm }),
                other => Ok(other),
            }
        }
        other => Ok(other),
    }
}

/// Lowers one node, recording its output value.
pub fn lower_node(l: &mut Lowerer, n: &Node) -> Result<()> {
    let out = n
        .outputs
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("node '{}' has no output", n.name))?;
    if !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return Err(unsupported(n));
    }
    for name in n.inputs.iter().filter(|s| !s.is_empty()) {
        // A float result read by several nodes is lowered once, here.
        if l.uses.get(name).copied().unwrap_or(0) > 1 {
            match l.vals.get(name).cloned() {
                Some(v @ Val::QPending(..)) => {
                    let v = materialize(l, v)?;
                    l.vals.insert(name.clone(), v);
                }
                Some(v @ Val::Pending(..)) => {
                    let v = settle(l, v)?;
                    l.vals.insert(name.clone(), v);
                }
                _ => {}
            }
        }
    }
    if n.op_type != "DequantizeLinear" {
        for name in n.inputs.iter().filter(|s| !s.is_empty()) {
            if let Some(v @ Val::QPending(..)) = l.vals.get(name).cloned() {
                let v = materialize(l, v)?;
                l.vals.insert(name.clone(), v);
            }
        }
    }
    // Float results that cannot fuse into this node become int8 tensors.
    let fuses = matches!(
        n.op_type.as_str(),
        "Relu"
            | "Clip"
            | "QuantizeLinear"
            | "Reshape"
            | "Flatten"
            | "Squeeze"
            | "Unsqueeze"
            | "Transpose"
            | "Identity"
    ) || (n.op_type == "Add" && add_folds(l, n)?);
    if !fuses {
        for name in n.inputs.iter().filter(|s| !s.is_empty()) {
            if let Some(v @ Val::Pending(..)) = l.vals.get(name).cloned() {
                let v = settle(l, v)?;
                l.vals.insert(name.clone(), v);
            }
        }
    }
    if super::float::is_float_node(l, n) {
        let v = super::float::lower(l, n)?;
        l.vals.insert(out, v);
        return Ok(());
    }
    let v = match n.op_type.as_str() {
        "Constant" => match n.attrs.get("value") {
            Some(Attr::Tensor(c)) => Val::Const(c.clone()),
            _ => match (n.attrs.get("value_float"), n.attrs.get("value_int")) {
                (Some(Attr::Float(f)), _) => Val::Const(Const {
                    shape: vec![],
                    data: Data::F32(vec![*f]),
                }),
                (_, Some(Attr::Int(i))) => Val::Const(Const {
                    shape: vec![],
                    data: Data::I64(vec![*i]),
                }),
                _ => bail!("Constant node '{}' has no tensor value", n.name),
            },
        },
        "Identity" => l.input(n, 0)?,
        "QuantizeLinear" => quantize(l, n)?,
        "DequantizeLinear" => dequantize(l, n)?,
        "Transpose" => transpose_node(l, n)?,
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => reshape_node(l, n)?,
        "Relu" | "Clip" => activation_node(l, n)?,
        "Add" => add_node(l, n)?,
        "Concat" if concat_of_int8(l, n)? => int8_concat(l, n)?,
        "Conv" | "MatMul" | "Gemm" | "Mul" | "AveragePool" | "MaxPool" | "GlobalAveragePool"
        | "ReduceMean" | "Softmax" | "Sigmoid" | "Tanh" | "Concat" | "Pad" => {
            let ins = (0..n.inputs.len())
                .map(|i| l.opt_input(n, i))
                .collect::<Result<Vec<_>>>()?;
            pending(n, ins)
        }
        "QLinearConv" => qlinear(l, n, true)?,
        "QLinearMatMul" => qlinear(l, n, false)?,
        _ => return Err(unsupported(n)),
    };
    l.vals.insert(out, v);
    Ok(())
}

/// Turns a graph output value into an int8 tensor in logical order.
pub fn finish_output(l: &mut Lowerer, name: &str, v: Val) -> Result<usize> {
    match materialize(l, v)? {
        Val::Act { t, perm } | Val::FAct { t, perm } | Val::F32Act { t, perm } => {
            let id = identity(perm.len());
            l.arrange(name, t, &perm, &id)
        }
        Val::Pending(p) if matches!(p.node.op_type.as_str(), "Softmax" | "Sigmoid" | "Tanh") => {
            // A float tail activation: run it with TFLite's fixed output quantization.
            let (scale, zp) = if p.node.op_type == "Tanh" { (1.0 / 128.0, 0) } else { (1.0 / 256.0, -128) };
            match lower_pending(l, &p, scale, zp, name)? {
                Val::Act { t, perm } => {
                    let id = identity(perm.len());
                    l.arrange(name, t, &perm, &id)
                }
                _ => bail!("output '{name}' could not be lowered"),
            }
        }
        Val::Pending(p) if p.declared.is_some() => {
            let (s, z) = output_quant(&p);
            match lower_pending(l, &p, s, z, name)? {
                Val::Act { t, perm } => {
                    let id = identity(perm.len());
                    l.arrange(name, t, &perm, &id)
                }
                _ => bail!("output '{name}' could not be lowered"),
            }
        }
        Val::Pending(p) => bail!(
            "output '{name}' is a float result of node '{}' ({}); Mote needs it quantized (QuantizeLinear)",
            p.node.name,
            p.node.op_type
        ),
        _ => bail!("output '{name}' is a constant or an unquantized input; nothing to run"),
    }
}

pub(super) fn quantize(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let x = l.input(n, 0)?;
    let rank = val_rank(l, &x);
    let q = node_qparams(l, n, rank)?;
    let per_tensor = |q: &QParams| -> Result<(f32, i32)> {
        ensure!(
            q.scale.len() == 1,
            "node '{}': activations need per-tensor quantization",
            n.name
        );
        Ok((q.scale[0], q.zero_point[0]))
    };
    Ok(match x {
        Val::Pending(p) => {
            let (s, z) = per_tensor(&q)?;
            lower_pending(l, &p, s, z, &n.name)?
        }
        Val::F32Act { t, perm } => {
            let (s, z) = per_tensor(&q)?;
            let shape = l.phys(t);
            let out = l.new_tensor(&n.name, shape, s, z);
            let spec = mote_format::QuantSpec {
                scale: s,
                zero_point: z,
            };
            l.push(&n.name, OpKind::Quantize(spec), vec![t], out, 0);
            Val::Act { t: out, perm }
        }
        Val::FAct { t, perm } if l.g.tensors[t].scale == 0.0 => {
            // A float model input: this QuantizeLinear gives its parameters.
            let (s, z) = per_tensor(&q)?;
            l.set_input_quant(t, s, z);
            Val::Act { t, perm }
        }
        Val::FAct { t, perm } => {
            let (s, z) = per_tensor(&q)?;
            let t = l.requantize_to(&n.name, t, s, z);
            Val::Act { t, perm }
        }
        Val::Const(c) => {
            let f = c.to_f32();
            let data = f
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let (s, z) = if q.scale.len() == 1 {
                        (q.scale[0], q.zero_point[0])
                    } else {
                        let inner: usize = c.shape[q.axis + 1..].iter().product();
                        let ch = (i / inner.max(1)) % c.shape[q.axis];
                        (q.scale[ch], q.zero_point[ch])
                    };
                    ((x / s).round_ties_even() as i32 + z).clamp(-128, 127) as i8
                })
                .collect();
            Val::QConst(
                Const {
                    shape: c.shape.clone(),
                    data: Data::I8(data),
                },
                q,
            )
        }
        Val::FQConst(c, q0) => Val::QConst(c, q0),
        Val::Act { .. } | Val::QConst(..) | Val::QPending(..) => {
            bail!(
                "node '{}': QuantizeLinear of an already quantized value",
                n.name
            )
        }
    })
}

pub(super) fn dequantize(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let x = l.input(n, 0)?;
    let rank = val_rank(l, &x);
    let q = node_qparams(l, n, rank)?;
    Ok(match x {
        Val::QPending(p, s, z) => {
            let mut p = p;
            p.declared = Some((s, z));
            Val::Pending(p)
        }
        Val::Act { t, perm } => {
            ensure!(
                q.scale.len() == 1,
                "node '{}': activations need per-tensor quantization",
                n.name
            );
            let (s, z) = (q.scale[0], q.zero_point[0]);
            let tensor = &l.g.tensors[t];
            if tensor.scale == 0.0 {
                l.set_input_quant(t, s, z);
                Val::FAct { t, perm }
            } else if tensor.scale == s && tensor.zero_point == z {
                Val::FAct { t, perm }
            } else {
                let shape = tensor.shape.clone();
                let v = l.view(&n.name, t, shape);
                l.g.tensors[v].scale = s;
                l.g.tensors[v].zero_point = z;
                Val::FAct { t: v, perm }
            }
        }
        Val::QConst(c, _) | Val::Const(c) => {
            ensure!(
                matches!(c.data, Data::I8(_) | Data::U8(_) | Data::I32(_)),
                "node '{}': DequantizeLinear of a non-integer constant",
                n.name
            );
            Val::FQConst(c, q)
        }
        _ => bail!(
            "node '{}': DequantizeLinear input is not an int8 tensor",
            n.name
        ),
    })
}

pub(super) fn activation_node(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let x = l.input(n, 0)?;
    let (lo, hi) = if n.op_type == "Relu" {
        (0.0, f32::INFINITY)
    } else {
        let get = |i: usize, attr: &str, d: f32| -> Result<f32> {
            match l.opt_input(n, i)? {
                Some(v) => super::lower::const_scalar(&v)
                    .ok_or_else(|| anyhow!("node '{}': Clip bound must be constant", n.name)),
                None => Ok(n.float(attr, d)),
            }
        };
        (
            get(1, "min", f32::NEG_INFINITY)?,
            get(2, "max", f32::INFINITY)?,
        )
    };
    match x {
        Val::Pending(mut p) => {
            p.clamp = (p.clamp.0.max(lo), p.clamp.1.min(hi));
            Ok(Val::Pending(p))
        }
        _ => bail!(
            "node '{}' ({}) must follow a Conv, Gemm, MatMul, Add or Mul to be fused",
            n.name,
            n.op_type
        ),
    }
}

/// True when this Add is a constant bias on a pending Conv/MatMul/Gemm.
pub(super) fn add_folds(l: &Lowerer, n: &Node) -> Result<bool> {
    let a = l.input(n, 0)?;
    let b = l.input(n, 1)?;
    let is_const = |v: &Val| matches!(v, Val::Const(_) | Val::FQConst(..));
    let foldable = |v: &Val| match v {
        Val::Pending(p) => {
            matches!(p.node.op_type.as_str(), "Conv" | "MatMul" | "Gemm")
                && p.bias.is_none()
                && p.post.is_empty()
        }
        _ => false,
    };
    Ok((foldable(&a) && is_const(&b)) || (foldable(&b) && is_const(&a)))
}

pub(super) fn add_node(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let a = l.input(n, 0)?;
    let b = l.input(n, 1)?;
    let is_const = |v: &Val| matches!(v, Val::Const(_) | Val::FQConst(..));
    let foldable = |v: &Val| match v {
        Val::Pending(p) => {
            matches!(p.node.op_type.as_str(), "Conv" | "MatMul" | "Gemm") && p.bias.is_none()
        }
        _ => false,
    };
    match (a, b) {
        (Val::Pending(mut p), c) | (c, Val::Pending(mut p))
            if foldable(&Val::Pending(p.clone())) && is_const(&c) =>
        {
            p.bias = Some(c);
            Ok(Val::Pending(p))
        }
        (a, b) => Ok(pending(n, vec![Some(a), Some(b)])),
    }
}

pub(super) fn concat_of_int8(l: &Lowerer, n: &Node) -> Result<bool> {
    for i in 0..n.inputs.len() {
        if !matches!(l.input(n, i)?, Val::Act { .. }) {
            return Ok(false);
        }
    }
    Ok(!n.inputs.is_empty())
}

/// Concat straight on int8 tensors (tf2onnx emits it without Q/DQ when all
/// inputs share one quantization): the output takes the first input's.
pub(super) fn int8_concat(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let ins: Vec<Option<Val>> = (0..n.inputs.len())
        .map(|i| {
            l.input(n, i).map(|v| match v {
                Val::Act { t, perm } => Some(Val::FAct { t, perm }),
                other => Some(other),
            })
        })
        .collect::<Result<_>>()?;
    let Some(Some(Val::FAct { t, .. })) = ins.first() else {
        bail!("node '{}': Concat without inputs", n.name)
    };
    let (scale, zp) = (l.g.tensors[*t].scale, l.g.tensors[*t].zero_point);
    let p = Pending::new(n, ins);
    lower_pending(l, &p, scale, zp, &n.outputs[0])
}
