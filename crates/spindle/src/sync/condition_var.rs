//! Layer 5 (primitives): `ConditionVar`, another condition over a `Condition`'s lock
//! (Python's `Condition(lock)`).
//!
//! # Deferred notifications across conditions
//!
//! A notification sent while the lock is held wakes its threads when the lock is released
//! (see `Condvar`). For the condition a `Condition` owns, the owner check reads the lock
//! word. A `ConditionVar` may outlive the `Condition` (nothing ties their lifetimes), so
//! it must never reach the lock itself: instead the condition's guards mirror the
//! holder's id into [`Shared::holder`], which both sides own through an `Arc`. The mirror
//! is written only by the thread that holds the lock, right after acquiring it and right
//! before releasing it, so `holder == me` is true exactly while the calling thread holds
//! the lock (a guard forgotten with `mem::forget` keeps the lock held, and the mirror
//! with it). A `ConditionVar` whose notifier holds the lock defers into its own `Condvar`
//! and files that `Condvar` (an `Arc`, never a pointer) in [`Shared::deferred`], which the
//! guard drains when it releases the lock, or when it waits on any of the conditions.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex as InternalMutex;

use super::condition::ConditionGuard;
use super::condvar::Condvar;
use super::label::Label;
use crate::thread::registry;
use crate::wait;

/// What a `Condition` shares with the other conditions over its lock.
pub(super) struct Shared {
    /// The id of the thread holding the lock, 0 when free (see the module docs). Written
    /// only by that thread.
    holder: AtomicU64,
    /// Conditions with notifications deferred by the holder. Touched only by the holder.
    deferred: InternalMutex<Vec<Arc<Condvar>>>,
    /// Whether `deferred` may be non-empty: one load on every release instead of a lock.
    any_deferred: AtomicBool,
}

impl Shared {
    pub(super) fn new() -> Shared {
        Shared {
            holder: AtomicU64::new(0),
            deferred: InternalMutex::new(Vec::new()),
            any_deferred: AtomicBool::new(false),
        }
    }

    /// The calling thread has just acquired the lock.
    pub(super) fn now_held(&self) {
        self.holder.store(registry::current_id(), Ordering::Relaxed);
    }

    /// The calling thread is about to release the lock.
    pub(super) fn released(&self) {
        self.holder.store(0, Ordering::Relaxed);
    }

    fn held_by_me(&self) -> bool {
        self.holder.load(Ordering::Relaxed) == registry::current_id()
    }

