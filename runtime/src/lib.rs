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
#![no_std]
#![deny(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!("mote-runtime reads little-endian weights and supports little-endian targets only");

mod arena;
mod error;
mod exec;
mod hook;
mod interpreter;
mod model;
mod validate;

pub use error::Error;
pub use hook::{Hook, NoHook};
pub use interpreter::Interpreter;
pub use model::{Model, Ops};
pub use mote_format as format;
pub use mote_format::{DType, TensorDesc};
