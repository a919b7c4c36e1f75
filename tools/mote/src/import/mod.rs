//! ONNX import: reading a model and lowering its quantized patterns
//! (QDQ and QOperator forms) to the runtime's int8 ops.

mod float;
mod layout;
mod linear;
mod operands;
mod pending;
pub use float::KEEP_FLOAT;
pub mod lower;
pub mod onnx;
mod ops;
pub mod values;

use std::path::Path;

use anyhow::Result;

/// The ONNX ops the importer understands.
pub const SUPPORTED: &[&str] = &[
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "Conv",
    "MatMul",
    "Gemm",
    "Add",
    "Mul",
    "AveragePool",
    "MaxPool",
    "GlobalAveragePool",
    "ReduceMean",
    "Softmax",
    "Sigmoid",
    "Tanh",
    "Relu",
    "Clip",
    "Concat",
    "Pad",
    "Transpose",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Constant",
];

/// Loads and lowers an ONNX model file.
pub fn import(path: &Path) -> Result<crate::lir::Graph> {
    let model = onnx::load(path)?;
    lower::lower(&model)
}
