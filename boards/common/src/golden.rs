//! Golden vectors embedded in a firmware and bit-exact comparison.

/// `count` golden samples: inputs and expected outputs, each sample a
/// contiguous run of int8 bytes (as `numpy` writes an `[N, ...]` int8 array).
#[derive(Debug, Clone, Copy)]
pub struct Goldens<'a> {
    inputs: &'a [u8],
    outputs: &'a [u8],
    input_len: usize,
    output_len: usize,
}

impl<'a> Goldens<'a> {
    /// Splits `inputs` into samples of `input_len` bytes and `outputs` into
    /// samples of `output_len` bytes. `None` unless both lengths are
    /// non-zero, divide their arrays and give the same sample count.
    pub fn new(
        inputs: &'a [u8],
        outputs: &'a [u8],
        input_len: usize,
        output_len: usize,
    ) -> Option<Self> {
        if input_len == 0 || output_len == 0 {
            return None;
        }
        if !inputs.len().is_multiple_of(input_len) || !outputs.len().is_multiple_of(output_len) {
            return None;
        }
        if inputs.len() / input_len != outputs.len() / output_len {
            return None;
        }
        Some(Goldens {
            inputs,
            outputs,
            input_len,
            output_len,
        })
    }

    /// Number of samples.
    pub fn count(&self) -> usize {
        self.inputs.len() / self.input_len
    }

    /// Input bytes of sample `i`.
    pub fn input(&self, i: usize) -> Option<&'a [u8]> {
        let start = i.checked_mul(self.input_len)?;
        self.inputs.get(start..start.checked_add(self.input_len)?)
    }

    /// Expected output bytes of sample `i`.
    pub fn output(&self, i: usize) -> Option<&'a [u8]> {
        let start = i.checked_mul(self.output_len)?;
        self.outputs.get(start..start.checked_add(self.output_len)?)
    }
}

/// How an output differs from its golden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mismatch {
    /// Number of differing elements (a length difference counts every
    /// element of the longer side that has no partner).
    pub differing: usize,
    /// Index of the first differing element.
    pub first: usize,
    /// Largest absolute difference, in LSB.
    pub max_abs_diff: u8,
}

/// Compares an int8 output with its golden bytes (int8 stored as `u8`).
/// `None` when they are identical.
pub fn compare(output: &[i8], golden: &[u8]) -> Option<Mismatch> {
    let mut m = Mismatch {
        differing: output.len().abs_diff(golden.len()),
        first: output.len().min(golden.len()),
        max_abs_diff: 0,
    };
    for (i, (&o, &g)) in output.iter().zip(golden).enumerate() {
        let d = (i16::from(o) - i16::from(g as i8)).unsigned_abs();
        if d != 0 {
            m.differing += 1;
            m.first = m.first.min(i);
            m.max_abs_diff = m.max_abs_diff.max(u8::try_from(d).unwrap_or(u8::MAX));
        }
    }
    if m.differing == 0 {
        None
    } else {
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_samples() {
        let g = Goldens::new(&[1, 2, 3, 4, 5, 6], &[7, 8], 3, 1).unwrap();
        assert_eq!(g.count(), 2);
        assert_eq!(g.input(1), Some(&[4u8, 5, 6][..]));
        assert_eq!(g.output(1), Some(&[8u8][..]));
        assert_eq!(g.input(2), None);
        assert!(Goldens::new(&[1, 2, 3], &[7, 8], 3, 1).is_none());
        assert!(Goldens::new(&[1, 2, 3], &[7], 2, 1).is_none());
        assert!(Goldens::new(&[], &[], 0, 1).is_none());
    }

    #[test]
    fn compares_bit_exactly() {
        assert_eq!(compare(&[-128, 0, 127], &[0x80, 0, 0x7F]), None);
        assert_eq!(
            compare(&[-128, 1, 127], &[0x7F, 0, 0x7F]),
            Some(Mismatch {
                differing: 2,
                first: 0,
                max_abs_diff: 255
            })
        );
        assert_eq!(
            compare(&[0, 0], &[0]),
            Some(Mismatch {
                differing: 1,
                first: 1,
                max_abs_diff: 0
            })
        );
    }
}
