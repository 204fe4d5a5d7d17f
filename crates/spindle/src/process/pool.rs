// Layer 10 (process): worker processes, over the futures layer.
//! `ProcessPoolExecutor`: the public face of the pool, and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::completion;
use super::map::MapChunks;
use super::registry::TaskHandle;
use super::spawn::SpawnConfig;
use super::state::{self, Job, Limits, Shared};
use super::wire::{self, FrameBuf, Request};
use super::{supervisor, timer, worker};
use crate::futures::{Future, TaskError};
use crate::sync::Mutex;
use crate::thread::{JoinHandle, Thread};
use crate::trace::{self, EventKind};

/// A pool of worker processes running registered [`task!`](crate::task)s, with the
/// same [`Future`], [`as_completed`](crate::futures::as_completed) and
/// [`wait`](crate::futures::wait) as the thread pool: Python's `ProcessPoolExecutor`,
/// except that a crashing worker fails only its own task.
///
/// The workers are this program started again; `main` must call
/// [`init`](super::init) first (see the [module docs](super)). A task that panics gives
/// `Err(TaskError::Panicked)` and its worker lives on; a worker that aborts, segfaults,
/// exits or is killed gives its task `Err(TaskError::WorkerDied("killed by signal 9"))`
/// (or `"exited with status 3"`) and is replaced; a task past its
/// [timeout](ProcessPoolBuilder::timeout) has its worker killed and gets
/// `Err(TaskError::Timeout)`. Every other task completes.
///
/// Dropping the pool shuts it down as `shutdown(true, false)` does: it waits for the
/// queued tasks, and every worker has exited and been reaped when the drop returns.
///
/// ```
/// use spindle::process::ProcessPoolExecutor;
///
/// spindle::task! {
///     const SQUARE = fn square(x: u64) -> u64 { x * x }
/// }
///
/// fn main() {
///     spindle::process::init(); // first thing: a worker never gets past this line
///     let pool = ProcessPoolExecutor::new(2);
///     let f = pool.submit(SQUARE, 7);
///     assert_eq!(f.result().unwrap(), 49);
///     let squares: Vec<u64> = pool.map(SQUARE, 1..=4).map(Result::unwrap).collect();
///     assert_eq!(squares, [1, 4, 9, 16]);
/// }
/// ```
pub struct ProcessPoolExecutor {
    shared: Arc<Shared>,
    default_timeout: Option<Duration>,
    threads: Mutex<Threads>,
}

struct Threads {
    supervisors: Vec<JoinHandle<()>>,
    timer: Option<JoinHandle<()>>,
}

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
    /// broken: queued and later tasks fail with [`TaskError::BrokenPool`].
    pub fn initializer<A, O>(mut self, task: TaskHandle<A, O>, arg: A) -> Self
    where
        A: Serialize,
    {
        let arg = postcard::to_stdvec(&arg).expect("the initializer's argument encodes");
        self.initializer = Some((task.name(), arg));
        self
    }

    /// The longest a task may run: past it, its worker is killed (and replaced) and
    /// the task fails with [`TaskError::Timeout`]. The clock starts when the worker
    /// starts the task, not when it is submitted. For `map_chunked`, the timeout
    /// covers a whole chunk. Default: none.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The largest frame, in bytes, either side sends or accepts (default 64 MiB, at
    /// least 256 bytes). A
    /// task whose argument is larger fails at once; a result that is larger fails its
    /// task; a worker announcing a larger frame is stopped without anything being
    /// allocated.
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
        let supervisors = (0..workers)
            .map(|slot| {
                let shared = Arc::clone(&shared);
                let config = spawn_config.clone();
                Thread::new(move || supervisor::run(shared, slot, config))
                    .name(format!("process-pool-supervisor-{slot}"))
                    .daemon(true)
                    .start()
                    .expect("cannot start a process pool supervisor thread")
            })
            .collect();
        let pool = ProcessPoolExecutor {
            shared,
            default_timeout: self.timeout,
            threads: Mutex::named(
                "ProcessPoolExecutor threads",
                Threads {
                    supervisors,
                    timer: None,
                },
            ),
        };
        if pool.default_timeout.is_some() {
            pool.start_timer();
        }
        pool
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

impl ProcessPoolExecutor {
    /// A pool of `max_workers` worker processes. Panics on 0.
    ///
    /// ```
    /// spindle::process::init();
    /// let pool = spindle::process::ProcessPoolExecutor::new(1);
    /// assert_eq!(pool.max_workers(), 1);
    /// ```
    pub fn new(max_workers: usize) -> ProcessPoolExecutor {
        ProcessPoolExecutor::builder()
            .max_workers(max_workers)
            .build()
    }

