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
//! [`defer`]: Condvar::defer
//! [`take_deferred`]: Condvar::take_deferred
//! [`notify`]: Condvar::notify
//! [`park_in`]: Condvar::park_in

use std::time::Instant;

use parking_lot_core::{DEFAULT_UNPARK_TOKEN, FilterOp, ParkResult, ParkToken};

use super::raw_mutex::RawMutex;
use crate::deadlock::DeadlockError;
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::thread::registry;
use crate::wait::{self, Wait, WaitScope};

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
        let me = ParkToken(registry::current_id() as usize);
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
        let result = scope.park(self.key(), validate, before_sleep, timed_out, me, deadline);
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

    /// Wakes up to `n` parked threads, longest-waiting first, passing over `except`.
    fn notify_filtered(&self, n: usize, except: Option<ParkToken>) {
        if n == 0 || self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut left = n;
        let filter = |token| {
            if Some(token) == except {
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
