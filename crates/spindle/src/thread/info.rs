//! A cheap, shareable view of one thread.

use std::fmt;
use std::sync::Arc;

use super::ThreadState;
use super::registry::ThreadRecord;

/// A handle on a live or finished thread: its id, name, daemon flag, state and what it
/// waits on, readable from any thread at any time (Python's `Thread` object, minus control).
///
/// ```
/// use spindle::thread::{self, ThreadState};
///
/// let me = thread::current();
/// assert!(me.is_alive());
/// assert_eq!(me.state(), ThreadState::Runnable);
/// assert_eq!(me.waiting_on(), None);
/// ```
#[derive(Clone)]
pub struct ThreadInfo(pub(crate) Arc<ThreadRecord>);

impl ThreadInfo {
    /// Unique in the process, never reused. The main thread's is 1.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The thread's name: as given, `Thread-N` by default, `MainThread` for the main thread.
    pub fn name(&self) -> String {
        self.0.name().to_string()
    }

    /// Whether the thread is a daemon (one the program does not wait for at exit).
    /// Threads spindle did not start, other than the main thread, count as daemons.
    pub fn is_daemon(&self) -> bool {
        self.0.daemon()
    }

    /// The thread's state right now.
    pub fn state(&self) -> ThreadState {
        self.0.state()
    }

    /// Started and not yet terminated.
    pub fn is_alive(&self) -> bool {
        !matches!(self.state(), ThreadState::New | ThreadState::Terminated)
    }

    /// What the thread is parked on, by name (`Mutex "accounts"`, or where an unnamed
    /// primitive was created), if it is parked on a spindle primitive.
    pub fn waiting_on(&self) -> Option<String> {
        let edge = self.0.wait.lock();
        edge.as_ref().map(|e| e.on().describe())
    }
}

impl PartialEq for ThreadInfo {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ThreadInfo {}

impl fmt::Debug for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadInfo")
            .field("id", &self.id())
            .field("name", &self.0.name())
            .field("daemon", &self.is_daemon())
            .field("state", &self.state())
            .field("waiting_on", &self.waiting_on())
            .finish()
    }
}
