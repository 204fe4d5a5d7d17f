// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! The errors of `spindle::sync` (deadlocks are `crate::deadlock`'s, re-exported here).

use std::fmt;

/// A [`Barrier`](super::Barrier) was broken (timeout, `abort`, `reset`, or a panicking
/// action) while or before this thread waited: Python's `BrokenBarrierError`.
///
/// ```
/// let b = spindle::sync::Barrier::new(2);
/// b.abort();
/// assert_eq!(b.wait(), Err(spindle::sync::BrokenBarrier));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken (a timeout, abort, reset or panicking action broke it)")
    }
}

impl std::error::Error for BrokenBarrier {}

/// A [`BoundedSemaphore`](super::BoundedSemaphore) was released more times than it was
/// acquired: Python's `ValueError("Semaphore released too many times")`.
///
/// ```
/// let s = spindle::sync::BoundedSemaphore::new(1);
/// assert!(s.release(1).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemaphoreOverflow {
    pub(crate) available: usize,
    pub(crate) released: usize,
    pub(crate) bound: usize,
}

impl fmt::Display for SemaphoreOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BoundedSemaphore released too many times: release({}) with {} of {} permits available would exceed the initial value",
            self.released, self.available, self.bound
        )
    }
}

impl std::error::Error for SemaphoreOverflow {}
