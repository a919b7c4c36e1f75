//! Which cargo feature of this crate runs each op.
//!
//! Every int8 op family has its own feature (`op-conv`, `op-depthwise`, …;
//! `all-ops`, a default feature, turns them all on). A firmware that knows
//! its model builds the runtime with only the features the model needs
//! (`mote inspect <model> --features` prints them): the kernels of the
//! other ops are never referenced, so the linker leaves them out. A model
//! that uses an op this build leaves out is refused at parse time with
//! [`crate::Error::OpNotBuilt`], naming the feature.

use mote_format::{OpKind, OP_KINDS};

use crate::Error;

/// The feature that runs `kind`, or `None` for ops every build runs (copies
/// and constants) and float ops (the `float` feature governs those).
pub fn op_feature(kind: &OpKind) -> Option<&'static str> {
    Some(match kind {
        OpKind::Conv2d(_) => "op-conv",
        OpKind::DepthwiseConv2d {
            depth_multiplier, ..
        } if *depth_multiplier > 1 => "op-depthwise-multiplier",
        OpKind::DepthwiseConv2d { .. } => "op-depthwise",
        OpKind::FullyConnected(_) => "op-fc",
        OpKind::Conv2dPacked { .. }
        | OpKind::DepthwiseConv2dPacked { .. }
        | OpKind::FullyConnectedPacked { .. } => "op-packed",
        OpKind::Add(_) => "op-add",
        OpKind::Mul(_) => "op-mul",
        OpKind::AvgPool(_) => "op-avg-pool",
        OpKind::MaxPool(_) => "op-max-pool",
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

/// The speed-path feature an op's shape can use (`op-conv-rows`,
/// `op-depthwise-chans`), if any: a build without it runs the op all the
/// same, on the general path. `mote inspect --features` names it so that a
/// lean firmware links the paths its model uses and no other.
pub fn speed_feature(op: &mote_format::Op<'_>) -> Option<&'static str> {
    let dims = |d: [u32; 4]| d.map(|v| v as usize);
    match &op.kind {
        OpKind::Conv2d(c) => {
            let rows = mote_kernels::fast::conv_rows_apply(
                dims(c.filter_dims),
                usize::from(c.dilation[1]),
            );
            rows.then_some("op-conv-rows")
        }
        OpKind::DepthwiseConv2d {
            conv: c,
            depth_multiplier: 1,
        } => {
            let [_, oh, ow, _] = dims(op.output.dims);
            let stride = c.stride.map(usize::from);
            let act = (c.act_min, c.act_max);
            let chans = mote_kernels::fast::dw_chans_apply(
                dims(c.filter_dims),
                stride,
                oh.saturating_mul(ow),
                act,
            );
            chans.then_some("op-depthwise-chans")
        }
        _ => None,
    }
}

/// Every op feature and whether this build has it.
#[cfg(test)]
const FEATURES: [(&str, bool); 16] = [
    ("op-conv", cfg!(feature = "op-conv")),
    ("op-conv-rows", cfg!(feature = "op-conv-rows")),
    ("op-depthwise", cfg!(feature = "op-depthwise")),
    ("op-depthwise-chans", cfg!(feature = "op-depthwise-chans")),
    (
        "op-depthwise-multiplier",
        cfg!(feature = "op-depthwise-multiplier"),
    ),
    ("op-fc", cfg!(feature = "op-fc")),
    ("op-packed", cfg!(feature = "op-packed")),
    ("op-add", cfg!(feature = "op-add")),
    ("op-mul", cfg!(feature = "op-mul")),
    ("op-avg-pool", cfg!(feature = "op-avg-pool")),
    ("op-max-pool", cfg!(feature = "op-max-pool")),
    ("op-mean", cfg!(feature = "op-mean")),
    ("op-softmax", cfg!(feature = "op-softmax")),
    ("op-lut", cfg!(feature = "op-lut")),
    ("op-layout", cfg!(feature = "op-layout")),
    ("op-requantize", cfg!(feature = "op-requantize")),
];

/// Whether this build has `feature` (one of [`op_feature`]'s names).
#[cfg(test)]
fn built(feature: &str) -> bool {
    FEATURES.iter().any(|&(f, on)| on && f == feature)
}

/// The feature of each `OpKind` variant index (the postcard tag), as
/// [`op_feature`] names them.
const FEATURE_OF: [Option<&str>; OP_KINDS as usize] = [
    Some("op-conv"),       // Conv2d
    Some("op-depthwise"),  // DepthwiseConv2d
    Some("op-fc"),         // FullyConnected
    Some("op-add"),        // Add
    Some("op-mul"),        // Mul
    Some("op-avg-pool"),   // AvgPool
    Some("op-max-pool"),   // MaxPool
    Some("op-mean"),       // Mean
    Some("op-softmax"),    // Softmax
    Some("op-lut"),        // Logistic
    Some("op-lut"),        // Tanh
    Some("op-layout"),     // Pad
    Some("op-layout"),     // Concat
    Some("op-layout"),     // Transpose
    Some("op-requantize"), // Requantize
    None,                  // Copy
    None,                  // Float
    None,                  // Quantize
    None,                  // Dequantize
    None,                  // Constant
    Some("op-packed"),     // Conv2dPacked
    Some("op-packed"),     // DepthwiseConv2dPacked
    Some("op-packed"),     // FullyConnectedPacked
];

/// Bit `i` for variant index `i` if `on`.
const fn bit(i: u32, on: bool) -> u32 {
    if on {
        1 << i
    } else {
        0
    }
}

/// The `OpKind` variants this build decodes and runs (bit `i`: variant
/// index `i`): `mote_format::take_op` reads only these, so the readers,
/// checks and kernels of the others are not linked.
pub(crate) const KINDS: u32 = bit(0, cfg!(feature = "op-conv"))
    | bit(1, cfg!(feature = "op-depthwise"))
    | bit(2, cfg!(feature = "op-fc"))
    | bit(3, cfg!(feature = "op-add"))
    | bit(4, cfg!(feature = "op-mul"))
    | bit(5, cfg!(feature = "op-avg-pool"))
    | bit(6, cfg!(feature = "op-max-pool"))
    | bit(7, cfg!(feature = "op-mean"))
    | bit(8, cfg!(feature = "op-softmax"))
    | bit(9, cfg!(feature = "op-lut"))
    | bit(10, cfg!(feature = "op-lut"))
    | bit(11, cfg!(feature = "op-layout"))
    | bit(12, cfg!(feature = "op-layout"))
    | bit(13, cfg!(feature = "op-layout"))
    | bit(14, cfg!(feature = "op-requantize"))
    | bit(15, true)
    | bit(16, cfg!(feature = "float"))
    | bit(17, cfg!(feature = "float"))
    | bit(18, cfg!(feature = "float"))
    | bit(19, true)
    | bit(20, cfg!(feature = "op-packed"))
    | bit(21, cfg!(feature = "op-packed"))
    | bit(22, cfg!(feature = "op-packed"));

/// Why this build refuses an op of variant index `index` before decoding
/// it: the feature it needs and leaves out ([`Error::OpNotBuilt`]), or a
/// float op without the `float` feature ([`Error::BadOp`]). `None` for the
/// ops it runs, and for an index past the last variant (a decode error).
pub(crate) fn refuse(index: u32, op: u16) -> Option<Error> {
    let feature = FEATURE_OF.get(index as usize)?;
    if KINDS & (1 << index) != 0 {
        return None;
    }
    Some(match feature {
        Some(feature) => Error::OpNotBuilt { op, feature },
        None => Error::BadOp(op),
    })
}

/// Why this build refuses a decoded op that its kind's feature runs only
/// in part: a DepthwiseConv2d with a depth multiplier above 1 needs
/// `op-depthwise-multiplier` (whose kernel fallback a lean build leaves
/// out). `None` if this build runs it.
pub(crate) fn refuse_variant(kind: &OpKind, op: u16) -> Option<Error> {
    match kind {
        OpKind::DepthwiseConv2d {
            depth_multiplier, ..
        } if *depth_multiplier > 1 && !cfg!(feature = "op-depthwise-multiplier") => {
            Some(Error::OpNotBuilt {
                op,
                feature: "op-depthwise-multiplier",
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

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
        // FEATURE_OF (by postcard tag) agrees with op_feature, and the
        // default build decodes every kind.
        let kinds = [
            OpKind::Concat { axis: 3 },
            OpKind::Transpose { perm: [0, 1, 2, 3] },
            OpKind::Copy,
            OpKind::Constant {
                data: mote_format::BlobRef::default(),
            },
            OpKind::Softmax(mote_format::SoftmaxSpec {
                input_multiplier: 1,
                input_left_shift: 0,
                diff_min: 0,
            }),
            OpKind::Quantize(mote_format::QuantSpec {
                scale: 1.0,
                zero_point: 0,
            }),
        ];
        for k in &kinds {
            let mut bytes = Vec::new();
            mote_format::put(k, &mut bytes).unwrap();
            let index = u32::from(bytes[0]);
            assert_eq!(FEATURE_OF[index as usize], op_feature(k), "{k:?}");
            assert!(refuse(index, 0).is_none(), "{k:?}");
        }
        assert_eq!(KINDS, mote_format::ALL_KINDS);
        assert!(refuse(mote_format::OP_KINDS, 0).is_none());
    }
}
