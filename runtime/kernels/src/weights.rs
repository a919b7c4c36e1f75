//! Filter weights as the reference kernels read them: dense int8, or int4
//! packed two per byte. The reference Conv2D, DepthwiseConv2D and
//! FullyConnected kernels are written once over [`Weights`], so the int4
//! kernels are the int8 reference arithmetic with nibble reads.

use crate::error::KernelError;

/// A filter's weights, element `i` in the dense filter's order.
pub(crate) trait Weights: Copy {
    /// Checks that the filter holds exactly `elements` weights.
    fn check(self, elements: usize) -> Result<(), KernelError>;

    /// Weight `i`, sign-extended (0 past the end).
    fn at(self, i: usize) -> i32;

    /// `Σ_k (w[base + k] + filter_offset) * (x[k] + input_offset)`, wrapping
    /// (element by element through [`Weights::at`] unless overridden).
    #[inline(always)]
    fn dot(self, base: usize, x: &[i8], input_offset: i32, filter_offset: i32) -> i32 {
        let mut acc: i32 = 0;
        for (k, &iv) in x.iter().enumerate() {
            let a = self.at(base + k).wrapping_add(filter_offset);
            acc = acc.wrapping_add(a.wrapping_mul(i32::from(iv).wrapping_add(input_offset)));
        }
        acc
    }
}

impl Weights for &[i8] {
    fn check(self, elements: usize) -> Result<(), KernelError> {
        if self.len() == elements {
            Ok(())
        } else {
            Err(KernelError::BufferLength)
        }
    }

    #[inline(always)]
    fn at(self, i: usize) -> i32 {
        self.get(i).map_or(0, |&w| i32::from(w))
    }

    #[inline(always)]
    fn dot(self, base: usize, x: &[i8], input_offset: i32, filter_offset: i32) -> i32 {
        let w = self.get(base..).unwrap_or(&[]);
        let mut acc: i32 = 0;
        for (&iv, &fv) in x.iter().zip(w) {
            let a = i32::from(fv).wrapping_add(filter_offset);
            acc = acc.wrapping_add(a.wrapping_mul(i32::from(iv).wrapping_add(input_offset)));
        }
        acc
    }
}

/// Two's-complement 4-bit weights, two per byte: element `i` in the low
/// nibble of byte `i / 2` when `i` is even, the high nibble when odd (the
/// `.mote` `S4` encoding).
#[derive(Debug, Clone, Copy)]
pub(crate) struct S4<'a>(pub(crate) &'a [u8]);

impl Weights for S4<'_> {
    fn check(self, elements: usize) -> Result<(), KernelError> {
        if self.0.len() == elements.div_ceil(2) {
            Ok(())
        } else {
            Err(KernelError::BufferLength)
        }
    }

    #[inline(always)]
    fn at(self, i: usize) -> i32 {
        crate::int4::s4_at(self.0, i)
    }
}

/// int8 weights widened to `i16` in the wide FullyConnected layout (the
/// `.mote` `WideS8` encoding): blocks of 4 rows × 4 columns, 16 halfwords
/// each, block `(q, g)` at `q·ceil(cols/4) + g`; row `k` of a block holds
/// columns `4g`, `4g + 2`, `4g + 1`, `4g + 3` (little-endian words).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wide<'a> {
    /// The blocks, two halfwords per word.
    pub(crate) words: &'a [u32],
    /// Rows (output features).
    pub(crate) rows: usize,
    /// Columns (input features).
    pub(crate) cols: usize,
}

impl Wide<'_> {
    /// Words of the layout for `rows × cols` (`None` on overflow).
    pub(crate) fn words_for(rows: usize, cols: usize) -> Option<usize> {
        rows.div_ceil(4)
            .checked_mul(cols.div_ceil(4))?
            .checked_mul(8)
    }
}

impl Weights for Wide<'_> {
    fn check(self, elements: usize) -> Result<(), KernelError> {
        let ok = self.rows.checked_mul(self.cols) == Some(elements)
            && Self::words_for(self.rows, self.cols) == Some(self.words.len());
        if ok {
            Ok(())
        } else {
            Err(KernelError::BufferLength)
        }
    }

    #[inline(always)]
    fn at(self, i: usize) -> i32 {
        let cols = self.cols.max(1);
        let (r, c) = (i / cols, i % cols);
        let block = (r / 4) * self.cols.div_ceil(4) + c / 4;
        let word = block * 8 + (r % 4) * 2 + (c % 4) % 2;
        let half = self
            .words
            .get(word)
            .map_or(0, |&w| w >> (16 * ((c % 4) / 2)));
        i32::from(half as u16 as i16)
    }
}
