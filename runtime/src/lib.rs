//! The Mote runtime: validates a `.mote` model once, then runs it in a
//! caller-owned arena with no heap, no panics and deterministic results.
//!
//! ```no_run
//! # fn demo(bytes: &[u8]) -> Result<(), mote_runtime::Error> {
//! let model = mote_runtime::Model::parse(bytes)?;
//! let mut arena = [0u8; 4096];
//! let mut interp = mote_runtime::Interpreter::new(&model, &mut arena)?;
//! interp.input_mut(0)?.fill(0);
//! interp.invoke()?;
//! let scores: &[i8] = interp.output(0)?;
//! # let _ = scores; Ok(()) }
//! ```
//!
//! Models (or layers of them) kept in float run f32 kernels on f32 tensors,
//! with f32 or f16 weights. Such a model needs an arena starting 16-byte
//! aligned (`Error::MisalignedArena` otherwise); its f32 inputs and outputs
//! are reached with `input_f32_mut` / `output_f32_slice`, and
//! `set_input_f32` / `output_f32` work for int8 and f32 tensors alike.
//!
//! Float execution is the default `float` feature; an int8-only firmware can
//! leave it out (`default-features = false`) to save the float kernels'
//! flash, and float models are then refused with `Error::BadOp`.
#![no_std]
#![deny(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!("mote-runtime reads little-endian weights and supports little-endian targets only");

mod arena;
mod error;
mod exec;
#[cfg(feature = "float")]
mod exec_float;
mod hook;
mod interpreter;
mod model;
mod ops;
mod validate;

pub use error::Error;
pub use hook::{Hook, NoHook};
pub use interpreter::Interpreter;
pub use model::{Model, Ops};
pub use mote_format as format;
pub use mote_format::{DType, TensorDesc};
pub use ops::{op_feature, speed_feature};
