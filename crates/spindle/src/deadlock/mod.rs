// Layer 7 (detection's public face, trace recording): stands on the primitives and the thread API below it.
//! Deadlock detection: how much of it runs when a thread blocks, and an on-demand check.
//!
//! By default ([`Detection::WaitFor`]) every lock acquisition that is about to park checks
//! the wait-for graph (thread → lock → owning thread → …). If parking would close a cycle,
//! the acquisition fails at once: `lock()` panics with a [`DeadlockError`] that names every
//! thread of the cycle, the lock it holds, the lock it wants and where each was taken, and
//! `lock_checked()` returns the error instead. The panic unwinds that thread, releasing its
//! guards, so the other threads of the cycle go on. The check runs only on the slow path:
//! an uncontended acquire is one atomic operation, whatever the mode.
//!
//! What never reports: plain contention, a reentrant lock taken again by its owner,
//! readers sharing an `RwLock`, and any wait with a timeout (it ends by itself).
//!
//! ```rust,standalone_crate
//! use spindle::deadlock::{self, Detection};
//!
//! deadlock::set_detection(Detection::WaitFor); // the default
//! assert_eq!(deadlock::detection(), Detection::WaitFor);
//! assert!(deadlock::check().is_empty());
//! ```

//!
//! # Layers
//! This file is the public face (the top layer of detection: it re-exports). The parts
//! the waiting path and the primitives use live in files of lower layers: `error` (layer 0),
//! `lock_order` and `mode` (layer 3), `check` and `raise` (layer 4); `watchdog`
//! sits above the primitives and the public thread API, which it uses.

pub(crate) mod check;
pub(crate) mod error;
pub(crate) mod lock_order;
pub(crate) mod mode;
pub(crate) mod raise;
mod watchdog;

pub use check::check;
pub use error::{DeadlockError, DeadlockKind, DeadlockedThread};
pub use lock_order::set_lock_order_handler;
pub use mode::{Detection, detection, set_detection};
pub use watchdog::Watchdog;

#[allow(unused_imports)] // the primitives' and the thread API's way to panic with a report
pub(crate) use raise::raise;
