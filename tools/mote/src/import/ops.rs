//! Per-node lowering: layout and quantization nodes are folded into values;
//! compute nodes wait as `Pending` until the QuantizeLinear that fixes their
//! output scale, then become one runtime op.

use anyhow::{anyhow, bail, ensure, Result};
use mote_format::{
    AddSpec, ConvSpec, FcSpec, LutActSpec, MeanSpec, MulSpec, OpKind, PoolSpec, SoftmaxSpec,
};

use super::lower::{node_qparams, pending, transpose, unsupported, Lowerer};
use super::onnx::{Attr, Const, Data, Node};
use super::values::{Pending, QParams, Val};
use crate::qparams as qp;

pub(super) const NCHW_IN_NHWC: [usize; 4] = [0, 3, 1, 2];

pub(super) fn identity(rank: usize) -> Vec<usize> {
    (0..rank).collect()
}

fn val_rank(l: &Lowerer, v: &Val) -> usize {
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
fn output_quant(p: &Pending) -> (f32, i32) {
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
fn materialize(l: &mut Lowerer, v: Val) -> Result<Val> {
    match v {
        Val::QPending(p, s, z) => lower_pending(l, &p, s, z, &p.node.outputs[0].clone()),
        other => Ok(other),
    }
}

/// A float result with a declared quantization, lowered and seen as float
/// again (for consumers that cannot fuse it).
fn settle(l: &mut Lowerer, v: Val) -> Result<Val> {
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

fn quantize(l: &mut Lowerer, n: &Node) -> Result<Val> {
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

fn dequantize(l: &mut Lowerer, n: &Node) -> Result<Val> {
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

fn perm_attr(n: &Node, rank: usize) -> Result<Vec<usize>> {
    let p: Vec<usize> = match n.ints("perm") {
        Some(p) => p.iter().map(|&x| x as usize).collect(),
        None => (0..rank).rev().collect(),
    };
    let mut seen = vec![false; rank];
    ensure!(
        p.len() == rank,
        "node '{}': perm has {} entries for rank {rank}",
        n.name,
        p.len()
    );
    for &x in &p {
        ensure!(
            x < rank && !seen[x],
            "node '{}': perm {p:?} is not a permutation",
            n.name
        );
        seen[x] = true;
    }
    Ok(p)
}

fn transpose_node(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let x = l.input(n, 0)?;
    transpose_val(l, n, x)
}

fn transpose_val(l: &mut Lowerer, n: &Node, x: Val) -> Result<Val> {
    if let Val::Pending(mut p) = x {
        p.post.push(n.clone());
        return Ok(Val::Pending(p));
    }
    let p = perm_attr(n, val_rank(l, &x))?;
    Ok(match x {
        Val::Act { t, perm } => Val::Act {
            t,
            perm: p.iter().map(|&i| perm[i]).collect(),
        },
        Val::FAct { t, perm } => Val::FAct {
            t,
            perm: p.iter().map(|&i| perm[i]).collect(),
        },
        Val::F32Act { t, perm } => Val::F32Act {
            t,
            perm: p.iter().map(|&i| perm[i]).collect(),
        },
        Val::Const(c) => Val::Const(transpose(&c, &p)),
        Val::QConst(c, q) => {
            let axis = p.iter().position(|&i| i == q.axis).unwrap_or(0);
            Val::QConst(transpose(&c, &p), QParams { axis, ..q })
        }
        Val::FQConst(c, q) => {
            let axis = p.iter().position(|&i| i == q.axis).unwrap_or(0);
            Val::FQConst(transpose(&c, &p), QParams { axis, ..q })
        }
        _ => bail!(
            "node '{}': Transpose of a float intermediate result is not supported",
            n.name
        ),
    })
}

fn logical_shape(l: &Lowerer, v: &Val) -> Option<Vec<usize>> {
    match v {
        Val::Act { t, perm } | Val::FAct { t, perm } | Val::F32Act { t, perm } => {
            Some(l.logical(*t, perm))
        }
        Val::QConst(c, _) | Val::FQConst(c, _) | Val::Const(c) => Some(c.shape.clone()),
        Val::Pending(_) | Val::QPending(..) => None,
    }
}

fn axes_of(l: &Lowerer, n: &Node, input: usize) -> Result<Option<Vec<i64>>> {
    if let Some(a) = n.ints("axes") {
        return Ok(Some(a));
    }
    Ok(match l.opt_input(n, input)? {
        Some(Val::Const(c)) => Some(c.to_i64()),
        Some(_) => bail!("node '{}': axes must be constant", n.name),
        None => None,
    })
}

fn new_shape(l: &Lowerer, n: &Node, old: &[usize]) -> Result<Vec<usize>> {
    let total: usize = old.iter().product();
    let norm = |a: i64, r: usize| -> Result<usize> {
        let x = if a < 0 { a + r as i64 } else { a };
        ensure!(
            x >= 0 && (x as usize) < r.max(1),
            "node '{}': axis {a} out of range",
            n.name
        );
        Ok(x as usize)
    };
    let shape = match n.op_type.as_str() {
        "Reshape" => {
            let spec = l.const_input(n, 1)?.to_i64();
            let mut s = Vec::new();
            let mut infer = None;
            for (i, &d) in spec.iter().enumerate() {
                match d {
                    0 => s.push(
                        *old.get(i)
                            .ok_or_else(|| anyhow!("node '{}': bad reshape", n.name))?,
                    ),
                    -1 => {
                        infer = Some(i);
                        s.push(1);
                    }
                    d if d > 0 => s.push(d as usize),
                    _ => bail!("node '{}': bad reshape dim {d}", n.name),
                }
            }
            if let Some(i) = infer {
                let known: usize = s.iter().product();
                ensure!(
                    known > 0 && total.is_multiple_of(known),
                    "node '{}': reshape does not divide",
                    n.name
                );
                s[i] = total / known;
            }
            s
        }
        "Flatten" => {
            let axis = norm(n.int("axis", 1), old.len() + 1)?;
            vec![old[..axis].iter().product(), old[axis..].iter().product()]
        }
        "Squeeze" => match axes_of(l, n, 1)? {
            Some(axes) => {
                let axes: Vec<usize> = axes
                    .iter()
                    .map(|&a| norm(a, old.len()))
                    .collect::<Result<_>>()?;
                old.iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect()
            }
            None => old.iter().copied().filter(|&d| d != 1).collect(),
        },
        _ => {
            let axes = axes_of(l, n, 1)?
                .ok_or_else(|| anyhow!("node '{}': Unsqueeze without axes", n.name))?;
            let r = old.len() + axes.len();
            let axes: Vec<usize> = axes.iter().map(|&a| norm(a, r)).collect::<Result<_>>()?;
            let mut it = old.iter();
            (0..r)
                .map(|i| {
                    if axes.contains(&i) {
                        1
                    } else {
                        *it.next().unwrap_or(&1)
                    }
                })
                .collect()
        }
    };
    ensure!(
        shape.iter().product::<usize>() == total,
        "node '{}': reshape changes the element count",
        n.name
    );
    Ok(shape)
}

fn reshape_node(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let x = l.input(n, 0)?;
    reshape_val(l, n, x)
}

fn reshape_val(l: &mut Lowerer, n: &Node, x: Val) -> Result<Val> {
    if let Val::Pending(mut p) = x {
        p.post.push(n.clone());
        return Ok(Val::Pending(p));
    }
    let old = logical_shape(l, &x).ok_or_else(|| {
        anyhow!(
            "node '{}': reshape of a float intermediate result is not supported",
            n.name
        )
    })?;
    let shape = new_shape(l, n, &old)?;
    Ok(match x {
        Val::Act { t, ref perm } | Val::FAct { t, ref perm } | Val::F32Act { t, ref perm } => {
            ensure!(
                (1..=4).contains(&shape.len()),
                "node '{}': rank {} is not supported",
                n.name,
                shape.len()
            );
            let id = identity(perm.len());
            let base = l.arrange(&n.name, t, perm, &id)?;
            let v = l.view(&n.name, base, shape.clone());
            let perm = identity(shape.len());
            match x {
                Val::Act { .. } => Val::Act { t: v, perm },
                Val::F32Act { .. } => Val::F32Act { t: v, perm },
                _ => Val::FAct { t: v, perm },
            }
        }
        Val::Const(c) => Val::Const(Const { shape, ..c }),
        Val::QConst(c, q) | Val::FQConst(c, q) if q.scale.len() == 1 => {
            let c = Const { shape, ..c };
            Val::FQConst(c, q)
        }
        Val::QConst(c, q) | Val::FQConst(c, q) => {
            // A per-channel vector keeps its axis where its one long dim goes.
            let long =
                |s: &[usize]| -> Vec<usize> { (0..s.len()).filter(|&i| s[i] != 1).collect() };
            let (lo, ln) = (long(&c.shape), long(&shape));
            ensure!(
                lo.len() == 1 && ln.len() == 1 && lo[0] == q.axis,
                "node '{}': reshape of a per-channel constant is not supported",
                n.name
            );
            let q = QParams { axis: ln[0], ..q };
            Val::FQConst(Const { shape, ..c }, q)
        }
        _ => bail!("node '{}': reshape of this value is not supported", n.name),
    })
}

fn activation_node(l: &mut Lowerer, n: &Node) -> Result<Val> {
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
fn add_folds(l: &Lowerer, n: &Node) -> Result<bool> {
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

fn add_node(l: &mut Lowerer, n: &Node) -> Result<Val> {
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

fn concat_of_int8(l: &Lowerer, n: &Node) -> Result<bool> {
    for i in 0..n.inputs.len() {
        if !matches!(l.input(n, i)?, Val::Act { .. }) {
            return Ok(false);
        }
    }
    Ok(!n.inputs.is_empty())
}

/// Concat straight on int8 tensors (tf2onnx emits it without Q/DQ when all
/// inputs share one quantization): the output takes the first input's.
fn int8_concat(l: &mut Lowerer, n: &Node) -> Result<Val> {
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

/// An arena tensor loaded from a quantized constant, laid out like an
/// activation of rank `rank` seen through `perm` (numpy broadcasting pads
/// the constant's shape on the left).
fn const_tensor(
    l: &mut Lowerer,
    name: &str,
    c: &Const,
    q: &QParams,
    perm: &[usize],
) -> Result<usize> {
    ensure!(
        q.scale.len() == 1,
        "node '{name}': a constant operand needs per-tensor quantization"
    );
    let rank = perm.len();
    ensure!(
        c.shape.len() <= rank,
        "node '{name}': constant operand has a higher rank than the activation"
    );
    let mut shape = vec![1; rank - c.shape.len()];
    shape.extend_from_slice(&c.shape);
    let (data, zp) = match &c.data {
        Data::I8(v) => (v.clone(), q.zero_point[0]),
        Data::U8(v) => (
            v.iter().map(|&x| (i32::from(x) - 128) as i8).collect(),
            q.zero_point[0] - 128,
        ),
        _ => bail!("node '{name}': constant operand must be int8"),
    };
    let logical = Const {
        shape,
        data: Data::I8(data),
    };
    // Physical dim perm[i] holds logical dim i.
    let mut inv = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let phys = transpose(&logical, &inv);
    let Data::I8(bytes) = &phys.data else {
        bail!("node '{name}': constant conversion failed")
    };
    let blob = l.g.blob.push_i8(bytes);
    let t = l.new_tensor(&format!("{name}/const"), phys.shape.clone(), q.scale[0], zp);
    l.push(
        &format!("{name}/const"),
        mote_format::OpKind::Constant { data: blob },
        vec![],
        t,
        0,
    );
    Ok(t)
}

fn fact(n: &Node, v: &Option<Val>) -> Result<(usize, Vec<usize>)> {
    match v {
        Some(Val::FAct { t, perm }) => Ok((*t, perm.clone())),
        _ => bail!(
            "node '{}' ({}): input must be a dequantized int8 activation (QDQ form)",
            n.name,
            n.op_type
        ),
    }
}

fn fq(n: &Node, v: &Option<Val>) -> Result<(Const, QParams)> {
    match v {
        Some(Val::FQConst(c, q)) | Some(Val::QConst(c, q)) => Ok((c.clone(), q.clone())),
        _ => bail!(
            "node '{}' ({}): weights must be quantized constants (int8 initializer + DequantizeLinear)",
            n.name,
            n.op_type
        ),
    }
}

pub(super) fn ints(n: &Node, name: &str, default: Vec<usize>) -> Vec<usize> {
    n.ints(name)
        .map(|v| v.iter().map(|&x| x.max(0) as usize).collect())
        .unwrap_or(default)
}

/// Spatial padding (top, left) and output size for one window op.
pub(super) fn window(
    n: &Node,
    h: usize,
    w: usize,
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
) -> Result<([usize; 2], [usize; 2])> {
    let pads = ints(n, "pads", vec![0, 0, 0, 0]);
    ensure!(pads.len() == 4, "node '{}': expected 4 pads", n.name);
    let input = [h, w];
    let mut before = [pads[0], pads[1]];
    let mut after = [pads[2], pads[3]];
    let auto = n.string("auto_pad").unwrap_or("NOTSET");
    ensure!(
        n.int("ceil_mode", 0) == 0,
        "node '{}': ceil_mode is not supported",
        n.name
    );
    for i in 0..2 {
        let eff = d[i] * (k[i] - 1) + 1;
        match auto {
            "SAME_UPPER" | "SAME_LOWER" => {
                let out = input[i].div_ceil(s[i]);
                let total = ((out - 1) * s[i] + eff).saturating_sub(input[i]);
                let small = total / 2;
                (before[i], after[i]) = if auto == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
            }
            "VALID" => (before[i], after[i]) = (0, 0),
            _ => {}
        }
    }
    let mut out = [0; 2];
    for i in 0..2 {
        let eff = d[i] * (k[i] - 1) + 1;
        let span = input[i] + before[i] + after[i];
        ensure!(
            span >= eff && s[i] > 0,
            "node '{}': window larger than its padded input",
            n.name
        );
        out[i] = (span - eff) / s[i] + 1;
    }
    Ok((before, out))
}

pub(super) fn u16s(x: [usize; 2]) -> Result<[u16; 2]> {
    Ok([u16::try_from(x[0])?, u16::try_from(x[1])?])
}

fn per_channel(n: &Node, q: &QParams, channels: usize) -> Result<Vec<f32>> {
    ensure!(
        q.zero_point.iter().all(|&z| z == 0),
        "node '{}': weights must be symmetric (zero point 0)",
        n.name
    );
    match q.scale.len() {
        1 => Ok(vec![q.scale[0]; channels]),
        c if c == channels => Ok(q.scale.clone()),
        c => bail!(
            "node '{}': {c} weight scales for {channels} output channels",
            n.name
        ),
    }
}

fn i8_data(n: &Node, c: &Const) -> Result<Vec<i8>> {
    match &c.data {
        Data::I8(v) => Ok(v.clone()),
        _ => bail!("node '{}': weights must be int8", n.name),
    }
}

/// int32 bias from a DequantizeLinear'd int32 constant or a float constant.
fn bias_data(n: &Node, v: &Option<Val>, in_scale: f32, w_scales: &[f32]) -> Result<Vec<i32>> {
    let oc = w_scales.len();
    let out = match v {
        None => return Ok(Vec::new()),
        Some(Val::FQConst(c, _)) | Some(Val::QConst(c, _)) => match &c.data {
            Data::I32(b) => b.clone(),
            _ => bail!("node '{}': quantized bias must be int32", n.name),
        },
        Some(Val::Const(c)) => c
            .to_f32()
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let s = f64::from(in_scale) * f64::from(w_scales[i % oc]);
                (f64::from(b) / s).round() as i32
            })
            .collect(),
        _ => bail!("node '{}': bias must be constant", n.name),
    };
    ensure!(
        out.len() == oc,
        "node '{}': bias has {} values for {oc} channels",
        n.name,
        out.len()
    );
    Ok(out)
}

/// Lowers a pending float op now that its output quantization is known,
/// then applies the layout nodes that followed it.
pub fn lower_pending(l: &mut Lowerer, p: &Pending, scale: f32, zp: i32, name: &str) -> Result<Val> {
    let mut v = lower_op(l, p, scale, zp, name)?;
    for node in &p.post {
        v = if node.op_type == "Transpose" {
            transpose_val(l, node, v)?
        } else {
            reshape_val(l, node, v)?
        };
    }
    Ok(v)
}

fn lower_op(l: &mut Lowerer, p: &Pending, scale: f32, zp: i32, name: &str) -> Result<Val> {
    // A float op feeding a range-preserving op directly (no QuantizeLinear
    // between, as in onnxruntime's QOperator form) is quantized with the
    // consumer's output parameters.
    let mut p = p.clone();
    if matches!(
        p.node.op_type.as_str(),
        "AveragePool" | "MaxPool" | "GlobalAveragePool" | "Pad" | "Concat" | "ReduceMean"
    ) {
        for i in 0..p.ins.len() {
            if let Some(Val::Pending(inner)) = p.ins[i].clone() {
                let inner_name = format!("{}/in{i}", p.node.name);
                if let Val::Act { t, perm } = lower_pending(l, &inner, scale, zp, &inner_name)? {
                    p.ins[i] = Some(Val::FAct { t, perm });
                }
            }
        }
    }
    let p = &p;
    let n = &p.node;
    let nm = n.name.as_str();
    let act = qp::act_range(p.clamp, scale, zp);
    match n.op_type.as_str() {
        "Conv" => conv(l, p, scale, zp, act, name),
        "MatMul" | "Gemm" => fc(l, p, scale, zp, act, name),
        "Add" | "Mul" => {
            let mut ins = [
                p.ins.first().cloned().flatten(),
                p.ins.get(1).cloned().flatten(),
            ];
            // A constant operand becomes an arena tensor laid out like the other.
            for i in 0..2 {
                if let (Some(Val::FQConst(c, q)), Some(Val::FAct { perm, .. })) =
                    (&ins[i], &ins[1 - i])
                {
                    let perm = perm.clone();
                    let t = const_tensor(l, nm, c, q, &perm)?;
                    ins[i] = Some(Val::FAct { t, perm });
                }
            }
            let (ta, pa) = fact(n, &ins[0])?;
            let (tb, pb) = fact(n, &ins[1])?;
            ensure!(
                pa.len() == pb.len(),
                "node '{nm}': inputs of different rank are not supported"
            );
            let tb = l.arrange(nm, tb, &pb, &pa)?;
            let (da, db) = (l.g.tensors[ta].dims4(), l.g.tensors[tb].dims4());
            let rank = pa.len();
            let shape: Vec<usize> = (4 - rank..4).map(|i| da[i].max(db[i]) as usize).collect();
            let (sa, za) = (l.g.tensors[ta].scale, l.g.tensors[ta].zero_point);
            let (sb, zb) = (l.g.tensors[tb].scale, l.g.tensors[tb].zero_point);
            let out = l.new_tensor(name, shape, scale, zp);
            let kind = if n.op_type == "Add" {
                let a = qp::add_params(sa, za, sb, zb, scale, zp, qp::Activation::None)
                    .map_err(|e| anyhow!("node '{nm}': {e}"))?;
                OpKind::Add(AddSpec {
                    input1_offset: a.input1_offset,
                    input2_offset: a.input2_offset,
                    output_offset: a.output_offset,
                    left_shift: a.left_shift,
                    input1_multiplier: a.input1_multiplier,
                    input1_shift: a.input1_shift,
                    input2_multiplier: a.input2_multiplier,
                    input2_shift: a.input2_shift,
                    output_multiplier: a.output_multiplier,
                    output_shift: a.output_shift,
                    act_min: act.0,
                    act_max: act.1,
                })
            } else {
                let m = qp::mul_params(sa, za, sb, zb, scale, zp, qp::Activation::None);
                OpKind::Mul(MulSpec {
                    input1_offset: m.input1_offset,
                    input2_offset: m.input2_offset,
                    output_offset: m.output_offset,
                    output_multiplier: m.output_multiplier,
                    output_shift: m.output_shift,
                    act_min: act.0,
                    act_max: act.1,
                })
            };
            l.push(nm, kind, vec![ta, tb], out, 0);
            Ok(Val::Act { t: out, perm: pa })
        }
        "AveragePool" | "MaxPool" | "GlobalAveragePool" => {
            let (t, perm) = fact(n, &p.ins[0])?;
            ensure!(
                perm.len() == 4,
                "node '{nm}': only 2-D pooling (4-D tensors) is supported"
            );
            let x = l.arrange(nm, t, &perm, &NCHW_IN_NHWC)?;
            let [bn, h, w, c] = l.g.tensors[x].dims4().map(|d| d as usize);
            let (k, s, pad, out_hw) = if n.op_type == "GlobalAveragePool" {
                ([h, w], [1, 1], [0, 0], [1, 1])
            } else {
                let k = ints(n, "kernel_shape", vec![]);
                ensure!(
                    k.len() == 2,
                    "node '{nm}': kernel_shape must have 2 entries"
                );
                let s = ints(n, "strides", vec![1, 1]);
                ensure!(s.len() == 2, "node '{nm}': strides must have 2 entries");
                let (pad, out_hw) = window(n, h, w, [k[0], k[1]], [s[0], s[1]], [1, 1])?;
                if n.op_type == "AveragePool" && n.int("count_include_pad", 0) != 0 && pad != [0, 0]
                {
                    bail!("node '{nm}': count_include_pad=1 with padding is not supported");
                }
                ([k[0], k[1]], [s[0], s[1]], pad, out_hw)
            };
            let (in_s, in_z) = (l.g.tensors[x].scale, l.g.tensors[x].zero_point);
            let inner_act = qp::act_range(p.clamp, in_s, in_z);
            let tmp = l.new_tensor(name, vec![bn, out_hw[0], out_hw[1], c], in_s, in_z);
            let spec = PoolSpec {
                stride: u16s(s)?,
                filter: u16s(k)?,
                padding: u16s(pad)?,
                act_min: inner_act.0,
                act_max: inner_act.1,
            };
            let kind = if n.op_type == "MaxPool" {
                OpKind::MaxPool(spec)
            } else {
                OpKind::AvgPool(spec)
            };
            l.push(nm, kind, vec![x], tmp, 0);
            let out = l.requantize_to(nm, tmp, scale, zp);
            Ok(Val::Act {
                t: out,
                perm: NCHW_IN_NHWC.to_vec(),
            })
        }
        "ReduceMean" => {
            let (t, perm) = fact(n, &p.ins[0])?;
            ensure!(perm.len() == 4, "node '{nm}': ReduceMean needs a 4-D input");
            let axes: Vec<i64> = match n.ints("axes") {
                Some(a) => a,
                None => match p.ins.get(1) {
                    Some(Some(Val::Const(c))) => c.to_i64(),
                    _ => bail!("node '{nm}': ReduceMean needs constant axes"),
                },
            };
            let mut axes: Vec<usize> = axes
                .iter()
                .map(|&a| if a < 0 { (a + 4) as usize } else { a as usize })
                .collect();
            axes.sort();
            // Physical H and W of the arranged NHWC tensor must be the reduced dims.
            let want: Vec<usize> = if axes == [2, 3] {
                NCHW_IN_NHWC.to_vec()
            } else if axes == [1, 2] {
                identity(4)
            } else {
                bail!("node '{nm}': ReduceMean only over the two spatial axes is supported")
            };
            let x = l.arrange(nm, t, &perm, &want)?;
            let [bn, h, w, c] = l.g.tensors[x].dims4().map(|d| d as usize);
            let (in_s, in_z) = (l.g.tensors[x].scale, l.g.tensors[x].zero_point);
            let _ = (h, w);
            let m = qp::mean_params(in_s, in_z, scale, zp);
            let out = l.new_tensor(name, vec![bn, 1, 1, c], scale, zp);
            let spec = MeanSpec {
                multiplier: m.multiplier,
                shift: m.shift,
                input_zero_point: m.input_zero_point,
                output_zero_point: m.output_zero_point,
                same_quantization: m.same_quantization,
            };
            l.push(nm, OpKind::Mean(spec), vec![x], out, 0);
            if n.int("keepdims", 1) == 0 {
                let v = l.view(name, out, vec![bn, c]);
                Ok(Val::Act {
                    t: v,
                    perm: identity(2),
                })
            } else {
                Ok(Val::Act { t: out, perm: want })
            }
        }
        "Softmax" | "Sigmoid" | "Tanh" => {
            let (t, perm) = fact(n, &p.ins[0])?;
            let rank = perm.len();
            if n.op_type == "Softmax" {
                let axis = n.int("axis", -1);
                let axis = if axis < 0 { axis + rank as i64 } else { axis };
                ensure!(
                    axis == rank as i64 - 1,
                    "node '{nm}': Softmax only over the last axis is supported"
                );
            }
            let x = l.arrange(nm, t, &perm, &identity(rank))?;
            let shape = l.phys(x);
            let (in_s, in_z) = (l.g.tensors[x].scale, l.g.tensors[x].zero_point);
            let (kind, os, oz) = match n.op_type.as_str() {
                "Softmax" => {
                    let s =
                        qp::softmax_params(1.0, in_s).map_err(|e| anyhow!("node '{nm}': {e}"))?;
                    let spec = SoftmaxSpec {
                        input_multiplier: s.input_multiplier,
                        input_left_shift: s.input_left_shift,
                        diff_min: s.diff_min,
                    };
                    (OpKind::Softmax(spec), 1.0 / 256.0, -128)
                }
                op => {
                    let a = if op == "Sigmoid" {
                        qp::logistic_params(in_s, in_z)
                    } else {
                        qp::tanh_params(in_s, in_z)
                    };
                    let spec = LutActSpec {
                        input_zero_point: a.input_zero_point,
                        input_range_radius: a.input_range_radius,
                        input_multiplier: a.input_multiplier,
                        input_left_shift: a.input_left_shift,
                    };
                    if op == "Sigmoid" {
                        (OpKind::Logistic(spec), 1.0 / 256.0, -128)
                    } else {
                        (OpKind::Tanh(spec), 1.0 / 128.0, 0)
                    }
                }
            };
            let tmp = l.new_tensor(name, shape, os, oz);
            l.push(nm, kind, vec![x], tmp, 0);
            let out = l.requantize_to(nm, tmp, scale, zp);
            Ok(Val::Act {
                t: out,
                perm: identity(rank),
            })
        }
        "Concat" => {
            let (t0, perm) = fact(n, &p.ins[0])?;
            let rank = perm.len();
            let axis = n.int("axis", 0);
            let axis = if axis < 0 { axis + rank as i64 } else { axis } as usize;
            ensure!(axis < rank, "node '{nm}': concat axis out of range");
            let mut ins = Vec::new();
            for (i, v) in p.ins.iter().enumerate() {
                let (t, pi) = if i == 0 {
                    (t0, perm.clone())
                } else {
                    fact(n, v)?
                };
                let t = l.arrange(nm, t, &pi, &perm)?;
                ins.push(l.requantize_to(&format!("{nm}/in{i}"), t, scale, zp));
            }
            ensure!(
                ins.len() <= mote_format::MAX_OP_INPUTS,
                "node '{nm}': more than 8 inputs"
            );
            let phys_axis = perm[axis] + (4 - rank);
            let dims: Vec<[u32; 4]> = ins.iter().map(|&t| l.g.tensors[t].dims4()).collect();
            let mut od = dims[0];
            od[phys_axis] = dims.iter().map(|d| d[phys_axis]).sum();
            let shape = od[4 - rank..].iter().map(|&d| d as usize).collect();
            let out = l.new_tensor(name, shape, scale, zp);
            l.push(
                nm,
                OpKind::Concat {
                    axis: phys_axis as u8,
                },
                ins,
                out,
                0,
            );
            Ok(Val::Act { t: out, perm })
        }
        "Pad" => {
            let (t, perm) = fact(n, &p.ins[0])?;
            let rank = perm.len();
            ensure!(
                n.string("mode").unwrap_or("constant") == "constant",
                "node '{nm}': only constant padding is supported"
            );
            let pads: Vec<i64> = match n.ints("pads") {
                Some(v) => v,
                None => match p.ins.get(1) {
                    Some(Some(Val::Const(c))) => c.to_i64(),
                    _ => bail!("node '{nm}': pads must be constant"),
                },
            };
            ensure!(
                pads.len() == 2 * rank && pads.iter().all(|&x| x >= 0),
                "node '{nm}': bad pads {pads:?}"
            );
            let value = match p.ins.get(2) {
                Some(Some(v)) => super::lower::const_scalar(v).unwrap_or(0.0),
                _ => 0.0,
            };
            let (in_s, in_z) = (l.g.tensors[t].scale, l.g.tensors[t].zero_point);
            let qv = (qp::quantize_clamp(value, in_s, in_z)).clamp(-128, 127) as i8;
            let mut pads4 = [[0u32; 2]; 4];
            for i in 0..rank {
                let d = perm[i] + 4 - rank;
                pads4[d] = [pads[i] as u32, pads[i + rank] as u32];
            }
            let mut od = l.g.tensors[t].dims4();
            for d in 0..4 {
                od[d] += pads4[d][0] + pads4[d][1];
            }
            let shape = od[4 - rank..].iter().map(|&d| d as usize).collect();
            let tmp = l.new_tensor(name, shape, in_s, in_z);
            l.push(
                nm,
                OpKind::Pad {
                    pads: pads4,
                    value: qv,
                },
                vec![t],
                tmp,
                0,
            );
            let out = l.requantize_to(nm, tmp, scale, zp);
            Ok(Val::Act { t: out, perm })
        }
        _ => Err(unsupported(n)),
    }
}

fn conv(
    l: &mut Lowerer,
    p: &Pending,
    scale: f32,
    zp: i32,
    act: (i32, i32),
    name: &str,
) -> Result<Val> {
    let n = &p.node;
    let nm = n.name.as_str();
    let (t, perm) = fact(n, &p.ins[0])?;
    ensure!(
        perm.len() == 4,
        "node '{nm}': only 2-D convolutions (4-D tensors) are supported"
    );
    let x = l.arrange(nm, t, &perm, &NCHW_IN_NHWC)?;
    let (w, wq) = fq(n, p.ins.get(1).unwrap_or(&None))?;
    ensure!(w.shape.len() == 4, "node '{nm}': weights must be 4-D");
    let [bn, h, wd, c] = l.g.tensors[x].dims4().map(|d| d as usize);
    let (oc, icg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let group = n.int("group", 1).max(1) as usize;
    ensure!(
        icg * group == c,
        "node '{nm}': weights expect {} input channels, input has {c}",
        icg * group
    );
    let depthwise = group > 1;
    ensure!(
        !depthwise || (icg == 1 && group == c && oc % c == 0),
        "node '{nm}': grouped convolution other than depthwise is not supported"
    );
    let s = ints(n, "strides", vec![1, 1]);
    let d = ints(n, "dilations", vec![1, 1]);
    ensure!(
        s.len() == 2 && d.len() == 2,
        "node '{nm}': strides/dilations must have 2 entries"
    );
    let (pad, out_hw) = window(n, h, wd, [kh, kw], [s[0], s[1]], [d[0], d[1]])?;
    let (in_s, in_z) = (l.g.tensors[x].scale, l.g.tensors[x].zero_point);
    let w_scales = per_channel(n, &wq, oc)?;
    let bias_val = p.ins.get(2).cloned().flatten().or_else(|| p.bias.clone());
    let bias = bias_data(n, &bias_val, in_s, &w_scales)?;
    let raw = i8_data(n, &w)?;
    // ONNX OIHW -> OHWI (conv) or [1, KH, KW, OC] (depthwise).
    let (filter, filter_dims) = if depthwise {
        let c2 = transpose(
            &Const {
                shape: w.shape.clone(),
                data: Data::I8(raw),
            },
            &[1, 2, 3, 0],
        );
        (c2, [1, kh as u32, kw as u32, oc as u32])
    } else {
        let c2 = transpose(
            &Const {
                shape: w.shape.clone(),
                data: Data::I8(raw),
            },
            &[0, 2, 3, 1],
        );
        (c2, [oc as u32, kh as u32, kw as u32, c as u32])
    };
    let (mults, shifts): (Vec<i32>, Vec<i32>) = w_scales
        .iter()
        .map(|&ws| qp::quantize_multiplier(f64::from(in_s) * f64::from(ws) / f64::from(scale)))
        .unzip();
    let spec = ConvSpec {
        stride: u16s([s[0], s[1]])?,
        dilation: u16s([d[0], d[1]])?,
        padding: u16s(pad)?,
        input_offset: -in_z,
        output_offset: zp,
        act_min: act.0,
        act_max: act.1,
        filter: l.g.blob.push_i8(&i8_data(n, &filter)?),
        filter_dims,
        bias: l.g.blob.push_i32(&bias),
        multiplier: l.g.blob.push_i32(&mults),
        shift: l.g.blob.push_i32(&shifts),
    };
    let out = l.new_tensor(name, vec![bn, out_hw[0], out_hw[1], oc], scale, zp);
    let per_out = (kh * kw * if depthwise { 1 } else { c }) as u64;
    let macs = (bn * out_hw[0] * out_hw[1] * oc) as u64 * per_out;
    let kind = if depthwise {
        OpKind::DepthwiseConv2d {
            conv: spec,
            depth_multiplier: u16::try_from(oc / c)?,
        }
    } else {
        OpKind::Conv2d(spec)
    };
    l.push(nm, kind, vec![x], out, macs);
    Ok(Val::Act {
        t: out,
        perm: NCHW_IN_NHWC.to_vec(),
    })
}

fn fc(
    l: &mut Lowerer,
    p: &Pending,
    scale: f32,
    zp: i32,
    act: (i32, i32),
    name: &str,
) -> Result<Val> {
    let n = &p.node;
    let nm = n.name.as_str();
    let (t, perm) = fact(n, &p.ins[0])?;
    let x = l.arrange(nm, t, &perm, &identity(perm.len()))?;
    let shape = l.phys(x);
    let k = *shape.last().unwrap_or(&0);
    let (w, wq) = fq(n, p.ins.get(1).unwrap_or(&None))?;
    ensure!(w.shape.len() == 2, "node '{nm}': weights must be 2-D");
    let trans_b = n.op_type == "Gemm" && n.int("transB", 0) != 0;
    if n.op_type == "Gemm" {
        ensure!(
            n.int("transA", 0) == 0,
            "node '{nm}': transA is not supported"
        );
        ensure!(
            n.float("alpha", 1.0) == 1.0 && n.float("beta", 1.0) == 1.0,
            "node '{nm}': alpha/beta other than 1"
        );
    }
    let raw = Const {
        shape: w.shape.clone(),
        data: Data::I8(i8_data(n, &w)?),
    };
    // Filter as [out, in].
    let filter = if trans_b {
        raw
    } else {
        transpose(&raw, &[1, 0])
    };
    let (oc, ic) = (filter.shape[0], filter.shape[1]);
    ensure!(
        ic == k,
        "node '{nm}': weights take {ic} features, input has {k}"
    );
    let w_scales = per_channel(n, &wq, oc)?;
    let (in_s, in_z) = (l.g.tensors[x].scale, l.g.tensors[x].zero_point);
    let bias_val = if n.op_type == "Gemm" {
        p.ins.get(2).cloned().flatten()
    } else {
        None
    }
    .or_else(|| p.bias.clone());
    let bias = bias_data(n, &bias_val, in_s, &w_scales)?;
    let (mults, shifts): (Vec<i32>, Vec<i32>) = if wq.scale.len() == 1 {
        // TFLite's per-tensor FC multiplies the float scales in float first.
        let m = qp::quantize_multiplier(f64::from(in_s * wq.scale[0]) / f64::from(scale));
        (vec![m.0], vec![m.1])
    } else {
        w_scales
            .iter()
            .map(|&ws| qp::quantize_multiplier(f64::from(in_s) * f64::from(ws) / f64::from(scale)))
            .unzip()
    };
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let spec = FcSpec {
        input_offset: -in_z,
        filter_offset: 0,
        output_offset: zp,
        act_min: act.0,
        act_max: act.1,
        filter: l.g.blob.push_i8(&i8_data(n, &filter)?),
        bias: l.g.blob.push_i32(&bias),
        multiplier: l.g.blob.push_i32(&mults),
        shift: l.g.blob.push_i32(&shifts),
        in_features: u32::try_from(ic)?,
        out_features: u32::try_from(oc)?,
    };
    let mut out_shape = shape.clone();
    *out_shape.last_mut().unwrap_or(&mut 0) = oc;
    let out = l.new_tensor(name, out_shape, scale, zp);
    l.push(
        nm,
        OpKind::FullyConnected(spec),
        vec![x],
        out,
        (rows * ic * oc) as u64,
    );
    Ok(Val::Act {
        t: out,
        perm: identity(shape.len()),
    })
}

/// QLinearConv / QLinearMatMul: already-quantized ops with explicit scales.
fn qlinear(l: &mut Lowerer, n: &Node, is_conv: bool) -> Result<Val> {
    let ins: Vec<Val> = (0..8).map(|i| l.input(n, i)).collect::<Result<_>>()?;
    let c = |i: usize| -> Result<Val> { Ok(ins[i].clone()) };
    let scalar = |v: Val, what: &str| -> Result<f32> {
        super::lower::const_scalar(&v)
            .ok_or_else(|| anyhow!("node '{}': {what} must be constant", n.name))
    };
    let x = c(0)?;
    let (x_s, x_z) = (
        scalar(c(1)?, "x_scale")?,
        scalar(c(2)?, "x_zero_point")? as i32,
    );
    let x_z = if let Val::Const(z) = c(2)? {
        if matches!(z.data, Data::U8(_)) {
            x_z - 128
        } else {
            x_z
        }
    } else {
        x_z
    };
    let fx = match x {
        Val::Act { t, perm } => {
            if l.g.tensors[t].scale == 0.0 {
                l.set_input_quant(t, x_s, x_z);
            }
            Val::FAct { t, perm }
        }
        _ => bail!("node '{}': input must be an int8 activation", n.name),
    };
    let w = match c(3)? {
        Val::Const(w) => w,
        _ => bail!("node '{}': weights must be constant", n.name),
    };
    let w_scale = match c(4)? {
        Val::Const(s) => s.to_f32(),
        _ => bail!("node '{}': weight scale must be constant", n.name),
    };
    let w_zp = match c(5)? {
        Val::Const(z) => z.to_i64().iter().map(|&v| v as i32).collect(),
        _ => bail!("node '{}': weight zero point must be constant", n.name),
    };
    let (y_s, y_z) = (
        scalar(c(6)?, "y_scale")?,
        scalar(c(7)?, "y_zero_point")? as i32,
    );
    let y_z = if let Val::Const(z) = c(7)? {
        if matches!(z.data, Data::U8(_)) {
            y_z - 128
        } else {
            y_z
        }
    } else {
        y_z
    };
    let q = QParams {
        scale: w_scale,
        zero_point: w_zp,
        axis: if is_conv { 0 } else { 1 },
    };
    let mut node = n.clone();
    node.op_type = if is_conv {
        "Conv".into()
    } else {
        "MatMul".into()
    };
    let bias = if is_conv { l.opt_input(n, 8)? } else { None };
    let bias = bias.map(|b| match b {
        Val::Const(b) => Val::FQConst(
            b,
            QParams {
                scale: vec![1.0],
                zero_point: vec![0],
                axis: 0,
            },
        ),
        other => other,
    });
    let mut p = Pending::new(&node, vec![Some(fx), Some(Val::FQConst(w, q)), bias]);
    p.declared = Some((y_s, y_z));
    Ok(Val::QPending(Box::new(p), y_s, y_z))
}
