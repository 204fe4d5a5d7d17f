// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! `Queue`, `LifoQueue` and `PriorityQueue`: one surface, written once by `queue_type!`,
//! over what each keeps its items in: `FifoChannel` (a lock-free ring or a locked buffer)
//! for `Queue`, the locked `Channel` with its own `Order` for the other two.

use std::fmt;
use std::time::Duration;

use super::channel::{Block, Channel};
use super::error::{GetError, PutError, TaskDoneError};
use super::fifo::FifoChannel;
use super::iter::Iter;
use super::order::{Lifo, Priority};
use crate::sync::label::Label;
use crate::wait;

type LifoChannel<T> = Channel<Lifo<T>>;
type PriorityChannel<T> = Channel<Priority<T>>;

/// Defines a public queue type over `$inner<T>`, with every method documented and
/// exemplified under the type's own name.
macro_rules! queue_type {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<T $(: $bound:ident)?>($inner:ident);
    ) => {
        $(#[$meta])*
        pub struct $name<T $(: $bound)?> {
            inner: $inner<T>,
        }

        impl<T $(: $bound)?> $name<T> {
            /// An unbounded queue (Python's `maxsize=0`), named in reports by where it is
            /// created.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::<u32>::new();")]
            /// assert_eq!(q.maxsize(), None);
            /// ```
            #[track_caller]
            pub fn new() -> Self {
                $name { inner: <$inner<T>>::new(None, Label::here()) }
            }

            /// A queue that holds at most `maxsize` items: `put` waits while it is full.
            ///
            /// # Panics
            /// If `maxsize` is 0 (Python's spelling of "unbounded"): use `new()` for that.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::bounded(2);")]
            /// q.put(1).unwrap();
            /// q.put(2).unwrap();
            /// assert!(q.is_full());
            /// assert_eq!(q.maxsize(), Some(2));
            /// ```
            #[track_caller]
            pub fn bounded(maxsize: usize) -> Self {
                $name { inner: <$inner<T>>::new(Some(maxsize), Label::here()) }
            }

            /// An unbounded queue that thread states and reports call `name`.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::<u32>::named(\"jobs\");")]
            /// assert!(format!("{q:?}").contains("jobs"));
            /// ```
            #[track_caller]
            pub fn named(name: impl Into<String>) -> Self {
                $name { inner: <$inner<T>>::new(None, Label::named(name)) }
            }

            /// A queue of at most `maxsize` items that thread states and reports call `name`.
            ///
            /// # Panics
            /// If `maxsize` is 0.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::<u32>::named_bounded(\"jobs\", 8);")]
            /// assert_eq!(q.maxsize(), Some(8));
            /// ```
            #[track_caller]
            pub fn named_bounded(name: impl Into<String>, maxsize: usize) -> Self {
                $name { inner: <$inner<T>>::new(Some(maxsize), Label::named(name)) }
            }

            /// Puts `item` in the queue, waiting while it is full.
            ///
            /// `Err(PutError::ShutDown(item))` if the queue is shut down, before or while
            /// this waits. Waiting reads `Waiting`, and `waiting_on()` names the queue.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// q.put(7).unwrap();
            /// assert_eq!(q.get(), Ok(7));
            /// ```
            #[track_caller]
            pub fn put(&self, item: T) -> Result<(), PutError<T>> {
                self.inner.put(item, Block::Forever)
            }

            /// As [`put`](Self::put), waiting at most `timeout` for room:
            /// `Err(PutError::Full(item))` if the queue is still full then.
            ///
            /// ```
            /// use std::time::Duration;
            /// use spindle::queue::PutError;
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::bounded(1);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.put_timeout(2, Duration::from_millis(5)), Err(PutError::Full(2)));
            /// ```
            #[track_caller]
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
                self.inner.put(item, Block::Until(wait::deadline_after(timeout)))
            }

            /// Puts `item` in the queue if there is room now (Python's `put_nowait`).
            ///
            /// ```
            /// use spindle::queue::PutError;
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::bounded(1);")]
            /// assert_eq!(q.try_put(1), Ok(()));
            /// assert_eq!(q.try_put(2), Err(PutError::Full(2)));
            /// ```
            #[track_caller]
            pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
                self.inner.put(item, Block::No)
            }

            /// Takes the next item, waiting while the queue is empty.
            ///
            /// After [`shutdown(false)`](Self::shutdown) the items left still come out;
            /// then, and at once after `shutdown(true)`, it returns
            /// `Err(GetError::ShutDown)`, waking if it was waiting. Waiting reads
            /// `Waiting`, and `waiting_on()` names the queue.
            ///
            /// ```
            /// use spindle::queue::GetError;
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// q.put(1).unwrap();
            /// q.shutdown(false);
            /// assert_eq!(q.get(), Ok(1));
            /// assert_eq!(q.get(), Err(GetError::ShutDown));
            /// ```
            #[track_caller]
            pub fn get(&self) -> Result<T, GetError> {
                self.inner.get(Block::Forever)
            }

            /// As [`get`](Self::get), waiting at most `timeout` for an item:
            /// `Err(GetError::Empty)` if there is still none then.
            ///
            /// ```
            /// use std::time::Duration;
            /// use spindle::queue::GetError;
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::<u32>::new();")]
            /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetError::Empty));
            /// ```
            #[track_caller]
            pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
                self.inner.get(Block::Until(wait::deadline_after(timeout)))
            }

            /// Takes the next item if there is one now (Python's `get_nowait`).
            ///
            /// ```
            /// use spindle::queue::GetError;
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// assert_eq!(q.try_get(), Err(GetError::Empty));
            /// q.put(3).unwrap();
            /// assert_eq!(q.try_get(), Ok(3));
            /// ```
            #[track_caller]
            pub fn try_get(&self) -> Result<T, GetError> {
                self.inner.get(Block::No)
            }

            /// How many items the queue holds now (Python's `qsize`).
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// q.put(1).unwrap();
            /// q.put(2).unwrap();
            /// assert_eq!(q.len(), 2);
            /// ```
            #[track_caller]
            pub fn len(&self) -> usize {
                self.inner.len()
            }

            /// Whether the queue holds no items now (Python's `empty`).
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// assert!(q.is_empty());
            /// q.put(1).unwrap();
            /// assert!(!q.is_empty());
            /// ```
            #[track_caller]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether the queue holds `maxsize` items now (Python's `full`); never for an
            /// unbounded queue.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::bounded(1);")]
            /// assert!(!q.is_full());
            /// q.put(1).unwrap();
            /// assert!(q.is_full());
            /// ```
            #[track_caller]
            pub fn is_full(&self) -> bool {
                self.inner.is_full_now()
            }

            /// The most items the queue holds, `None` when unbounded.
            ///
            /// ```
            #[doc = concat!("assert_eq!(spindle::queue::", stringify!($name), "::<u32>::bounded(4).maxsize(), Some(4));")]
            /// ```
            pub fn maxsize(&self) -> Option<usize> {
                self.inner.maxsize()
            }

            /// Marks one item taken from the queue as processed; [`join`](Self::join)
            /// returns once every item put is.
            ///
            /// `Err(TaskDoneError)`, changing nothing, if called more times than items
            /// were put.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// q.put(1).unwrap();
            /// q.get().unwrap();
            /// assert_eq!(q.task_done(), Ok(()));
            /// assert!(q.task_done().is_err());
            /// ```
            #[track_caller]
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.inner.task_done()
            }

            /// Waits until every item ever put has been marked done with
            /// [`task_done`](Self::task_done) (or dropped by `shutdown(true)`). Waiting reads
            /// `Waiting`, and `waiting_on()` names the queue.
            ///
            /// ```
            /// use std::sync::Arc;
            /// use spindle::thread;
            ///
            #[doc = concat!("let q = Arc::new(spindle::queue::", stringify!($name), "::new());")]
            /// let worker = {
            ///     let q = Arc::clone(&q);
            ///     thread::spawn(move || {
            ///         for _ in 0..3 {
            ///             q.get().unwrap();
            ///             q.task_done().unwrap();
            ///         }
            ///     })
            /// };
            /// for n in 0..3 {
            ///     q.put(n).unwrap();
            /// }
            /// q.join();
            /// assert_eq!(q.unfinished_tasks(), 0);
            /// worker.join().unwrap();
            /// ```
            #[track_caller]
            pub fn join(&self) {
                self.inner.join(Block::Forever);
            }

            /// As [`join`](Self::join), for at most `timeout`; whether every item is done.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// q.put(1).unwrap();
            /// assert!(!q.join_timeout(Duration::from_millis(5)));
            /// q.get().unwrap();
            /// q.task_done().unwrap();
            /// assert!(q.join_timeout(Duration::from_millis(5)));
            /// ```
            #[track_caller]
            pub fn join_timeout(&self, timeout: Duration) -> bool {
                self.inner.join(Block::Until(wait::deadline_after(timeout)))
            }

            /// Items put and not yet marked done (Python's `unfinished_tasks`).
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// q.put(1).unwrap();
            /// q.get().unwrap();
            /// assert_eq!(q.unfinished_tasks(), 1);
            /// ```
            #[track_caller]
            pub fn unfinished_tasks(&self) -> usize {
                self.inner.unfinished_tasks()
            }

            /// Shuts the queue down (Python 3.13's `shutdown`).
            ///
            /// From now on `put` fails with `PutError::ShutDown`, and every `put` waiting
            /// wakes and fails so. `get` hands out the items left, then fails with
            /// `GetError::ShutDown` (every `get` waiting on the empty queue wakes and fails).
            /// With `immediate`, the items left are dropped at once and counted as done,
            /// so `get` fails at once and every `join` waiting for them returns. Calling it
            /// again is allowed (a later `immediate` call still drops what is left).
            ///
            /// ```
            /// use spindle::queue::{GetError, PutError};
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// q.put(1).unwrap();
            /// q.put(2).unwrap();
            /// q.shutdown(true);
            /// assert_eq!(q.put(3), Err(PutError::ShutDown(3)));
            /// assert_eq!(q.get(), Err(GetError::ShutDown));
            /// q.join(); // the dropped items count as done
            /// ```
            #[track_caller]
            pub fn shutdown(&self, immediate: bool) {
                self.inner.shutdown(immediate);
            }

            /// Whether [`shutdown`](Self::shutdown) has been called.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::<u32>::new();")]
            /// assert!(!q.is_shutdown());
            /// q.shutdown(false);
            /// assert!(q.is_shutdown());
            /// ```
            #[track_caller]
            pub fn is_shutdown(&self) -> bool {
                self.inner.is_shutdown()
            }

            /// The items, each taken with a blocking `get`, until the queue is shut down
            /// and drained: the same as `for item in &queue`.
            ///
            /// ```
            #[doc = concat!("let q = spindle::queue::", stringify!($name), "::new();")]
            /// q.put(5).unwrap();
            /// q.put(5).unwrap();
            /// q.shutdown(false);
            /// assert_eq!(q.iter().collect::<Vec<_>>(), [5, 5]);
            /// ```
            pub fn iter(&self) -> Iter<'_, Self> {
                Iter { queue: self }
            }
        }

        impl<T $(: $bound)?> Default for $name<T> {
            /// An unbounded queue, as [`new`](Self::new).
            #[track_caller]
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T $(: $bound)?> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.inner, f)
            }
        }

        impl<'a, T $(: $bound)?> IntoIterator for &'a $name<T> {
            type Item = T;
            type IntoIter = Iter<'a, $name<T>>;

            fn into_iter(self) -> Self::IntoIter {
                self.iter()
            }
        }

        impl<T $(: $bound)?> Iterator for Iter<'_, $name<T>> {
            type Item = T;

            /// The next item, waiting for one; `None` once the queue is shut down and empty.
            #[track_caller]
            fn next(&mut self) -> Option<T> {
                self.queue.get().ok()
            }
        }
    };
}

