//! Reference int8 neural-network kernels with TensorFlow Lite Micro integer
//! semantics, and f32 reference kernels (module [`float`]) for models or
//! layers kept in float.
//!
//! Every kernel here reproduces the arithmetic of TFLM's reference kernels
//! (which CMSIS-NN matches bit for bit) so that it can serve as the oracle for
//! optimised implementations and as the fallback used by the `no_std` runtime.
//!
//! Conventions shared by all kernels:
//! * tensors are NHWC, shapes are [`Dims4`];
//! * `input_offset = -input_zero_point`, `output_offset = output_zero_point`;
//! * `act_min`/`act_max` are the clamp range in output quantised units and
//!   must lie within `[-128, 127]` with `act_min <= act_max`;
//! * every slice length is checked against its shape before any work is done,
//!   and all accumulation wraps like TFLite's `int32_t` arithmetic, so no input
//!   can make a kernel panic.
//!
//! Module [`fast`] holds optimised twins (`conv2d_s8_fast`,
//! `depthwise_conv2d_s8_fast`, `fully_connected_s8_fast`, `add_s8_fast`) with
//! the same signatures and bit-identical results, property-tested against
//! these references; on Cortex-M cores with the DSP extension their inner
//! loops use `SXTB16`/`SMLAD` (the build script sets the `mote_dsp` cfg).
//!
//! Module `x86` (x86_64 only) holds AVX2 twins of Conv2D, DepthwiseConv2D
//! and FullyConnected for the host; on x86_64 `conv2d_s8_fast`,
//! `depthwise_conv2d_s8_fast` and `fully_connected_s8_fast` name them.
//!
//! Module `mve` (Cortex-M55/M85 builds) holds Helium twins of Conv2D,
//! DepthwiseConv2D and FullyConnected, which the `*_fast` names name there.
//!
//! The `std` feature adds the `prepare` module, the host-side computation of the
//! quantised parameters (multipliers, shifts, clamp ranges) exactly as TFLite's
//! `Prepare` functions compute them.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]

pub mod activation;
pub mod conv;
pub mod depthwise;
pub mod elementwise;
pub mod error;
pub mod fast;
pub mod fixedpoint;
pub mod float;
pub mod fully_connected;
pub mod int4;
pub mod layout;
pub mod mean;
#[cfg(mote_mve)]
pub mod mve;
#[cfg(any(target_arch = "x86_64", mote_mve))]
mod padded;
pub mod pool;
#[cfg(feature = "std")]
pub mod prepare;
pub mod quantize;
pub mod requant;
pub mod shape;
pub mod softmax;
pub mod sparse;
mod weights;
#[cfg(target_arch = "x86_64")]
pub mod x86;

pub use activation::{logistic_s8, tanh_s8, LutActParams};
pub use conv::{conv2d_s8, ConvParams};
pub use depthwise::depthwise_conv2d_s8;
pub use elementwise::{add_s8, mul_s8, AddParams, MulParams};
pub use error::KernelError;
#[cfg(not(any(target_arch = "x86_64", mote_mve)))]
pub use fast::depthwise_conv2d_s8_fast;
pub use fast::{add_s8_fast, fully_connected_wide_s8};
#[cfg(not(any(target_arch = "x86_64", mote_mve)))]
pub use fast::{conv2d_s8_fast, fully_connected_s8_fast};
// On Helium cores the optimised Conv2D and FullyConnected are the MVE twins.
#[cfg(mote_mve)]
pub use mve::{
    conv2d_s8_mve as conv2d_s8_fast, depthwise_conv2d_s8_mve as depthwise_conv2d_s8_fast,
    fully_connected_s8_mve as fully_connected_s8_fast,
};
// On x86_64 the optimised Conv2D and FullyConnected are the AVX2 twins
// (which hand what they do not cover to the portable ones).
pub use float::{
    add_f32, avg_pool_f32, clamp_f32, concat_f32, conv2d_f32, depthwise_conv2d_f32, f16,
    fully_connected_f32, logistic_f32, max_pool_f32, mean_hw_f32, mul_f32, pad_f32, softmax_f32,
    tanh_f32, transpose_f32, FloatAct, FloatConvParams, FloatPoolParams, Weights,
};
pub use fully_connected::{fully_connected_s8, FcParams};
pub use int4::{conv2d_s4, depthwise_conv2d_s4, fully_connected_s4};
pub use layout::{concat_s8, pad_s8, transpose_s8};
pub use mean::{mean_hw_s8, MeanParams};
pub use pool::{avg_pool_s8, max_pool_s8, PoolParams};
pub use quantize::{dequantize_s8_f32, quantize_f32_s8, requantize_s8};
pub use requant::Requant;
pub use shape::Dims4;
pub use softmax::{softmax_s8, SoftmaxParams};
pub use sparse::{
    conv2d_sparse_s8, depthwise_conv2d_sparse_s8, fully_connected_sparse_s8, SparseFilter,
};
#[cfg(target_arch = "x86_64")]
pub use x86::{
    conv2d_s8_x86 as conv2d_s8_fast, depthwise_conv2d_s8_x86 as depthwise_conv2d_s8_fast,
    fully_connected_s8_x86 as fully_connected_s8_fast,
};
