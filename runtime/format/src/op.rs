//! Operator records: what to run, on which arena ranges, with which
//! precomputed integer parameters.

use serde::{Deserialize, Serialize};

/// Most inputs one operator may have (Concat is the widest).
pub const MAX_OP_INPUTS: usize = 8;

/// A range of the weight blob: byte offset from the blob's start and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BlobRef {
    /// Byte offset in the weight blob (a multiple of 16).
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// An operator's view of an activation tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ActRef {
    /// Index in the tensor table.
    pub tensor: u16,
    /// Element type (copied from the tensor table).
    pub dtype: crate::DType,
    /// Byte offset in the arena (copied from the tensor table for direct access).
    pub offset: u32,
    /// NHWC dims (copied from the tensor table).
    pub dims: [u32; 4],
}

/// One operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op<'a> {
    /// Name of the source node the op came from.
    pub name: &'a str,
    /// What the op computes, with its parameters.
    pub kind: OpKind,
    /// Activation inputs.
    pub inputs: heapless::Vec<ActRef, MAX_OP_INPUTS>,
    /// The activation output.
    pub output: ActRef,
}

/// Convolution parameters shared by `Conv2d` and `DepthwiseConv2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvSpec {
    /// Stride (height, width).
    pub stride: [u16; 2],
    /// Dilation (height, width).
    pub dilation: [u16; 2],
    /// Padding before the data (top, left).
    pub padding: [u16; 2],
    /// Minus the input zero point.
    pub input_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Lower clamp of the output (fused activation), quantized.
    pub act_min: i32,
    /// Upper clamp of the output (fused activation), quantized.
    pub act_max: i32,
    /// int8 filter: OHWI for Conv2d, [1, KH, KW, OC] for DepthwiseConv2d.
    pub filter: BlobRef,
    /// Filter dims as stored.
    pub filter_dims: [u32; 4],
    /// int32 bias per output channel (may be empty).
    pub bias: BlobRef,
    /// int32 requantization multipliers (one, or one per output channel).
    pub multiplier: BlobRef,
    /// int32 requantization shifts, same count as multipliers.
    pub shift: BlobRef,
}

/// Fully-connected parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FcSpec {
    /// Minus the input zero point.
    pub input_offset: i32,
    /// Minus the filter zero point (0 for symmetric weights).
    pub filter_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Lower output clamp.
    pub act_min: i32,
    /// Upper output clamp.
    pub act_max: i32,
    /// int8 filter, [out_features, in_features].
    pub filter: BlobRef,
    /// int32 bias (may be empty).
    pub bias: BlobRef,
    /// int32 multipliers (one, or one per output feature).
    pub multiplier: BlobRef,
    /// int32 shifts.
    pub shift: BlobRef,
    /// Input features per row.
    pub in_features: u32,
    /// Output features per row.
    pub out_features: u32,
}

/// Add parameters (TFLite's int8 Add with rescaling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct AddSpec {
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
    pub left_shift: i32,
    pub input1_multiplier: i32,
    pub input1_shift: i32,
    pub input2_multiplier: i32,
    pub input2_shift: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Mul parameters (TFLite's int8 Mul).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct MulSpec {
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Pooling window parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct PoolSpec {
    pub stride: [u16; 2],
    pub filter: [u16; 2],
    pub padding: [u16; 2],
    pub act_min: i32,
    pub act_max: i32,
}

/// Mean over height and width (TFLite's int8 Mean, keep_dims).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct MeanSpec {
    pub multiplier: i32,
    pub shift: i32,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    /// Input and output quantization are identical (TFLM's plain mean path).
    pub same_quantization: bool,
}

/// Softmax parameters (int8 in, int8 out with scale 1/256 and zero point -128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct SoftmaxSpec {
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    pub diff_min: i32,
}

/// Logistic / Tanh parameters (TFLite int8 fixed-point forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LutActSpec {
    pub input_zero_point: i32,
    pub input_range_radius: i32,
    pub input_multiplier: i32,
    pub input_left_shift: i32,
}

/// int8 to int8 requantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RequantSpec {
    pub input_zero_point: i32,
    pub multiplier: i32,
    pub shift: i32,
    pub output_zero_point: i32,
}

