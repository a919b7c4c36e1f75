//! Compressed int8 filter encodings of the packed ops
//! (`OpKind::Conv2dPacked`, `DepthwiseConv2dPacked`, `FullyConnectedPacked`).
//!
//! Both encodings view a filter as **rows** (one per output channel), each
//! row made of `groups` **groups** of `group_len` elements ([`FilterShape`]):
//!
//! | op              | rows | groups    | group_len   | element (row r, group g, element e) |
//! |-----------------|------|-----------|-------------|-------------------------------------|
//! | Conv2d (OHWI)   | OC   | KH·KW     | IC/groups   | `filter[r][g / KW][g % KW][e]`       |
//! | DepthwiseConv2d | OC   | 1         | KH·KW       | `filter[0][e / KW][e % KW][r]`       |
//! | FullyConnected  | out  | 1         | in          | `filter[r][e]`                       |
//!
//! so that a group is what the kernel multiplies against one contiguous run
//! of the input (one filter tap of a convolution, one whole row of a fully
//! connected layer, the taps of one depthwise channel).
//!
//! **[`WeightEncoding::SparseS8`]**, a blob range holding
//! `[bitmap][values]`:
//! * `bitmap`: for every row, group (in that order) `ceil(group_len / 8)`
//!   bytes; bit `e % 8` (least significant first) of byte `e / 8` is set iff
//!   element `e` of the group is non-zero. Bits past `group_len` are zero.
//!   Each group starts on a byte so a kernel can skip a whole filter tap
//!   (padding) by counting its bits.
//! * `values`: the non-zero int8 values in the same order, exactly as many
//!   as bits set in the bitmap.
//!
//! Zero means the stored int8 value 0, so a fully-connected filter with a
//! non-zero per-tensor filter offset cannot be sparse (validation refuses it).
//!
//! **[`WeightEncoding::S4`]**: two's-complement 4-bit weights, two per byte,
//! in the dense filter's own element order (OHWI, `[1, KH, KW, OC]`,
//! `[out, in]`): element `i` is the low nibble of byte `i / 2` when `i` is
//! even, the high nibble when odd; an odd count leaves the last high nibble
//! zero. Values span -8..=7; the `mote` tool quantizes symmetrically to
//! -7..=7 (scale = max|w| / 7 per output channel), like its int8 grid
//! -127..=127. Kernels sign-extend each nibble and accumulate exactly as the
//! int8 kernels do.

use serde::{Deserialize, Serialize};

/// How a packed op's filter is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WeightEncoding {
    /// Per-group bitmap of the non-zero positions, then the non-zero int8
    /// values (module docs).
    SparseS8,
    /// Signed 4-bit weights, two per byte (module docs).
    S4,
    /// int8 weights widened to `i16`, four rows interleaved (module docs);
    /// FullyConnected only.
    WideS8,
}

/// Why a packed filter does not match its op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodingError {
    /// The filter geometry's sizes overflow `usize`.
    Overflow,
    /// The blob range is shorter than the bitmap.
    Truncated,
    /// A bitmap bit past `group_len` is set.
    PaddingBits,
    /// The number of values differs from the number of bits set.
    ValueCount {
        /// Bits set in the bitmap.
        bits: u32,
        /// Values present after the bitmap.
        values: u32,
    },
    /// An int4 filter's length is not `ceil(elements / 2)` bytes.
    S4Length {
        /// Bytes the geometry needs.
        expected: u32,
        /// Bytes present.
        found: u32,
    },
    /// A packed fully-connected op with a non-zero per-tensor filter offset.
    FilterOffset,
    /// A wide filter's length is not `32·ceil(out/4)·ceil(in/4)` bytes.
    WideLength {
        /// Bytes the geometry needs.
        expected: u32,
        /// Bytes present.
        found: u32,
    },
    /// A wide filter holds a value outside -128..=127 or a non-zero
    /// padding value.
    WideValue,
    /// The wide encoding on an op other than FullyConnected.
    WideOp,
}