queue_type! {
    /// A first-in, first-out queue for passing items between threads: Python's
    /// `queue.Queue`.
    ///
    /// Unbounded ([`new`](Queue::new)) or holding at most `maxsize` items
    /// ([`bounded`](Queue::bounded)); with [`task_done`](Queue::task_done) /
    /// [`join`](Queue::join) to wait until every item is processed, and
    /// [`shutdown`](Queue::shutdown) to end producers and consumers (Python 3.13).
    /// Share it with `Arc`. See the [module docs](super) for the choice between the three
    /// queue types and how waiting threads are woken.
    ///
    /// ```
    /// use spindle::queue::Queue;
    ///
    /// let q = Queue::new();
    /// for n in [111, 333, 222] {
    ///     q.put(n).unwrap();
    /// }
    /// assert_eq!([q.get(), q.get(), q.get()], [Ok(111), Ok(333), Ok(222)]);
    /// ```
    pub struct Queue<T>(FifoChannel);
}

queue_type! {
    /// A last-in, first-out queue (a stack) for passing items between threads: Python's
    /// `queue.LifoQueue`.
    ///
    /// The same surface as [`Queue`]; only the order differs: `get` takes the item put
    /// last.
    ///
    /// ```
    /// use spindle::queue::LifoQueue;
    ///
    /// let q = LifoQueue::new();
    /// for n in [111, 333, 222] {
    ///     q.put(n).unwrap();
    /// }
    /// assert_eq!([q.get(), q.get(), q.get()], [Ok(222), Ok(333), Ok(111)]);
    /// ```
    pub struct LifoQueue<T>(LifoChannel);
}

queue_type! {
    /// A queue that hands out its smallest item first: Python's `queue.PriorityQueue`
    /// (kept, as there, in a binary heap).
    ///
    /// The same surface as [`Queue`]; `get` takes the least item by `Ord`. Items that
    /// compare equal come out in no particular order: put `(priority, sequence, item)`
    /// tuples for first-in, first-out among equals, and wrap the priority in
    /// [`std::cmp::Reverse`] for largest first.
    ///
    /// ```
    /// use spindle::queue::PriorityQueue;
    ///
    /// let q = PriorityQueue::new();
    /// for n in [111, 333, 222] {
    ///     q.put(n).unwrap();
    /// }
    /// assert_eq!([q.get(), q.get(), q.get()], [Ok(111), Ok(222), Ok(333)]);
    /// ```
    pub struct PriorityQueue<T: Ord>(PriorityChannel);
}
