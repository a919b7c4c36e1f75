//! Convolution and fully-connected lowering (QDQ and QLinear forms).

use anyhow::{anyhow, bail, ensure, Result};
use mote_format::{ConvSpec, FcSpec, OpKind};

use super::lower::{transpose, Lowerer};
use super::onnx::{Const, Data, Node};
use super::operands::*;
use super::ops::*;
use super::values::{Pending, QParams, Val};
use crate::qparams as qp;

/// A 1-D convolution ([N, C, L] tensors, as PyTorch's Conv1d exports)
/// runs as a 2-D one with H = 1; 2-D ones go straight to [`conv`].
pub(super) fn conv_any(
    l: &mut Lowerer,
    p: &Pending,
    scale: f32,
    zp: i32,
    act: (i32, i32),
    name: &str,
) -> Result<Val> {
    let Some(Val::FAct { t, perm }) = p.ins.first().cloned().flatten() else {
        return conv(l, p, scale, zp, act, name);
    };
    if perm.len() != 3 {
        return conv(l, p, scale, zp, act, name);
    }
    let n = &p.node;
    let nm = n.name.as_str();
    // Physical [N, L, C], seen as NHWC [N, 1, L, C].
    let x = l.arrange(nm, t, &perm, &[0, 2, 1])?;
    let [bn, len, c] = l.phys(x)[..] else {
        bail!("node '{nm}': bad 1-D input")
    };
    let x4 = l.view(&format!("{nm}/as2d"), x, vec![bn, 1, len, c]);
    let mut q = p.clone();
    q.ins[0] = Some(Val::FAct {
        t: x4,
        perm: NCHW_IN_NHWC.to_vec(),
    });
    if let Some(Some(Val::FQConst(w, wq))) = q.ins.get(1).cloned() {
        ensure!(
            w.shape.len() == 3,
            "node '{nm}': 1-D convolution weights must be 3-D"
        );
        let shape = vec![w.shape[0], w.shape[1], 1, w.shape[2]];
        q.ins[1] = Some(Val::FQConst(Const { shape, ..w }, wq));
    }
    use super::onnx::Attr;
    let widen = |v: Option<Vec<i64>>, fill: i64| v.map(|v| [vec![fill], v].concat());
    for (attr, fill) in [("kernel_shape", 1), ("strides", 1), ("dilations", 1)] {
        if let Some(v) = widen(n.ints(attr), fill) {
            q.node.attrs.insert(attr.into(), Attr::Ints(v));
        }
    }
    if let Some(pads) = n.ints("pads") {
        ensure!(pads.len() == 2, "node '{nm}': 1-D pads must have 2 entries");
        q.node
            .attrs
            .insert("pads".into(), Attr::Ints(vec![0, pads[0], 0, pads[1]]));
    }
    match conv(l, &q, scale, zp, act, name)? {
        Val::Act { t, .. } => {
            let [bn, _, ol, oc] = l.g.tensors[t].dims4().map(|d| d as usize);
            let v = l.view(&format!("{name}/as1d"), t, vec![bn, ol, oc]);
            Ok(Val::Act {
                t: v,
                perm: vec![0, 2, 1],
            })
        }
        other => Ok(other),
    }
}

pub(super) fn conv(
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

pub(super) fn fc(
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
pub(super) fn qlinear(l: &mut Lowerer, n: &Node, is_conv: bool) -> Result<Val> {
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
