//! The error type returned by every kernel.

use core::fmt;

/// Why a kernel refused to run. Kernels validate everything up front, so an
/// error means nothing was written to the output (or the output is
/// unspecified but no out-of-bounds access or panic happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum KernelError {
    /// Tensor shapes are inconsistent with each other (e.g. batch or channel
    /// counts differ, broadcast impossible, padding does not add up).
    ShapeMismatch,
    /// A slice's length does not equal the element count implied by its shape.
    BufferLength,
    /// A scalar parameter is out of its valid range (zero stride, empty clamp
    /// range, clamp range outside int8, bad shift, invalid permutation, ...).
    InvalidParameter,
    /// An element count or index computation does not fit in `usize`.
    SizeOverflow,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            KernelError::ShapeMismatch => "tensor shapes are inconsistent",
            KernelError::BufferLength => "buffer length does not match its shape",
            KernelError::InvalidParameter => "kernel parameter out of range",
            KernelError::SizeOverflow => "element count overflows usize",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KernelError {}
