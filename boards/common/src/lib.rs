//! Board support shared by the Mote firmware (`boards/*`) and host tools.
//!
//! - [`profile`]: one table of boards (emulated and real) with their core,
//!   flash, RAM and core clock, and the Cortex-M `CPUID` part numbers.
//! - [`profiling`]: a free-running down-counter abstraction ([`Counter`],
//!   e.g. SysTick) and a [`LayerProfiler`] that implements the runtime's
//!   [`mote_runtime::Hook`] to time every op.
//! - [`golden`]: golden input/output vectors embedded in a firmware and the
//!   bit-exact comparison of an output with its golden.
//! - [`lis3dh`]: a LIS3DH accelerometer driver over any `embedded-hal` 1.0
//!   I2C bus.
//! - [`pipeline`]: sensor windows and frame sources feeding a model's int8
//!   input, top-1 and reconstruction-error read-outs.
//! - [`stream`]: multi-channel sensor streams windowed with overlap, with
//!   the checks (bus errors, lost, repeated and stuck samples) that keep a
//!   faulty sample out of every window offered for inference.
//! - [`imaging`]: the camera boards' classification loop.
//! - [`frame`]: image preprocessing: DICOM rescale and VOI window, bilinear
//!   resize into a model input.
//!
//! Everything here is `no_std`, heap-free and panic-free.
#![no_std]
#![deny(missing_docs)]

pub mod frame;
pub mod golden;
pub mod imaging;
pub mod lis3dh;
pub mod pipeline;
pub mod profile;
pub mod profiling;
pub mod stream;

pub use golden::{compare, Goldens, Mismatch};
pub use profile::{Board, Core, BOARDS};
pub use profiling::{Counter, LayerProfiler};
