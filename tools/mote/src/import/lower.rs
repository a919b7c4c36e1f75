//! Walks the ONNX graph in order and lowers it to the runtime's ops.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use mote_format::{DType, OpKind};

use super::onnx::{elem, Const, Data, Node, OnnxModel};
use super::values::{transpose_const, Pending, QParams, Val};
use super::SUPPORTED;
use crate::lir::{Graph, Op, Tensor};

/// Lowering state.
pub struct Lowerer {
    /// The graph being built.
    pub g: Graph,
    /// Values by ONNX name.
    pub vals: HashMap<String, Val>,
    /// How many node inputs and graph outputs read each value.
    pub uses: HashMap<String, usize>,
    /// Lower every node as float (a model kept in float).
    pub float_mode: bool,
    /// How float weights are stored.
    pub weights: mote_format::WeightType,
    /// f32 copies of int8 tensors already dequantized for float ops.
    pub dequantized: HashMap<usize, usize>,
}

fn identity(rank: usize) -> Vec<usize> {
    (0..rank).collect()
}

/// Reads a scalar (or single-element) constant as f32.
fn scalar_f32(v: &Val) -> Option<f32> {
    match v {
        Val::Const(c) => c.to_f32().first().copied(),
        _ => None,
    }
}

impl Lowerer {
    /// Value of input `i` of `n`; an error if missing.
    pub fn input(&self, n: &Node, i: usize) -> Result<Val> {
        let name = n
            .input(i)
            .ok_or_else(|| anyhow!("node '{}' ({}) lacks input {i}", n.name, n.op_type))?;
        self.vals.get(name).cloned().ok_or_else(|| {
            anyhow!(
                "node '{}' ({}) reads '{name}' before it is produced: the graph is not in topological order or has a cycle",
                n.name,
                n.op_type
            )
        })
    }

    /// Value of optional input `i`.
    pub fn opt_input(&self, n: &Node, i: usize) -> Result<Option<Val>> {
        match n.input(i) {
            Some(_) => self.input(n, i).map(Some),
            None => Ok(None),
        }
    }

    /// A constant input of `n`.
    pub fn const_input(&self, n: &Node, i: usize) -> Result<Const> {
        match self.input(n, i)? {
            Val::Const(c) => Ok(c),
            _ => bail!(
                "node '{}' ({}): input {i} must be a constant",
                n.name,
                n.op_type
            ),
        }
    }

    /// Physical shape of tensor `t`.
    pub fn phys(&self, t: usize) -> Vec<usize> {
        self.g.tensors[t].shape.clone()
    }

    /// Logical shape of an activation seen through `perm`.
    pub fn logical(&self, t: usize, perm: &[usize]) -> Vec<usize> {
        let p = self.phys(t);
        perm.iter().map(|&i| p[i]).collect()
    }

    /// Adds an int8 tensor.
    pub fn new_tensor(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        scale: f32,
        zero_point: i32,
    ) -> usize {
        self.g.add_tensor(Tensor {
            name: name.to_string(),
            dtype: DType::I8,
            shape,
            scale,
            zero_point,
            alias_of: None,
        })
    }

    /// Adds an op.
    pub fn push(&mut self, name: &str, kind: OpKind, inputs: Vec<usize>, output: usize, macs: u64) {
        self.g.ops.push(Op {
            name: name.to_string(),
            kind,
            inputs,
            output,
            macs,
        });
    }

    /// Adds a tensor of any element type.
    pub fn new_typed_tensor(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        dtype: DType,
        scale: f32,
        zero_point: i32,
    ) -> usize {
        self.g.add_tensor(Tensor {
            name: name.to_string(),
            dtype,
            shape,
            scale,
            zero_point,
            alias_of: None,
        })
    }

