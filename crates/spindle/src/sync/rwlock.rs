// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! `RwLock<T>`: many readers or one writer.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::time::Duration;

use super::label::Label;
use super::raw_rwlock::RawRwLock;
use crate::deadlock::error::DeadlockError;
use crate::deadlock::raise::raise;
use crate::wait;

/// A reader-writer lock around a `T`: any number of readers, or one writer.
///
/// # Fairness
/// Writer-preferring: once a writer waits, new readers wait behind it, so a stream of
/// readers can never starve a writer. A releasing writer lets every waiting reader in at
/// once before the next writer, so a stream of writers cannot starve readers either.
/// A consequence (as with every writer-preferring lock): a thread that already holds a
/// read lock must not take another while a writer may be waiting; spindle reports that
/// case as a deadlock rather than hanging.
///
/// Blocking `read`/`write` read `Blocked` and take part in deadlock detection; the
/// writer, and each reader, counts as an owner. Timed variants read `TimedWaiting`.
///
/// ```
/// use spindle::sync::RwLock;
///
/// let config = RwLock::named("config", String::from("v1"));
/// {
///     let a = config.read();
///     let b = config.read(); // readers share
///     assert_eq!(*a, *b);
/// }
/// config.write().push_str("-patched");
/// assert_eq!(*config.read(), "v1-patched");
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: as `std::sync::RwLock`: writers need `T: Send`, shared readers `T: Sync`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A lock around `value`, named in reports by where it is created.
    ///
    /// ```
    /// static TABLE: spindle::sync::RwLock<Vec<u8>> = spindle::sync::RwLock::new(Vec::new());
    /// TABLE.write().push(1);
    /// assert_eq!(TABLE.read().len(), 1);
    /// ```
    #[track_caller]
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(Label::here()),
            data: UnsafeCell::new(value),
        }
    }

    /// A lock that reports call `name`.
    ///
    /// ```
    /// let l = spindle::sync::RwLock::named("routes", 0);
    /// assert!(format!("{l:?}").contains("routes"));
    /// ```
    pub fn named(name: impl Into<String>, value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(Label::named(name)),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value.
    ///
    /// ```
    /// assert_eq!(spindle::sync::RwLock::new(4).into_inner(), 4);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access, blocking while a writer holds or waits for the lock.
    ///
    /// # Panics
    /// With a [`DeadlockError`](crate::sync::DeadlockError) payload if waiting would deadlock.
    ///
    /// ```
    /// let l = spindle::sync::RwLock::new(1);
    /// assert_eq!(*l.read(), 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        match self.raw.read(None, Location::caller()) {
            Ok(_) => RwLockReadGuard::new(self),
            Err(e) => raise(e),
        }
    }

    /// Exclusive access, blocking while readers or another writer hold the lock.
    ///
    /// # Panics
    /// With a [`DeadlockError`](crate::sync::DeadlockError) payload if waiting would deadlock
    /// (for example when this thread holds a read lock on it).
    ///
    /// ```
    /// let l = spindle::sync::RwLock::new(1);
    /// *l.write() += 1;
    /// assert_eq!(*l.read(), 2);
    /// ```
    #[inline]
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        match self.raw.write(None, true, Location::caller()) {
            Ok(_) => RwLockWriteGuard::new(self),
            Err(e) => raise(e),
        }
    }

    /// As [`read`](RwLock::read), but a deadlock comes back as `Err` instead of a panic.
    ///
    /// ```
    /// let l = spindle::sync::RwLock::new(0);
    /// let w = l.write();
    /// assert!(l.read_checked().is_err()); // this thread holds the write lock
    /// drop(w);
    /// assert_eq!(*l.read_checked().unwrap(), 0);
    /// ```
    #[inline]
    #[track_caller]
    pub fn read_checked(&self) -> Result<RwLockReadGuard<'_, T>, DeadlockError> {
        self.raw.read(None, Location::caller())?;
        Ok(RwLockReadGuard::new(self))
    }

    /// As [`write`](RwLock::write), but a deadlock comes back as `Err` instead of a panic.
    ///
    /// ```
    /// let l = spindle::sync::RwLock::new(0);
    /// let r = l.read();
    /// assert!(l.write_checked().is_err()); // this thread holds a read lock
    /// drop(r);
    /// *l.write_checked().unwrap() += 1;
    /// ```
    #[inline]
    #[track_caller]
    pub fn write_checked(&self) -> Result<RwLockWriteGuard<'_, T>, DeadlockError> {
        self.raw.write(None, true, Location::caller())?;
        Ok(RwLockWriteGuard::new(self))
    }

    /// Shared access if it can be had now.
    ///
    /// ```
    /// let l = spindle::sync::RwLock::new(());
    /// let _w = l.write();
    /// assert!(l.try_read().is_none());
    /// ```
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.raw
            .try_read(Location::caller())
            .then(|| RwLockReadGuard::new(self))
    }

    /// Exclusive access if it can be had now.
    ///
    /// ```
    /// let l = spindle::sync::RwLock::new(());
    /// let _r = l.read();
    /// assert!(l.try_write().is_none());
    /// ```
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw
            .try_write(Location::caller())
            .then(|| RwLockWriteGuard::new(self))
    }

    /// Shared access, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = spindle::sync::RwLock::new(());
    /// assert!(l.try_read_for(Duration::from_millis(1)).is_some());
    /// ```
    #[track_caller]
    pub fn try_read_for(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        let deadline = Some(wait::deadline_after(timeout));
        matches!(self.raw.read(deadline, Location::caller()), Ok(true))
            .then(|| RwLockReadGuard::new(self))
    }

    /// Exclusive access, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = spindle::sync::RwLock::new(());
    /// let _r = l.read();
    /// assert!(l.try_write_for(Duration::from_millis(10)).is_none());
    /// ```
    #[track_caller]
    pub fn try_write_for(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        let deadline = Some(wait::deadline_after(timeout));
        matches!(
            self.raw.write(deadline, false, Location::caller()),
            Ok(true)
        )
        .then(|| RwLockWriteGuard::new(self))
    }

    /// Whether any reader or writer holds the lock.
    ///
    /// ```
    /// let l = spindle::sync::RwLock::new(());
    /// assert!(!l.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The protected value, through exclusive access.
    ///
    /// ```
    /// let mut l = spindle::sync::RwLock::new(0);
    /// *l.get_mut() = 9;
    /// assert_eq!(*l.read(), 9);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        d.field("name", &self.raw.label);
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared access to an [`RwLock`]'s data, released on drop.
///
/// ```
/// let l = spindle::sync::RwLock::new(vec![1, 2]);
/// let g = l.read();
/// assert_eq!(g.len(), 2);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// Released on the thread that noted the read lock in its record.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    fn new(lock: &'a RwLock<T>) -> Self {
        RwLockReadGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves a read lock is held: no writer exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard proves this thread holds a read lock.
        unsafe { self.lock.raw.unlock_read() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s data, released on drop.
///
/// ```
/// let l = spindle::sync::RwLock::new(vec![1]);
/// l.write().push(2);
/// assert_eq!(*l.read(), [1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    fn new(lock: &'a RwLock<T>) -> Self {
        RwLockWriteGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the write lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves this thread holds the write lock.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard proves this thread holds the write lock.
        unsafe { self.lock.raw.unlock_write() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
