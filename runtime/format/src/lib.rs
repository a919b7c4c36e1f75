//! The `.mote` file schema: one definition for the writer (the `mote` tool)
//! and the reader (the no_std runtime).
//!
//! Layout of a file (all integers little-endian):
//!
//! ```text
//! [header: 32 bytes, see `Header`]
//! [graph: postcard GraphHeader, then n_tensors x TensorDesc, then n_ops x Op]
//! [zero padding to a 16-byte boundary]
//! [weights: one blob; ops refer to (offset, len) ranges in it, each 16-byte aligned]
//! [optional: 64-byte Ed25519 signature of header + body, when FLAG_SIGNED is set]
//! ```
//!
//! The graph is postcard-encoded; the weights are raw so the runtime can
//! borrow them zero-copy from flash. Everything a kernel needs (fixed-point
//! multipliers, shifts, folded offsets, arena offsets) is precomputed by the
//! tool: the device does no float math.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

mod decode;
mod encoding;
mod error;
mod graph;
mod header;
mod op;

pub use decode::{peek_op_kind, take_op, Decode, Reader, ALL_KINDS, OP_KINDS};
pub use encoding::{
    check_s4, check_sparse, check_wide, wide_index, EncodingError, FilterShape, WeightEncoding,
};
#[cfg(feature = "std")]
pub use encoding::{encode_sparse, encode_wide, pack_s4};
pub use error::FormatError;
pub use graph::{DType, GraphHeader, TensorDesc, MAX_IO};
pub use header::{
    crc32, Header, FLAG_SIGNED, HEADER_LEN, KNOWN_FLAGS, MAGIC, SIGNATURE_LEN, VERSION,
    WEIGHTS_ALIGN,
};
pub use op::{
    ActRef, AddSpec, BlobRef, ConvSpec, FcSpec, FloatConvSpec, FloatFcSpec, FloatOp, FloatPoolSpec,
    LutActSpec, MeanSpec, MulSpec, Op, OpKind, PoolSpec, QuantSpec, RequantSpec, SoftmaxSpec,
    WeightType, MAX_OP_INPUTS,
};

/// Decodes one postcard value from the front of `bytes`, returning it and the rest.
///
/// The reader is [`Decode`] (hand-written, see its module), not
/// `postcard::take_from_bytes`: the same bytes, the same values, the same
/// refusals, in a fraction of the flash.
pub fn take<'a, T: Decode<'a>>(bytes: &'a [u8]) -> Result<(T, &'a [u8]), FormatError> {
    let mut r = Reader::new(bytes);
    let value = T::decode(&mut r);
    if r.failed() {
        Err(FormatError::Decode)
    } else {
        Ok((value, r.rest()))
    }
}

/// Encodes one value with postcard, appending it to `out` (host only).
#[cfg(feature = "std")]
pub fn put<T: serde::Serialize>(value: &T, out: &mut std::vec::Vec<u8>) -> Result<(), FormatError> {
    let bytes = postcard::to_stdvec(value).map_err(|_| FormatError::Encode)?;
    out.extend_from_slice(&bytes);
    Ok(())
}
