//! A simulated NOR flash for the host: bytes erase to 0xFF, a write can only
//! clear bits (programming a 0 back to 1 is an error), reads/writes/erases
//! must respect the sizes, and power can be cut after any number of steps —
//! the step that is cut is left half done, as on a real part.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Errors of the simulated flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// Offset or length not aligned to the operation's size.
    NotAligned,
    /// Outside the flash.
    OutOfBounds,
    /// A write would set a bit that is 0 (not erased first).
    NotErased,
    /// Power was cut during this step (it may be half done).
    PowerCut,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::NotAligned => NorFlashErrorKind::NotAligned,
            SimError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// A NOR flash of `memory.len()` bytes, write size `W`, erase size `E`.
#[derive(Debug, Clone)]
pub struct SimFlash<const W: usize, const E: usize> {
    /// The flash contents.
    pub memory: Vec<u8>,
    /// Steps (writes and erases) left before power is cut; `None` = never.
    pub power_budget: Option<u32>,
    /// Steps done so far.
    pub steps: u32,
}

impl<const W: usize, const E: usize> SimFlash<W, E> {
    /// An erased flash of `size` bytes.
    pub fn new(size: usize) -> Self {
        Self {
            memory: vec![0xFF; size],
            power_budget: None,
            steps: 0,
        }
    }

    /// Counts a step; `Ok(true)` when power is cut during it.
    fn step(&mut self) -> bool {
        self.steps += 1;
        match self.power_budget.as_mut() {
            Some(0) => true,
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        }
    }
}

impl<const W: usize, const E: usize> ErrorType for SimFlash<W, E> {
    type Error = SimError;
}

impl<const W: usize, const E: usize> ReadNorFlash for SimFlash<W, E> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        let o = offset as usize;
        let src = self
            .memory
            .get(o..o + bytes.len())
            .ok_or(SimError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.memory.len()
    }
}

impl<const W: usize, const E: usize> NorFlash for SimFlash<W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        let (f, t) = (from as usize, to as usize);
        if f % E != 0 || t % E != 0 || f > t {
            return Err(SimError::NotAligned);
        }
        if t > self.memory.len() {
            return Err(SimError::OutOfBounds);
        }
        if self.step() {
            // Cut half way: the first half of the sectors is erased.
            let mid = f + ((t - f) / E / 2) * E;
            self.memory[f..mid].fill(0xFF);
            return Err(SimError::PowerCut);
        }
        self.memory[f..t].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        let o = offset as usize;
        if !o.is_multiple_of(W) || !bytes.len().is_multiple_of(W) {
            return Err(SimError::NotAligned);
        }
        let dst = self
            .memory
            .get(o..o + bytes.len())
            .ok_or(SimError::OutOfBounds)?;
        if dst.iter().zip(bytes).any(|(&old, &new)| old & new != new) {
            return Err(SimError::NotErased);
        }
        let cut = self.step();
        // A cut write programs only the first half of its bytes.
        let n = if cut { bytes.len() / 2 } else { bytes.len() };
        for (d, &b) in self.memory[o..o + n].iter_mut().zip(bytes) {
            *d &= b;
        }
        if cut {
            Err(SimError::PowerCut)
        } else {
            Ok(())
        }
    }
}
