//! Post-training static quantization of float ONNX models: graph
//! preparation, calibration on the user's data with tract's float model,
//! int8 per-channel weights and per-tensor activations, then the QDQ
//! importer's lowering.

pub mod bias_correction;
pub mod channels;
pub mod data;
pub mod layers;
pub mod prepare;
pub mod proto;
pub mod prune;
pub mod prune_refit;
pub mod qdq;
pub mod ranges;
pub mod rounding;
pub mod sequential;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::float_ref::FloatModel;
use crate::import::onnx::{self, elem, OnnxModel};
use crate::lir::Graph;
use qdq::Role;
pub use ranges::Method;

/// Quantization options.
#[derive(Debug, Clone)]
pub struct Options {
    /// How activation ranges are chosen.
    pub method: Method,
    /// The input shape when the model's is dynamic.
    pub input_shape: Option<Vec<usize>>,
    /// Show a progress bar while calibrating.
    pub progress: bool,
    /// Nodes kept in float (f32 compute) in an otherwise int8 model.
    pub keep_float: Vec<String>,
    /// Storage of float weights (kept nodes, or a float model).
    pub weights: mote_format::WeightType,
    /// Keep the whole (float) model in float instead of quantizing it.
    pub float_model: bool,
    /// Fold each layer's mean output error against the float model into
    /// its bias after quantization.
    pub bias_correction: Option<bias_correction::Mode>,
    /// Float weights zeroed by magnitude before quantization.
    pub prune: prune::Prune,
    /// After `prune`, refit each pruned layer's remaining weights by least
    /// squares towards the float teacher's output ([`prune_refit`]).
    pub prune_reconstruct: bool,
    /// Choose each layer's int8 weights against the float teacher (GPTQ)
    /// instead of rounding them to nearest.
    pub optimize_rounding: bool,
    /// With `optimize_rounding`: layer by layer on the student's own
    /// inputs, each layer's weights refitted towards the teacher's output
    /// before rounding ([`sequential`]), instead of each layer on the
    /// teacher's inputs on its own.
    pub sequential_rounding: bool,
    /// Quantize Conv/FC weights to int4 (symmetric -7..=7 per output
    /// channel, stored two per byte) instead of int8; activations stay int8.
    pub int4: bool,
    /// Whole output channels removed before quantization (structured
    /// pruning, with or without a least-squares refit of the next layer).
    pub prune_channels: Option<channels::Channels>,
    /// Store filters sparse where that is smaller than dense int8 (less
    /// flash; the sparse kernels run slower than the dense ones).
    pub sparse_weights: bool,
    /// Store FullyConnected filters widened to 16 bits in the DSP kernel's
    /// order (faster on Cortex-M DSP cores, twice their flash).
    pub wide_fc: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Mse,
            input_shape: None,
            progress: false,
            keep_float: Vec::new(),
            weights: mote_format::WeightType::F32,
            float_model: false,
            bias_correction: None,
            prune: prune::Prune::default(),
            prune_reconstruct: true,
            optimize_rounding: false,
            sequential_rounding: false,
            int4: false,
            prune_channels: None,
            sparse_weights: false,
            wide_fc: false,
        }
    }
}

/// True when the model has no quantization nodes (a float model).
pub fn is_float_model(m: &OnnxModel) -> bool {
    !m.nodes.iter().any(|n| {
        matches!(
            n.op_type.as_str(),
            "QuantizeLinear" | "DequantizeLinear" | "QLinearConv" | "QLinearMatMul"
        )
    })
}

