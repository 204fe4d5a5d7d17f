// Layer 10 (process): worker processes, over the futures layer.
//! `ProcessPoolBuilder`: the options of a process pool.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::pool::ProcessPoolExecutor;
use super::registry::TaskHandle;
use super::spawn::SpawnConfig;
use super::state::{Limits, Shared};
use super::wire::{self, FrameBuf, Request};
use super::worker;

/// Configures a [`ProcessPoolExecutor`]: [`ProcessPoolExecutor::builder`].
///
/// ```
/// use std::time::Duration;
/// use spindle::process::ProcessPoolExecutor;
///
/// spindle::task! { const SETUP = fn setup(_level: u8) {} }
///
/// fn main() {
///     spindle::process::init();
///     let pool = ProcessPoolExecutor::builder()
///         .max_workers(2)
///         .max_tasks_per_child(100)
///         .initializer(SETUP, 3)
///         .timeout(Duration::from_secs(30))
///         .max_frame_size(1 << 20)
///         .memory_limit(1 << 30)
///         .build();
///     assert_eq!(pool.max_workers(), 2);
/// }
/// ```
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    initializer: Option<(&'static str, Vec<u8>)>,
    timeout: Option<Duration>,
    max_frame: usize,
    memory_limit: Option<u64>,
}

impl ProcessPoolBuilder {
    pub(super) fn new() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            max_workers: None,
            max_tasks_per_child: None,
            initializer: None,
            timeout: None,
            max_frame: wire::DEFAULT_MAX_FRAME,
            memory_limit: None,
        }
    }

    /// How many worker processes (default: the number of available cores).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Replaces each worker by a fresh process after it has run `n` tasks (Python's
    /// `max_tasks_per_child`): a leak in a task lives no longer than `n` tasks. Panics
    /// on 0.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        assert!(n > 0, "max_tasks_per_child must be at least 1");
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Runs `task(arg)` in every worker as it starts, before any task (Python's
    /// `initializer` and `initargs`). If it panics or its worker dies, the pool is
    /// broken: queued and later tasks fail with [`TaskError::BrokenPool`](crate::futures::TaskError::BrokenPool).
    pub fn initializer<A, O>(mut self, task: TaskHandle<A, O>, arg: A) -> Self
    where
        A: Serialize,
    {
        let arg = postcard::to_stdvec(&arg).expect("the initializer's argument encodes");
        self.initializer = Some((task.name(), arg));
        self
    }

    /// The longest a task may run: past it, its worker is killed (and replaced) and
    /// the task fails with [`TaskError::Timeout`](crate::futures::TaskError::Timeout). The clock starts when the worker
    /// starts the task, not when it is submitted. For `map_chunked`, the timeout
    /// covers a whole chunk. Default: none.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The largest frame, in bytes, either side sends or accepts (default 64 MiB, at
    /// least 256 bytes). A task whose argument is larger fails at once with
    /// [`TaskError::ArgumentTooLarge`](crate::futures::TaskError::ArgumentTooLarge); a
    /// result that is larger fails its task with
    /// [`TaskError::ResultTooLarge`](crate::futures::TaskError::ResultTooLarge) and its
    /// worker lives on (encoding stops at the limit, so the attempt costs at most the
    /// limit in memory); a worker announcing a larger frame is stopped without anything
    /// being allocated.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame = bytes.clamp(MIN_FRAME, u32::MAX as usize);
        self
    }

    /// Limits each worker's address space to `bytes` (`setrlimit(RLIMIT_AS)`): a task
    /// that allocates without bound then makes its worker abort (and its task fail
    /// with `WorkerDied`) instead of exhausting the machine. Default: none.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Starts the pool's supervisor threads, which start the workers. Panics on 0
    /// workers, or when called inside a worker whose `main` skipped
    /// [`init`](super::init) (which would start workers without end).
    pub fn build(self) -> ProcessPoolExecutor {
        let workers = self.max_workers.unwrap_or_else(default_workers);
        assert!(workers > 0, "a process pool needs at least one worker");
        assert!(
            !worker::is_worker(),
            "this process is a pool worker whose main did not call spindle::process::init() \
             first: see the spindle::process docs"
        );
        let init_frame = self.initializer.map(|(task, arg)| {
            let mut frame = FrameBuf::new(&Request {
                task,
                chunked: false,
                announce: false,
                initializer: true,
            });
            frame.bytes_mut().extend_from_slice(&arg);
            Arc::new(
                frame
                    .finish(self.max_frame)
                    .expect("the initializer's argument fits in a frame"),
            )
        });
        let limits = Limits {
            workers,
            max_tasks_per_child: self.max_tasks_per_child,
            max_frame: self.max_frame,
        };
        let spawn_config = SpawnConfig {
            max_frame: self.max_frame,
            memory_limit: self.memory_limit,
        };
        let shared = Arc::new(Shared::new(workers, limits, init_frame));
        ProcessPoolExecutor::start(shared, spawn_config, self.timeout)
    }
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field(
                "initializer",
                &self.initializer.as_ref().map(|(name, _)| name),
            )
            .field("timeout", &self.timeout)
            .field("max_frame_size", &self.max_frame)
            .field("memory_limit", &self.memory_limit)
            .finish()
    }
}

/// The smallest frame limit: every reply header must fit.
const MIN_FRAME: usize = 256;

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
