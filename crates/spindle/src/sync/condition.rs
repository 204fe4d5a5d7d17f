// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! `Condition<T>`: a `Mutex<T>` and its condition variable, as Python's `Condition`.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::condition_var::{ConditionVar, Shared};
use super::condvar::Condvar;
use super::label::{Label, Labelled};
use super::mutex::{Mutex, MutexGuard};
use crate::deadlock::error::DeadlockError;
use crate::deadlock::raise::raise;
use crate::thread::registry;
use crate::wait::{self, Wait};

/// Data behind a lock, and a way to sleep until another thread changes it: Python's
/// `Condition` with its lock built in.
///
/// Lock it, check the data, and [`wait`](ConditionGuard::wait) (which releases the lock
/// while parked and re-takes it before returning) until another thread changes the data
/// and calls [`notify_one`](Condition::notify_one), [`notify`](Condition::notify) or
/// [`notify_all`](Condition::notify_all), with or without the lock held. Waiters read
/// `Waiting` (`TimedWaiting` with a timeout) and `waiting_on()` names the condition.
/// Notified threads wake in the order they waited. A notification sent with the lock
/// held wakes its threads when the lock is released (by dropping the guard or by
/// waiting), so that they find it free instead of waking only to block on it. Use
/// [`wait_until`](ConditionGuard::wait_until): a wait can also end spuriously.
///
/// The base of spindle's `Event` and `Barrier`, as in CPython.
///
/// More conditions can share the lock, as Python's `Condition(lock)` does: see
/// [`new_condition`](Condition::new_condition), which has the classic bounded buffer.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Condition;
/// use spindle::thread;
///
/// let ready = Arc::new(Condition::new(false));
/// let setter = Arc::clone(&ready);
/// let h = thread::spawn(move || {
///     *setter.lock() = true;
///     setter.notify_all();
/// });
/// ready.lock().wait_until(|ready| *ready);
/// h.join().unwrap();
/// ```
pub struct Condition<T> {
    mutex: Mutex<T>,
    cv: Condvar,
    label: Label,
    /// Made by the first [`new_condition`](Condition::new_condition): what this
    /// condition shares with the others over its lock.
    shared: OnceLock<Arc<Shared>>,
}

impl<T> Condition<T> {
    /// A condition around `value`, named in reports by where it is created.
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(Vec::<u32>::new());
    /// assert!(c.lock().is_empty());
    /// ```
    #[track_caller]
    pub fn new(value: T) -> Condition<T> {
        Condition {
            mutex: Mutex::new(value),
            cv: Condvar::new(),
            label: Label::here(),
            shared: OnceLock::new(),
        }
    }

    /// A condition that states and reports call `name`.
    ///
    /// ```
    /// let c = spindle::sync::Condition::named("work-available", 0);
    /// assert!(format!("{c:?}").contains("work-available"));
    /// ```
    pub fn named(name: impl Into<String>, value: T) -> Condition<T> {
        let name = name.into();
        Condition {
            mutex: Mutex::named(name.clone(), value),
            cv: Condvar::new(),
            label: Label::named(name),
            shared: OnceLock::new(),
        }
    }

