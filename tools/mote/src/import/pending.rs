//! Lowering of a pending float op once its output quantization is known.

use anyhow::{anyhow, bail, ensure, Result};
use mote_format::{AddSpec, LutActSpec, MeanSpec, MulSpec, OpKind, PoolSpec, SoftmaxSpec};

use super::layout::*;
use super::linear::*;
use super::lower::{unsupported, Lowerer};
use super::operands::*;
use super::ops::*;
use super::values::{Pending, Val};
use crate::qparams as qp;

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

pub(super) fn lower_op(
    l: &mut Lowerer,
    p: &Pending,
    scale: f32,
    zp: i32,
    name: &str,
) -> Result<Val> {
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
        "Conv" => conv_any(l, p, scale, zp, act, name),
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
