// Layer 9 (futures): executors and futures, over everything below.
//! Completion notifications, as CPython's `_Waiter`: one object that many futures report
//! to, so that `as_completed` and `wait` over n futures cost O(n) in all and never poll.

use std::collections::VecDeque;
use std::panic::Location;
use std::time::Instant;

use crate::sync::Condvar;
use crate::sync::Mutex;
use crate::wait::{Wait, Waitable};

/// Collects "future i is done" reports and wakes the one thread waiting for them.
///
/// A future holds the waiters watching it and reports to each exactly once, when it
/// becomes done (or at once, if it already is when the waiter starts watching).
pub(crate) struct Waiter {
    arrivals: Mutex<Arrivals>,
    arrived: Condvar,
    /// `as_completed` or `wait(FirstCompleted)`: what the waiting thread is doing.
    purpose: &'static str,
    total: usize,
    /// Whether to keep the indices of the futures that reported (`as_completed`), or
    /// only count them (`wait`).
    record: bool,
}

/// What has been reported so far.
pub(crate) struct Arrivals {
    /// Indices of done futures, in the order they reported, not yet taken (kept only
    /// for `as_completed`).
    pub(crate) done: VecDeque<usize>,
    /// How many futures have reported.
    pub(crate) count: usize,
    /// How many of them finished with an error (not counting cancellations).
    pub(crate) failed: usize,
}

impl Waiter {
    /// A waiter for `total` futures, described in thread states by `purpose`, keeping the
    /// indices of those that report if `record`.
    pub(crate) fn new(purpose: &'static str, total: usize, record: bool) -> Waiter {
        Waiter {
            arrivals: Mutex::new(Arrivals {
                done: VecDeque::new(),
                count: 0,
                failed: 0,
            }),
            arrived: Condvar::new(),
            purpose,
            total,
            record,
        }
    }

    /// Future `index` is done; `failed` if it finished with an error.
    pub(crate) fn arrive(&self, index: usize, failed: bool) {
        self.arrive_all([(index, failed)]);
    }

    /// Several futures are done: `(index, failed)` each, in one go.
    pub(crate) fn arrive_all(&self, done: impl IntoIterator<Item = (usize, bool)>) {
        let mut a = self.arrivals.lock();
        for (index, failed) in done {
            if self.record {
                a.done.push_back(index);
            }
            a.count += 1;
            a.failed += usize::from(failed);
        }
        drop(a);
        self.arrived.notify_all();
    }

    /// Parks until `ready` gives a value (it is called under the lock each time reports
    /// arrive) or `deadline` passes (`None`).
    pub(crate) fn wait_for<R>(
        &self,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
        mut ready: impl FnMut(&mut Arrivals) -> Option<R>,
    ) -> Option<R> {
        let mut a = self.arrivals.lock();
        let wait = Wait::waiting(self, deadline, at);
        let raw = self.arrivals.raw();
        loop {
            if let Some(r) = ready(&mut a) {
                return Some(r);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            // The guard stays alive: the condvar releases the lock, we take it back.
            let _ = self.arrived.park(raw, &wait, deadline);
            raw.lock_internal(at);
        }
    }
}

impl Waitable for Waiter {
    fn describe(&self) -> String {
        format!("{} over {} futures", self.purpose, self.total)
    }
}
