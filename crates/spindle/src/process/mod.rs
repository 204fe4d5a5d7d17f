// Layer 10 (process): worker processes, over the futures layer.
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
//! does not exist, or an argument of the wrong type, does not compile. Arguments and
//! results travel as postcard bytes in length-prefixed frames over a socket and a pipe
//! per worker (fd 3 and 4 in the worker), so a task's own `println!` goes to the
//! program's stdout and cannot corrupt them (a worker's stdin is `/dev/null`). A worker
//! takes a task only once it is up.
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
//! # Scheduling
//!
//! Any idle worker takes the next task, as from Python's one shared queue: no task
//! waits while a worker is idle. So that tiny tasks run at the speed of the pipe, a
//! small task may also be queued in a busy worker's pipe, behind the task it runs: one,
//! or up to 15 while the worker's tasks take less than a millisecond each, so that it
//! reads many requests at once and the pool reads many of its replies at once. If
//! another worker becomes idle first, it takes such tasks back, oldest first, before
//! the busy worker starts them. Pool and worker agree on this without a message, on a
//! page of memory they share (see `claims.rs`): a task is either started by the worker
//! it was sent to or taken back, never both, so it never runs twice. A task queued in
//! a pipe counts as running (as one in Python's call queue does): it can no longer be
//! cancelled. Between tasks, the readers of the pipes look again for a few
//! microseconds before they sleep (less when the machine is busy), so that a round
//! trip rarely pays for waking a sleeping core.
//!
//! # Faults, each contained
//!
//! | what happens in the worker          | the task gets                           | the worker        |
//! |-------------------------------------|-----------------------------------------|-------------------|
//! | the task panics                     | `Err(TaskError::Panicked(..))`          | lives on          |
//! | abort, segfault, `exit(3)`, SIGKILL, OOM | `Err(WorkerDied("killed by signal 9"))`, `("exited with status 3")` | replaced |
//! | the task runs past its timeout      | `Err(TaskError::Timeout)`               | killed, replaced  |
//! | its result encodes past the frame limit | `Err(TaskError::ResultTooLarge { .. })` | lives on      |
//! | a garbage, truncated or oversized frame | `Err(WorkerDied("garbage frame: ..."))` | killed, replaced |
//! | the task forks a child, then the worker dies | as for the worker's death, at once | replaced       |
//! | the task closes the worker's pipes  | its own result                          | replaced          |
//! | killed while it starts              | (no task yet)                           | replaced, 5 times in a row at most |
//! | the initializer fails               | every task: `Err(TaskError::BrokenPool(..))` | pool broken  |
//!
//! Only the task a worker was running fails with it: the tasks queued behind it, which
//! it never started, run on another worker; a task that finished just as its timeout
//! fired either gives its result or times out, and the task behind it runs either way.
//! [`TaskError::worker_signal`](crate::futures::TaskError::worker_signal) and
//! [`worker_exit_status`](crate::futures::TaskError::worker_exit_status) say how a
//! worker ended without parsing the message. A worker's death is learned from the
//! process itself (a pidfd), not only from its pipe, which a child the task forked may
//! hold open. A worker that dies while the pool writes to it never raises SIGPIPE in
//! the program. When the parent dies, its workers die too: each gets SIGKILL from the
//! kernel (`PR_SET_PDEATHSIG`), and an idle one also sees its request pipe end. After
//! [`shutdown`](ProcessPoolExecutor::shutdown) with `wait` (or a drop), every worker
//! has exited and been reaped: no zombie, no orphan;
//! [`kill_workers`](ProcessPoolExecutor::kill_workers) stops them all at once.
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
pub(crate) mod map;
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