    /// A builder, for the options [`new`](ProcessPoolExecutor::new) leaves at their
    /// defaults.
    ///
    /// ```
    /// spindle::process::init();
    /// let pool = spindle::process::ProcessPoolExecutor::builder().max_workers(1).build();
    /// assert_eq!(pool.max_workers(), 1);
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            max_workers: None,
            max_tasks_per_child: None,
            initializer: None,
            timeout: None,
            max_frame: wire::DEFAULT_MAX_FRAME,
            memory_limit: None,
        }
    }

    /// How many worker processes the pool runs.
    ///
    /// ```
    /// spindle::process::init();
    /// assert_eq!(spindle::process::ProcessPoolExecutor::new(2).max_workers(), 2);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.limits.workers
    }

    /// Schedules `task(arg)` on a worker; the future completes with its result.
    ///
    /// Panics "cannot schedule new futures after shutdown" once shut down. A pool that
    /// is broken, or an argument over the frame limit, gives a future that has already
    /// failed.
    ///
    /// ```
    /// spindle::task! { const SHOUT = fn shout(s: String) -> String { s.to_uppercase() } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(1);
    ///     assert_eq!(pool.submit(SHOUT, "hi".to_owned()).result().unwrap(), "HI");
    /// }
    /// ```
    pub fn submit<A, O>(&self, task: TaskHandle<A, O>, arg: A) -> Future<O>
    where
        A: Serialize,
        O: DeserializeOwned + Send + 'static,
    {
        self.submit_raw(task.name(), &arg, None, self.default_timeout)
    }

    /// As [`submit`](ProcessPoolExecutor::submit), with this task's own timeout in place
    /// of the pool's.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::futures::TaskError;
    ///
    /// spindle::task! { const SPIN = fn spin(_x: ()) { loop { std::hint::spin_loop() } } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(1);
    ///     let f = pool.submit_with_timeout(SPIN, (), Duration::from_millis(100));
    ///     assert_eq!(f.result(), Err(TaskError::Timeout));
    /// }
    /// ```
    pub fn submit_with_timeout<A, O>(
        &self,
        task: TaskHandle<A, O>,
        arg: A,
        timeout: Duration,
    ) -> Future<O>
    where
        A: Serialize,
        O: DeserializeOwned + Send + 'static,
    {
        self.submit_raw(task.name(), &arg, None, Some(timeout))
    }

    /// Queues a request for task `name` (run on each of a chunk's items if `chunk` is
    /// `Some(items)`), whose reply decodes as `R`.
    ///
    /// Traced, it is a task of its own: the trace hook hears `TaskSubmitted` here, and
    /// its worker's supervisor hears `TaskStarted` (when the worker says it started it)
    /// and `TaskFinished`.
    pub(crate) fn submit_raw<A, R>(
        &self,
        task: &str,
        arg: &A,
        chunk: Option<usize>,
        timeout: Option<Duration>,
    ) -> Future<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        // Decided once, here: a task whose submission was heard has its start heard.
        let announce = trace::enabled();
        let request = Request {
            task,
            chunked: chunk.is_some(),
            announce,
        };
        let frame = FrameBuf::new(&request)
            .push(arg)
            .map_err(|e| TaskError::WorkerDied(format!("the argument does not encode: {e}")))
            .and_then(|f| {
                f.finish(self.shared.limits.max_frame)
                    .map_err(|e| TaskError::WorkerDied(format!("the argument cannot be sent: {e}")))
            });
        let frame = match frame {
            Ok(frame) => Arc::new(frame),
            Err(e) => return completion::failed(&self.shared.origin, e),
        };
        if timeout.is_some() {
            self.start_timer();
        }
        let (future, completion) = completion::pending::<R>(&self.shared.origin);
        let id = completion.task();
        trace::emit(|| EventKind::TaskSubmitted {
            task: id,
            name: match chunk {
                None => task.to_owned(),
                Some(1) => format!("{task} (map, 1 item)"),
                Some(items) => format!("{task} (map, {items} items)"),
            },
        });
        let job = Job {
            frame,
            timeout,
            completion,
            started: false,
            announce,
        };
        {
            let mut st = self.shared.state.lock();
            if st.shutdown {
                drop(st);
                panic!("cannot schedule new futures after shutdown");
            }
            if let Some(why) = &st.broken {
                let why = why.clone();
                drop(st);
                state::fail_all(vec![job], &why);
                return future;
            }
            st.pending.push_back(job);
        }
        self.shared.dispatch_and_write();
        future
    }

    /// Runs `task` on every item, `chunksize` 1: the results in input order, as
    /// Python's `Executor.map`. Items are submitted as the iterator is consumed, a
    /// bounded number ahead; dropping the iterator cancels the ones not started.
    ///
    /// ```
    /// spindle::task! { const CUBE = fn cube(x: i64) -> i64 { x * x * x } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(2);
    ///     let cubes: Result<Vec<i64>, _> = pool.map(CUBE, [-1, 2, 3]).collect();
    ///     assert_eq!(cubes.unwrap(), [-1, 8, 27]);
    /// }
    /// ```
    pub fn map<'a, A, O, I>(
        &'a self,
        task: TaskHandle<A, O>,
        items: I,
    ) -> impl Iterator<Item = Result<O, TaskError>> + 'a
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
        A: Serialize + 'a,
        O: DeserializeOwned + Send + 'static,
    {
        self.map_chunked(task, items, 1)
    }

    /// As [`map`](ProcessPoolExecutor::map), sending items to workers `chunksize` at a
    /// time (Python's `chunksize`): far fewer round trips for small tasks. Each item
    /// still has its own result; a worker that dies fails its whole chunk. Panics on a
    /// `chunksize` of 0.
    ///
    /// ```
    /// spindle::task! { const HALVE = fn halve(x: u32) -> u32 { x / 2 } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(2);
    ///     let halves: Vec<u32> = pool.map_chunked(HALVE, 0..1000, 100).map(Result::unwrap).collect();
    ///     assert_eq!(halves[999], 499);
    /// }
    /// ```
    pub fn map_chunked<'a, A, O, I>(
        &'a self,
        task: TaskHandle<A, O>,
        items: I,
        chunksize: usize,
    ) -> impl Iterator<Item = Result<O, TaskError>> + 'a
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
        A: Serialize + 'a,
        O: DeserializeOwned + Send + 'static,
    {
        assert!(chunksize > 0, "chunksize must be at least 1");
        let ahead = 2 * self.max_workers() * state::PIPELINE_DEPTH;
        MapChunks::new(self, task, items.into_iter(), chunksize, ahead)
    }

    /// The pids of the live worker processes, in slot order (a slot whose worker is
    /// being replaced is missing).
    ///
    /// ```
    /// spindle::task! { const PID = fn pid(_x: ()) -> u32 { std::process::id() } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(1);
    ///     let worker = pool.submit(PID, ()).result().unwrap();
    ///     assert_eq!(pool.worker_pids(), [worker]);
    ///     assert_ne!(worker, std::process::id());
    /// }
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        let st = self.shared.state.lock();
        st.slots.iter().flatten().map(|live| live.pid).collect()
    }

    /// Stops taking tasks; with `cancel_futures`, cancels the queued ones that have not
    /// started; with `wait`, returns once every task has finished and every worker has
    /// exited and been reaped. Calling it again is harmless; `submit` afterwards panics.
    ///
    /// ```
    /// spindle::task! { const ONE = fn one(_x: ()) -> u8 { 1 } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(1);
    ///     let f = pool.submit(ONE, ());
    ///     pool.shutdown(true, false);
    ///     assert_eq!(f.result().unwrap(), 1);
    ///     assert!(pool.worker_pids().is_empty());
    /// }
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancelled = {
            let mut st = self.shared.state.lock();
            st.shutdown = true;
            if cancel_futures {
                let (queued, requeued): (Vec<Job>, Vec<Job>) =
                    st.pending.drain(..).partition(|j| !j.started);
                st.pending.extend(requeued);
                queued
            } else {
                Vec::new()
            }
        };
        for job in cancelled {
            job.completion.cancel();
        }
        // Closes the pipes of idle workers: they exit, their supervisors end.
        self.shared.dispatch_and_write();
        if wait {
            let handles = {
                let mut threads = self.threads.lock();
                let mut handles = std::mem::take(&mut threads.supervisors);
                handles.extend(threads.timer.take());
                handles
            };
            for handle in handles {
                // A supervisor does not panic; if one did, its panic already reached
                // the excepthook when the thread ended.
                let _ = handle.join();
            }
        }
    }

    pub(crate) fn default_timeout(&self) -> Option<Duration> {
        self.default_timeout
    }

    fn start_timer(&self) {
        let mut threads = self.threads.lock();
        if threads.timer.is_some() || threads.supervisors.is_empty() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let handle = Thread::new(move || timer::run(shared))
            .name("process-pool-timer")
            .daemon(true)
            .start()
            .expect("cannot start the process pool timer thread");
        threads.timer = Some(handle);
    }
}

impl Default for ProcessPoolExecutor {
    /// A pool with one worker per available core.
    ///
    /// ```
    /// spindle::process::init();
    /// let pool = spindle::process::ProcessPoolExecutor::default();
    /// assert!(pool.max_workers() >= 1);
    /// ```
    fn default() -> Self {
        ProcessPoolExecutor::builder().build()
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.shared.limits.workers)
            .field("queued", &st.pending.len())
            .field(
                "workers",
                &st.slots.iter().flatten().map(|l| l.pid).collect::<Vec<_>>(),
            )
            .field("shutdown", &st.shutdown)
            .field("broken", &st.broken)
            .finish()
    }
}
