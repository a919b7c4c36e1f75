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

    /// `Σ_k (w[base + k] + filter_offset) * (x[k] + input_offset)`, wrapping.
    fn dot(self, base: usize, x: &[i8], input_offset: i32, filter_offset: i32) -> i32;
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