    /// Returns a tensor holding `t` (seen through `perm`) physically arranged
    /// so that logical dim i is physical dim `want[i]`, emitting a Transpose
    /// op when the current arrangement differs.
    pub fn arrange(
        &mut self,
        name: &str,
        t: usize,
        perm: &[usize],
        want: &[usize],
    ) -> Result<usize> {
        if perm == want {
            return Ok(t);
        }
        let rank = perm.len();
        anyhow::ensure!(
            rank <= 4 && want.len() == rank,
            "'{name}': cannot rearrange a rank-{rank} tensor"
        );
        // new_phys[want[i]] = old_phys[perm[i]]
        let mut kperm = vec![0usize; rank];
        for i in 0..rank {
            kperm[want[i]] = perm[i];
        }
        let old = self.phys(t);
        let new_shape: Vec<usize> = kperm.iter().map(|&k| old[k]).collect();
        // Only non-unit dims move data: skip the op when their order is kept.
        let moving: Vec<usize> = kperm.iter().copied().filter(|&k| old[k] != 1).collect();
        let src = &self.g.tensors[t];
        let (scale, zp, dtype) = (src.scale, src.zero_point, src.dtype);
        if moving.windows(2).all(|w| w[0] < w[1]) {
            let v = self.g.add_tensor(Tensor {
                name: format!("{name}/view"),
                dtype,
                shape: new_shape,
                scale,
                zero_point: zp,
                alias_of: Some(t),
            });
            return Ok(v);
        }
        let pad = 4 - rank;
        let mut perm4 = [0u8, 1, 2, 3];
        for i in 0..rank {
            perm4[pad + i] = (pad + kperm[i]) as u8;
        }
        let out = self.new_typed_tensor(&format!("{name}/transposed"), new_shape, dtype, scale, zp);
        let kind = if dtype == DType::F32 {
            OpKind::Float(mote_format::FloatOp::Transpose { perm: perm4 })
        } else {
            OpKind::Transpose { perm: perm4 }
        };
        self.push(&format!("{name}/transpose"), kind, vec![t], out, 0);
        Ok(out)
    }

    /// Gives a model input whose quantization was still unknown (scale 0)
    /// its parameters, on the tensor and every view of it.
    pub fn set_input_quant(&mut self, t: usize, scale: f32, zero_point: i32) {
        let root = self.g.root(t);
        for i in 0..self.g.tensors.len() {
            if self.g.root(i) == root && self.g.tensors[i].scale == 0.0 {
                self.g.tensors[i].scale = scale;
                self.g.tensors[i].zero_point = zero_point;
            }
        }
    }

    /// A view of `t` with a new shape, sharing its buffer.
    pub fn view(&mut self, name: &str, t: usize, shape: Vec<usize>) -> usize {
        let src = &self.g.tensors[t];
        let (scale, zp, dtype) = (src.scale, src.zero_point, src.dtype);
        self.g.add_tensor(Tensor {
            name: name.to_string(),
            dtype,
            shape,
            scale,
            zero_point: zp,
            alias_of: Some(t),
        })
    }

    /// Requantizes tensor `t` to (scale, zp) unless it already has them.
    pub fn requantize_to(&mut self, name: &str, t: usize, scale: f32, zp: i32) -> usize {
        let src = &self.g.tensors[t];
        if src.scale == scale && src.zero_point == zp {
            return t;
        }
        let (in_scale, in_zp, shape) = (src.scale, src.zero_point, src.shape.clone());
        let (multiplier, shift) =
            crate::qparams::quantize_multiplier(f64::from(in_scale) / f64::from(scale));
        let out = self.new_tensor(&format!("{name}/requantized"), shape, scale, zp);
        let spec = mote_format::RequantSpec {
            input_zero_point: in_zp,
            multiplier,
            shift,
            output_zero_point: zp,
        };
        self.push(
            &format!("{name}/requantize"),
            OpKind::Requantize(spec),
            vec![t],
            out,
            0,
        );
        out
    }
}

/// Quantization parameters of a Q/DQ node (inputs 1 and 2, attribute axis).
fn qparams(l: &Lowerer, n: &Node, rank: usize) -> Result<QParams> {
    let scale = l.const_input(n, 1)?.to_f32();
    let (zero_point, unsigned) = match l.opt_input(n, 2)? {
        Some(Val::Const(c)) => (
            c.to_i64().iter().map(|&z| z as i32).collect(),
            matches!(c.data, Data::U8(_)),
        ),
        Some(_) => bail!("node '{}': zero point must be a constant", n.name),
        None => (vec![0; scale.len()], true),
    };
    anyhow::ensure!(
        scale.iter().all(|s| s.is_finite() && *s > 0.0),
        "node '{}': quantization scale must be positive and finite",
        n.name
    );
    anyhow::ensure!(
        zero_point.len() == scale.len(),
        "node '{}': scale and zero point counts differ",
        n.name
    );
    let axis = n.int("axis", 1);
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    let zero_point = if unsigned && n.op_type == "QuantizeLinear" {
        // uint8 activations are run as int8 shifted by 128.
        zero_point.iter().map(|z| z - 128).collect()
    } else {
        zero_point
    };
    Ok(QParams {
        scale,
        zero_point,
        axis: axis.max(0) as usize,
    })
}

/// Lowers a whole ONNX model.
/// Lowering options.
#[derive(Debug, Clone, Copy)]
pub struct LowerOptions {
    /// Lower every node in float.
    pub float: bool,
    /// Storage of float weights.
    pub weights: mote_format::WeightType,
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions {
            float: false,
            weights: mote_format::WeightType::F32,
        }
    }
}

