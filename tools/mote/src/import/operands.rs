//! Operand helpers shared by the lowerings: activations and quantized
//! constants of a node, window geometry, weights and bias data.

use anyhow::{bail, ensure, Result};

use super::lower::{transpose, Lowerer};
use super::onnx::{Const, Data, Node};
use super::values::{QParams, Val};

/// An arena tensor loaded from a quantized constant, laid out like an
/// activation of rank `rank` seen through `perm` (numpy broadcasting pads
/// the constant's shape on the left).
pub(super) fn const_tensor(
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

pub(super) fn fact(n: &Node, v: &Option<Val>) -> Result<(usize, Vec<usize>)> {
    match v {
        Some(Val::FAct { t, perm }) => Ok((*t, perm.clone())),
        _ => bail!(
            "node '{}' ({}): an input is not an int8 activation Mote can use here: it is the float result of a pattern Mote does not quantize, or lacks its DequantizeLinear",
            n.name,
            n.op_type
        ),
    }
}

pub(super) fn fq(n: &Node, v: &Option<Val>) -> Result<(Const, QParams)> {
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

pub(super) fn per_channel(n: &Node, q: &QParams, channels: usize) -> Result<Vec<f32>> {
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

pub(super) fn i8_data(n: &Node, c: &Const) -> Result<Vec<i8>> {
    match &c.data {
        Data::I8(v) => Ok(v.clone()),
        _ => bail!("node '{}': weights must be int8", n.name),
    }
}

/// int32 bias from a DequantizeLinear'd int32 constant or a float constant.
pub(super) fn bias_data(
    n: &Node,
    v: &Option<Val>,
    in_scale: f32,
    w_scales: &[f32],
) -> Result<Vec<i32>> {
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
