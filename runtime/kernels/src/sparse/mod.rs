//! Sparse int8 kernels: Conv2D, DepthwiseConv2D and FullyConnected over a
//! filter stored as a per-group bitmap of the non-zero positions plus the
//! non-zero values (the `.mote` `SparseS8` encoding, documented in
//! `mote_format::WeightEncoding`). Only the non-zero weights are multiplied;
//! because zero weights add nothing to the int32 accumulator and wrapping
//! addition is associative, every result is bit-identical to the dense
//! reference kernel run on the same (zero-filled) filter.
//!
//! Layout recap: the filter is `rows` (output channels) × `groups` ×
//! `group_len`; each group has `ceil(group_len / 8)` bitmap bytes, bit
//! `e % 8` of byte `e / 8` marking element `e`. Conv2d: groups are the
//! KH·KW taps, elements the input channels of a tap. Depthwise: one group
//! of the KH·KW taps per output channel. FullyConnected: one group of
//! `in_features` per output feature. The values follow the bitmap in the
//! same order.

mod conv;
mod depthwise;
mod fully_connected;
mod tiled;

pub use conv::conv2d_sparse_s8;
pub use depthwise::depthwise_conv2d_sparse_s8;
pub use fully_connected::fully_connected_sparse_s8;

use crate::error::KernelError;

/// A validated sparse filter: the bitmap's set bits and the values agree,
/// and no bit past a group's end is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseFilter<'a> {
    bitmap: &'a [u8],
    /// The non-zero weights as raw bytes (two's-complement int8).
    values: &'a [u8],
    rows: usize,
    groups: usize,
    group_len: usize,
}

impl<'a> SparseFilter<'a> {
    /// Splits and checks an encoded filter (`[bitmap][values]`) of `rows` ×
    /// `groups` × `group_len` elements.
    pub fn new(
        bytes: &'a [u8],
        rows: usize,
        groups: usize,
        group_len: usize,
    ) -> Result<Self, KernelError> {
        let gb = group_len.div_ceil(8);
        let bitmap_len = rows
            .checked_mul(groups)
            .and_then(|x| x.checked_mul(gb))
            .ok_or(KernelError::SizeOverflow)?;
        rows.checked_mul(groups)
            .and_then(|x| x.checked_mul(group_len))
            .ok_or(KernelError::SizeOverflow)?;
        let (bitmap, values) = bytes
            .split_at_checked(bitmap_len)
            .ok_or(KernelError::BufferLength)?;
        let tail = group_len % 8;
        let mut bits = 0usize;
        if gb > 0 {
            for group in bitmap.chunks_exact(gb) {
                if let (Some(&last), true) = (group.last(), tail != 0) {
                    if last >> tail != 0 {
                        return Err(KernelError::InvalidParameter);
                    }
                }
                bits += group.iter().map(|b| b.count_ones() as usize).sum::<usize>();
            }
        }
        if bits != values.len() {
            return Err(KernelError::BufferLength);
        }
        Ok(Self {
            bitmap,
            values,
            rows,
            groups,
            group_len,
        })
    }

    /// Output channels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Groups per row.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Elements per group.
    pub fn group_len(&self) -> usize {
        self.group_len
    }

    /// Number of non-zero weights.
    pub fn nonzeros(&self) -> usize {
        self.values.len()
    }

    /// Bitmap bytes of one group.
    fn group_bytes(&self) -> usize {
        self.group_len.div_ceil(8)
    }
}

/// `Σ w · (x[e] + input_offset)` over the non-zero elements `e` of one
/// group (bitmap `bits`), the weights `w` taken in order from `values`,
/// wrapping like the reference kernels. `xs` is the group's input run
/// (`group_len` long; a shorter run reads 0 past its end).
#[inline(always)]
fn dot_group(
    bits: &[u8],
    xs: &[i8],
    values: &mut core::slice::Iter<'_, u8>,
    input_offset: i32,
) -> i32 {
    let mut acc = 0i32;
    let mut bytes = bits.iter();
    let mut chunks = xs.chunks_exact(8);
    for (chunk, &b) in (&mut chunks).zip(&mut bytes) {
        // A whole byte's 8 inputs: indexing by a 3-bit position cannot miss.
        let x8: [i8; 8] = chunk.try_into().unwrap_or([0; 8]);
        let mut m = b;
        while m != 0 {
            let e = (m.trailing_zeros() & 7) as usize;
            m &= m - 1;
            let w = values.next().map_or(0, |&v| i32::from(v as i8));
            acc = acc.wrapping_add(w.wrapping_mul(i32::from(x8[e]).wrapping_add(input_offset)));
        }
    }
    if let Some(&b) = bytes.next() {
        let tail = chunks.remainder();
        let mut m = b;
        while m != 0 {
            let e = m.trailing_zeros() as usize;
            m &= m - 1;
            let w = values.next().map_or(0, |&v| i32::from(v as i8));
            let x = tail.get(e).map_or(0, |&v| i32::from(v));
            acc = acc.wrapping_add(w.wrapping_mul(x.wrapping_add(input_offset)));
        }
    }
    acc
}

/// Skips the values of one group (a filter tap that falls in the padding).
#[inline(always)]
fn skip(bits: &[u8], values: &mut core::slice::Iter<'_, u8>) {
    let n: usize = bits.iter().map(|b| b.count_ones() as usize).sum();
    if n > 0 {
        values.nth(n - 1);
    }
}
