//! Worker processes for work that may crash, leak or run away: Python's
//! `ProcessPoolExecutor`, with the same [`Future`](crate::futures::Future),
//! [`as_completed`](crate::futures::as_completed) and [`wait`](crate::futures::wait) as
//! the thread pool, and a pool that survives its workers.
//!
//! # The `init()` rule
//!
//! The workers are this very program started again. [`init`] must be the first thing
//! `main` does: in the parent it returns at once; in a worker it serves tasks and never
//! returns, so nothing after it runs twice. It is Python's
//! `if __name__ == "__main__":` rule, upside down: everything below `init()` is the
//! "main" part. Code before it (argument parsing, logging set-up, opening files) would
//! run in every worker too. A worker whose `main` skipped `init()` cannot start a pool
//! of its own (that would start workers without end): it panics, and the parent's pool
//! reports itself broken with a hint.
//!
//! # Tasks
//!
//! A task is a plain function registered with [`task!`](crate::task): one argument and
//! a result, both serde types. Beside the function, the macro defines a typed
//! [`TaskHandle`] const, and that handle is what a pool takes: submitting a task that
//! does not exist, or an argument of the wrong type, does not compile. Arguments and results travel as postcard bytes in
//! length-prefixed frames over two pipes per worker (fd 3 and 4 in the worker), so a
//! task's own `println!` goes to the program's stdout and cannot corrupt them (a
//! worker's stdin is `/dev/null`). A worker takes a task only once it is up, and holds
//! at most the task it runs and the next.
//!
//! ```
//! use spindle::futures::{as_completed, TaskError};
//! use spindle::process::ProcessPoolExecutor;
//!
//! spindle::task! {
//!     /// Counts the primes below `n`, slowly.
//!     const PRIMES_BELOW = fn primes_below(n: u32) -> usize {
//!         (2..n).filter(|k| (2..*k).take_while(|d| d * d <= *k).all(|d| k % d != 0)).count()
//!     }
//!
//!     const CRASH = fn crash(_x: ()) {
//!         std::process::abort();
//!     }
//! }
//!
//! fn main() {
//!     spindle::process::init();
//!
//!     let pool = ProcessPoolExecutor::new(2);
//!     let counts = vec![pool.submit(PRIMES_BELOW, 1_000), pool.submit(PRIMES_BELOW, 100)];
//!     let mut seen: Vec<usize> = as_completed(counts).map(|f| f.result().unwrap()).collect();
//!     seen.sort();
//!     assert_eq!(seen, [25, 168]);
//!
//!     // A worker that dies fails only its own task, and is replaced.
//!     let crashed = pool.submit(CRASH, ());
//!     assert_eq!(crashed.result(), Err(TaskError::WorkerDied("killed by signal 6".into())));
//!     assert_eq!(pool.submit(PRIMES_BELOW, 10).result(), Ok(4));
//! }
//! ```
//!
//! # Faults, each contained
//!
//! | what happens in the worker          | the task gets                           | the worker        |
//! |-------------------------------------|-----------------------------------------|-------------------|
//! | the task panics                     | `Err(TaskError::Panicked(..))`          | lives on          |
//! | abort, segfault, `exit(3)`, SIGKILL, OOM | `Err(WorkerDied("killed by signal 9"))`, `("exited with status 3")` | replaced |
//! | the task runs past its timeout      | `Err(TaskError::Timeout)`               | killed, replaced  |
//! | a garbage, truncated or oversized frame | `Err(WorkerDied("garbage frame: ..."))` | killed, replaced |
//! | the initializer fails               | every task: `Err(TaskError::BrokenPool(..))` | pool broken  |
//!
//! Tasks queued behind the one that failed are re-sent to the next worker. When the
//! parent dies, its workers die too: each gets SIGKILL from the kernel
//! (`PR_SET_PDEATHSIG`), and an idle one also sees its request pipe end. After
//! [`shutdown`](ProcessPoolExecutor::shutdown) with `wait` (or a drop), every worker
//! has exited and been reaped: no zombie, no orphan.
//!
//! # Tracing
//!
//! The [trace hook](crate::trace::set_hook) and the
//! [`Recorder`](crate::trace::Recorder) hear process tasks as they hear thread-pool
//! ones, with the same task ids as [`Future::task_id`](crate::futures::Future::task_id):
//! `TaskSubmitted` on the submitting thread (one per `submit`, one per chunk of a
//! `map`), then `TaskStarted` and `TaskFinished` on the supervisor thread of the worker
//! that ran it (`process-pool-supervisor-N`), whose track a recording draws the task
//! on; `ok` is false when the task panicked, timed out or its worker died. A task
//! submitted while a hook listens asks its worker to say when it starts it (one more
//! small frame on the pipe); with no hook, tracing costs a relaxed load per submission.
//!
//! # Which pool should I use?
//!
//! Rust has no GIL: threads run CPU-bound work in parallel, so
//! [`ThreadPoolExecutor`](crate::futures::ThreadPoolExecutor) is the default choice,
//! and the cheaper one (no encoding, no pipes). Use a process pool for isolation: code
//! that may crash the process (FFI, `unsafe`, a parser fed untrusted input), leak, or
//! loop forever, and that must be killed rather than asked to stop. A round trip to a
//! worker costs tens of microseconds; send work in pieces worth more than that, or use
//! [`map_chunked`](ProcessPoolExecutor::map_chunked).

mod builder;
mod channel;
mod claims;
mod completion;
mod dispatch;
mod limits;
mod map;
mod pool;
mod registry;
mod spawn;
mod spin;
mod state;
mod supervisor;
mod timer;
mod wire;
mod worker;

pub use builder::ProcessPoolBuilder;
pub use pool::ProcessPoolExecutor;
pub use registry::TaskHandle;

#[allow(unused_imports)] // spindle::cluster's: it refuses oversized frames as the pool does
pub(crate) use limits::{Part as FramePart, check as check_frame, encode as encode_within_frame};

/// Turns this process into a pool worker if it was started as one, and never returns
/// then; in any other process it returns at once. Call it first thing in `main` (see
/// [the `init()` rule](self#the-init-rule)).
///
/// ```
/// spindle::process::init(); // first line of main
/// // the program proper
/// ```
pub fn init() {
    if worker::is_worker() {
        std::process::exit(worker::serve());
    }
}

/// What [`task!`](crate::task) expands to; not public API.
#[doc(hidden)]
pub mod __private {
    pub use super::registry::{RunError, TaskEntry, run_chunk_erased, run_erased};
    pub use inventory;
    pub use std::string::String;
    pub use std::vec::Vec;
}
