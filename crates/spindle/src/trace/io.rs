// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! Marking blocking I/O, which spindle cannot see by itself, so that timelines show it.

use std::sync::Arc;

use super::event::EventKind;
use super::hook::emit;

/// Runs `f`, a blocking call outside spindle (a socket read, a download, a file write),
/// and tells the trace hook that the thread spends that time in I/O on `what`.
///
/// A thread blocked in the operating system still reads `Runnable` (spindle parks only
/// in its own primitives, as Java's `RUNNABLE` covers a socket read); without this mark
/// a timeline draws the wait as if the thread were computing. With it, the time shows
/// as `I/O` (in its own colour, hovering names `what`), and the Chrome trace carries a
/// span named `I/O`. With no trace hook set, the mark costs two relaxed loads.
///
/// ```
/// use spindle::trace::{self, Recorder};
///
/// let recorder = Recorder::start();
/// let bytes = trace::blocking_io("read Cargo.toml", || std::fs::read("Cargo.toml"));
/// recorder.stop();
/// assert!(bytes.is_ok());
/// let me = spindle::thread::current().name();
/// let timeline = recorder.timeline();
/// let row = timeline.rows.iter().find(|r| r.name == me).unwrap();
/// let io = row.states.iter().find(|s| s.label == "I/O").unwrap();
/// assert_eq!(io.detail.as_deref(), Some("read Cargo.toml"));
/// ```
pub fn blocking_io<R>(what: &str, f: impl FnOnce() -> R) -> R {
    emit(|| EventKind::Io {
        what: Some(Arc::from(what)),
    });
    // Ends the span when `f` returns or unwinds.
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            emit(|| EventKind::Io { what: None });
        }
    }
    let _end = End;
    f()
}
