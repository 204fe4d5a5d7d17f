// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! `Semaphore` and `BoundedSemaphore`: counted permits.

use std::fmt;
use std::panic::Location;
use std::time::{Duration, Instant};

use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, FilterOp, ParkResult};

use super::error::SemaphoreOverflow;
use super::label::{Label, Labelled};
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::wait::{self, Queued, Wait};

/// The counter and wait queue shared by both semaphores.
struct RawSemaphore {
    permits: AtomicUsize,
    /// Threads parked or about to park: lets `release` skip the parking table.
    waiters: AtomicUsize,
    /// `Some(initial)` for a bounded semaphore.
    bound: Option<usize>,
    label: Label,
    kind: &'static str,
}

impl RawSemaphore {
    fn key(&self) -> usize {
        self as *const RawSemaphore as usize
    }

    fn try_acquire(&self) -> bool {
        let mut n = self.permits.load(Ordering::Relaxed);
        while n > 0 {
            match self
                .permits
                .compare_exchange_weak(n, n - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(x) => n = x,
            }
        }
        false
    }

    /// Takes a permit, parking while there is none, until `deadline`.
    fn acquire(&self, deadline: Option<Instant>, at: &'static Location<'static>) -> bool {
        if self.try_acquire() {
            return true;
        }
        let on = Labelled {
            kind: self.kind,
            label: &self.label,
        };
        let wait = Wait::waiting(&on, deadline, at);
        loop {
            if self.try_acquire() {
                return true;
            }
            // Register first, then look: a release either sees us or we see its permit.
            let validate = || {
                self.waiters.fetch_add(1, Ordering::SeqCst);
                if self.permits.load(Ordering::SeqCst) > 0 {
                    self.waiters.fetch_sub(1, Ordering::SeqCst);
                    false
                } else {
                    true
                }
            };
            let timed_out = |_, _| {
                self.waiters.fetch_sub(1, Ordering::SeqCst);
            };
            let parked = wait::park(
                &wait,
                self.key(),
                validate,
                || {},
                timed_out,
                DEFAULT_PARK_TOKEN,
                deadline,
            );
            if let Ok(ParkResult::TimedOut) = parked {
                return self.try_acquire();
            }
        }
    }

    /// Adds `n` permits and wakes up to `n` waiters.
    fn add(&self, n: usize) -> Result<(), SemaphoreOverflow> {
        let bound = self.bound.unwrap_or(usize::MAX);
        let mut cur = self.permits.load(Ordering::Relaxed);
        loop {
            let next = match cur.checked_add(n) {
                Some(next) if next <= bound => next,
                _ => {
                    return Err(SemaphoreOverflow {
                        available: cur,
                        released: n,
                        bound,
                    });
                }
            };
            match self
                .permits
                .compare_exchange_weak(cur, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(x) => cur = x,
            }
        }
        self.wake(n);
        Ok(())
    }

    fn wake(&self, n: usize) {
        if n == 0 || self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut left = n;
        let filter = |_: Queued<'_>| {
            if left == 0 {
                FilterOp::Stop
            } else {
                left -= 1;
                FilterOp::Unpark
            }
        };
        wait::unpark_filter(self.key(), filter, |result| {
            self.waiters
                .fetch_sub(result.unparked_threads, Ordering::SeqCst);
            DEFAULT_UNPARK_TOKEN
        });
    }

    /// Gives a permit back when its guard drops. A bounded semaphore already back at its
    /// initial value (an extra `release` gave the permit back early) stays there.
    fn give_back(&self) {
        let _ = self.add(1);
    }
}

/// A counter of permits: `acquire` takes one, waiting while there are none; dropping the
/// [`SemaphorePermit`] (or calling `release`) gives it back. Python's `Semaphore`.
///
/// Waiters read `Waiting` (`TimedWaiting` with a timeout) and `waiting_on()` names the
/// semaphore. Released permits go to parked threads in the order they came, though a
/// thread arriving just then may take one first.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Semaphore;
///
/// let slots = Arc::new(Semaphore::new(2));
/// let a = slots.acquire();
/// let b = slots.acquire();
/// assert!(slots.try_acquire().is_none());
/// drop(a);
/// assert_eq!(slots.available_permits(), 1);
/// # drop(b);
/// ```
pub struct Semaphore {
    raw: RawSemaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits, named in reports by where it is created.
    ///
    /// ```
    /// assert_eq!(spindle::sync::Semaphore::new(3).available_permits(), 3);
    /// ```
    #[track_caller]
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            raw: RawSemaphore {
                permits: AtomicUsize::new(permits),
                waiters: AtomicUsize::new(0),
                bound: None,
                label: Label::here(),
                kind: "Semaphore",
            },
        }
    }

    /// A semaphore that states and reports call `name`.
    ///
    /// ```
    /// let s = spindle::sync::Semaphore::named("db-connections", 4);
    /// assert!(format!("{s:?}").contains("db-connections"));
    /// ```
    pub fn named(name: impl Into<String>, permits: usize) -> Semaphore {
        Semaphore {
            raw: RawSemaphore {
                permits: AtomicUsize::new(permits),
                waiters: AtomicUsize::new(0),
                bound: None,
                label: Label::named(name),
                kind: "Semaphore",
            },
        }
    }

    /// Takes a permit, waiting while there is none.
    ///
    /// ```
    /// let s = spindle::sync::Semaphore::new(1);
    /// let permit = s.acquire();
    /// assert_eq!(s.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.raw.acquire(None, Location::caller());
        SemaphorePermit { sem: &self.raw }
    }

    /// Takes a permit if one is free now.
    ///
    /// ```
    /// let s = spindle::sync::Semaphore::new(0);
    /// assert!(s.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.raw
            .try_acquire()
            .then(|| SemaphorePermit { sem: &self.raw })
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = spindle::sync::Semaphore::new(0);
    /// assert!(s.try_acquire_for(Duration::from_millis(5)).is_none());
    /// ```
    #[track_caller]
    pub fn try_acquire_for(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.raw
            .acquire(Some(wait::deadline_after(timeout)), Location::caller())
            .then(|| SemaphorePermit { sem: &self.raw })
    }

    /// Adds `n` permits (Python's `release(n)`), waking up to `n` waiters.
    ///
    /// # Panics
    /// If the count would pass `usize::MAX`; the count is left unchanged.
    ///
    /// ```
    /// let s = spindle::sync::Semaphore::new(0);
    /// s.release(2);
    /// assert_eq!(s.available_permits(), 2);
    /// ```
    pub fn release(&self, n: usize) {
        if let Err(e) = self.raw.add(n) {
            panic!(
                "Semaphore::release({n}): the permit count ({}) would pass usize::MAX",
                e.available
            );
        }
    }

    /// How many permits are free now.
    ///
    /// ```
    /// assert_eq!(spindle::sync::Semaphore::new(5).available_permits(), 5);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.raw.permits.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("name", &self.raw.label)
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

