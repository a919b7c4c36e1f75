//! Float lowering: nodes of a model kept in float (`--weights f32|f16`) or
//! chosen with `--keep-float` become the runtime's f32 ops. int8 inputs are
//! dequantized once on entry; a following QuantizeLinear quantizes the result.

use anyhow::{anyhow, bail, ensure, Result};
use mote_format::{
    DType, FloatConvSpec, FloatFcSpec, FloatOp, FloatPoolSpec, OpKind, QuantSpec, WeightType,
};

use super::lower::{transpose, unsupported, Lowerer};
use super::onnx::{Attr, Const, Node};
use super::operands::{ints, u16s, window};
use super::ops::{identity, NCHW_IN_NHWC};
use super::values::Val;

/// Attribute the quantizer sets on nodes the user keeps in float.
pub const KEEP_FLOAT: &str = "mote_keep_float";

/// True when `n` is lowered in float.
pub fn is_float_node(l: &Lowerer, n: &Node) -> bool {
    let compute = !matches!(
        n.op_type.as_str(),
        "QuantizeLinear"
            | "DequantizeLinear"
            | "Constant"
            | "Identity"
            | "Transpose"
            | "Reshape"
            | "Flatten"
            | "Squeeze"
            | "Unsqueeze"
    );
    compute && (l.float_mode || matches!(n.attrs.get(KEEP_FLOAT), Some(Attr::Int(1))))
}

/// An f32 arena tensor holding value `v` (int8 values are dequantized).
fn f32_act(l: &mut Lowerer, n: &Node, v: Option<Val>) -> Result<(usize, Vec<usize>)> {
    match v {
        Some(Val::F32Act { t, perm }) => Ok((t, perm)),
        Some(Val::FAct { t, perm }) | Some(Val::Act { t, perm }) => {
            if let Some(&f) = l.dequantized.get(&t) {
                return Ok((f, perm));
            }
            let src = &l.g.tensors[t];
            let (shape, scale, zero_point) = (src.shape.clone(), src.scale, src.zero_point);
            let f = l.new_typed_tensor(
                &format!("{}/dequantized", src.name),
                shape,
                DType::F32,
                1.0,
                0,
            );
            l.push(
                &format!("{}/dequantize", n.name),
                OpKind::Dequantize(QuantSpec { scale, zero_point }),
                vec![t],
                f,
                0,
            );
            l.dequantized.insert(t, f);
            Ok((f, perm))
        }
        _ => bail!(
            "node '{}' ({}): input must be an activation",
            n.name,
            n.op_type
        ),
    }
}

/// Float values of a constant (dequantized when it is a quantized one).
fn const_f32(n: &Node, v: Option<Val>) -> Result<Const> {
    match v {
        Some(Val::Const(c)) => Ok(Const {
            shape: c.shape.clone(),
            data: super::onnx::Data::F32(c.to_f32()),
        }),
        Some(Val::FQConst(c, q)) | Some(Val::QConst(c, q)) => {
            let raw = c.to_f32();
            let ch = c.shape.get(q.axis).copied().unwrap_or(1);
            let inner: usize = c
                .shape
                .get(q.axis + 1..)
                .map(|s| s.iter().product())
                .unwrap_or(1);
            let n_q = q.scale.len();
            let v = raw
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let k = if n_q == 1 { 0 } else { (i / inner.max(1)) % ch };
                    (x - q.zero_point[k] as f32) * q.scale[k]
                })
                .collect();
            Ok(Const {
                shape: c.shape.clone(),
                data: super::onnx::Data::F32(v),
            })
        }
        _ => bail!(
            "node '{}' ({}): weights must be constant",
            n.name,
            n.op_type
        ),
    }
}

