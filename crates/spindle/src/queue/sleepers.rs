// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! Where threads of a lock-free queue park: one spot per thing waited for (an item, room,
//! every task done), through the crate's one waiting path, with a count of the threads
//! parked there so that the thread that makes the wait end can skip the parking table
//! when nobody waits (the common case, and the reason `put` and `get` stay cheap).
//!
//! # Why no wake-up is lost
//! A waiter counts itself in, then checks its condition (both under the parking table's
//! lock for this spot, in `validate`), and parks only if it still holds. A thread that
//! ends the wait changes the queue's state, then reads the count. All four accesses
//! are SeqCst, so of the two threads one sees the other: either the waiter sees the new
//! state and does not park, or the other thread sees the count and wakes it (taking the
//! same table lock, so after the waiter is queued).

use std::time::Instant;

use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, FilterOp, ParkResult};

use super::storage::created;
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::wait::{self, Wait};

/// Threads parked until some state of a queue changes.
pub(crate) struct Sleepers {
    /// Threads parked or about to be: never lower than the true count. Raised by the
    /// waiter; lowered by whoever wakes it, or by itself on a timeout or a failed check.
    parked: AtomicUsize,
}

impl Sleepers {
    pub(crate) fn new() -> Sleepers {
        Sleepers {
            parked: created!(AtomicUsize::new(0)),
        }
    }

    fn key(&self) -> usize {
        self as *const Sleepers as usize
    }

    /// Parks the calling thread while `waiting()` holds (checked with the caller counted
    /// in), until woken or `deadline`. `waiting` only reads atomics and never panics.
    /// The caller checks the queue again afterwards: a wake-up promises nothing.
    pub(crate) fn park(
        &self,
        wait: &Wait<'_>,
        waiting: impl Fn() -> bool,
        deadline: Option<Instant>,
    ) {
        let validate = || {
            self.parked.fetch_add(1, Ordering::SeqCst);
            if waiting() {
                return true;
            }
            self.parked.fetch_sub(1, Ordering::SeqCst);
            false
        };
        let timed_out = |_, _| {
            self.parked.fetch_sub(1, Ordering::SeqCst);
        };
        // A queue wait is never a lock acquisition, so the waiting path never refuses it.
        let parked: Result<ParkResult, _> = wait::park(
            wait,
            self.key(),
            validate,
            || {},
            timed_out,
            DEFAULT_PARK_TOKEN,
            deadline,
        );
        debug_assert!(parked.is_ok());
    }

    /// Wakes the thread parked longest, if any; call after changing the state waited on.
    #[inline]
    pub(crate) fn wake_one(&self) {
        if self.parked.load(Ordering::SeqCst) != 0 {
            self.wake_one_slow();
        }
    }

    #[cold]
    fn wake_one_slow(&self) {
        wait::unpark_one(self.key(), |result| {
            self.parked
                .fetch_sub(result.unparked_threads, Ordering::SeqCst);
            DEFAULT_UNPARK_TOKEN
        });
    }

    /// Wakes every parked thread; call after changing the state waited on.
    pub(crate) fn wake_all(&self) {
        if self.parked.load(Ordering::SeqCst) == 0 {
            return;
        }
        wait::unpark_filter(
            self.key(),
            |_| FilterOp::Unpark,
            |result| {
                self.parked
                    .fetch_sub(result.unparked_threads, Ordering::SeqCst);
                DEFAULT_UNPARK_TOKEN
            },
        );
    }
}