/// A [`Semaphore`] that may never hold more permits than it started with: a release
/// past that is a bug, reported as [`SemaphoreOverflow`] (Python's `BoundedSemaphore`).
///
/// ```
/// let pool = spindle::sync::BoundedSemaphore::new(2);
/// let p = pool.acquire();
/// drop(p);
/// assert!(pool.release(1).is_err()); // nothing was taken
/// assert_eq!(pool.available_permits(), 2);
/// ```
pub struct BoundedSemaphore {
    raw: RawSemaphore,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `permits` permits, which is also its bound.
    ///
    /// ```
    /// assert_eq!(spindle::sync::BoundedSemaphore::new(2).available_permits(), 2);
    /// ```
    #[track_caller]
    pub const fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            raw: RawSemaphore {
                permits: AtomicUsize::new(permits),
                waiters: AtomicUsize::new(0),
                bound: Some(permits),
                label: Label::here(),
                kind: "BoundedSemaphore",
            },
        }
    }

    /// A bounded semaphore that states and reports call `name`.
    ///
    /// ```
    /// let s = spindle::sync::BoundedSemaphore::named("workers", 3);
    /// assert_eq!(s.available_permits(), 3);
    /// ```
    pub fn named(name: impl Into<String>, permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            raw: RawSemaphore {
                permits: AtomicUsize::new(permits),
                waiters: AtomicUsize::new(0),
                bound: Some(permits),
                label: Label::named(name),
                kind: "BoundedSemaphore",
            },
        }
    }

    /// Takes a permit, waiting while there is none.
    ///
    /// ```
    /// let s = spindle::sync::BoundedSemaphore::new(1);
    /// let _p = s.acquire();
    /// assert_eq!(s.available_permits(), 0);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.raw.acquire(None, Location::caller());
        SemaphorePermit { sem: &self.raw }
    }

    /// Takes a permit if one is free now.
    ///
    /// ```
    /// let s = spindle::sync::BoundedSemaphore::new(1);
    /// assert!(s.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.raw
            .try_acquire()
            .then(|| SemaphorePermit { sem: &self.raw })
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = spindle::sync::BoundedSemaphore::new(1);
    /// assert!(s.try_acquire_for(Duration::from_millis(1)).is_some());
    /// ```
    #[track_caller]
    pub fn try_acquire_for(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.raw
            .acquire(Some(wait::deadline_after(timeout)), Location::caller())
            .then(|| SemaphorePermit { sem: &self.raw })
    }

    /// Gives `n` permits back. `Err` (and nothing changes) if the count would exceed the
    /// initial value.
    ///
    /// ```
    /// let s = spindle::sync::BoundedSemaphore::new(1);
    /// s.acquire().forget();
    /// assert_eq!(s.release(1), Ok(()));
    /// assert!(s.release(1).is_err());
    /// ```
    pub fn release(&self, n: usize) -> Result<(), SemaphoreOverflow> {
        self.raw.add(n)
    }

    /// How many permits are free now.
    ///
    /// ```
    /// assert_eq!(spindle::sync::BoundedSemaphore::new(4).available_permits(), 4);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.raw.permits.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("name", &self.raw.label)
            .field("available_permits", &self.available_permits())
            .field("bound", &self.raw.bound)
            .finish()
    }
}

/// A permit taken from a [`Semaphore`] or [`BoundedSemaphore`]; given back on drop.
///
/// ```
/// let s = spindle::sync::Semaphore::new(1);
/// {
///     let _p = s.acquire();
///     assert_eq!(s.available_permits(), 0);
/// }
/// assert_eq!(s.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a RawSemaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken: it is not given back (Python's acquire without release).
    ///
    /// ```
    /// let s = spindle::sync::Semaphore::new(1);
    /// s.acquire().forget();
    /// assert_eq!(s.available_permits(), 0);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.give_back();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("semaphore", &self.sem.label)
            .finish()
    }
}
