//! Cortex-M55/M85 Helium (MVE) twins of Conv2D, DepthwiseConv2D and
//! FullyConnected.
//!
//! Built when the build script sets `mote_mve` (`thumbv8m.main` with
//! `-C target-cpu=cortex-m55` or `cortex-m85`). Each twin has the signature
//! of its reference kernel and returns the same bytes. The inner products
//! run on int8 data as it is stored: `VLDRB.8` loads sixteen bytes and
//! `VMLADAVA.S8` adds their sixteen products to a 32-bit scalar, in
//! tail-predicated low-overhead loops (`DLSTP.8`/`LETP`), so no lane past a
//! slice's end is read. The input offset is folded out,
//! `Σ w·(x + off) = Σ w·x + off·Σ w` (exact in wrapping `i32`), and windows
//! cut by the padding are filled with the input zero point, whose
//! `x + off` is 0, so every pixel is one dot product per output channel.
//! Calls the twins do not cover go to the DSP twins in [`crate::fast`].

mod conv;
mod depthwise;
mod fc;
mod vec;

pub use conv::conv2d_s8_mve;
pub use depthwise::depthwise_conv2d_s8_mve;
pub use fc::fully_connected_s8_mve;

/// Longest window (`KH * KW * C`) the conv twin copies into its buffer.
const KMAX: usize = 2048;

/// Most output channels whose folded biases the conv twin keeps.
const OCMAX: usize = 256;
