// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! What the trace hook hears.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::thread::state::ThreadState;

/// One thing that happened on one thread, as [`set_hook`](super::set_hook) hears it.
///
/// ```
/// use spindle::trace::{EventKind, TraceEvent};
/// fn describe(e: &TraceEvent) -> String {
///     match &e.kind {
///         EventKind::State { state, waiting_on } => format!("{} is {state} on {waiting_on:?}", e.thread_name),
///         other => format!("{}: {other:?}", e.thread_name),
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, Clone)]
pub struct TraceEvent {
    /// When it happened.
    pub time: Instant,
    /// The thread it happened on (as [`ThreadInfo::id`](crate::thread::ThreadInfo::id)).
    pub thread_id: u64,
    /// That thread's name.
    pub thread_name: Arc<str>,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`TraceEvent`].
///
/// ```
/// use spindle::trace::EventKind;
/// assert!(matches!(EventKind::ThreadStart, EventKind::ThreadStart));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// The thread started running (threads spindle starts).
    ThreadStart,
    /// The thread finished (returned or panicked).
    ThreadEnd,
    /// The thread's state changed: it parked on something, or woke up (`Runnable`).
    State {
        /// The new state.
        state: ThreadState,
        /// What it parks on, when it parks (as
        /// [`ThreadInfo::waiting_on`](crate::thread::ThreadInfo::waiting_on) says it;
        /// shared, not copied, from one event to the next).
        waiting_on: Option<Arc<str>>,
    },
    /// The thread acquired a lock it had to wait for.
    LockAcquired {
        /// The lock, as reports name it.
        lock: Arc<str>,
        /// How long it waited.
        waited: Duration,
    },
    /// The thread began a blocking call outside spindle (a socket read, a file write),
    /// named by `what`, or ended it (`None`): see [`blocking_io`](super::blocking_io).
    /// Its state stays `Runnable` meanwhile; timelines draw the time as I/O.
    Io {
        /// What the thread waits on, while it does.
        what: Option<Arc<str>>,
    },
    /// A task was submitted to an executor (on the submitting thread).
    TaskSubmitted {
        /// The task's id, unique in the process.
        task: u64,
        /// What the task is, for people.
        name: String,
    },
    /// A worker started running a task.
    TaskStarted {
        /// The task's id.
        task: u64,
    },
    /// A worker finished running a task.
    TaskFinished {
        /// The task's id.
        task: u64,
        /// Whether it returned (`false`: it panicked).
        ok: bool,
    },
}
