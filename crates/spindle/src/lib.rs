// Layer 12 (the crate root): declares the modules.
//! # spindle
//!
//! Python's friendly concurrency model (`threading`, `queue`, `concurrent.futures`) for
//! Rust, at the speed of parking_lot, with what neither offers out of the box:
//!
//! * **Observable threads.** Every thread has a [`ThreadState`](thread::ThreadState) and
//!   says what it waits on, readable from any other thread ([`thread::enumerate`]).
//! * **Deadlocks explained as they form.** A lock acquisition that would close a cycle of
//!   waits fails at once with a [`DeadlockError`](sync::DeadlockError) naming every thread,
//!   lock and source location of the cycle ([`deadlock`]).
//! * **Panics never lost.** A panicking thread reaches `join` and the excepthook.
//!
//! ```
//! use std::sync::Arc;
//! use spindle::sync::Mutex;
//! use spindle::thread;
//!
//! let total = Arc::new(Mutex::named("total", 0u64));
//! let workers: Vec<_> = (1..=4u64)
//!     .map(|n| {
//!         let total = Arc::clone(&total);
//!         thread::spawn(move || *total.lock() += n)
//!     })
//!     .collect();
//! for w in workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(*total.lock(), 10);
//! ```

#![warn(missing_docs)]

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod deadlock;
pub(crate) mod description;
pub mod futures;
pub(crate) mod graph;
pub(crate) mod loom;
pub mod process;
pub mod queue;
pub mod sync;
pub mod thread;
pub mod trace;
pub(crate) mod wait;

/// The README's Rust examples, run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;
