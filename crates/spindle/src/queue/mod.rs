//! Queues for passing items between threads: Python's `queue` module, Python 3.13's
//! semantics included (`shutdown`), with Rust's types.
//!
//! | spindle             | Python                | `get` takes          |
//! |---------------------|-----------------------|----------------------|
//! | [`Queue`]           | `queue.Queue`         | the oldest item      |
//! | [`LifoQueue`]       | `queue.LifoQueue`     | the newest item      |
//! | [`PriorityQueue`]   | `queue.PriorityQueue` | the smallest item    |
//!
//! The three share one implementation and one surface; only the order of the items
//! differs. Each is built, as in CPython, on a lock ([`Mutex`](crate::sync::Mutex)) and
//! three condition variables on it (not empty, not full, all tasks done), and every wait
//! goes through spindle's one waiting path: a thread blocked in `put`, `get` or `join`
//! reads [`Waiting`](crate::thread::ThreadState::Waiting) (`TimedWaiting` in the
//! `_timeout` calls) and its `waiting_on()` names the queue (`Queue "jobs"` or
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
//! freshest item matters most (or for depth-first work). When you need none of `join`,
//! `shutdown`, `LifoQueue` or `PriorityQueue`, nor states you can observe, a lock-free
//! channel (`crossbeam-channel`, `std::sync::mpsc`) is lighter and scales better with
//! many threads on many cores: these queues serialise every operation on one lock.
//!
//! # Performance
//! An operation that finds the queue ready takes the lock once and never touches the
//! parking table unless a thread is parked on the other side. One that finds it empty
//! or full first backs off briefly (spins, then yields, re-checking) before it parks, so
//! a producer and a consumer running at the same pace seldom sleep. `benches/queue.rs`
//! compares the queues with `crossbeam-channel` and `std::sync::mpsc`, and
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
