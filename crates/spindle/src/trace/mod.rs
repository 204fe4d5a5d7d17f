//! Tracing: what every thread does, as it happens.
//!
//! [`set_hook`] hears every thread start and end, every state change with what is waited
//! on, every lock acquired after contention (with the wait), and every task submitted,
//! started and finished. With no hook set, each of these costs one relaxed atomic load.
//!
//! ```rust,standalone_crate
//! use std::sync::{Arc, Mutex};
//! use spindle::thread::ThreadState;
//! use spindle::trace::{self, EventKind};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = Arc::clone(&seen);
//! trace::set_hook(move |e| {
//!     if let EventKind::State { state, .. } = &e.kind {
//!         log.lock().unwrap().push(*state);
//!     }
//! });
//! spindle::thread::sleep(std::time::Duration::from_millis(1));
//! trace::clear_hook();
//! assert!(seen.lock().unwrap().contains(&ThreadState::TimedWaiting));
//! ```

mod event;
mod hook;

pub use event::{EventKind, TraceEvent};
pub use hook::{clear_hook, set_hook};
pub(crate) use hook::{emit, enabled};