impl core::fmt::Display for EncodingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Overflow => f.write_str("packed filter geometry overflows"),
            Self::Truncated => f.write_str("sparse filter is shorter than its bitmap"),
            Self::PaddingBits => f.write_str("sparse filter bitmap has bits set past a group"),
            Self::ValueCount { bits, values } => write!(
                f,
                "sparse filter bitmap has {bits} bits set but {values} values follow"
            ),
            Self::S4Length { expected, found } => {
                write!(
                    f,
                    "int4 filter is {found} bytes, its shape needs {expected}"
                )
            }
            Self::FilterOffset => {
                f.write_str("a packed fully-connected filter must have filter offset 0")
            }
            Self::WideLength { expected, found } => {
                write!(
                    f,
                    "wide filter is {found} bytes, its shape needs {expected}"
                )
            }
            Self::WideValue => {
                f.write_str("wide filter holds a value outside -128..=127 or non-zero padding")
            }
            Self::WideOp => f.write_str("the wide encoding is for FullyConnected filters only"),
        }
    }
}

/// A filter seen as rows of groups of elements (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterShape {
    /// Output channels.
    pub rows: usize,
    /// Groups per row.
    pub groups: usize,
    /// Elements per group.
    pub group_len: usize,
}

impl FilterShape {
    /// A Conv2d filter of OHWI dims `[OC, KH, KW, IC/groups]`.
    pub fn conv(filter_dims: [u32; 4]) -> Self {
        let [oc, kh, kw, ic] = filter_dims.map(|d| d as usize);
        Self {
            rows: oc,
            groups: kh.saturating_mul(kw),
            group_len: ic,
        }
    }

    /// A DepthwiseConv2d filter of dims `[1, KH, KW, OC]`.
    pub fn depthwise(filter_dims: [u32; 4]) -> Self {
        let [_, kh, kw, oc] = filter_dims.map(|d| d as usize);
        Self {
            rows: oc,
            groups: 1,
            group_len: kh.saturating_mul(kw),
        }
    }

    /// A FullyConnected filter `[out_features, in_features]`.
    pub fn fully_connected(in_features: u32, out_features: u32) -> Self {
        Self {
            rows: out_features as usize,
            groups: 1,
            group_len: in_features as usize,
        }
    }

    /// Elements of the dense filter.
    pub fn elements(&self) -> Option<usize> {
        self.rows
            .checked_mul(self.groups)?
            .checked_mul(self.group_len)
    }

    /// Bitmap bytes of one group.
    pub fn group_bytes(&self) -> usize {
        self.group_len.div_ceil(8)
    }

    /// Bytes of the whole sparse bitmap.
    pub fn bitmap_len(&self) -> Option<usize> {
        self.rows
            .checked_mul(self.groups)?
            .checked_mul(self.group_bytes())
    }

    /// Bytes of the int4 encoding.
    pub fn s4_len(&self) -> Option<usize> {
        Some(self.elements()?.div_ceil(2))
    }

    /// Bytes of the wide encoding of a FullyConnected filter (one group
    /// per row: `rows` outputs of `group_len` inputs).
    pub fn wide_len(&self) -> Option<usize> {
        self.rows
            .div_ceil(4)
            .checked_mul(self.group_len.div_ceil(4))?
            .checked_mul(32)
    }
}

/// Index of the `i16` holding weight `(row, col)` of a wide filter with `g`
/// groups of columns per quad of rows (module docs).
#[inline(always)]
pub fn wide_index(row: usize, col: usize, g: usize) -> usize {
    let block = (row / 4) * g + col / 4;
    let lane = [0, 2, 1, 3][col % 4];
    block * 16 + (row % 4) * 4 + lane
}

