//! Splitting the arena into one mutable output view and shared input views.

use mote_format::{ActRef, MAX_OP_INPUTS};

/// An op's buffers, borrowed from the arena at once, as bytes (each covers
/// `elements * dtype.size()` bytes; the op casts them to its element types).
pub(crate) struct Views<'x> {
    /// The output buffer.
    pub out: &'x mut [u8],
    /// The input buffers, in op order.
    pub ins: heapless::Vec<&'x [u8], MAX_OP_INPUTS>,
}

/// Bytes of the tensor `a` refers to: `elements * dtype.size()`.
pub(crate) fn byte_len(a: &ActRef) -> Option<usize> {
    a.dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))?
        .checked_mul(a.dtype.size())
}

/// Borrows the output mutably and the inputs immutably. Returns `None` if a
/// range lies outside the arena or an input overlaps the output (both are
/// excluded by validation; checked again rather than trusted).
pub(crate) fn views<'x>(
    arena: &'x mut [u8],
    output: &ActRef,
    inputs: &[ActRef],
) -> Option<Views<'x>> {
    let o0 = output.offset as usize;
    let o1 = o0.checked_add(byte_len(output)?)?;
    if o1 > arena.len() {
        return None;
    }
    let (left, rest) = arena.split_at_mut(o0);
    let (out, right) = rest.split_at_mut(o1 - o0);
    let (left, right): (&'x [u8], &'x [u8]) = (left, right);
    let mut ins = heapless::Vec::new();
    for a in inputs {
        let a0 = a.offset as usize;
        let a1 = a0.checked_add(byte_len(a)?)?;
        let view = if a1 <= o0 {
            left.get(a0..a1)?
        } else if a0 >= o1 {
            right.get(a0 - o1..a1 - o1)?
        } else {
            return None;
        };
        ins.push(view).ok()?;
    }
    Some(Views { out, ins })
}