    /// The deferred notifications of every condition but the owner's, now the caller's
    /// to send once it has released the lock.
    pub(super) fn take_deferred(&self) -> Deferred {
        if !self.any_deferred.swap(false, Ordering::Relaxed) {
            return Deferred(Vec::new());
        }
        let filed = std::mem::take(&mut *self.deferred.lock());
        Deferred(
            filed
                .into_iter()
                .map(|cv| {
                    let n = cv.take_deferred();
                    (cv, n)
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
        )
    }

    /// Sends the deferred notifications of every condition but `except` now, with the
    /// lock still held: the caller is about to wait on `except`, which sends its own as
    /// it releases the lock.
    pub(super) fn flush_deferred_except(&self, except: &Condvar) {
        let deferred = self.take_deferred();
        for (cv, n) in deferred.0 {
            if std::ptr::eq(&*cv, except) {
                // Put back: `park` sends them once the lock is free.
                cv.defer(n);
            } else {
                cv.notify(n);
            }
        }
    }

    fn file(&self, cv: &Arc<Condvar>) {
        let mut filed = self.deferred.lock();
        if !filed.iter().any(|f| Arc::ptr_eq(f, cv)) {
            filed.push(Arc::clone(cv));
        }
        self.any_deferred.store(true, Ordering::Relaxed);
    }
}

/// Notifications taken from other conditions at release, to send once the lock is free.
pub(super) struct Deferred(Vec<(Arc<Condvar>, usize)>);

impl Deferred {
    pub(super) fn send(self) {
        for (cv, n) in self.0 {
            cv.notify(n);
        }
    }
}

/// Another condition over a [`Condition`](super::Condition)'s lock and data, made by
/// [`Condition::new_condition`](super::Condition::new_condition): Python's
/// `Condition(lock)`, or a second `Condvar` beside a `Mutex` in std and parking_lot.
///
/// Its waits take a guard of that condition ([`Condition::lock`](super::Condition::lock))
/// and, like the condition's own, release the lock while parked, re-take it before
/// returning, read `Waiting` (`TimedWaiting` with a timeout) and name this condition in
/// `waiting_on()`. Only this condition's `notify` calls wake them. It may be notified
/// with or without the lock held; sent with it held, a notification wakes its threads
/// when the lock is released. Waiting with a guard of any other condition panics.
///
/// See [`Condition::new_condition`](super::Condition::new_condition) for the classic
/// bounded buffer with two conditions on one lock.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Condition;
/// use spindle::thread;
///
/// let level = Arc::new(Condition::new(0u32));
/// let high = Arc::new(level.new_condition());
/// let (l, h) = (Arc::clone(&level), Arc::clone(&high));
/// let watcher = thread::spawn(move || {
///     let mut g = l.lock();
///     h.wait_until(&mut g, |level| *level >= 10);
///     *g
/// });
/// for _ in 0..10 {
///     *level.lock() += 1;
///     high.notify_all();
/// }
/// assert_eq!(watcher.join().unwrap(), 10);
/// ```
pub struct ConditionVar {
    cv: Arc<Condvar>,
    shared: Arc<Shared>,
    label: Label,
}

impl ConditionVar {
    pub(super) fn new(shared: Arc<Shared>, label: Label) -> ConditionVar {
        ConditionVar {
            cv: Arc::new(Condvar::new()),
            shared,
            label,
        }
    }

    /// Panics unless `guard` holds the lock this condition was made over.
    #[track_caller]
    fn check<T>(&self, guard: &ConditionGuard<'_, T>) {
        if !guard.shares(&self.shared) {
            panic!(
                "{} waited with a guard of {}, which is not the condition it was made over",
                self.label.describe("Condition"),
                guard.describe()
            );
        }
    }

    /// Releases the guard's lock, parks until notified, and re-takes the lock.
    ///
    /// # Panics
    /// If `guard` belongs to a condition other than the one this was made over; or, as
    /// [`Condition::lock`](super::Condition::lock) does, if re-taking the lock would
    /// deadlock.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let c = Arc::new(spindle::sync::Condition::new(false));
    /// let done = Arc::new(c.new_condition());
    /// let (c2, d2) = (Arc::clone(&c), Arc::clone(&done));
    /// let h = spindle::thread::spawn(move || { *c2.lock() = true; d2.notify_one(); });
    /// let mut g = c.lock();
    /// while !*g {
    ///     done.wait(&mut g);
    /// }
    /// # drop(g); h.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait<T>(&self, guard: &mut ConditionGuard<'_, T>) {
        self.check(guard);
        guard.park_on(&self.cv, &self.label, None, Location::caller());
    }

    /// As [`wait`](ConditionVar::wait), for at most `timeout`; `false` if it timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = spindle::sync::Condition::new(());
    /// let other = c.new_condition();
    /// assert!(!other.wait_timeout(&mut c.lock(), Duration::from_millis(2)));
    /// ```
    #[track_caller]
    pub fn wait_timeout<T>(&self, guard: &mut ConditionGuard<'_, T>, timeout: Duration) -> bool {
        self.check(guard);
        let deadline = wait::deadline_after(timeout);
        guard.park_on(&self.cv, &self.label, Some(deadline), Location::caller())
    }

    /// Waits until `pred` holds for the data (checked first, and after every wake-up).
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(3);
    /// let other = c.new_condition();
    /// other.wait_until(&mut c.lock(), |n| *n > 2); // already true: returns at once
    /// ```
    #[track_caller]
    pub fn wait_until<T>(
        &self,
        guard: &mut ConditionGuard<'_, T>,
        mut pred: impl FnMut(&mut T) -> bool,
    ) {
        self.check(guard);
        let at = Location::caller();
        while !pred(guard) {
            guard.park_on(&self.cv, &self.label, None, at);
        }
    }

    /// Waits until `pred` holds, for at most `timeout`; returns the predicate's last
    /// value, as Python's `wait_for`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = spindle::sync::Condition::new(0);
    /// let other = c.new_condition();
    /// assert!(!other.wait_until_timeout(&mut c.lock(), |n| *n > 0, Duration::from_millis(2)));
    /// ```
    #[track_caller]
    pub fn wait_until_timeout<T>(
        &self,
        guard: &mut ConditionGuard<'_, T>,
        mut pred: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> bool {
        self.check(guard);
        let at = Location::caller();
        let deadline = wait::deadline_after(timeout);
        loop {
            if pred(guard) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            if !guard.park_on(&self.cv, &self.label, Some(deadline), at)
                && Instant::now() >= deadline
            {
                return pred(guard);
            }
        }
    }

    /// Wakes the longest-waiting thread of this condition, if any.
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(());
    /// c.new_condition().notify_one(); // nobody waits: nothing happens
    /// ```
    pub fn notify_one(&self) {
        self.notify(1);
    }

    /// Wakes up to `n` threads waiting on this condition, longest-waiting first.
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(());
    /// c.new_condition().notify(3);
    /// ```
    pub fn notify(&self, n: usize) {
        if self.shared.held_by_me() {
            // Sent as this thread releases the lock (see the module docs).
            self.cv.defer(n);
            self.shared.file(&self.cv);
        } else {
            self.cv.notify(n);
        }
    }

    /// Wakes every thread waiting on this condition.
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(());
    /// c.new_condition().notify_all();
    /// ```
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}

impl fmt::Debug for ConditionVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionVar")
            .field("name", &self.label)
            .finish_non_exhaustive()
    }
}
