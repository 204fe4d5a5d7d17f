// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! `Mutex<T>` (Python's `Lock`, carrying data as Rust locks do).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::time::Duration;

use super::label::Label;
use super::raw_mutex::RawMutex;
use crate::deadlock::error::DeadlockError;
use crate::deadlock::raise::raise;
use crate::wait;

/// A mutual-exclusion lock that protects a `T`: Python's `Lock`, Rust-shaped.
///
/// * Uncontended `lock`/unlock is one compare-and-swap each, as fast as parking_lot.
/// * A thread waiting in `lock()` reads [`Blocked`](crate::thread::ThreadState::Blocked),
///   and its `waiting_on()` names this lock: the name given to [`Mutex::named`], else where
///   the lock was created.
/// * If waiting would deadlock (the owner waits, directly or through other threads, for a
///   lock this thread holds, or this thread holds this very lock), `lock()` panics with a
///   [`DeadlockError`] that explains the cycle, and [`lock_checked`](Mutex::lock_checked)
///   returns it instead. See [`crate::deadlock`].
/// * No poisoning: a panic while the lock is held just releases it.
///
/// # Fairness
/// Unlocking lets a running thread take the lock ahead of parked ones (throughput), but
/// about every half millisecond the lock is handed directly to the longest waiter, so no
/// thread starves (parking_lot's eventual fairness).
///
/// # Which lock should I use?
/// `Mutex` for data one thread at a time changes; [`ReentrantMutex`](super::ReentrantMutex)
/// if the owner must lock again; [`RwLock`](super::RwLock) when reads dominate;
/// [`Condition`](super::Condition) to wait for the data to reach a state.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Mutex;
/// use spindle::thread;
///
/// let counter = Arc::new(Mutex::named("counter", 0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let c = Arc::clone(&counter);
///         thread::spawn(move || for _ in 0..1000 { *c.lock() += 1 })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 4000);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

/// Python's `threading.Lock`: a [`Mutex`] that guards nothing but a critical section.
///
/// ```
/// let lock = spindle::sync::Lock::new(());
/// let _held = lock.lock();
/// assert!(lock.is_locked());
/// ```
pub type Lock = Mutex<()>;

// SAFETY: the lock hands out access to `T` to one thread at a time, so `T: Send` suffices,
// as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A lock around `value`, named in reports by where it is created. Usable in a `static`.
    ///
    /// ```
    /// static HITS: spindle::sync::Mutex<u64> = spindle::sync::Mutex::new(0);
    /// *HITS.lock() += 1;
    /// assert_eq!(*HITS.lock(), 1);
    /// ```
    #[track_caller]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new("Mutex", Label::here()),
            data: UnsafeCell::new(value),
        }
    }

    /// A lock around `value` that states and deadlock reports call `name`.
    ///
    /// ```
    /// let m = spindle::sync::Mutex::named("accounts", vec![100, 50]);
    /// assert!(format!("{m:?}").contains("accounts"));
    /// ```
    pub fn named(name: impl Into<String>, value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new("Mutex", Label::named(name)),
            data: UnsafeCell::new(value),
        }
    }

    /// A primitive's own state lock, which reports call `kind` and name by where it was
    /// created. Never checked for deadlocks: it is held only for a few instructions and
    /// never across a wait (see `Waitable::transient`).
    #[track_caller]
    pub(crate) fn internal(kind: &'static str, value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new_internal(kind, Label::here()),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value, taking the lock apart.
    ///
    /// ```
    /// let m = spindle::sync::Mutex::new(5);
    /// assert_eq!(m.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the lock, blocking while another thread holds it.
    ///
    /// # Panics
    /// With a [`DeadlockError`] payload if waiting would deadlock (see the type docs).
    ///
    /// ```
    /// let m = spindle::sync::Mutex::new(vec![1]);
    /// m.lock().push(2);
    /// assert_eq!(*m.lock(), [1, 2]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.raw.lock(Location::caller()) {
            Ok(()) => MutexGuard::new(self),
            Err(e) => raise(e),
        }
    }

    /// As [`lock`](Mutex::lock), but a deadlock comes back as `Err` instead of a panic.
    ///
    /// ```
    /// let m = spindle::sync::Mutex::new(0);
    /// let g = m.lock_checked().expect("nothing else holds it");
    /// assert!(m.lock_checked().is_err()); // this thread already holds it
    /// drop(g);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock_checked(&self) -> Result<MutexGuard<'_, T>, DeadlockError> {
        self.raw.lock(Location::caller())?;
        Ok(MutexGuard::new(self))
    }

    /// Acquires the lock only if it is free now.
    ///
    /// ```
    /// let m = spindle::sync::Mutex::new(());
    /// let g = m.try_lock();
    /// assert!(g.is_some());
    /// assert!(m.try_lock().is_none());
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw
            .try_lock(Location::caller())
            .then(|| MutexGuard::new(self))
    }

    /// Acquires the lock, waiting at most `timeout` (reading `TimedWaiting` meanwhile).
    /// A wait with a timeout never reports a deadlock: it ends by itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = spindle::sync::Mutex::new(());
    /// let _g = m.lock();
    /// assert!(m.try_lock_for(Duration::from_millis(10)).is_none());
    /// ```
    #[track_caller]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.raw
            .try_lock_until(wait::deadline_after(timeout), Location::caller())
            .then(|| MutexGuard::new(self))
    }

    /// Whether some thread holds the lock right now.
    ///
    /// ```
    /// let m = spindle::sync::Mutex::new(());
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.owner() != 0
    }

    /// The protected value, through exclusive access (no locking needed).
    ///
    /// ```
    /// let mut m = spindle::sync::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(*m.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        d.field("name", &self.raw.label);
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Access to a [`Mutex`]'s data; the lock is released when the guard is dropped.
///
/// ```
/// let m = spindle::sync::Mutex::new(String::from("a"));
/// let mut g = m.lock();
/// g.push('b');
/// drop(g); // unlocks
/// assert_eq!(*m.lock(), "ab");
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Unlocking must happen on the owning thread: the owner is in the lock word.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }

    /// Releases the lock, handing it straight to the longest waiter if there is one
    /// (slower than a plain unlock, but strictly first come, first served).
    ///
    /// ```
    /// use spindle::sync::{Mutex, MutexGuard};
    /// let m = Mutex::new(0);
    /// MutexGuard::unlock_fair(m.lock());
    /// assert!(!m.is_locked());
    /// ```
    pub fn unlock_fair(guard: Self) {
        let mutex = guard.mutex;
        std::mem::forget(guard);
        // SAFETY: the guard proved that this thread holds the lock, and it is gone now.
        unsafe { mutex.raw.unlock_fair() }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves that this thread holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves that this thread holds the lock, and `&mut self` that
        // no other reference through this guard exists.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard proves that this thread holds the lock.
        unsafe { self.mutex.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
