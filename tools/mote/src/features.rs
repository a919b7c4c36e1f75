//! The `mote-runtime` cargo features a model needs (`mote inspect
//! --features`): a firmware that builds the runtime with only these links
//! only the kernels the model uses.

use anyhow::{anyhow, Result};
use mote_format::DType;
use mote_runtime::Model;

/// Features of `mote-runtime` that `model_bytes` needs, sorted, without
/// duplicates: one `op-*` feature per op family, the speed paths its layer
/// shapes use (`op-conv-rows`, `op-depthwise-chans`), and `float` when the
/// model has float ops or tensors.
pub fn needed(model_bytes: &[u8]) -> Result<Vec<&'static str>> {
    let model = Model::parse(model_bytes).map_err(|e| anyhow!("invalid model: {e}"))?;
    let mut out: Vec<&'static str> = Vec::new();
    for op in model.ops() {
        out.extend(mote_runtime::op_feature(&op.kind));
        out.extend(mote_runtime::speed_feature(&op));
        let float =
            op.output.dtype == DType::F32 || op.inputs.iter().any(|a| a.dtype == DType::F32);
        if float {
            out.push("float");
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
