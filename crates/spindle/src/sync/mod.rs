// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! Locks and the other synchronisation primitives: Python's `threading` primitives,
//! carrying data as Rust locks do, with states you can see and deadlocks explained.
//!
//! | spindle            | Python                 | built on                           |
//! |--------------------|------------------------|------------------------------------|
//! | [`Mutex`] / [`Lock`] | `Lock`               | its own lock word (owner + parked) |
//! | [`ReentrantMutex`] / [`RLock`] | `RLock`    | the same raw mutex + a count       |
//! | [`RwLock`]         | (none)                 | its own lock word                  |
//! | [`Semaphore`], [`BoundedSemaphore`] | `Semaphore`, `BoundedSemaphore` | an atomic count |
//! | [`Condition`]      | `Condition`            | a `Mutex` + condition variable     |
//! | [`ConditionVar`]   | `Condition(lock)`      | another condition over a `Condition`'s lock |
//! | [`Event`]          | `Event`                | a `Mutex` + condition variable     |
//! | [`Barrier`]        | `Barrier`              | a `Mutex` + condition variable     |
//! | [`Gil`]            | CPython's GIL          | a `Mutex` + condition variable     |
//!
//! All of them park through one waiting path, which keeps each thread's
//! [`ThreadState`](crate::thread::ThreadState) and `waiting_on` current and feeds deadlock
//! detection. Uncontended, a lock is one atomic operation and none of that runs.
//!
//! ```
//! use spindle::sync::{Mutex, RwLock, Semaphore};
//!
//! let balance = Mutex::named("balance", 100);
//! *balance.lock() -= 30;
//! let prices = RwLock::new(vec![1.5, 2.0]);
//! let total: f64 = prices.read().iter().sum();
//! let slots = Semaphore::new(2);
//! let _permit = slots.acquire();
//! assert_eq!((*balance.lock(), total, slots.available_permits()), (70, 3.5, 1));
//! ```

mod barrier;
mod condition;
mod condition_var;
mod condvar;
mod error;
mod event;
mod gil;
pub(crate) mod label;
mod mutex;
pub(crate) mod raw_mutex;
mod raw_rwlock;
mod reentrant;
mod rwlock;
mod semaphore;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use condition_var::ConditionVar;
pub use error::{BrokenBarrier, SemaphoreOverflow};
pub use event::Event;
pub use gil::{Gil, GilGuard};
pub use mutex::{Lock, Mutex, MutexGuard};
pub use reentrant::{RLock, ReentrantMutex, ReentrantMutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit};

pub use crate::deadlock::error::DeadlockError;
pub(crate) use condvar::Condvar;
