//! Output requantisation parameters (per-tensor or per-channel).

use crate::error::KernelError;
use crate::fixedpoint::multiply_by_quantized_multiplier;

/// Fixed-point output scale for conv / depthwise / fully-connected kernels:
/// `multiplier` (Q0.31) and `shift` (`> 0` = left shift, TFLite convention),
/// either one entry for the whole tensor or one per output channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant<'a> {
    /// Q0.31 multipliers, length 1 or the output channel count.
    pub multiplier: &'a [i32],
    /// Shifts matching `multiplier` (positive = left).
    pub shift: &'a [i32],
}

impl Requant<'_> {
    /// Checks that both slices have length 1 or `channels`.
    pub fn validate(&self, channels: usize) -> Result<(), KernelError> {
        let n = self.multiplier.len();
        if n != self.shift.len() || !(n == 1 || n == channels) {
            return Err(KernelError::InvalidParameter);
        }
        Ok(())
    }

    /// True if there is one entry per channel (more than one entry).
    pub fn is_per_channel(&self) -> bool {
        self.multiplier.len() > 1
    }

    /// The `(multiplier, shift)` pair for `channel` (after [`Self::validate`];
    /// out-of-range channels fall back to the first entry).
    #[inline]
    pub fn get(&self, channel: usize) -> (i32, i32) {
        let i = if self.multiplier.len() > 1 {
            channel
        } else {
            0
        };
        match (self.multiplier.get(i), self.shift.get(i)) {
            (Some(&m), Some(&s)) => (m, s),
            _ => (0, 0),
        }
    }

    /// Applies `multiply_by_quantized_multiplier` with this channel's scale.
    #[inline]
    pub fn apply(&self, acc: i32, channel: usize) -> i32 {
        let (m, s) = self.get(channel);
        multiply_by_quantized_multiplier(acc, m, s)
    }
}
