// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! `ReentrantMutex<T>` (Python's `RLock`).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::label::Label;
use super::raw_mutex::RawMutex;
use crate::deadlock::error::DeadlockError;
use crate::deadlock::raise::raise;
use crate::thread::registry;
use crate::wait;

/// A lock its owner may take again: Python's `RLock`. It is released when the owner has
/// dropped every guard. Guards give `&T` (several can be alive on the owning thread),
/// so mutate through a `Cell` or `RefCell` inside.
///
/// Deadlock detection treats it as any lock: re-locking by the owner never reports;
/// waiting for another owner that waits for you does. Unnamed locks are named by where
/// they were created.
///
/// ```
/// use std::cell::Cell;
/// use spindle::sync::ReentrantMutex;
///
/// let m = ReentrantMutex::named("tree", Cell::new(0));
/// let outer = m.lock();
/// let inner = m.lock(); // same thread: no deadlock
/// inner.set(inner.get() + 1);
/// assert_eq!(m.lock_count(), 2);
/// drop(inner);
/// drop(outer);
/// assert!(!m.is_locked());
/// ```
pub struct ReentrantMutex<T: ?Sized> {
    raw: RawMutex,
    /// The owner's number of live guards; written only by the owner.
    count: AtomicUsize,
    data: UnsafeCell<T>,
}

/// Python's `threading.RLock`: a [`ReentrantMutex`] guarding nothing.
///
/// ```
/// let r = spindle::sync::RLock::new(());
/// let _a = r.lock();
/// let _b = r.lock();
/// assert_eq!(r.lock_count(), 2);
/// ```
pub type RLock = ReentrantMutex<()>;

// SAFETY: one thread at a time holds guards, which give only `&T`: `T: Send` suffices
// (as for parking_lot's ReentrantMutex).
unsafe impl<T: ?Sized + Send> Send for ReentrantMutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for ReentrantMutex<T> {}

impl<T> ReentrantMutex<T> {
    /// A reentrant lock around `value`, named by where it is created.
    ///
    /// ```
    /// static R: spindle::sync::RLock = spindle::sync::RLock::new(());
    /// let _g = R.lock();
    /// ```
    #[track_caller]
    pub const fn new(value: T) -> ReentrantMutex<T> {
        ReentrantMutex {
            raw: RawMutex::new("ReentrantMutex", Label::here()),
            count: AtomicUsize::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// A reentrant lock that reports call `name`.
    ///
    /// ```
    /// let r = spindle::sync::ReentrantMutex::named("registry", 1);
    /// assert_eq!(*r.lock(), 1);
    /// ```
    pub fn named(name: impl Into<String>, value: T) -> ReentrantMutex<T> {
        ReentrantMutex {
            raw: RawMutex::new("ReentrantMutex", Label::named(name)),
            count: AtomicUsize::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value.
    ///
    /// ```
    /// assert_eq!(spindle::sync::ReentrantMutex::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> ReentrantMutex<T> {
    /// Takes one more guard if this thread owns the lock already.
    fn relock_if_owner(&self) -> bool {
        if self.raw.owner() != registry::current_id() {
            return false;
        }
        let count = self.count.load(Ordering::Relaxed);
        let next = count
            .checked_add(1)
            .expect("ReentrantMutex: the owner holds usize::MAX guards already");
        self.count.store(next, Ordering::Relaxed);
        true
    }

    fn first_guard(&self) -> ReentrantMutexGuard<'_, T> {
        self.count.store(1, Ordering::Relaxed);
        ReentrantMutexGuard::new(self)
    }

    /// Acquires the lock (again, if this thread owns it), blocking while another owns it.
    ///
    /// # Panics
    /// With a [`DeadlockError`] payload if waiting would deadlock.
    ///
    /// ```
    /// let r = spindle::sync::ReentrantMutex::new(7);
    /// assert_eq!(*r.lock(), 7);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        match self.lock_checked() {
            Ok(g) => g,
            Err(e) => raise(e),
        }
    }

    /// As [`lock`](ReentrantMutex::lock), returning a deadlock as `Err`.
    ///
    /// ```
    /// let r = spindle::sync::ReentrantMutex::new(());
    /// let _a = r.lock_checked().unwrap();
    /// let _b = r.lock_checked().unwrap(); // re-entry is never a deadlock
    /// ```
    #[track_caller]
    pub fn lock_checked(&self) -> Result<ReentrantMutexGuard<'_, T>, DeadlockError> {
        if self.relock_if_owner() {
            return Ok(ReentrantMutexGuard::new(self));
        }
        self.raw.lock(Location::caller())?;
        Ok(self.first_guard())
    }

