// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! Queues for passing items between threads: Python's `queue` module, Python 3.13's
//! semantics included (`shutdown`), with Rust's types.
//!
//! | spindle             | Python                | `get` takes          |
//! |---------------------|-----------------------|----------------------|
//! | [`Queue`]           | `queue.Queue`         | the oldest item      |
//! | [`LifoQueue`]       | `queue.LifoQueue`     | the newest item      |
//! | [`PriorityQueue`]   | `queue.PriorityQueue` | the smallest item    |
//!
//! The three share one surface and one semantics; only the order of the items differs.
//! `LifoQueue` and `PriorityQueue` are built, as in CPython, on a lock
//! ([`Mutex`](crate::sync::Mutex)) and three condition variables on it (not empty, not
//! full, all tasks done). A `Queue` takes no lock: its items sit in slots that producers
//! and consumers claim with one atomic operation each (a ring of `maxsize` slots when
//! bounded, a list of small blocks when unbounded), with the unfinished-task count and
//! `shutdown` folded into the same atomics (a very large `maxsize` uses the locked
//! buffer, which holds memory only for the items there). Every wait goes through
//! spindle's one waiting path: a thread blocked in `put`, `get` or `join` reads
//! [`Waiting`](crate::thread::ThreadState::Waiting) (`TimedWaiting` in the `_timeout`
//! calls) and its `waiting_on()` names the queue (`Queue "jobs"` or
//! `Queue created at src/main.rs:7:13`).
//!
//! | Python                    | spindle                                         |
//! |---------------------------|-------------------------------------------------|
//! | `Queue(maxsize=0)`        | [`Queue::new()`]                                |
//! | `Queue(maxsize=n)`        | [`Queue::bounded(n)`](Queue::bounded)           |
//! | `put(x)`, `get()`         | `put(x)`, `get()`                               |
//! | `put(x, timeout=t)`       | `put_timeout(x, t)`                             |
//! | `put_nowait(x)`, `get_nowait()` | `try_put(x)`, `try_get()`                 |
//! | `Full`, `Empty`, `ShutDown` | [`PutError::Full`], [`GetError::Empty`], `ShutDown` |
//! | `qsize()`, `empty()`, `full()` | `len()`, `is_empty()`, `is_full()`         |
//! | `task_done()`, `join()`   | `task_done()`, `join()` (and `join_timeout`)    |
//! | `shutdown(immediate)`     | `shutdown(immediate)`                           |
//!
//! A failed `put` hands the item back inside its [`PutError`].
//!
//! # Which one should I use?
//! [`Queue`] for work handed from producers to consumers in the order it arrives;
//! [`PriorityQueue`] when urgent work must overtake the rest; [`LifoQueue`] when the
//! freshest item matters most (or for depth-first work). A `Queue` moves items as fast
//! as `crossbeam-channel` does; `LifoQueue` and `PriorityQueue` serialise every operation
//! on one lock, so with many threads on many cores they scale less well.
//!
//! # Performance
//! A `Queue` operation that finds the queue ready does what crossbeam-channel does: one
//! compare-and-swap to claim a slot, the item, one store to publish it, and one load to
//! see whether a thread is parked on the other side (the parking table is touched only
//! then). Python's extras cost nothing per item: the count of unfinished tasks is
//! derived from the count of puts, and `shutdown` is a bit that the compare-and-swap
//! already reads. A `LifoQueue` or `PriorityQueue` operation takes the lock once, and
//! likewise wakes the other side only if a thread is parked there. An operation that
//! finds the queue empty or full first backs off briefly (spins, then yields, re-checking)
//! before it parks, so a producer and a consumer running at the same pace seldom sleep.
//!
//! Memory follows the items: an unbounded `Queue` frees each block of slots once it is
//! read, and the locked buffers give room back once the items fill a quarter of it, so a
//! queue that once held millions of items holds next to nothing once drained. A small
//! bounded `Queue` allocates its `maxsize` slots up front.
//!
//! `benches/queue.rs` compares the queues with `crossbeam-channel` and
//! `std::sync::mpsc` (throughput, and memory at the peak and after draining), and
//! `benches/python/queue_bench.py` runs the same workloads on CPython's `queue.Queue`.
//!
//! # Fairness
//! Threads parked in `get` are woken one per item put, longest parked first, and threads
//! parked in `put` one per item taken. As in Python's queue, a thread that was not
//! parked (just arriving, or still backing off) may take the item or the room ahead of
//! the thread just woken, which then waits again: throughput is favoured over strict
//! order of arrival.
//!
//! ```
//! use std::sync::Arc;
//! use spindle::queue::Queue;
//! use spindle::thread;
//!
//! let jobs = Arc::new(Queue::named_bounded("jobs", 16));
//! let workers: Vec<_> = (0..3)
//!     .map(|_| {
//!         let jobs = Arc::clone(&jobs);
//!         thread::spawn(move || {
//!             let mut done = 0;
//!             for n in &*jobs {
//!                 done += n;
//!                 jobs.task_done().unwrap();
//!             }
//!             done
//!         })
//!     })
//!     .collect();
//! for n in 1..=100u64 {
//!     jobs.put(n).unwrap();
//! }
//! jobs.join(); // every job has been processed
//! jobs.shutdown(false); // the workers' loops end
//! let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
//! assert_eq!(total, 5050);
//! ```

mod channel;
mod error;
mod fifo;
mod iter;
mod list;
mod lock_free;
mod order;
mod ring;
mod sleepers;
mod storage;
mod types;

pub use error::{GetError, PutError, TaskDoneError};
pub use iter::Iter;
pub use types::{LifoQueue, PriorityQueue, Queue};
