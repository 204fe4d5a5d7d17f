// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! The condition variable under `Condition`, `Event`, `Barrier` and `Gil`.
//!
//! # Notifying with the lock held
//!
//! A thread woken while the notifier still holds the mutex wakes only to block on it:
//! two sleeps and two wake-ups per hand-over instead of one. parking_lot avoids this by
//! requeueing such a waiter onto the mutex's queue; spindle does not, because a requeued
//! thread would sleep on the mutex while its published wait still names the condition,
//! hiding it from deadlock detection. Instead the mutex's owner may [`defer`] its
//! notifications: they are sent the moment it releases the mutex ([`take_deferred`] and
//! [`notify`] on release, or [`park_in`] when the owner itself waits), so the woken
//! thread finds the mutex free. The set of threads woken is the one a notification sent
//! at once would have woken: deferral is capped at the number of waiters at the time,
//! and the owner never wakes itself.
//!
//! # Deadlock detection
//!
//! A condition wait has no holders: anyone may notify. Except once the mutex's owner
//! has deferred a notification that will wake it: from then on the waiter waits for that
//! owner to release the mutex, so its wait names the owner as its holder (worked out
//! when a search asks, by looking at which threads the deferred notifications will wake:
//! nothing is recorded on the notify path). A notifier that, still holding the mutex,
//! then blocks on a lock such a waiter holds closes a cycle that its lock-time check
//! finds.
//!
//! [`defer`]: Condvar::defer
//! [`take_deferred`]: Condvar::take_deferred
//! [`notify`]: Condvar::notify
//! [`park_in`]: Condvar::park_in

use std::time::Instant;

use std::sync::Arc;

use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, FilterOp, ParkResult};

use super::raw_mutex::RawMutex;
use crate::deadlock::error::DeadlockError;
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::wait::{self, Holder, Queued, Wait, WaitScope, Waitable};

/// Threads parked until notified, each having released a `RawMutex` to park.
pub(crate) struct Condvar {
    /// How many threads are parked (or about to be): lets `notify` skip the parking
    /// table when nobody waits. Never lower than the true count.
    waiters: AtomicUsize,
    /// Notifications the mutex's owner has asked for, to send when it releases the
    /// mutex. Read and written only by the thread that holds the mutex.
    deferred: AtomicUsize,
}

impl Condvar {
    pub(crate) const fn new() -> Condvar {
        Condvar {
            waiters: AtomicUsize::new(0),
            deferred: AtomicUsize::new(0),
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
        let on = CondvarWait {
            on: wait.on,
            cv: self,
            mutex,
        };
        let wait = Wait { on: &on, ..*wait };
        let scope = WaitScope::begin(&wait)?;
        Ok(self.park_in(&scope, mutex, deadline))
    }

    /// As `park`, inside a wait the caller has already published (and checked).
    pub(crate) fn park_in(
        &self,
        scope: &WaitScope<'_>,
        mutex: &RawMutex,
        deadline: Option<Instant>,
    ) -> bool {
        let me = scope.thread();
        let validate = || {
            self.waiters.fetch_add(1, Ordering::SeqCst);
            true
        };
        let before_sleep = || {
            // Taken while we still hold `mutex`: after the unlock, the next owner's.
            let deferred = self.take_deferred();
            // SAFETY: the caller holds `mutex`; once we are queued a notifier can find us,
            // so releasing it now loses no wake-up.
            unsafe { mutex.unlock() };
            // Sent now that the mutex is free; never to ourselves, queued last just now.
            self.notify_filtered(deferred, Some(me));
        };
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
        self.notify_filtered(n, None);
    }

    /// Asks for `n` notifications to be sent when the caller, which holds the mutex,
    /// releases it (see the module docs). Never more than the threads waiting now.
    pub(crate) fn defer(&self, n: usize) {
        let waiting = self.waiters.load(Ordering::SeqCst);
        let deferred = self.deferred.load(Ordering::Relaxed);
        self.deferred
            .store(deferred.saturating_add(n).min(waiting), Ordering::Relaxed);
    }

    /// The notifications deferred so far, now the caller's to send: called by the
    /// mutex's owner just before it releases the mutex.
    pub(crate) fn take_deferred(&self) -> usize {
        if self.deferred.load(Ordering::Relaxed) == 0 {
            return 0; // the common case, without a write
        }
        self.deferred.swap(0, Ordering::Relaxed)
    }

    /// Wakes up to `n` parked threads, longest-waiting first, passing over the thread
    /// `except`.
    fn notify_filtered(&self, n: usize, except: Option<u64>) {
        if n == 0 || self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut left = n;
        let filter = |queued: Queued<'_>| {
            if Some(queued.thread()) == except {
                FilterOp::Skip
            } else if left == 0 {
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

/// A wait on a condition variable, as deadlock detection sees it: the caller's waitable,
/// plus the one case where it has a holder (see the module docs).
struct CondvarWait<'a> {
    on: &'a dyn Waitable,
    cv: &'a Condvar,
    mutex: &'a RawMutex,
}

impl Waitable for CondvarWait<'_> {
    fn describe(&self) -> String {
        self.on.describe()
    }

    fn description(&self) -> Arc<str> {
        self.on.description()
    }

    fn transient(&self) -> bool {
        self.on.transient()
    }

    fn idle(&self) -> bool {
        self.on.idle()
    }

    /// The mutex's owner, if a notification it deferred will wake `waiter`.
    fn holders(&self, waiter: u64, out: &mut Vec<Holder>) {
        // An internal state lock is never held while its holder blocks: no cycle there.
        if self.mutex.is_internal() {
            return;
        }
        let deferred = self.cv.deferred.load(Ordering::Relaxed);
        let owner = self.mutex.owner();
        if deferred == 0 || owner == 0 {
            return;
        }
        // The deferred notifications wake the first `deferred` threads in the queue,
        // never the owner itself.
        let mut ahead = 0;
        let mut designated = false;
        wait::peek(self.cv.key(), |queued| {
            let thread = queued.thread();
            if thread == owner {
                return true;
            }
            if thread == waiter {
                designated = true;
                return false;
            }
            ahead += 1;
            ahead < deferred
        });
        if designated {
            self.mutex.holders(waiter, out);
        }
    }
}