/// The model's single float input shape, with a dynamic batch taken as 1
/// and `given` overriding it.
pub fn input_shape(m: &OnnxModel, given: Option<&[usize]>) -> Result<Vec<usize>> {
    let [input] = m.inputs.as_slice() else {
        bail!(
            "Mote quantizes single-input models; this one has {} inputs",
            m.inputs.len()
        );
    };
    if input.elem_type != elem::FLOAT {
        bail!("input '{}' is not float32", input.name);
    }
    if let Some(s) = given {
        if s.len() != input.dims.len() {
            bail!(
                "--input-shape has rank {}, input '{}' has rank {}",
                s.len(),
                input.name,
                input.dims.len()
            );
        }
        return Ok(s.to_vec());
    }
    input
        .dims
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Some(x) => Ok(*x),
            None if i == 0 => Ok(1),
            None => Err(anyhow!(
                "input '{}' has a dynamic dimension {i}; give its shape with --input-shape (e.g. 1,3,32,32)",
                input.name
            )),
        })
        .collect()
}

/// Quantizes float ONNX `path` with the calibration data at `calibration`.
pub fn quantize(path: &Path, calibration: &Path, opts: &Options) -> Result<Graph> {
    let mut m = onnx::load(path)?;
    if !is_float_model(&m) {
        bail!(
            "{} is already quantized; --calibration is for float models",
            path.display()
        );
    }
    let shape = input_shape(&m, opts.input_shape.as_deref())?;
    for (name, c) in &m.consts {
        if c.to_f32().iter().any(|v| !v.is_finite()) {
            bail!("constant '{name}' contains NaN or infinite values");
        }
    }
    prepare::prepare(&mut m)?;
    mark_kept(&mut m, &opts.keep_float)?;
    let template = proto::read(path)?;
    let dir = path.parent().and_then(|p| p.to_str());
    let samples = data::load_samples(calibration, &shape)?;
    // Structured pruning gives a smaller float model, which is then the
    // teacher of the steps below.
    if let Some(c) = opts.prune_channels {
        let context = bias_correction::Teacher {
            template: &template,
            dir,
            input_shape: &shape,
            samples: &samples,
        };
        let report = channels::prune_channels(&mut m, c, &context)?;
        eprint!("{}", report.render());
    }
    let teacher = m.clone();
    let context = bias_correction::Teacher {
        template: &template,
        dir,
        input_shape: &shape,
        samples: &samples,
    };
    let mut refitted = false;
    if !opts.prune.is_empty() {
        prune::prune(&mut m, &opts.prune)?;
        if opts.prune_reconstruct {
            let report = prune_refit::refit_pruned(&mut m, &teacher, &context)?;
            if opts.progress {
                eprint!("{}", report.render());
            }
            refitted = !report.refitted.is_empty();
        }
    }
    let points = qdq::quant_points(&m)?;
    let probes: Vec<String> = points
        .iter()
        .filter(|(_, r)| *r == Role::Calibrated)
        .map(|(n, _)| n.clone())
        .collect();
    // A pruned model's ranges are its own: calibrate the graph in memory.
    let float = if opts.prune.is_empty() && opts.prune_channels.is_none() {
        FloatModel::load(path, &shape, &probes)?
    } else {
        use tract_onnx::prelude::Datum;
        FloatModel::from_proto(
            &proto::to_proto(&m, &template, &shape)?,
            dir,
            "the pruned float model",
            &shape,
            &probes,
            f32::datum_type(),
        )?
    };
    let mut stats: Vec<ranges::Stats> = vec![ranges::Stats::default(); probes.len()];
    let bar = if opts.progress {
        indicatif::ProgressBar::new(samples.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message("calibrating");
    for s in &samples {
        let outs = float.run(s)?;
        for ((st, (_, v)), name) in stats.iter_mut().zip(&outs).zip(&probes) {
            st.add(v, name)?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut params: HashMap<String, (f32, i32)> = HashMap::new();
    for (st, name) in stats.iter().zip(&probes) {
        let (lo, hi) = st.range(opts.method);
        params.insert(name.clone(), ranges::act_params(lo, hi));
    }
    // Fixed and inherited parameters, in graph order so sources come first.
    for (name, role) in &points {
        match role {
            Role::Calibrated => {}
            Role::Fixed(s, z) => {
                params.insert(name.clone(), (*s, *z));
            }
            Role::SameAs(src) => {
                let p = source_params(&m, &params, src)
                    .ok_or_else(|| anyhow!("value '{name}': no quantized source for its range"))?;
                params.insert(name.clone(), p);
            }
        }
    }
    let qmax = if opts.int4 { 7 } else { 127 };
    if opts.optimize_rounding {
        let rounding = rounding::Rounding {
            qmax: f64::from(qmax),
            hold_zeros: refitted || opts.sequential_rounding,
            progress: opts.progress,
        };
        if opts.sequential_rounding {
            let skipped = sequential::optimize(&mut m, &teacher, &context, &rounding)?;
            for (name, why) in skipped {
                if opts.progress {
                    eprintln!("note: layer '{name}' rounded to nearest: {why}");
                }
            }
        } else if refitted {
            // After a refit the refitted weights, on the pruned model's own
            // inputs, are what the rounding should stay close to.
            let reference = m.clone();
            rounding::optimize(&mut m, &reference, &context, &rounding)?;
        } else {
            rounding::optimize(&mut m, &teacher, &context, &rounding)?;
        }
    }
    if opts.int4 {
        qdq::fix_weight_grid(&mut m, qmax as f32);
    }
    if let Some(mode) = opts.bias_correction {
        bias_correction::correct(&mut m, &teacher, &params, &context, mode, opts.progress)?;
    }
    qdq::to_qdq(&mut m, &params)?;
    let lower = crate::import::lower::LowerOptions {
        float: false,
        weights: opts.weights,
    };
    crate::import::lower::lower_with(&m, lower)
}

/// Lowers a float model entirely in float (no calibration needed).
pub fn keep_float(path: &Path, weights: mote_format::WeightType) -> Result<Graph> {
    let mut m = onnx::load(path)?;
    if !is_float_model(&m) {
        bail!(
            "{} is already quantized; --weights f32|f16 keeps float models in float",
            path.display()
        );
    }
    prepare::prepare(&mut m)?;
    crate::import::lower::lower_with(
        &m,
        crate::import::lower::LowerOptions {
            float: true,
            weights,
        },
    )
}

/// Marks the named nodes (and an activation that alone follows one) to be
/// lowered in float.
fn mark_kept(m: &mut OnnxModel, names: &[String]) -> Result<()> {
    use crate::import::onnx::Attr;
    for name in names {
        let i = m
            .nodes
            .iter()
            .position(|n| &n.name == name)
            .ok_or_else(|| anyhow!("--keep-float: the model has no node named '{name}'"))?;
        m.nodes[i]
            .attrs
            .insert(crate::import::KEEP_FLOAT.into(), Attr::Int(1));
        let out = m.nodes[i].outputs.first().cloned().unwrap_or_default();
        let users: Vec<usize> = (0..m.nodes.len())
            .filter(|&j| m.nodes[j].inputs.contains(&out))
            .collect();
        if let [j] = users[..] {
            if matches!(m.nodes[j].op_type.as_str(), "Relu" | "Clip") {
                m.nodes[j]
                    .attrs
                    .insert(crate::import::KEEP_FLOAT.into(), Attr::Int(1));
            }
        }
    }
    Ok(())
}

/// Parameters of `value`, or of the nearest quantized value it passes
/// through (reshapes and transposes keep their input's quantization).
fn source_params(
    m: &OnnxModel,
    params: &HashMap<String, (f32, i32)>,
    value: &str,
) -> Option<(f32, i32)> {
    let mut v = value.to_string();
    for _ in 0..m.nodes.len() + 1 {
        if let Some(p) = params.get(&v) {
            return Some(*p);
        }
        let producer = m.nodes.iter().find(|n| n.outputs.first() == Some(&v))?;
        v = producer.inputs.first()?.clone();
    }
    None
}
