//! `mote compress`: ONNX in, `.mote` out.

use std::path::Path;

use anyhow::{Context, Result};

use crate::{import, plan, write};

/// What compression produced.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Bytes of the written file.
    pub file_bytes: usize,
    /// Bytes of weights and kernel parameters.
    pub weights_bytes: usize,
    /// Arena bytes the plan needs.
    pub arena_bytes: usize,
    /// Ideal layer-by-layer activation peak.
    pub ideal_peak_bytes: usize,
    /// Ops in the file.
    pub ops: usize,
    /// MACs per inference.
    pub macs: u64,
    /// When the filters were stored for speed but many of their weights
    /// are zero (a pruned model): about the weight bytes `--sparse-weights`
    /// would give instead of `weights_bytes` (filter alignment aside).
    pub sparse_weights_bytes: Option<usize>,
}

/// Compresses an already-quantized ONNX `input` into `.mote` bytes.
pub fn compress_bytes(input: &Path) -> Result<(Vec<u8>, Summary)> {
    compress_bytes_with(input, Packing::Fast)
}

/// [`compress_bytes`] with the filter storage `packing`.
pub fn compress_bytes_with(input: &Path, packing: Packing) -> Result<(Vec<u8>, Summary)> {
    let model = import::onnx::load(input)?;
    if crate::quantize::is_float_model(&model) {
        anyhow::bail!(
            "{} is a float model: give calibration data with --calibration <samples.npy> to quantize it",
            input.display()
        );
    }
    finish_with(import::lower::lower(&model)?, packing)
}

/// Quantizes float ONNX `input` with calibration data into `.mote` bytes.
pub fn quantize_bytes(
    input: &Path,
    calibration: &Path,
    opts: &crate::quantize::Options,
) -> Result<(Vec<u8>, Summary)> {
    finish_with(
        crate::quantize::quantize(input, calibration, opts)?,
        packing(opts),
    )
}

/// The filter storage `opts` asks for.
fn packing(opts: &crate::quantize::Options) -> Packing {
    if opts.sparse_weights {
        Packing::Smallest
    } else if opts.wide_fc {
        Packing::WideFc
    } else {
        Packing::Fast
    }
}

/// How `finish` stores the int8 filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// Dense int8, or int4 where every weight of a filter fits -8..=7 (what
    /// `--weights int4` produces): the fastest kernels.
    Fast,
    /// The smallest of dense, sparse and int4 per filter
    /// (`--sparse-weights`): least flash, but the sparse kernels are slower
    /// than the dense ones.
    Smallest,
    /// [`Packing::Fast`], with every FullyConnected filter of up to 1024
    /// inputs widened to 16 bits in the DSP kernel's order (`--wide-fc`):
    /// about half the instructions per MAC on Cortex-M DSP cores, twice the
    /// flash for those filters.
    WideFc,
}

/// Packs the filters of, plans, writes and validates a lowered graph.
pub fn finish(g: crate::lir::Graph) -> Result<(Vec<u8>, Summary)> {
    finish_with(g, Packing::Fast)
}

/// [`finish`] with the filter storage `packing`.
pub fn finish_with(mut g: crate::lir::Graph, packing: Packing) -> Result<(Vec<u8>, Summary)> {
    // `--wide-fc` conflicts with `--sparse-weights`: nothing to suggest.
    let saving = match packing {
        Packing::Fast => crate::pack::sparse_saving(&g),
        Packing::Smallest | Packing::WideFc => 0,
    };
    crate::pack::pack(
        &mut g,
        packing == Packing::Smallest,
        packing == Packing::WideFc,
    );
    let p = plan::plan(&g);
    let bytes = write::to_bytes(&g, &p)?;
    // Check the result with the runtime itself before anyone flashes it.
    let aligned = crate::AlignedBytes::new(&bytes);
    mote_runtime::Model::parse(aligned.as_slice())
        .map_err(|e| anyhow::anyhow!("internal error: the written model does not validate: {e}"))?;
    let summary = Summary {
        file_bytes: bytes.len(),
        weights_bytes: g.blob.bytes.len(),
        arena_bytes: p.arena_len,
        ideal_peak_bytes: p.ideal_peak,
        ops: g.ops.len(),
        macs: g.ops.iter().map(|o| o.macs).sum(),
        // Worth a note when it saves at least a tenth.
        sparse_weights_bytes: (saving > 0 && saving * 10 >= g.blob.bytes.len())
            .then(|| g.blob.bytes.len() - saving.min(g.blob.bytes.len())),
    };
    Ok((bytes, summary))
}

/// Compresses `input` (quantizing it first when `calibration` is given) and
/// writes `output` atomically.
pub fn compress(
    input: &Path,
    output: &Path,
    calibration: Option<&Path>,
    opts: &crate::quantize::Options,
) -> Result<Summary> {
    // Say plainly when the file is missing or empty; the ONNX reader's own
    // messages for these are obscure.
    let meta =
        std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
    anyhow::ensure!(
        meta.len() > 0,
        "{} is empty, not an ONNX model",
        input.display()
    );
    let float_weights = opts.keep_float.is_empty() && calibration.is_none() && opts.float_model;
    let result = match calibration {
        Some(c) => quantize_bytes(input, c, opts),
        None if float_weights => crate::quantize::keep_float(input, opts.weights).and_then(finish),
        None => compress_bytes_with(input, packing(opts)),
    };
    let (bytes, summary) =
        result.with_context(|| format!("cannot compress {}", input.display()))?;
    write::atomic_write(output, &bytes)?;
    Ok(summary)
}