fn push_weights(l: &mut Lowerer, w: &[f32]) -> mote_format::BlobRef {
    match l.weights {
        WeightType::F32 => {
            l.g.blob
                .push_bytes(&w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
        }
        WeightType::F16 => l.g.blob.push_bytes(
            &w.iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    }
}

fn push_f32(l: &mut Lowerer, v: &[f32]) -> mote_format::BlobRef {
    l.g.blob
        .push_bytes(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
}

fn output(l: &mut Lowerer, n: &Node, shape: Vec<usize>) -> usize {
    let name = n.outputs.first().cloned().unwrap_or_else(|| n.name.clone());
    l.new_typed_tensor(&name, shape, DType::F32, 1.0, 0)
}

/// Lowers one float node.
pub fn lower(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let nm = n.name.as_str();
    let input = |l: &Lowerer, i: usize| l.opt_input(n, i);
    match n.op_type.as_str() {
        "Conv" => {
            let v = input(l, 0)?;
            let (t, perm) = f32_act(l, n, v)?;
            ensure!(
                perm.len() == 4,
                "node '{nm}': only 2-D convolutions are supported"
            );
            let x = l.arrange(nm, t, &perm, &NCHW_IN_NHWC)?;
            let w = const_f32(n, input(l, 1)?)?;
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
            let (pad, out_hw) = window(n, h, wd, [kh, kw], [s[0], s[1]], [d[0], d[1]])?;
            let bias = match input(l, 2)? {
                Some(b) => const_f32(n, Some(b))?.to_f32(),
                None => Vec::new(),
            };
            let (filter, filter_dims) = if depthwise {
                (
                    transpose(&w, &[1, 2, 3, 0]),
                    [1, kh as u32, kw as u32, oc as u32],
                )
            } else {
                (
                    transpose(&w, &[0, 2, 3, 1]),
                    [oc as u32, kh as u32, kw as u32, c as u32],
                )
            };
            let spec = FloatConvSpec {
                stride: u16s([s[0], s[1]])?,
                dilation: u16s([d[0], d[1]])?,
                padding: u16s(pad)?,
                act_min: f32::NEG_INFINITY,
                act_max: f32::INFINITY,
                filter: push_weights(l, &filter.to_f32()),
                filter_dims,
                bias: push_f32(l, &bias),
                weights: l.weights,
            };
            let out = output(l, n, vec![bn, out_hw[0], out_hw[1], oc]);
            let per = (kh * kw * if depthwise { 1 } else { c }) as u64;
            let macs = (bn * out_hw[0] * out_hw[1] * oc) as u64 * per;
            let op = if depthwise {
                FloatOp::DepthwiseConv2d {
                    conv: spec,
                    depth_multiplier: u16::try_from(oc / c)?,
                }
            } else {
                FloatOp::Conv2d(spec)
            };
            l.push(nm, OpKind::Float(op), vec![x], out, macs);
            Ok(Val::F32Act {
                t: out,
                perm: NCHW_IN_NHWC.to_vec(),
            })
        }
        "Gemm" | "MatMul" => {
            let v = input(l, 0)?;
            let (t, perm) = f32_act(l, n, v)?;
            let x = l.arrange(nm, t, &perm, &identity(perm.len()))?;
            let shape = l.phys(x);
            let k = *shape.last().unwrap_or(&0);
            let w = const_f32(n, input(l, 1)?)?;
            ensure!(w.shape.len() == 2, "node '{nm}': weights must be 2-D");
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
            let trans_b = n.op_type == "Gemm" && n.int("transB", 0) != 0;
            let filter = if trans_b { w } else { transpose(&w, &[1, 0]) };
            let (oc, ic) = (filter.shape[0], filter.shape[1]);
            ensure!(
                ic == k,
                "node '{nm}': weights take {ic} features, input has {k}"
            );
            let bias = match if n.op_type == "Gemm" {
                input(l, 2)?
            } else {
                None
            } {
                Some(b) => const_f32(n, Some(b))?.to_f32(),
                None => Vec::new(),
            };
            ensure!(
                bias.is_empty() || bias.len() == oc,
                "node '{nm}': bias has {} values for {oc} outputs",
                bias.len()
            );
            let rows: usize = shape[..shape.len() - 1].iter().product();
            let spec = FloatFcSpec {
                act_min: f32::NEG_INFINITY,
                act_max: f32::INFINITY,
                filter: push_weights(l, &filter.to_f32()),
                bias: push_f32(l, &bias),
                in_features: u32::try_from(ic)?,
                out_features: u32::try_from(oc)?,
                weights: l.weights,
            };
            let mut out_shape = shape.clone();
            if let Some(last) = out_shape.last_mut() {
                *last = oc;
            }
            let out = output(l, n, out_shape);
            l.push(
                nm,
                OpKind::Float(FloatOp::FullyConnected(spec)),
                vec![x],
                out,
                (rows * ic * oc) as u64,
            );
            Ok(Val::F32Act {
                t: out,
                perm: identity(shape.len()),
            })
        }
        "Add" | "Mul" => {
            let (a, b) = (input(l, 0)?, input(l, 1)?);
            if matches!(a, Some(Val::Const(_))) || matches!(b, Some(Val::Const(_))) {
                // A constant bias after a Gemm/MatMul folds into its op.
                let (act, c) = if matches!(a, Some(Val::Const(_))) {
                    (b, a)
                } else {
                    (a, b)
                };
                return fold_bias(l, n, act, c);
            }
            let (ta, pa) = f32_act(l, n, a)?;
            let (tb, pb) = f32_act(l, n, b)?;
            ensure!(
                pa.len() == pb.len(),
                "node '{nm}': inputs of different rank are not supported"
            );
            let tb = l.arrange(nm, tb, &pb, &pa)?;
            let (da, db) = (l.g.tensors[ta].dims4(), l.g.tensors[tb].dims4());
            let rank = pa.len();
            let shape: Vec<usize> = (4 - rank..4).map(|i| da[i].max(db[i]) as usize).collect();
            let out = output(l, n, shape);
            let (act_min, act_max) = (f32::NEG_INFINITY, f32::INFINITY);
            let op = if n.op_type == "Add" {
                FloatOp::Add { act_min, act_max }
            } else {
                FloatOp::Mul { act_min, act_max }
            };
            l.push(nm, OpKind::Float(op), vec![ta, tb], out, 0);
            Ok(Val::F32Act { t: out, perm: pa })
        }
        "AveragePool" | "MaxPool" | "GlobalAveragePool" => {
            let v = input(l, 0)?;
            let (t, perm) = f32_act(l, n, v)?;
            ensure!(
                perm.len() == 4,
                "node '{nm}': only 2-D pooling is supported"
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
                let (pad, out_hw) = window(n, h, w, [k[0], k[1]], [s[0], s[1]], [1, 1])?;
                ([k[0], k[1]], [s[0], s[1]], pad, out_hw)
            };
            let spec = FloatPoolSpec {
                stride: u16s(s)?,
                filter: u16s(k)?,
                padding: u16s(pad)?,
                act_min: f32::NEG_INFINITY,
                act_max: f32::INFINITY,
            };
            let out = output(l, n, vec![bn, out_hw[0], out_hw[1], c]);
            let op = if n.op_type == "MaxPool" {
                FloatOp::MaxPool(spec)
            } else {
                FloatOp::AvgPool(spec)
            };
            l.push(nm, OpKind::Float(op), vec![x], out, 0);
            Ok(Val::F32Act {
                t: out,
                perm: NCHW_IN_NHWC.to_vec(),
            })
        }
        "Softmax" | "Sigmoid" | "Tanh" => {
            let v = input(l, 0)?;
            let (t, perm) = f32_act(l, n, v)?;
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
            let out = output(l, n, l.phys(x));
            let op = match n.op_type.as_str() {
                "Softmax" => FloatOp::Softmax,
                "Sigmoid" => FloatOp::Logistic,
                _ => FloatOp::Tanh,
            };
            l.push(nm, OpKind::Float(op), vec![x], out, 0);
            Ok(Val::F32Act {
                t: out,
                perm: identity(rank),
            })
        }
        "Relu" | "Clip" => {
            let (lo, hi) = if n.op_type == "Relu" {
                (0.0, f32::INFINITY)
            } else {
                let bound = |i: usize, attr: &str, d: f32| -> Result<f32> {
                    match l.opt_input(n, i)? {
                        Some(v) => super::lower::const_scalar(&v)
                            .ok_or_else(|| anyhow!("node '{nm}': Clip bound must be constant")),
                        None => Ok(n.float(attr, d)),
                    }
                };
                (
                    bound(1, "min", f32::NEG_INFINITY)?,
                    bound(2, "max", f32::INFINITY)?,
                )
            };
            let v = input(l, 0)?;
            let (t, perm) = f32_act(l, n, v)?;
            if fuse_clamp(l, n, t, lo, hi) {
                return Ok(Val::F32Act { t, perm });
            }
            let out = output(l, n, l.phys(t));
            l.push(
                nm,
                OpKind::Float(FloatOp::Clamp { min: lo, max: hi }),
                vec![t],
                out,
                0,
            );
            Ok(Val::F32Act { t: out, perm })
        }
        _ => Err(unsupported(n)),
    }
}

/// Folds the fused activation into the op that produced `t` when that op is
/// the last one emitted and nothing else reads its result.
fn fuse_clamp(l: &mut Lowerer, n: &Node, t: usize, lo: f32, hi: f32) -> bool {
    let single_use = n.inputs.first().and_then(|i| l.uses.get(i)).copied() == Some(1);
    let Some(op) = l.g.ops.last_mut() else {
        return false;
    };
    if op.output != t || !single_use {
        return false;
    }
    let clamp = |min: &mut f32, max: &mut f32| {
        *min = min.max(lo);
        *max = max.min(hi);
    };
    match &mut op.kind {
        OpKind::Float(FloatOp::Conv2d(c))
        | OpKind::Float(FloatOp::DepthwiseConv2d { conv: c, .. }) => {
            clamp(&mut c.act_min, &mut c.act_max)
        }
        OpKind::Float(FloatOp::FullyConnected(f)) => clamp(&mut f.act_min, &mut f.act_max),
        OpKind::Float(FloatOp::Add { act_min, act_max })
        | OpKind::Float(FloatOp::Mul { act_min, act_max }) => clamp(act_min, act_max),
        _ => return false,
    }
    true
}

/// Adds a constant bias to the float Gemm/MatMul/Conv just emitted.
fn fold_bias(l: &mut Lowerer, n: &Node, act: Option<Val>, c: Option<Val>) -> Result<Val> {
    let (t, perm) = f32_act(l, n, act)?;
    let bias = const_f32(n, c)?.to_f32();
    let single_use = n
        .inputs
        .iter()
        .filter_map(|i| l.uses.get(i))
        .any(|&u| u == 1);
    let Some(op) = l.g.ops.last() else {
        bail!(
            "node '{}': Add of a constant is only supported as a bias",
            n.name
        )
    };
    let ok = op.output == t && single_use && n.op_type == "Add";
    let blob_bias =
        |l: &mut Lowerer, old: mote_format::BlobRef, oc: usize| -> Result<mote_format::BlobRef> {
            let mut b = if old.len == 0 {
                vec![0f32; oc]
            } else {
                l.g.blob.bytes[old.offset as usize..(old.offset + old.len) as usize]
                    .chunks(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            };
            ensure!(
                bias.len() == oc || bias.len() == 1,
                "node '{}': bias has {} values for {oc} outputs",
                n.name,
                bias.len()
            );
            for (i, x) in b.iter_mut().enumerate() {
                *x += bias[if bias.len() == 1 { 0 } else { i }];
            }
            Ok(push_f32(l, &b))
        };
    if ok {
        let kind = l.g.ops.last().map(|o| o.kind.clone());
        match kind {
            Some(OpKind::Float(FloatOp::FullyConnected(mut f))) => {
                f.bias = blob_bias(l, f.bias, f.out_features as usize)?;
                if let Some(op) = l.g.ops.last_mut() {
                    op.kind = OpKind::Float(FloatOp::FullyConnected(f));
                }
                return Ok(Val::F32Act { t, perm });
            }
            Some(OpKind::Float(FloatOp::Conv2d(mut c))) => {
                c.bias = blob_bias(l, c.bias, c.filter_dims[0] as usize)?;
                if let Some(op) = l.g.ops.last_mut() {
                    op.kind = OpKind::Float(FloatOp::Conv2d(c));
                }
                return Ok(Val::F32Act { t, perm });
            }
            _ => {}
        }
    }
    bail!(
        "node '{}': {} with a constant is only supported as a bias after a Conv, Gemm or MatMul",
        n.name,
        n.op_type
    )
}