/// Checks a sparse filter blob against `shape`: bitmap present, no padding
/// bits, one value per bit. Returns the number of non-zero values.
pub fn check_sparse(bytes: &[u8], shape: &FilterShape) -> Result<usize, EncodingError> {
    let bitmap_len = shape.bitmap_len().ok_or(EncodingError::Overflow)?;
    shape.elements().ok_or(EncodingError::Overflow)?;
    let (bitmap, values) = bytes
        .split_at_checked(bitmap_len)
        .ok_or(EncodingError::Truncated)?;
    let gb = shape.group_bytes();
    let tail = shape.group_len % 8;
    let mut bits = 0usize;
    if gb > 0 {
        for group in bitmap.chunks_exact(gb) {
            if let (Some(&last), true) = (group.last(), tail != 0) {
                if last >> tail != 0 {
                    return Err(EncodingError::PaddingBits);
                }
            }
            bits += group.iter().map(|b| b.count_ones() as usize).sum::<usize>();
        }
    }
    if bits != values.len() {
        return Err(EncodingError::ValueCount {
            bits: bits as u32,
            values: values.len() as u32,
        });
    }
    Ok(bits)
}

/// Checks an int4 filter blob's length against `shape`.
pub fn check_s4(bytes: &[u8], shape: &FilterShape) -> Result<(), EncodingError> {
    let expected = shape.s4_len().ok_or(EncodingError::Overflow)?;
    if bytes.len() != expected {
        return Err(EncodingError::S4Length {
            expected: expected as u32,
            found: bytes.len() as u32,
        });
    }
    Ok(())
}

/// Checks a wide filter blob against a FullyConnected `shape`: its length,
/// every value an int8 one and the padding zero (module docs).
pub fn check_wide(bytes: &[u8], shape: &FilterShape) -> Result<(), EncodingError> {
    if shape.groups != 1 {
        return Err(EncodingError::WideOp);
    }
    let expected = shape.wide_len().ok_or(EncodingError::Overflow)?;
    if bytes.len() != expected {
        return Err(EncodingError::WideLength {
            expected: u32::try_from(expected).unwrap_or(u32::MAX),
            found: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        });
    }
    let (rows, cols) = (shape.rows, shape.group_len);
    let g = cols.div_ceil(4).max(1);
    let int8 = |h: u16| h.wrapping_add(0x80) < 0x100;
    for (b, block) in bytes.chunks_exact(32).enumerate() {
        let (row0, col0) = ((b / g) * 4, (b % g) * 4);
        let full = row0 + 4 <= rows && col0 + 4 <= cols;
        // Word `j` of a block: row `j / 2`, columns 0 and 2 (even `j`) or
        // 1 and 3 (odd `j`) of the group.
        for (j, word) in block.chunks_exact(4).enumerate() {
            let lo = u16::from_le_bytes([word[0], word[1]]);
            let hi = u16::from_le_bytes([word[2], word[3]]);
            if full {
                if !(int8(lo) && int8(hi)) {
                    return Err(EncodingError::WideValue);
                }
                continue;
            }
            let row_in = row0 + j / 2 < rows;
            for (h, c) in [(lo, j % 2), (hi, j % 2 + 2)] {
                let inside = row_in && col0 + c < cols;
                if (inside && !int8(h)) || (!inside && h != 0) {
                    return Err(EncodingError::WideValue);
                }
            }
        }
    }
    Ok(())
}