    /// Locks the data (blocking like [`Mutex::lock`], deadlock detection included).
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(1);
    /// *c.lock() += 1;
    /// assert_eq!(*c.lock(), 2);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> ConditionGuard<'_, T> {
        ConditionGuard::new(self, self.mutex.lock())
    }

    /// As [`lock`](Condition::lock), but a deadlock comes back as `Err` instead of a panic.
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(0);
    /// let g = c.lock_checked().expect("nobody holds it");
    /// assert!(c.lock_checked().is_err()); // this thread holds it already
    /// drop(g);
    /// ```
    #[track_caller]
    pub fn lock_checked(&self) -> Result<ConditionGuard<'_, T>, DeadlockError> {
        Ok(ConditionGuard::new(self, self.mutex.lock_checked()?))
    }

    /// Another condition over this condition's lock and data: Python's
    /// `Condition(lock)`, or a second `Condvar` beside one `Mutex` in std and
    /// parking_lot. Its waiters wait with a guard of this condition and are woken only
    /// by its own `notify` calls, so threads waiting for different changes of the same
    /// data each wake for theirs.
    ///
    /// It behaves as this condition does: waiters read `Waiting` (`TimedWaiting`) and
    /// `waiting_on()` names it (by where it was created, or see
    /// [`named_condition`](Condition::named_condition)), it takes part in deadlock
    /// detection in the same way, and a notification sent while the lock is held wakes
    /// its threads when the lock is released.
    ///
    /// The classic bounded buffer, as CPython's `queue.Queue` keeps `not_empty` and
    /// `not_full` on one mutex: here the condition itself is "not empty", and a second
    /// one over its lock is "not full".
    ///
    /// ```
    /// use std::collections::VecDeque;
    /// use std::sync::Arc;
    /// use spindle::sync::{Condition, ConditionVar};
    /// use spindle::thread;
    ///
    /// struct Bounded<T> {
    ///     items: Condition<VecDeque<T>>, // its own condition: "not empty"
    ///     not_full: ConditionVar,
    ///     capacity: usize,
    /// }
    ///
    /// impl<T> Bounded<T> {
    ///     fn new(capacity: usize) -> Self {
    ///         let items = Condition::named("not_empty", VecDeque::new());
    ///         let not_full = items.named_condition("not_full");
    ///         Bounded { items, not_full, capacity }
    ///     }
    ///
    ///     fn put(&self, item: T) {
    ///         let mut items = self.items.lock();
    ///         self.not_full.wait_until(&mut items, |q| q.len() < self.capacity);
    ///         items.push_back(item);
    ///         self.items.notify_one(); // not empty any more
    ///     }
    ///
    ///     fn get(&self) -> T {
    ///         let mut items = self.items.lock();
    ///         items.wait_until(|q| !q.is_empty());
    ///         let item = items.pop_front().unwrap();
    ///         self.not_full.notify_one(); // room for one more
    ///         item
    ///     }
    /// }
    ///
    /// let buffer = Arc::new(Bounded::new(2));
    /// let b = Arc::clone(&buffer);
    /// let producer = thread::spawn(move || (0..100).for_each(|i| b.put(i)));
    /// let received: Vec<i32> = (0..100).map(|_| buffer.get()).collect();
    /// producer.join().unwrap();
    /// assert_eq!(received, (0..100).collect::<Vec<_>>());
    /// ```
    #[track_caller]
    pub fn new_condition(&self) -> ConditionVar {
        ConditionVar::new(self.share(), Label::here())
    }

    /// As [`new_condition`](Condition::new_condition), named `name` in states and reports.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spindle::sync::Condition;
    /// use spindle::thread::{self, ThreadState};
    ///
    /// let slots = Arc::new(Condition::new(0));
    /// let room = Arc::new(slots.named_condition("room"));
    /// let (s, r) = (Arc::clone(&slots), Arc::clone(&room));
    /// let waiter = thread::spawn(move || r.wait_until(&mut s.lock(), |n| *n > 0));
    /// while waiter.info().state() != ThreadState::Waiting {
    ///     thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// assert_eq!(waiter.info().waiting_on().as_deref(), Some("Condition \"room\""));
    /// *slots.lock() += 1;
    /// room.notify_all();
    /// waiter.join().unwrap();
    /// ```
    pub fn named_condition(&self, name: impl Into<String>) -> ConditionVar {
        ConditionVar::new(self.share(), Label::named(name))
    }

    /// What this condition shares with the others over its lock, made on first use.
    fn share(&self) -> Arc<Shared> {
        // Made with no holder recorded: a thread holding the lock right now sends its
        // notifications on the new condition at once rather than deferring them.
        Arc::clone(self.shared.get_or_init(|| Arc::new(Shared::new())))
    }

    /// Wakes the longest-waiting thread, if any.
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(());
    /// c.notify_one(); // nobody waits: nothing happens
    /// ```
    pub fn notify_one(&self) {
        self.notify(1);
    }

    /// Wakes up to `n` waiting threads, longest-waiting first.
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(());
    /// c.notify(3);
    /// ```
    pub fn notify(&self, n: usize) {
        if self.holds_lock() {
            // Sent as this thread releases the lock, so the woken find it free (see
            // `Condvar::defer`): the same threads wake, one sleep sooner.
            self.cv.defer(n);
        } else {
            self.cv.notify(n);
        }
    }

    /// Wakes every waiting thread.
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(());
    /// c.notify_all();
    /// ```
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}

impl<T> Condition<T> {
    /// Whether the calling thread holds the lock.
    fn holds_lock(&self) -> bool {
        self.mutex.raw().owner() == registry::current_id()
    }
}

impl<T: Default> Default for Condition<T> {
    #[track_caller]
    fn default() -> Self {
        Condition::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("name", &self.label)
            .field("mutex", &self.mutex)
            .finish()
    }
}

/// The locked data of a [`Condition`], and the way to wait on it.
///
/// ```
/// use std::time::Duration;
/// let c = spindle::sync::Condition::new(0);
/// let mut g = c.lock();
/// *g += 1;
/// assert!(!g.wait_timeout(Duration::from_millis(1))); // nobody notifies
/// assert_eq!(*g, 1);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a, T> {
    cond: &'a Condition<T>,
    /// `None` only while unwinding from a deadlock found when re-locking after a wait
    /// (the lock is not held then, so there is nothing to release).
    guard: Option<MutexGuard<'a, T>>,
}

