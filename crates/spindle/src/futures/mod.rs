// Layer 9 (futures): executors and futures, over everything below.
//! Run closures on a pool of threads and collect their results: Python's
//! `concurrent.futures`, without its known traps.
//!
//! * [`ThreadPoolExecutor`] runs what you [`submit`](ThreadPoolExecutor::submit) on worker
//!   threads and hands back a [`Future`]; [`map`](ThreadPoolExecutor::map) runs a function
//!   over an iterator and yields results in input order.
//! * A [`Future`] is pending, running, then finished or cancelled. Read it with
//!   [`result`](Future::result), or `.await` it from async code.
//! * [`as_completed`] yields futures as they finish; [`wait()`] returns when the first
//!   finishes, the first fails, or all are done ([`ReturnWhen`]).
//!
//! | spindle                          | Python                                  |
//! |----------------------------------|-----------------------------------------|
//! | [`ThreadPoolExecutor::new`]`(n)` | `ThreadPoolExecutor(max_workers=n)`     |
//! | [`ThreadPoolExecutor::builder`]  | `thread_name_prefix=`, `initializer=`   |
//! | `submit(f)` → [`Future<T>`]      | `submit(fn)` → `Future`                 |
//! | `Future::result()` → `Result`    | `result()` raises                       |
//! | `map(f, items)`                  | `map(fn, items, buffersize=2n)`         |
//! | [`as_completed`], [`as_completed_timeout`] | `as_completed(fs, timeout)`   |
//! | [`wait()`]                       | `wait(fs, timeout, return_when)`        |
//! | drop, or `shutdown(true, false)` | leaving the `with` block                |
//!
//! # What is different from Python, on purpose
//! * **Panics are never lost.** A task's panic is its future's
//!   [`TaskError::Panicked`] (with the message and the worker's name); if nobody reads it,
//!   it reaches the excepthook ([`set_excepthook`](crate::thread::set_excepthook)).
//!   `map` yields one `Result` per item, so one failing item neither hides the others nor
//!   vanishes because the iterator was never consumed.
//! * **`map` is lazy and bounded.** Python's `map` submits every item up front; here at
//!   most `2 × max_workers` tasks are in flight, so an endless iterator works.
//! * **Cancelled futures are done at once**: `wait` and `as_completed` see a cancellation
//!   immediately, not when a worker gets to it.
//! * **Done callbacks borrow the outcome.** As in CPython they run after the waiters
//!   hear, and one added to a done future runs at once on the caller's thread. An error
//!   is copied for each; a value (which need be neither `Clone` nor `Sync`) is lent to
//!   one callback at a time, so `result` waits for the callbacks added before completion
//!   to have seen it (see [`Future::result`]).
//! * **Exit does not wait for idle pools.** [`join_non_daemon`](crate::thread::join_non_daemon)
//!   lets the queued work run, then the idle workers leave, as at CPython's exit.
//! * **Everything waits visibly.** A thread in `result`, `wait` or `as_completed` reads
//!   `Waiting` and names what it waits for (`Future of task 3 (ThreadPoolExecutor "io")`);
//!   [`deadlock::check`](crate::deadlock::check) knows which worker runs each task.
//!
//! ```
//! use spindle::futures::{wait, ReturnWhen, ThreadPoolExecutor, TaskError};
//!
//! let pool = ThreadPoolExecutor::builder().max_workers(4).thread_name_prefix("job").build();
//! let futures: Vec<_> = (0..8u64)
//!     .map(|n| pool.submit(move || if n == 5 { panic!("bad item {n}") } else { n * 2 }))
//!     .collect();
//! let status = wait(&futures, ReturnWhen::AllCompleted, None);
//! assert_eq!(status.done.len(), 8);
//! let results: Vec<Result<u64, TaskError>> = futures.into_iter().map(|f| f.result()).collect();
//! assert_eq!(results[4], Ok(8));
//! match &results[5] {
//!     Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "bad item 5"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

mod builder;
mod completion;
mod error;
mod executor;
mod future;
mod hooks;
mod job;
mod map;
mod pool;
mod pools;
mod state;
mod task;
mod waitable;
mod waiter;

pub use builder::ThreadPoolBuilder;
pub use completion::{
    AsCompleted, AsCompletedTimeout, ReturnWhen, WaitResult, as_completed, as_completed_timeout,
    wait,
};
pub use error::{TaskError, WaitTimeout};
pub use executor::ThreadPoolExecutor;
pub use future::Future;
pub use map::MapResults;

#[allow(unused_imports)] // for the process pool
pub(crate) use future::Promise;
#[allow(unused_imports)] // for the process pool
pub(crate) use task::{TaskInfo, next_task_id};
