// Layer 0 (foundations): uses no other part of spindle (the platform shims, plain data types, the report type).
//! The life of a thread, as other threads can observe it.

use std::fmt;

/// Where a thread is in its life, as seen from any other thread.
///
/// The states follow Java's `Thread.State`, which names the waits Python's `threading`
/// leaves implicit:
///
/// | state          | meaning                                                               |
/// |----------------|-----------------------------------------------------------------------|
/// | `New`          | created with [`Thread::new`](crate::thread::Thread::new), not started |
/// | `Runnable`     | running (or ready to run) its own code                                |
/// | `Blocked`      | waiting to acquire a lock: `Mutex`, `ReentrantMutex`, `RwLock`, `Gil` |
/// | `Waiting`      | parked without a timeout on anything else (`Condition`, `Event`, `join`, …) |
/// | `TimedWaiting` | parked with a timeout, or in [`sleep`](crate::thread::sleep)          |
/// | `Terminated`   | its function has returned or panicked                                 |
///
/// ```
/// use spindle::thread::{self, ThreadState};
/// assert_eq!(thread::current().state(), ThreadState::Runnable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadState {
    /// Created, not yet started.
    New,
    /// Running its own code.
    Runnable,
    /// Waiting to acquire a mutual-exclusion lock.
    Blocked,
    /// Parked without a timeout on something other than a lock.
    Waiting,
    /// Parked with a timeout, or sleeping.
    TimedWaiting,
    /// Finished: returned or panicked.
    Terminated,
}

impl ThreadState {
    pub(crate) const fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) const fn from_u8(v: u8) -> ThreadState {
        match v {
            0 => ThreadState::New,
            1 => ThreadState::Runnable,
            2 => ThreadState::Blocked,
            3 => ThreadState::Waiting,
            4 => ThreadState::TimedWaiting,
            _ => ThreadState::Terminated,
        }
    }
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ThreadState::New => "New",
            ThreadState::Runnable => "Runnable",
            ThreadState::Blocked => "Blocked",
            ThreadState::Waiting => "Waiting",
            ThreadState::TimedWaiting => "TimedWaiting",
            ThreadState::Terminated => "Terminated",
        };
        f.write_str(s)
    }
}