    /// Acquires the lock if this thread owns it or it is free now.
    ///
    /// ```
    /// let r = spindle::sync::ReentrantMutex::new(());
    /// let _a = r.lock();
    /// assert!(r.try_lock().is_some());
    /// ```
    #[track_caller]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        if self.relock_if_owner() {
            return Some(ReentrantMutexGuard::new(self));
        }
        self.raw
            .try_lock(Location::caller())
            .then(|| self.first_guard())
    }

    /// Acquires the lock, waiting at most `timeout` for another owner to release it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = spindle::sync::ReentrantMutex::new(());
    /// assert!(r.try_lock_for(Duration::from_millis(1)).is_some());
    /// ```
    #[track_caller]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<ReentrantMutexGuard<'_, T>> {
        if self.relock_if_owner() {
            return Some(ReentrantMutexGuard::new(self));
        }
        self.raw
            .try_lock_until(wait::deadline_after(timeout), Location::caller())
            .then(|| self.first_guard())
    }

    /// Whether some thread owns the lock.
    ///
    /// ```
    /// let r = spindle::sync::ReentrantMutex::new(());
    /// assert!(!r.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.owner() != 0
    }

    /// Whether the calling thread owns the lock.
    ///
    /// ```
    /// let r = spindle::sync::ReentrantMutex::new(());
    /// let g = r.lock();
    /// assert!(r.is_owned_by_current_thread());
    /// drop(g);
    /// assert!(!r.is_owned_by_current_thread());
    /// ```
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.raw.owner() == registry::current_id()
    }

    /// How many guards the owner holds (0 when free), readable from any thread.
    ///
    /// ```
    /// let r = spindle::sync::ReentrantMutex::new(());
    /// assert_eq!(r.lock_count(), 0);
    /// let _g = r.lock();
    /// assert_eq!(r.lock_count(), 1);
    /// ```
    pub fn lock_count(&self) -> usize {
        if self.raw.owner() == 0 {
            0
        } else {
            self.count.load(Ordering::Relaxed)
        }
    }

    /// The protected value, through exclusive access.
    ///
    /// ```
    /// let mut r = spindle::sync::ReentrantMutex::new(1);
    /// *r.get_mut() = 2;
    /// assert_eq!(*r.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for ReentrantMutex<T> {
    #[track_caller]
    fn default() -> Self {
        ReentrantMutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ReentrantMutex");
        d.field("name", &self.raw.label);
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// One of the owner's holds on a [`ReentrantMutex`]; gives `&T`.
///
/// ```
/// let r = spindle::sync::ReentrantMutex::new(String::from("x"));
/// let g = r.lock();
/// assert_eq!(g.len(), 1);
/// ```
#[must_use = "the hold is released as soon as the guard is dropped"]
pub struct ReentrantMutexGuard<'a, T: ?Sized> {
    lock: &'a ReentrantMutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for ReentrantMutexGuard<'_, T> {}

impl<'a, T: ?Sized> ReentrantMutexGuard<'a, T> {
    fn new(lock: &'a ReentrantMutex<T>) -> Self {
        ReentrantMutexGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for ReentrantMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread owns the lock; all guards give only `&T`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for ReentrantMutexGuard<'_, T> {
    fn drop(&mut self) {
        let count = self.lock.count.load(Ordering::Relaxed) - 1;
        self.lock.count.store(count, Ordering::Relaxed);
        if count == 0 {
            // SAFETY: this was the owner's last guard, so this thread holds the raw lock.
            unsafe { self.lock.raw.unlock() }
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
