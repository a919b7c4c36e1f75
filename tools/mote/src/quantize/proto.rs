//! An in-memory `OnnxModel` back to an ONNX protobuf, so tract can run a
//! graph the quantizer rewrote (the prepared float teacher, or its
//! fake-quantized twin) without a file.

use anyhow::{anyhow, Result};
use tract_onnx::pb;

use crate::import::onnx::{elem, Attr, Const, Data, OnnxModel, ValueInfo};

fn tensor(name: &str, c: &Const) -> pb::TensorProto {
    let (data_type, raw_data): (i32, Vec<u8>) = match &c.data {
        Data::F32(v) => (
            elem::FLOAT,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        Data::I8(v) => (elem::INT8, v.iter().map(|&x| x as u8).collect()),
        Data::U8(v) => (elem::UINT8, v.clone()),
        Data::I32(v) => (
            elem::INT32,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        Data::I64(v) => (
            elem::INT64,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
    };
    pb::TensorProto {
        name: name.to_string(),
        dims: c.shape.iter().map(|&d| d as i64).collect(),
        data_type,
        raw_data,
        ..Default::default()
    }
}

fn attribute(name: &str, a: &Attr) -> Option<pb::AttributeProto> {
    let mut p = pb::AttributeProto {
        name: name.to_string(),
        ..Default::default()
    };
    match a {
        Attr::Int(i) => {
            p.r#type = 2;
            p.i = *i;
        }
        Attr::Ints(v) => {
            p.r#type = 7;
            p.ints = v.clone();
        }
        Attr::Float(f) => {
            p.r#type = 1;
            p.f = *f;
        }
        Attr::Floats(v) => {
            p.r#type = 6;
            p.floats = v.clone();
        }
        Attr::Str(s) => {
            p.r#type = 3;
            p.s = s.as_bytes().to_vec();
        }
        Attr::Tensor(c) => {
            p.r#type = 4;
            p.t = Some(tensor("", c));
        }
        Attr::Other => return None,
    }
    Some(p)
}

fn value_info(v: &ValueInfo, shape: Option<&[usize]>) -> pb::ValueInfoProto {
    let r#type = shape.map(|s| pb::TypeProto {
        value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
            elem_type: v.elem_type,
            shape: Some(pb::TensorShapeProto {
                dim: s
                    .iter()
                    .map(|&d| pb::tensor_shape_proto::Dimension {
                        value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d as i64)),
                        ..Default::default()
                    })
                    .collect(),
            }),
        })),
        ..Default::default()
    });
    pb::ValueInfoProto {
        name: v.name.clone(),
        r#type,
        ..Default::default()
    }
}

/// `m` as a protobuf model with the opset of `template` (the file `m` was
/// read from) and its single input fixed to `input_shape`. Mote's private
/// node attributes are left out.
pub fn to_proto(
    m: &OnnxModel,
    template: &pb::ModelProto,
    input_shape: &[usize],
) -> Result<pb::ModelProto> {
    let input = m
        .inputs
        .first()
        .ok_or_else(|| anyhow!("the model has no input"))?;
    let mut names: Vec<&String> = m.consts.keys().collect();
    names.sort();
    let graph = pb::GraphProto {
        name: m.name.clone(),
        node: m
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut keys: Vec<&String> = n.attrs.keys().collect();
                keys.sort();
                pb::NodeProto {
                    // Unique (values are found by their names, not nodes').
                    name: format!("{}#{i}", n.name),
                    op_type: n.op_type.clone(),
                    domain: n.domain.clone(),
                    input: n.inputs.clone(),
                    output: n.outputs.clone(),
                    attribute: keys
                        .into_iter()
                        .filter(|k| k.as_str() != crate::import::KEEP_FLOAT)
                        .filter_map(|k| attribute(k, &n.attrs[k]))
                        .collect(),
                    ..Default::default()
                }
            })
            .collect(),
        initializer: names.iter().map(|k| tensor(k, &m.consts[*k])).collect(),
        input: vec![value_info(input, Some(input_shape))],
        output: m.outputs.iter().map(|o| value_info(o, None)).collect(),
        ..Default::default()
    };
    Ok(pb::ModelProto {
        ir_version: template.ir_version,
        opset_import: template.opset_import.clone(),
        graph: Some(graph),
        ..Default::default()
    })
}

/// The protobuf of the ONNX file at `path` (for its opset and IR version).
pub fn read(path: &std::path::Path) -> Result<pb::ModelProto> {
    use tract_onnx::prelude::Framework;
    tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| anyhow!("{} is not a readable ONNX model: {e}", path.display()))
}
