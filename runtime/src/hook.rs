//! Profiling and inspection hooks called around each op.

/// Called by `Interpreter::invoke_with` around every op. A board times layers
/// with its own clock here (SysTick, DWT, `Instant`); the host tool reads
/// intermediate tensors through `after_op`.
pub trait Hook {
    /// Called just before op `index` runs.
    fn before_op(&mut self, index: u16) {
        let _ = index;
    }
    /// Called just after op `index` ran; `tensor` is the index of its output
    /// tensor and `output` its bytes in the arena (`elements * dtype.size()`:
    /// one per int8 element, four little-endian bytes per f32 element).
    fn after_op(&mut self, index: u16, tensor: u16, output: &[u8]) {
        let _ = (index, tensor, output);
    }
}

/// A hook that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHook;

impl Hook for NoHook {}