/// Lowers a quantized ONNX model (QDQ or QOperator form).
pub fn lower(m: &OnnxModel) -> Result<Graph> {
    lower_with(m, LowerOptions::default())
}

/// Lowers an ONNX model with options (float models with `float: true`).
pub fn lower_with(m: &OnnxModel, opts: LowerOptions) -> Result<Graph> {
    let mut uses: HashMap<String, usize> = HashMap::new();
    for name in m
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter())
        .chain(m.outputs.iter().map(|o| &o.name))
    {
        *uses.entry(name.clone()).or_default() += 1;
    }
    let mut l = Lowerer {
        g: Graph {
            name: m.name.clone(),
            ..Graph::default()
        },
        vals: HashMap::new(),
        uses,
        float_mode: opts.float,
        weights: opts.weights,
        dequantized: HashMap::new(),
    };
    for (name, c) in &m.consts {
        l.vals.insert(name.clone(), Val::Const(c.clone()));
    }
    for input in &m.inputs {
        let mut shape = Vec::new();
        for (i, d) in input.dims.iter().enumerate() {
            match d {
                Some(x) => shape.push(*x),
                None if i == 0 => shape.push(1),
                None => bail!(
                    "input '{}' has a dynamic dimension {i}; Mote needs fixed shapes (only a leading batch may be dynamic)",
                    input.name
                ),
            }
        }
        anyhow::ensure!(
            (1..=4).contains(&shape.len()),
            "input '{}' has rank {}; Mote supports ranks 1 to 4",
            input.name,
            shape.len()
        );
        anyhow::ensure!(
            shape.iter().product::<usize>() < (1 << 28),
            "input '{}' is too large ({shape:?})",
            input.name
        );
        let v = match input.elem_type {
            elem::INT8 => {
                let rank = shape.len();
                // Scale 0 marks quantization still unknown: the first
                // DequantizeLinear reading the input sets it.
                let t = l.new_tensor(&input.name, shape, 0.0, 0);
                l.g.inputs.push(t);
                Val::Act {
                    t,
                    perm: identity(rank),
                }
            }
            elem::FLOAT if l.float_mode => {
                let rank = shape.len();
                let t = l.new_typed_tensor(&input.name, shape, DType::F32, 1.0, 0);
                l.g.inputs.push(t);
                Val::F32Act {
                    t,
                    perm: identity(rank),
                }
            }
            elem::FLOAT => {
                // Quantized by the first QuantizeLinear that reads it.
                let rank = shape.len();
                let t = l.new_tensor(&input.name, shape, 0.0, 0);
                l.g.inputs.push(t);
                Val::FAct {
                    t,
                    perm: identity(rank),
                }
            }
            other => bail!(
                "input '{}' has element type {other}; Mote takes int8 or float32 inputs",
                input.name
            ),
        };
        l.vals.insert(input.name.clone(), v);
    }
    for n in &m.nodes {
        super::ops::lower_node(&mut l, n)?;
    }
    for out in &m.outputs {
        let v = l
            .vals
            .get(&out.name)
            .cloned()
            .ok_or_else(|| anyhow!("graph output '{}' is never produced", out.name))?;
        let t = super::ops::finish_output(&mut l, &out.name, v)?;
        l.g.outputs.push(t);
    }
    anyhow::ensure!(
        !l.g.ops.is_empty(),
        "the model has no operations Mote can run"
    );
    fix_input_quant(&mut l)?;
    Ok(l.g)
}

fn fix_input_quant(l: &mut Lowerer) -> Result<()> {
    for &t in &l.g.inputs {
        let tensor = &l.g.tensors[t];
        anyhow::ensure!(
            tensor.scale > 0.0,
            "input '{}' has no quantization parameters",
            tensor.name
        );
    }
    Ok(())
}

/// Error for an op outside the supported set.
pub fn unsupported(n: &Node) -> anyhow::Error {
    anyhow!(
        "unsupported op: node '{}' is {}{}; Mote supports {}",
        n.name,
        if n.domain.is_empty() {
            String::new()
        } else {
            format!("{}::", n.domain)
        },
        n.op_type,
        SUPPORTED.join(", ")
    )
}

/// Quantization parameters of a Q or DQ node.
pub fn node_qparams(l: &Lowerer, n: &Node, rank: usize) -> Result<QParams> {
    qparams(l, n, rank)
}

/// Scalar float of a constant value.
pub fn const_scalar(v: &Val) -> Option<f32> {
    scalar_f32(v)
}

/// Applies a Transpose to a constant.
pub fn transpose(c: &Const, perm: &[usize]) -> Const {
    transpose_const(c, perm)
}

/// Boxes a pending op.
pub fn pending(node: &Node, ins: Vec<Option<Val>>) -> Val {
    Val::Pending(Box::new(Pending::new(node, ins)))
}
