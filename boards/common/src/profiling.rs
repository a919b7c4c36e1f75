//! Per-layer profiling with a free-running hardware counter.
//!
//! On a QEMU machine run with `-icount shift=0`, SysTick clocked by the core
//! clock counts virtual nanoseconds, i.e. instructions (see
//! [`crate::Board::ticks_to_instructions`]); on silicon the same code counts
//! cycles. The profiler only ever takes differences of consecutive readings
//! modulo the counter's width, so it needs no interrupt: it is exact as long
//! as no two consecutive readings (op boundaries) are a full counter period
//! apart (2^24 ticks for SysTick: 671 M instructions at 25 MHz).

use mote_runtime::Hook;

/// A free-running counter that counts UP, modulo `MASK + 1`.
pub trait Counter {
    /// The counter's wrap-around mask (`0xFF_FFFF` for the 24-bit SysTick).
    const MASK: u32;
    /// The current value, in `0..=MASK`.
    fn now(&mut self) -> u32;
}

/// Implements [`Hook`]: records the ticks each op took into a caller-owned
/// slice (index = op index), and the total ticks since [`LayerProfiler::start`].
#[derive(Debug)]
pub struct LayerProfiler<'s, C: Counter> {
    counter: C,
    last: u32,
    total: u64,
    per_op: &'s mut [u64],
}

impl<'s, C: Counter> LayerProfiler<'s, C> {
    /// A profiler reading `counter` and writing per-op ticks into `per_op`
    /// (ops beyond its length are counted in the total only).
    pub fn new(mut counter: C, per_op: &'s mut [u64]) -> Self {
        let last = counter.now();
        LayerProfiler {
            counter,
            last,
            total: 0,
            per_op,
        }
    }

    /// Zeroes the per-op and total counts and starts counting from now.
    pub fn start(&mut self) {
        self.per_op.fill(0);
        self.total = 0;
        self.last = self.counter.now();
    }

    /// Takes a reading and returns the ticks since the previous one.
    fn lap(&mut self) -> u64 {
        let now = self.counter.now();
        let delta = now.wrapping_sub(self.last) & C::MASK;
        self.last = now;
        self.total = self.total.saturating_add(u64::from(delta));
        u64::from(delta)
    }

    /// Takes a final reading and returns the total ticks since `start`.
    pub fn stop(&mut self) -> u64 {
        self.lap();
        self.total
    }

    /// Ticks since `start`, as of the last reading.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Ticks per op, as of the last reading.
    pub fn per_op(&self) -> &[u64] {
        self.per_op
    }
}

impl<C: Counter> Hook for LayerProfiler<'_, C> {
    fn before_op(&mut self, _index: u16) {
        // Time between ops (the interpreter's own work) goes to the total.
        self.lap();
    }

    fn after_op(&mut self, index: u16, _tensor: u16, _output: &[u8]) {
        let ticks = self.lap();
        if let Some(slot) = self.per_op.get_mut(usize::from(index)) {
            *slot = slot.saturating_add(ticks);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4-bit counter that advances by a scripted step at every reading.
    struct Script<'a> {
        value: u32,
        steps: &'a [u32],
        at: usize,
    }

    impl Counter for Script<'_> {
        const MASK: u32 = 0xF;
        fn now(&mut self) -> u32 {
            let step = self.steps.get(self.at).copied().unwrap_or(0);
            self.at += 1;
            self.value = (self.value + step) & Self::MASK;
            self.value
        }
    }

    #[test]
    fn laps_wrap_around_and_sum_to_the_total() {
        let steps = [0, 0, 3, 9, 1, 14, 2];
        let counter = Script {
            value: 10,
            steps: &steps,
            at: 0,
        };
        let mut per_op = [0u64; 2];
        let mut p = LayerProfiler::new(counter, &mut per_op);
        p.start();
        p.before_op(0);
        p.after_op(0, 0, &[]);
        p.before_op(1);
        p.after_op(1, 0, &[]);
        let total = p.stop();
        assert_eq!(p.per_op(), &[9, 14]);
        assert_eq!(total, 3 + 9 + 1 + 14 + 2);
    }
}
