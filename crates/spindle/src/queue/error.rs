// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! The errors of `spindle::queue`: Python's `Full`, `Empty`, `ShutDown` and the
//! `ValueError` of `task_done`.

use std::fmt;

/// Why [`put`](super::Queue::put) (or `put_timeout`, `try_put`) did not add the item,
/// which comes back inside: Python's `queue.Full` and `queue.ShutDown`.
///
/// `Debug` shows which case it is but not the item, as `std`'s `SendError` does, so that
/// `unwrap` works whatever the item's type; match or call
/// [`into_inner`](PutError::into_inner) to get the item back.
///
/// ```
/// use spindle::queue::{PutError, Queue};
///
/// let q = Queue::bounded(1);
/// q.put("first").unwrap();
/// assert_eq!(q.try_put("second"), Err(PutError::Full("second")));
/// q.shutdown(false);
/// match q.put("third") {
///     Err(PutError::ShutDown(item)) => assert_eq!(item, "third"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutError<T> {
    /// The queue was full (at once for `try_put`, until the timeout for `put_timeout`).
    Full(T),
    /// The queue was shut down, before the call or while it waited.
    ShutDown(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let q = spindle::queue::Queue::bounded(1);
    /// q.put(1).unwrap();
    /// assert_eq!(q.try_put(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::ShutDown(item) => item,
        }
    }

    /// Whether the queue was full.
    ///
    /// ```
    /// let q = spindle::queue::Queue::bounded(1);
    /// q.put(1).unwrap();
    /// assert!(q.try_put(2).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// Whether the queue was shut down.
    ///
    /// ```
    /// let q = spindle::queue::Queue::new();
    /// q.shutdown(false);
    /// assert!(q.put(1).unwrap_err().is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        matches!(self, PutError::ShutDown(_))
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full"),
            PutError::ShutDown(_) => f.write_str("the queue is shut down"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why [`get`](super::Queue::get) (or `get_timeout`, `try_get`) returned no item:
/// Python's `queue.Empty` and `queue.ShutDown`.
///
/// ```
/// use spindle::queue::{GetError, Queue};
///
/// let q = Queue::<u8>::new();
/// assert_eq!(q.try_get(), Err(GetError::Empty));
/// q.shutdown(false);
/// assert_eq!(q.get(), Err(GetError::ShutDown));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GetError {
    /// The queue was empty (at once for `try_get`, until the timeout for `get_timeout`).
    Empty,
    /// The queue was shut down and has no items left (or was shut down immediately).
    ShutDown,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("the queue is empty"),
            GetError::ShutDown => f.write_str("the queue is shut down and has no items left"),
        }
    }
}

impl std::error::Error for GetError {}

/// [`task_done`](super::Queue::task_done) was called more times than items were put:
/// Python's `ValueError('task_done() called too many times')`. The count is unchanged.
///
/// ```
/// let q = spindle::queue::Queue::<u8>::new();
/// assert_eq!(q.task_done(), Err(spindle::queue::TaskDoneError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than items were put in the queue")
    }
}

impl std::error::Error for TaskDoneError {}
