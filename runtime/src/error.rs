//! The runtime's one error type.

use mote_format::{EncodingError, FormatError};
use mote_kernels::KernelError;

/// Everything that can go wrong loading or running a model. Variants are
/// named by phase: parsing (`Model::parse`), binding an arena
/// (`Interpreter::new`), accessing tensors and invoking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Parse: the bytes end before the header or a section does.
    Truncated,
    /// Verified parse: the model carries no signature.
    Unsigned,
    /// Verified parse: the signature does not match the model and key.
    BadSignature,
    /// Verified parse: the public key is not a valid Ed25519 key.
    BadPublicKey,
    /// Parse: the file does not start with `MOTE`.
    BadMagic,
    /// Parse: the file's format version is not supported by this runtime.
    UnsupportedVersion(u16),
    /// Parse: header lengths are inconsistent with each other or the file.
    BadLayout,
    /// Parse: the CRC-32 of the body does not match the header.
    CrcMismatch {
        /// CRC stored in the header.
        expected: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// Parse: graph metadata does not decode.
    Decode,
    /// Parse: the weight blob does not start 4-byte aligned in memory
    /// (place the model bytes at a 16-byte aligned address).
    MisalignedWeights,
    /// Parse: a tensor is malformed (bad rank, size overflow, outside the arena).
    BadTensor(u16),
    /// Parse: an op is malformed (wrong input count, tensor index, element
    /// types, shapes that disagree, weight range outside the blob, overlapping
    /// buffers, misaligned f32 data), or is a float op and the runtime was
    /// built without its `float` feature.
    BadOp(u16),
    /// Parse: a packed (sparse or int4) filter does not match its op's
    /// shape (bitmap and value count disagree, bits past a group set,
    /// wrong length, non-zero filter offset).
    BadEncoding {
        /// Index of the op.
        op: u16,
        /// What is wrong with the encoding.
        error: EncodingError,
    },
    /// Parse: the model uses an op whose cargo feature this runtime was
    /// built without (see [`crate::op_feature`]).
    OpNotBuilt {
        /// Index of the op.
        op: u16,
        /// The feature that runs it, e.g. `op-depthwise`.
        feature: &'static str,
    },
    /// Parse: an input or output index names no tensor, or the model has none.
    BadIo,
    /// Interpreter::new: the arena is smaller than the model's plan.
    ArenaTooSmall {
        /// Bytes the plan needs.
        needed: u32,
        /// Bytes given.
        given: u32,
    },
    /// Interpreter::new: the model has f32 tensors and the arena does not
    /// start 16-byte aligned (align the arena buffer, e.g. with
    /// `#[repr(align(16))]`).
    MisalignedArena,
    /// Tensor access: no model input or output with this index.
    NoSuchTensor(u16),
    /// Tensor access: the tensor's element type is not the one asked for
    /// (e.g. `input_mut` on an f32 input, `input_f32_mut` on an int8 one).
    WrongDType,
    /// Invoke: a kernel rejected its arguments (cannot happen for a model
    /// that passed validation; reported rather than trusted). Also returned
    /// by `set_input_f32`/`output_f32` when the slice length is wrong
    /// (with op index `u16::MAX`).
    Kernel {
        /// Index of the failing op (`u16::MAX` for the float I/O helpers).
        op: u16,
        /// The kernel's complaint.
        error: KernelError,
    },
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        match e {
            FormatError::Truncated => Error::Truncated,
            FormatError::BadMagic => Error::BadMagic,
            FormatError::UnsupportedVersion(v) => Error::UnsupportedVersion(v),
            _ => Error::Decode,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated => f.write_str("model data is truncated"),
            Error::BadMagic => f.write_str("not a .mote model (bad magic)"),
            Error::Unsigned => f.write_str("model is not signed"),
            Error::BadSignature => f.write_str("model signature does not verify with this key"),
            Error::BadPublicKey => f.write_str("the public key is not a valid Ed25519 key"),
            Error::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported .mote format version {v} (this runtime reads version {})",
                    mote_format::VERSION
                )
            }
            Error::BadLayout => f.write_str("model header lengths are inconsistent"),
            Error::CrcMismatch { expected, computed } => write!(
                f,
                "model is corrupt: CRC-32 {computed:#010x} does not match header {expected:#010x}"
            ),
            Error::Decode => f.write_str("model graph metadata does not decode"),
            Error::MisalignedWeights => f.write_str(
                "model weights are not 4-byte aligned in memory; align the model bytes to 16",
            ),
            Error::BadTensor(t) => write!(f, "model tensor {t} is malformed"),
            Error::BadOp(o) => write!(f, "model op {o} is malformed"),
            Error::BadEncoding { op, error } => {
                write!(f, "model op {op} has a malformed packed filter: {error}")
            }
            Error::OpNotBuilt { op, feature } => write!(
                f,
                "model op {op} needs the runtime feature `{feature}`, which this build leaves out"
            ),
            Error::BadIo => f.write_str("model inputs/outputs are malformed"),
            Error::ArenaTooSmall { needed, given } => {
                write!(
                    f,
                    "arena too small: the model needs {needed} bytes, {given} given"
                )
            }
            Error::MisalignedArena => f.write_str(
                "the model has f32 tensors: the arena must start 16-byte aligned in memory",
            ),
            Error::NoSuchTensor(i) => write!(f, "no model input/output with index {i}"),
            Error::WrongDType => f.write_str("tensor has a different element type"),
            Error::Kernel { op, error } => write!(f, "op {op} failed: {error}"),
        }
    }
}