impl<'a, T> ConditionGuard<'a, T> {
    fn new(cond: &'a Condition<T>, guard: MutexGuard<'a, T>) -> Self {
        if let Some(shared) = cond.shared.get() {
            shared.now_held();
        }
        ConditionGuard {
            cond,
            guard: Some(guard),
        }
    }

    /// Whether this guard's lock is the one `shared` belongs to.
    pub(super) fn shares(&self, shared: &Arc<Shared>) -> bool {
        self.cond
            .shared
            .get()
            .is_some_and(|mine| Arc::ptr_eq(mine, shared))
    }

    /// Describes the condition this guard belongs to, for error messages.
    pub(super) fn describe(&self) -> String {
        self.cond.label.describe("Condition")
    }

    /// Parks on `cv` (this condition's, or another over its lock, labelled `label`)
    /// until notified or `deadline`, then re-takes the lock. `true` if notified.
    pub(super) fn park_on(
        &mut self,
        cv: &Condvar,
        label: &Label,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> bool {
        let cond = self.cond;
        let on = Labelled {
            kind: "Condition",
            label,
        };
        let wait = Wait::waiting(&on, deadline, at);
        let raw = cond.mutex.raw();
        if let Some(shared) = cond.shared.get() {
            // `cv`'s own deferred notifications go out as the lock is released, inside
            // `park`; the other conditions' must not wait for this thread to wake.
            if !std::ptr::eq(cv, &cond.cv) {
                cond.cv.notify(cond.cv.take_deferred());
            }
            shared.flush_deferred_except(cv);
            shared.released();
        }
        let notified = cv
            .park(raw, &wait, deadline)
            .expect("a wait that is not checked never reports a deadlock");
        if let Err(e) = raw.lock(at) {
            // The lock is not held: the guard must not release it while we unwind.
            std::mem::forget(self.guard.take());
            raise(e);
        }
        if let Some(shared) = cond.shared.get() {
            shared.now_held();
        }
        notified
    }

    /// Parks on this condition until notified (or `deadline`). `true` if notified.
    fn park(&mut self, deadline: Option<Instant>, at: &'static Location<'static>) -> bool {
        let cond = self.cond;
        self.park_on(&cond.cv, &cond.label, deadline, at)
    }

    /// Releases the lock, parks until notified, and re-takes the lock.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let c = Arc::new(spindle::sync::Condition::new(false));
    /// let c2 = Arc::clone(&c);
    /// let h = spindle::thread::spawn(move || { *c2.lock() = true; c2.notify_one(); });
    /// let mut g = c.lock();
    /// while !*g {
    ///     g.wait();
    /// }
    /// # drop(g); h.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait(&mut self) {
        self.park(None, Location::caller());
    }

    /// As [`wait`](ConditionGuard::wait), for at most `timeout`; `false` if it timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = spindle::sync::Condition::new(());
    /// assert!(!c.lock().wait_timeout(Duration::from_millis(2)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        self.park(Some(wait::deadline_after(timeout)), Location::caller())
    }

    /// Waits until `pred` holds for the data (checked first, and after every wake-up).
    ///
    /// ```
    /// let c = spindle::sync::Condition::new(3);
    /// c.lock().wait_until(|n| *n > 2); // already true: returns at once
    /// ```
    #[track_caller]
    pub fn wait_until(&mut self, mut pred: impl FnMut(&mut T) -> bool) {
        let at = Location::caller();
        while !pred(self) {
            self.park(None, at);
        }
    }

    /// Waits until `pred` holds, for at most `timeout`; returns the predicate's last
    /// value, as Python's `wait_for`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = spindle::sync::Condition::new(0);
    /// assert!(!c.lock().wait_until_timeout(|n| *n > 0, Duration::from_millis(2)));
    /// ```
    #[track_caller]
    pub fn wait_until_timeout(
        &mut self,
        mut pred: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> bool {
        let at = Location::caller();
        let deadline = wait::deadline_after(timeout);
        loop {
            if pred(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            if !self.park(Some(deadline), at) && Instant::now() >= deadline {
                return pred(self);
            }
        }
    }
}

impl<T> Drop for ConditionGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            let deferred = self.cond.cv.take_deferred();
            let others = self.cond.shared.get().map(|shared| {
                let others = shared.take_deferred();
                shared.released();
                others
            });
            drop(guard);
            self.cond.cv.notify(deferred);
            if let Some(others) = others {
                others.send();
            }
        }
    }
}

impl<T> Deref for ConditionGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("the condition's lock is held")
    }
}

impl<T> DerefMut for ConditionGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("the condition's lock is held")
    }
}

impl<T: fmt::Debug> fmt::Debug for ConditionGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.guard {
            Some(g) => fmt::Debug::fmt(&**g, f),
            None => f.write_str("<released>"),
        }
    }
}
