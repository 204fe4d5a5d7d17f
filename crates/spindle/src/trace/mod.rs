// Layer 7 (detection's public face, trace recording): stands on the primitives and the thread API below it.
//! Tracing: what every thread does, as it happens.
//!
//! [`set_hook`] hears every thread start and end, every state change with what is waited
//! on, every lock acquired after contention (with the wait), and every task submitted,
//! started and finished (Python's `threading.settrace`, for threads). With no hook set,
//! each of these costs one relaxed atomic load.
//!
//! A [`Recorder`] is a hook that keeps every event, in a buffer per thread, and exports
//! the recording as Chrome trace-event JSON (opens in [Perfetto](https://ui.perfetto.dev):
//! a track per thread, a span per state and per task) or as a [`Timeline`], which draws
//! itself as an SVG image: a row per thread, a colour per state, a time axis and a legend.
//! [`Timeline::from_chrome_json`] reads a saved trace back (`spindle trace render`).
//!
//! Blocking calls outside spindle (sockets, files) leave a thread `Runnable`; wrap them in
//! [`blocking_io`] and timelines draw that time as I/O rather than as CPU work.
//!
//! There is one hook per process: setting one, or starting a recorder, replaces the last.
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
//!
//! Recording a run and drawing it:
//!
//! ```
//! use std::time::Duration;
//! use spindle::sync::Event;
//! use spindle::thread::Thread;
//! use spindle::trace::{Recorder, Timeline};
//!
//! let recorder = Recorder::start();
//! let ready = std::sync::Arc::new(Event::named("ready"));
//! let waiter = {
//!     let ready = ready.clone();
//!     Thread::new(move || ready.wait()).name("waiter").start().unwrap()
//! };
//! spindle::thread::sleep(Duration::from_millis(2));
//! ready.set();
//! waiter.join().unwrap();
//! recorder.stop();
//!
//! let json = recorder.to_chrome_json(); // or write_chrome_json("trace.json")
//! let timeline = Timeline::from_chrome_json(&json).unwrap();
//! let row = timeline.rows.iter().find(|r| r.name == "waiter").unwrap();
//! assert!(row.states.iter().any(|s| s.detail.as_deref() == Some("Event \"ready\"")));
//! let svg = timeline.to_svg(); // write it to timeline.svg
//! assert!(svg.contains("waiter"));
//! ```

mod chrome;
mod error;
pub(crate) mod event;
pub(crate) mod hook;
mod io;
mod recorder;
mod spans;
mod svg;
mod timeline;

pub use error::TimelineError;
pub use event::{EventKind, TraceEvent};
pub use hook::{clear_hook, set_hook};
pub(crate) use hook::{emit, enabled};
pub use io::blocking_io;
pub use recorder::Recorder;
pub use svg::{SvgOptions, TimelinePhase};
pub use timeline::{Timeline, TimelineRead, TimelineRow, TimelineSpan};
