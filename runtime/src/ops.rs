//! Which cargo feature of this crate runs each op.
//!
//! Every int8 op family has its own feature (`op-conv`, `op-depthwise`, …;
//! `all-ops`, a default feature, turns them all on). A firmware that knows
//! its model builds the runtime with only the features the model needs
//! (`mote inspect <model> --features` prints them): the kernels of the
//! other ops are never referenced, so the linker leaves them out. A model
//! that uses an op this build leaves out is refused at parse time with
//! [`crate::Error::OpNotBuilt`], naming the feature.

use mote_format::OpKind;

/// The feature that runs `kind`, or `None` for ops every build runs (copies
/// and constants) and float ops (the `float` feature governs those).
pub fn op_feature(kind: &OpKind) -> Option<&'static str> {
    Some(match kind {
        OpKind::Conv2d(_) => "op-conv",
        OpKind::DepthwiseConv2d { .. } => "op-depthwise",
        OpKind::FullyConnected(_) => "op-fc",
        OpKind::Conv2dPacked { .. }
        | OpKind::DepthwiseConv2dPacked { .. }
        | OpKind::FullyConnectedPacked { .. } => "op-packed",
        OpKind::Add(_) => "op-add",
        OpKind::Mul(_) => "op-mul",
        OpKind::AvgPool(_) | OpKind::MaxPool(_) => "op-pool",
        OpKind::Mean(_) => "op-mean",
        OpKind::Softmax(_) => "op-softmax",
        OpKind::Logistic(_) | OpKind::Tanh(_) => "op-lut",
        OpKind::Pad { .. } | OpKind::Concat { .. } | OpKind::Transpose { .. } => "op-layout",
        OpKind::Requantize(_) => "op-requantize",
        OpKind::Copy
        | OpKind::Constant { .. }
        | OpKind::Float(_)
        | OpKind::Quantize(_)
        | OpKind::Dequantize(_) => return None,
    })
}

/// Every op feature and whether this build has it.
const FEATURES: [(&str, bool); 12] = [
    ("op-conv", cfg!(feature = "op-conv")),
    ("op-depthwise", cfg!(feature = "op-depthwise")),
    ("op-fc", cfg!(feature = "op-fc")),
    ("op-packed", cfg!(feature = "op-packed")),
    ("op-add", cfg!(feature = "op-add")),
    ("op-mul", cfg!(feature = "op-mul")),
    ("op-pool", cfg!(feature = "op-pool")),
    ("op-mean", cfg!(feature = "op-mean")),
    ("op-softmax", cfg!(feature = "op-softmax")),
    ("op-lut", cfg!(feature = "op-lut")),
    ("op-layout", cfg!(feature = "op-layout")),
    ("op-requantize", cfg!(feature = "op-requantize")),
];

/// Whether this build has `feature` (one of [`op_feature`]'s names).
fn built(feature: &str) -> bool {
    FEATURES.iter().any(|&(f, on)| on && f == feature)
}

/// The feature `kind` needs and this build leaves out, if any.
pub(crate) fn missing(kind: &OpKind) -> Option<&'static str> {
    op_feature(kind).filter(|f| !built(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_feature_is_declared_and_in_all_ops() {
        let manifest = include_str!("../Cargo.toml");
        let all_ops = manifest
            .lines()
            .find(|l| l.starts_with("all-ops = "))
            .unwrap_or("");
        for (f, _) in FEATURES {
            let declared = manifest.lines().any(|l| l.split(" = ").next() == Some(f));
            assert!(declared, "{f} not declared");
            assert!(all_ops.split('"').any(|p| p == f), "{f} not in all-ops");
        }
        let named = [
            op_feature(&OpKind::Concat { axis: 3 }),
            op_feature(&OpKind::Transpose { perm: [0, 1, 2, 3] }),
        ];
        for f in named.into_iter().flatten() {
            assert!(FEATURES.iter().any(|(g, _)| *g == f), "{f}");
        }
        assert_eq!(op_feature(&OpKind::Copy), None);
        // The default build (all-ops) runs every op; unknown names are not built.
        assert!(FEATURES.iter().all(|&(f, _)| built(f)));
        assert!(!built("op-unknown"));
    }
}
