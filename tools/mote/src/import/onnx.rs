//! Reading an ONNX file into plain Rust structures (nodes, attributes,
//! constants), with tract-onnx doing the protobuf and tensor decoding.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use tract_onnx::pb;
use tract_onnx::prelude::{DatumType, Framework, Tensor};

/// Constant data of an initializer or `Constant` node.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// float32 (float16/float64 are converted).
    F32(Vec<f32>),
    /// int8.
    I8(Vec<i8>),
    /// uint8.
    U8(Vec<u8>),
    /// int32.
    I32(Vec<i32>),
    /// int64.
    I64(Vec<i64>),
}

/// A constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Data,
}

impl Const {
    /// Values as f32 (integers converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            Data::I8(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U8(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Values as i64 (floats truncated).
    pub fn to_i64(&self) -> Vec<i64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the constant has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    /// Integer.
    Int(i64),
    /// Integers.
    Ints(Vec<i64>),
    /// Float.
    Float(f32),
    /// Floats.
    Floats(Vec<f32>),
    /// String.
    Str(String),
    /// Tensor.
    Tensor(Const),
    /// Anything else (graphs, sparse tensors...).
    Other,
}

/// A graph node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node name (or a generated one).
    pub name: String,
    /// Operator type.
    pub op_type: String,
    /// Operator domain ("" for the standard one).
    pub domain: String,
    /// Input value names ("" for an omitted optional input).
    pub inputs: Vec<String>,
    /// Output value names.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: HashMap<String, Attr>,
}

impl Node {
    /// Integer attribute with a default.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        match self.attrs.get(name) {
            Some(Attr::Int(i)) => *i,
            _ => default,
        }
    }

    /// Integer-list attribute, if present.
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        match self.attrs.get(name) {
            Some(Attr::Ints(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Float attribute with a default.
    pub fn float(&self, name: &str, default: f32) -> f32 {
        match self.attrs.get(name) {
            Some(Attr::Float(f)) => *f,
            _ => default,
        }
    }

    /// String attribute, if present.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name) {
            Some(Attr::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The `i`th input name, if given.
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// A graph input or output with its declared type.
#[derive(Debug, Clone)]
pub struct ValueInfo {
    /// Value name.
    pub name: String,
    /// ONNX element type code.
    pub elem_type: i32,
    /// Dims; `None` for a symbolic dimension.
    pub dims: Vec<Option<usize>>,
}

/// A whole ONNX model.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    /// Graph name.
    pub name: String,
    /// Nodes as stored (ONNX requires topological order; checked on use).
    pub nodes: Vec<Node>,
    /// Initializers by name.
    pub consts: HashMap<String, Const>,
    /// Graph inputs that are not initializers.
    pub inputs: Vec<ValueInfo>,
    /// Graph outputs.
    pub outputs: Vec<ValueInfo>,
}

/// ONNX element type codes used here.
pub mod elem {
    /// float32.
    pub const FLOAT: i32 = 1;
    /// uint8.
    pub const UINT8: i32 = 2;
    /// int8.
    pub const INT8: i32 = 3;
    /// int32.
    pub const INT32: i32 = 6;
    /// int64.
    pub const INT64: i32 = 7;
}

fn convert(t: &Tensor) -> Result<Const> {
    let shape = t.shape().to_vec();
    let data = match t.datum_type() {
        DatumType::F32 => Data::F32(t.to_plain_array_view::<f32>()?.iter().copied().collect()),
        DatumType::F16 | DatumType::F64 => Data::F32(
            t.cast_to::<f32>()?
                .to_plain_array_view::<f32>()?
                .iter()
                .copied()
                .collect(),
        ),
        DatumType::I8 => Data::I8(t.to_plain_array_view::<i8>()?.iter().copied().collect()),
        DatumType::U8 => Data::U8(t.to_plain_array_view::<u8>()?.iter().copied().collect()),
        DatumType::I32 => Data::I32(t.to_plain_array_view::<i32>()?.iter().copied().collect()),
        DatumType::I64 => Data::I64(t.to_plain_array_view::<i64>()?.iter().copied().collect()),
        DatumType::Bool => Data::U8(
            t.cast_to::<u8>()?
                .to_plain_array_view::<u8>()?
                .iter()
                .copied()
                .collect(),
        ),
        other => bail!("constant of unsupported element type {other:?}"),
    };
    Ok(Const { shape, data })
}

fn load_const(onnx: &tract_onnx::Onnx, t: &pb::TensorProto, dir: Option<&str>) -> Result<Const> {
    // tract panics on a few element types it cannot load from raw data.
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tract_onnx::tensor::load_tensor(&*onnx.provider, t, dir)
    }))
    .map_err(|_| {
        anyhow!(
            "constant '{}' has an element type that cannot be loaded",
            t.name
        )
    })?;
    let tensor = loaded.map_err(|e| anyhow!("{e:#}"))?;
    convert(&tensor).with_context(|| format!("constant '{}'", t.name))
}

fn value_info(v: &pb::ValueInfoProto) -> ValueInfo {
    let mut elem_type = 0;
    let mut dims = Vec::new();
    if let Some(pb::type_proto::Value::TensorType(tt)) =
        v.r#type.as_ref().and_then(|t| t.value.as_ref())
    {
        elem_type = tt.elem_type;
        if let Some(shape) = &tt.shape {
            for d in &shape.dim {
                dims.push(match &d.value {
                    Some(pb::tensor_shape_proto::dimension::Value::DimValue(x)) if *x > 0 => {
                        Some(*x as usize)
                    }
                    _ => None,
                });
            }
        }
    }
    ValueInfo {
        name: v.name.clone(),
        elem_type,
        dims,
    }
}

/// Loads `path` as an ONNX model.
pub fn load(path: &Path) -> Result<OnnxModel> {
    let onnx = tract_onnx::onnx();
    let proto = onnx
        .proto_model_for_path(path)
        .map_err(|e| anyhow!("{} is not a readable ONNX model: {e}", path.display()))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("{} has no graph", path.display()))?;
    let dir = path.parent().and_then(|p| p.to_str());
    let mut consts = HashMap::new();
    for init in &graph.initializer {
        consts.insert(init.name.clone(), load_const(&onnx, init, dir)?);
    }
    let mut nodes = Vec::new();
    for (i, n) in graph.node.iter().enumerate() {
        let mut attrs = HashMap::new();
        for a in &n.attribute {
            let v = match a.r#type {
                1 => Attr::Float(a.f),
                2 => Attr::Int(a.i),
                3 => Attr::Str(String::from_utf8_lossy(&a.s).into_owned()),
                4 => match &a.t {
                    Some(t) => Attr::Tensor(load_const(&onnx, t, dir)?),
                    None => Attr::Other,
                },
                6 => Attr::Floats(a.floats.clone()),
                7 => Attr::Ints(a.ints.clone()),
                _ => Attr::Other,
            };
            attrs.insert(a.name.clone(), v);
        }
        let name = if n.name.is_empty() {
            format!("{}_{i}", n.op_type)
        } else {
            n.name.clone()
        };
        nodes.push(Node {
            name,
            op_type: n.op_type.clone(),
            domain: n.domain.clone(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs,
        });
    }
    let inputs = graph
        .input
        .iter()
        .filter(|v| !consts.contains_key(&v.name))
        .map(value_info)
        .collect();
    let outputs = graph.output.iter().map(value_info).collect();
    let name = if graph.name.is_empty() {
        path.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string()
    } else {
        graph.name.clone()
    };
    Ok(OnnxModel {
        name,
        nodes,
        consts,
        inputs,
        outputs,
    })
}
