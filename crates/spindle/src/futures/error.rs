// Layer 9 (futures): executors and futures, over everything below.
//! Every error of `spindle::futures`, in one place.

use std::fmt;

use crate::thread::Panicked;

/// Why a task gave no value: what [`Future::result`](super::Future::result) returns
/// instead of one.
///
/// A panic in a task is never lost: it arrives here, as `Panicked` with the message and
/// the worker's name, or, if nobody ever reads the future, at the excepthook
/// ([`set_excepthook`](crate::thread::set_excepthook)).
///
/// ```
/// use spindle::futures::{TaskError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder().max_workers(1).thread_name_prefix("calc").build();
/// let f = pool.submit(|| -> u32 { panic!("division by zero") });
/// match f.result() {
///     Err(TaskError::Panicked(p)) => {
///         assert_eq!(p.message(), "division by zero");
///         assert_eq!(p.thread_name(), "calc_0");
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked: the message, and the name of the thread that ran it.
    Panicked(Panicked),
    /// The task was cancelled before it started ([`Future::cancel`](super::Future::cancel),
    /// or [`shutdown`](super::ThreadPoolExecutor::shutdown) with `cancel_futures`).
    Cancelled,
    /// The task ran longer than it was allowed to (process pools' per-task timeouts).
    Timeout,
    /// The worker running the task died: a process pool worker exited or was killed
    /// mid-task, or the task was dropped without ever being run.
    WorkerDied(String),
    /// The pool cannot run tasks any more (Python's `BrokenThreadPool`): its initializer
    /// panicked, or no worker thread could be started. The text says which.
    BrokenPool(String),
    /// A process pool task's argument, encoded, is over the pool's frame limit
    /// (`max_frame_size`): refused before it was sent; no worker ran it.
    ArgumentTooLarge {
        /// The frame limit, in bytes.
        limit: usize,
    },
    /// A process pool task's result, encoded, is over the pool's frame limit: the
    /// worker refused to send it, and lives on.
    ResultTooLarge {
        /// The frame limit, in bytes.
        limit: usize,
    },
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(p) => write!(f, "the task panicked: {p}"),
            TaskError::Cancelled => f.write_str("the task was cancelled before it started"),
            TaskError::Timeout => f.write_str("the task timed out"),
            TaskError::WorkerDied(why) => write!(f, "the task's worker died: {why}"),
            TaskError::BrokenPool(why) => write!(f, "the pool is broken: {why}"),
            TaskError::ArgumentTooLarge { limit } => write!(
                f,
                "the task's argument is over the frame limit of {limit} bytes"
            ),
            TaskError::ResultTooLarge { limit } => write!(
                f,
                "the task's result is over the frame limit of {limit} bytes"
            ),
        }
    }
}

impl TaskError {
    /// For [`WorkerDied`](TaskError::WorkerDied): the signal that ended the worker
    /// process, if a signal did. A process pool ends each `WorkerDied` message with how
    /// the worker ended ("killed by signal 9", "exited with status 3"); this reads it.
    ///
    /// ```
    /// use spindle::futures::TaskError;
    ///
    /// let e = TaskError::WorkerDied("killed by signal 6".into());
    /// assert_eq!((e.worker_signal(), e.worker_exit_status()), (Some(6), None));
    /// let e = TaskError::WorkerDied("garbage frame: bad header; the worker was stopped: killed by signal 9".into());
    /// assert_eq!(e.worker_signal(), Some(9));
    /// assert_eq!(TaskError::Timeout.worker_signal(), None);
    /// ```
    pub fn worker_signal(&self) -> Option<i32> {
        self.worker_end("killed by signal ")
    }

    /// For [`WorkerDied`](TaskError::WorkerDied): the worker process's exit status, if
    /// it exited rather than being killed by a signal.
    ///
    /// ```
    /// use spindle::futures::TaskError;
    ///
    /// let e = TaskError::WorkerDied("exited with status 3".into());
    /// assert_eq!((e.worker_exit_status(), e.worker_signal()), (Some(3), None));
    /// ```
    pub fn worker_exit_status(&self) -> Option<i32> {
        self.worker_end("exited with status ")
    }

    /// The number after `phrase` at the end of a `WorkerDied` message.
    fn worker_end(&self, phrase: &str) -> Option<i32> {
        let TaskError::WorkerDied(why) = self else {
            return None;
        };
        let digits = why.len() - why.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (before, number) = why.split_at(why.len() - digits);
        if before.ends_with(phrase) {
            number.parse().ok()
        } else {
            None
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

/// [`as_completed_timeout`](super::as_completed_timeout) ran out of time before every
/// future completed (Python's `TimeoutError` from `as_completed`).
///
/// ```
/// use std::time::Duration;
/// use spindle::futures::{as_completed_timeout, ThreadPoolExecutor, WaitTimeout};
/// use spindle::sync::Event;
/// use std::sync::Arc;
///
/// let pool = ThreadPoolExecutor::new(1);
/// let gate = Arc::new(Event::new());
/// let g = Arc::clone(&gate);
/// let slow = pool.submit(move || g.wait());
/// let mut it = as_completed_timeout(vec![slow], Duration::from_millis(10));
/// assert_eq!(it.next().unwrap().unwrap_err(), WaitTimeout);
/// assert!(it.next().is_none());
/// gate.set();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeout;

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out before every future completed")
    }
}

impl std::error::Error for WaitTimeout {}
