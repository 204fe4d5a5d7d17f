//! The condition variable under `Condition`, `Event`, `Barrier` and `Gil`.

use std::time::Instant;

use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, FilterOp, ParkResult};

use super::raw_mutex::RawMutex;
use crate::deadlock::DeadlockError;
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::wait::{self, Wait, WaitScope};

/// Threads parked until notified, each having released a `RawMutex` to park.
pub(crate) struct Condvar {
    /// How many threads are parked (or about to be): lets `notify` skip the parking
    /// table when nobody waits. Never lower than the true count.
    waiters: AtomicUsize,
}

impl Condvar {
    pub(crate) const fn new() -> Condvar {
        Condvar {
            waiters: AtomicUsize::new(0),
        }
    }

    fn key(&self) -> usize {
        self as *const Condvar as usize
    }

    /// Releases `mutex` (which the caller holds) and parks until notified or `deadline`.
    /// Does not re-acquire `mutex`: the caller does, in the way that suits it.
    /// `Ok(true)` if notified, `Ok(false)` on timeout. `Err` only for a `wait` with
    /// `check` set whose parking would close a cycle; the mutex is then still held.
    pub(crate) fn park(
        &self,
        mutex: &RawMutex,
        wait: &Wait<'_>,
        deadline: Option<Instant>,
    ) -> Result<bool, DeadlockError> {
        let scope = WaitScope::begin(wait)?;
        Ok(self.park_in(&scope, mutex, deadline))
    }

    /// As `park`, inside a wait the caller has already published (and checked).
    pub(crate) fn park_in(
        &self,
        scope: &WaitScope<'_>,
        mutex: &RawMutex,
        deadline: Option<Instant>,
    ) -> bool {
        let validate = || {
            self.waiters.fetch_add(1, Ordering::SeqCst);
            true
        };
        // SAFETY: the caller holds `mutex`; once we are queued a notifier can find us, so
        // releasing it now loses no wake-up.
        let before_sleep = || unsafe { mutex.unlock() };
        let timed_out = |_, _| {
            self.waiters.fetch_sub(1, Ordering::SeqCst);
        };
        let result = scope.park(
            self.key(),
            validate,
            before_sleep,
            timed_out,
            DEFAULT_PARK_TOKEN,
            deadline,
        );
        matches!(result, ParkResult::Unparked(_))
    }

    /// Wakes up to `n` parked threads, longest-waiting first.
    pub(crate) fn notify(&self, n: usize) {
        if n == 0 || self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut left = n;
        let filter = |_| {
            if left == 0 {
                FilterOp::Stop
            } else {
                left -= 1;
                FilterOp::Unpark
            }
        };
        let callback = |result: parking_lot_core::UnparkResult| {
            self.waiters
                .fetch_sub(result.unparked_threads, Ordering::SeqCst);
            DEFAULT_UNPARK_TOKEN
        };
        wait::unpark_filter(self.key(), filter, callback);
    }

    pub(crate) fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}