/// What an op computes. New variants are only ever appended (postcard tags
/// are indices), so older files keep decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OpKind {
    /// 2-D convolution, one input.
    Conv2d(ConvSpec),
    /// Depthwise 2-D convolution, one input.
    DepthwiseConv2d {
        /// Convolution parameters.
        conv: ConvSpec,
        /// Output channels per input channel.
        depth_multiplier: u16,
    },
    /// Fully connected, one input viewed as [rows, in_features].
    FullyConnected(FcSpec),
    /// Element-wise add of two inputs with broadcasting.
    Add(AddSpec),
    /// Element-wise multiply of two inputs with broadcasting.
    Mul(MulSpec),
    /// Average pooling.
    AvgPool(PoolSpec),
    /// Max pooling.
    MaxPool(PoolSpec),
    /// Mean over H and W.
    Mean(MeanSpec),
    /// Softmax over the last dimension.
    Softmax(SoftmaxSpec),
    /// Logistic (sigmoid); output scale 1/256, zero point -128.
    Logistic(LutActSpec),
    /// Tanh; output scale 1/128, zero point 0.
    Tanh(LutActSpec),
    /// Constant padding of the NHWC dims.
    Pad {
        /// (before, after) per dim.
        pads: [[u32; 2]; 4],
        /// Quantized pad value (the zero point).
        value: i8,
    },
    /// Concatenation along an NHWC axis.
    Concat {
        /// Axis 0..4 of the NHWC view.
        axis: u8,
    },
    /// Permutation of the NHWC dims.
    Transpose {
        /// Output dim i is input dim perm\[i\].
        perm: [u8; 4],
    },
    /// int8 to int8 rescale.
    Requantize(RequantSpec),
    /// Byte copy (a reshape whose buffers could not be shared).
    Copy,
    /// Float computation (a model or layers kept in float).
    Float(FloatOp),
    /// float32 to int8: `round(x / scale) + zero_point`, saturated (TFLite rounding).
    Quantize(QuantSpec),
    /// int8 to float32: `scale * (q - zero_point)`.
    Dequantize(QuantSpec),
    /// Loads a constant int8 tensor from the weight blob into the arena
    /// (a constant operand of an element-wise op). No inputs.
    Constant {
        /// The int8 data, as many bytes as the output has elements.
        data: BlobRef,
    },
    /// [`OpKind::Conv2d`] whose `filter` range holds the weights in a
    /// compressed `encoding` (`filter_dims` stay the dense dims).
    Conv2dPacked {
        /// Convolution parameters; `filter` is the encoded range.
        conv: ConvSpec,
        /// How `conv.filter` is stored.
        encoding: crate::WeightEncoding,
    },
    /// [`OpKind::DepthwiseConv2d`] with a compressed filter.
    DepthwiseConv2dPacked {
        /// Convolution parameters; `filter` is the encoded range.
        conv: ConvSpec,
        /// Output channels per input channel.
        depth_multiplier: u16,
        /// How `conv.filter` is stored.
        encoding: crate::WeightEncoding,
    },
    /// [`OpKind::FullyConnected`] with a compressed filter (its
    /// `filter_offset` must be 0).
    FullyConnectedPacked {
        /// Layer parameters; `filter` is the encoded range.
        fc: FcSpec,
        /// How `fc.filter` is stored.
        encoding: crate::WeightEncoding,
    },
}

/// Affine quantization of a Quantize/Dequantize boundary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantSpec {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// How float weights are stored in the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WeightType {
    /// IEEE binary32, little-endian.
    F32,
    /// IEEE binary16, little-endian (half the flash), widened to f32 when used.
    F16,
}

/// Float convolution parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FloatConvSpec {
    /// Stride (height, width).
    pub stride: [u16; 2],
    /// Dilation (height, width).
    pub dilation: [u16; 2],
    /// Padding before the data (top, left).
    pub padding: [u16; 2],
    /// Lower output clamp (fused activation; `f32::NEG_INFINITY` for none).
    pub act_min: f32,
    /// Upper output clamp (`f32::INFINITY` for none).
    pub act_max: f32,
    /// Filter: OHWI for Conv2d, [1, KH, KW, OC] for DepthwiseConv2d.
    pub filter: BlobRef,
    /// Filter dims as stored.
    pub filter_dims: [u32; 4],
    /// f32 bias per output channel (may be empty).
    pub bias: BlobRef,
    /// Element type of `filter`.
    pub weights: WeightType,
}

/// Float fully-connected parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FloatFcSpec {
    /// Lower output clamp.
    pub act_min: f32,
    /// Upper output clamp.
    pub act_max: f32,
    /// Filter, [out_features, in_features].
    pub filter: BlobRef,
    /// f32 bias (may be empty).
    pub bias: BlobRef,
    /// Input features per row.
    pub in_features: u32,
    /// Output features per row.
    pub out_features: u32,
    /// Element type of `filter`.
    pub weights: WeightType,
}

/// Float pooling window parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct FloatPoolSpec {
    pub stride: [u16; 2],
    pub filter: [u16; 2],
    pub padding: [u16; 2],
    pub act_min: f32,
    pub act_max: f32,
}

/// Float ops: every input and the output are f32 tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FloatOp {
    /// 2-D convolution.
    Conv2d(FloatConvSpec),
    /// Depthwise 2-D convolution.
    DepthwiseConv2d {
        /// Convolution parameters.
        conv: FloatConvSpec,
        /// Output channels per input channel.
        depth_multiplier: u16,
    },
    /// Fully connected.
    FullyConnected(FloatFcSpec),
    /// Element-wise add with broadcasting, then clamp.
    Add {
        /// Lower clamp.
        act_min: f32,
        /// Upper clamp.
        act_max: f32,
    },
    /// Element-wise multiply with broadcasting, then clamp.
    Mul {
        /// Lower clamp.
        act_min: f32,
        /// Upper clamp.
        act_max: f32,
    },
    /// Average pooling (padding excluded from the count).
    AvgPool(FloatPoolSpec),
    /// Max pooling.
    MaxPool(FloatPoolSpec),
    /// Mean over H and W.
    Mean,
    /// Softmax over the last dimension.
    Softmax,
    /// Logistic.
    Logistic,
    /// Tanh.
    Tanh,
    /// Clamp (a standalone Relu/Clip).
    Clamp {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// Constant padding.
    Pad {
        /// (before, after) per NHWC dim.
        pads: [[u32; 2]; 4],
        /// Pad value.
        value: f32,
    },
    /// Concatenation along an NHWC axis.
    Concat {
        /// Axis 0..4.
        axis: u8,
    },
    /// Permutation of the NHWC dims.
    Transpose {
        /// Output dim i is input dim perm\[i\].
        perm: [u8; 4],
    },
}
