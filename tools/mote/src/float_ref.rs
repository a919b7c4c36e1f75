//! The float reference: tract's typed (not optimized) model of an ONNX file,
//! with chosen intermediate values exposed by their ONNX names. Used to
//! calibrate activation ranges and as the oracle of `mote eval`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use tract_onnx::prelude::*;

/// A runnable float model exposing named values.
pub struct FloatModel {
    plan: Arc<TypedSimplePlan>,
    /// Names of the exposed values, in output order.
    pub names: Vec<String>,
    /// Input shape used for every run.
    pub input_shape: Vec<usize>,
}

impl FloatModel {
    /// Loads `path` with its single input fixed to `input_shape`, exposing the
    /// values named in `probes` (unknown names are an error).
    pub fn load(path: &Path, input_shape: &[usize], probes: &[String]) -> Result<Self> {
        Self::load_typed(path, input_shape, probes, f32::datum_type())
    }

    /// As `load`, with the input of element type `dt` (int8 for models with
    /// an int8 input, such as tf2onnx's conversions of int8 TFLite models).
    pub fn load_typed(
        path: &Path,
        input_shape: &[usize],
        probes: &[String],
        dt: DatumType,
    ) -> Result<Self> {
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_path(path)
            .map_err(|e| anyhow!("{} is not a readable ONNX model: {e}", path.display()))?;
        let dir = path.parent().and_then(|p| p.to_str());
        Self::from_proto(
            &proto,
            dir,
            &path.display().to_string(),
            input_shape,
            probes,
            dt,
        )
    }

    /// As `load_typed`, from a protobuf model in memory (`dir` resolves
    /// external data; `what` names the model in errors).
    pub fn from_proto(
        proto: &tract_onnx::pb::ModelProto,
        dir: Option<&str>,
        what: &str,
        input_shape: &[usize],
        probes: &[String],
        dt: DatumType,
    ) -> Result<Self> {
        let onnx = tract_onnx::onnx();
        let parsed = onnx
            .parse(proto, dir)
            .map_err(|e| anyhow!("tract cannot load {what}: {e:#}"))?;
        let mut model = parsed.model;
        let mut outlets = Vec::new();
        for name in probes {
            let o = parsed
                .outlets_by_name
                .get(name)
                .ok_or_else(|| anyhow!("value '{name}' not found in the float model"))?;
            outlets.push(*o);
        }
        model
            .select_output_outlets(&outlets)
            .map_err(|e| anyhow!("{e:#}"))?;
        model
            .set_input_fact(0, InferenceFact::dt_shape(dt, input_shape))
            .map_err(|e| anyhow!("{e:#}"))?;
        let typed = model
            .into_typed()
            .map_err(|e| anyhow!("tract cannot type the float model {what}: {e:#}"))?;
        let plan = typed.into_runnable().map_err(|e| anyhow!("{e:#}"))?;
        Ok(Self {
            plan,
            names: probes.to_vec(),
            input_shape: input_shape.to_vec(),
        })
    }

    /// Runs one sample; returns each exposed value as (shape, data).
    pub fn run(&self, input: &[f32]) -> Result<Vec<(Vec<usize>, Vec<f32>)>> {
        let t = Tensor::from_shape(&self.input_shape, input)
            .context("input does not fit the model shape")?;
        self.run_tensor(t)
    }

    /// Runs one int8 sample (a model loaded with an int8 input).
    pub fn run_i8(&self, input: &[i8]) -> Result<Vec<(Vec<usize>, Vec<f32>)>> {
        let t = Tensor::from_shape(&self.input_shape, input)
            .context("input does not fit the model shape")?;
        self.run_tensor(t)
    }

    fn run_tensor(&self, t: Tensor) -> Result<Vec<(Vec<usize>, Vec<f32>)>> {
        let outs = self
            .plan
            .run(tvec!(t.into()))
            .map_err(|e| anyhow!("float model failed: {e:#}"))?;
        outs.iter()
            .map(|v| {
                let v = v.cast_to::<f32>().map_err(|e| anyhow!("{e:#}"))?;
                let view = v
                    .to_plain_array_view::<f32>()
                    .map_err(|e| anyhow!("{e:#}"))?;
                Ok((view.shape().to_vec(), view.iter().copied().collect()))
            })
            .collect()
    }
}