/// Encodes an int8 `[rows, cols]` filter (row major) in the wide layout
/// (module docs; host only).
#[cfg(feature = "std")]
pub fn encode_wide(weights: &[i8], rows: usize, cols: usize) -> std::vec::Vec<u8> {
    let g = cols.div_ceil(4);
    let mut h = std::vec![0i16; rows.div_ceil(4) * g * 16];
    for (r, row) in weights.chunks(cols.max(1)).take(rows).enumerate() {
        for (c, &w) in row.iter().enumerate() {
            h[wide_index(r, c, g)] = i16::from(w);
        }
    }
    h.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Encodes a filter sparsely; `element(r, g, e)` gives the int8 weight of
/// row `r`, group `g`, element `e` (host only).
#[cfg(feature = "std")]
pub fn encode_sparse(
    shape: &FilterShape,
    element: impl Fn(usize, usize, usize) -> i8,
) -> std::vec::Vec<u8> {
    let gb = shape.group_bytes();
    let mut bitmap = std::vec::Vec::new();
    let mut values = std::vec::Vec::new();
    for r in 0..shape.rows {
        for g in 0..shape.groups {
            let mut bytes = std::vec![0u8; gb];
            for e in 0..shape.group_len {
                let v = element(r, g, e);
                if v != 0 {
                    bytes[e / 8] |= 1 << (e % 8);
                    values.push(v as u8);
                }
            }
            bitmap.extend_from_slice(&bytes);
        }
    }
    bitmap.extend_from_slice(&values);
    bitmap
}

/// Packs int8 weights in -8..=7 two per byte (module docs); `None` when a
/// value does not fit in four bits (host only).
#[cfg(feature = "std")]
pub fn pack_s4(weights: &[i8]) -> Option<std::vec::Vec<u8>> {
    if weights.iter().any(|w| !(-8..=7).contains(w)) {
        return None;
    }
    Some(
        weights
            .chunks(2)
            .map(|p| {
                let lo = (p[0] as u8) & 0x0f;
                let hi = p.get(1).map_or(0, |&h| (h as u8) & 0x0f);
                lo | (hi << 4)
            })
            .collect(),
    )
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn sparse_round_trip_checks() {
        let shape = FilterShape {
            rows: 2,
            groups: 2,
            group_len: 3,
        };
        let w = [1i8, 0, -2, 0, 0, 0, 0, 5, 0, 7, 7, 7];
        let enc = encode_sparse(&shape, |r, g, e| w[(r * 2 + g) * 3 + e]);
        assert_eq!(enc, [0b101, 0, 0b010, 0b111, 1, 0xfe, 5, 7, 7, 7]);
        assert_eq!(check_sparse(&enc, &shape), Ok(6));
        assert_eq!(
            check_sparse(&enc[..9], &shape),
            Err(EncodingError::ValueCount { bits: 6, values: 5 })
        );
        assert_eq!(
            check_sparse(&enc[..3], &shape),
            Err(EncodingError::Truncated)
        );
        let mut bad = enc.clone();
        bad[1] = 0b1000;
        assert_eq!(check_sparse(&bad, &shape), Err(EncodingError::PaddingBits));
        assert_eq!(pack_s4(&[-8, 7, 1]), Some(std::vec![0x78, 0x01]));
        assert_eq!(pack_s4(&[8]), None);
        assert_eq!(check_s4(&[0, 0, 0, 0, 0, 0], &shape), Ok(()));
    }

    #[test]
    fn wide_layout_and_checks() {
        // 5 rows of 6 inputs: 2 quads x 2 groups of 32 bytes.
        let (rows, cols) = (5, 6);
        let w: std::vec::Vec<i8> = (0..30).map(|i| (i as i8 - 15) * 8).collect();
        let enc = encode_wide(&w, rows, cols);
        let shape = FilterShape::fully_connected(cols as u32, rows as u32);
        assert_eq!(enc.len(), 128);
        assert_eq!(check_wide(&enc, &shape), Ok(()));
        let at = |i: usize| i16::from_le_bytes([enc[2 * i], enc[2 * i + 1]]);
        // Block 0, row 0: columns 0, 2, 1, 3.
        assert_eq!([at(0), at(1), at(2), at(3)], [-120, -104, -112, -96]);
        // Block 1 (columns 4, 5 then padding), row 1 (weights 10, 11).
        assert_eq!([at(20), at(21), at(22), at(23)], [-40, 0, -32, 0]);
        // Quad 1 holds row 4 only.
        assert_eq!(at(32), i16::from(w[24]));
        assert_eq!(at(36), 0);
        let mut bad = enc.clone();
        bad[2 * 21] = 1; // padding column
        assert_eq!(check_wide(&bad, &shape), Err(EncodingError::WideValue));
        let mut bad = enc.clone();
        bad[1] = 1; // 256 + low byte: not an int8 value
        assert_eq!(check_wide(&bad, &shape), Err(EncodingError::WideValue));
        assert_eq!(
            check_wide(&enc[..96], &shape),
            Err(EncodingError::WideLength {
                expected: 128,
                found: 96
            })
        );
    }
}
