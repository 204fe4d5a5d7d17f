// Layer 10 (process): worker processes, over the futures layer.
//! `ProcessPoolExecutor`: the public face of the pool.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builder::ProcessPoolBuilder;
use super::completion::{self, Completion};
use super::dispatch::{self, Fill};
use super::limits::{self, Part};
use super::map::MapChunks;
use super::registry::TaskHandle;
use super::spawn::{self, SpawnConfig};
use super::state::{self, Job, Shared, Stop};
use super::wire::{self, EncodeError, FrameBuf, Request};
use super::{supervisor, timer};
use crate::futures::{Future, TaskError};
use crate::sync::Mutex;
use crate::thread::{JoinHandle, Thread};
use crate::trace::{self, EventKind};

/// How many chunks of a `map` per worker may be submitted and not yet consumed: enough
/// that the consumer, woken for one result, finds the next ones done (Python submits a
/// whole `map` at once; this bounds the memory an endless iterator takes).
const MAP_AHEAD_PER_WORKER: usize = 32;

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
/// `Err(TaskError::Timeout)`. Every other task completes: one that was sent to a
/// worker that died before starting it runs on another.
///
/// # Scheduling
///
/// Any idle worker takes the next task, as from Python's one shared queue: no task
/// waits while a worker is idle. To keep tiny tasks fast, a small task may be queued in
/// a busy worker's pipe behind the task it runs (many, while its tasks are quick); an
/// idle worker takes such tasks back before that worker starts them (see the
/// [module docs](super#scheduling)).
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

impl ProcessPoolExecutor {
    /// Starts the supervisor threads (which start the workers) of a pool built by
    /// [`ProcessPoolBuilder::build`].
    pub(super) fn start(
        shared: Arc<Shared>,
        spawn_config: SpawnConfig,
        default_timeout: Option<Duration>,
    ) -> ProcessPoolExecutor {
        let supervisors = (0..shared.limits.workers)
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
            default_timeout,
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
        ProcessPoolBuilder::new()
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

    /// The largest frame, in bytes, the pool sends or accepts
    /// ([`max_frame_size`](ProcessPoolBuilder::max_frame_size)): an argument or a result
    /// that encodes to more (with a small header) is refused.
    ///
    /// ```
    /// spindle::process::init();
    /// let pool = spindle::process::ProcessPoolExecutor::builder().max_frame_size(1 << 20).build();
    /// assert_eq!(pool.max_frame_size(), 1 << 20);
    /// ```
    pub fn max_frame_size(&self) -> usize {
        self.shared.limits.max_frame
    }

    /// Schedules `task(arg)` on a worker; the future completes with its result.
    ///
    /// Panics "cannot schedule new futures after shutdown" once shut down. A pool that
    /// is broken gives a future that has already failed with
    /// [`TaskError::BrokenPool`]; an argument over the frame limit, one that has failed
    /// with [`TaskError::ArgumentTooLarge`].
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

    /// Queues a request for task `task` (run on each of a chunk's items if `chunk` is
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
        let (future, completion) = completion::pending::<R>(&self.shared.origin);
        self.queue(task, chunk, timeout, completion, |frame, limit| {
            frame.push(arg, limit)
        });
        future
    }

    /// Queues a request for task `task` with its argument already encoded (postcard,
    /// as the task's handle encodes it); the future gives the result's encoded bytes,
    /// as the worker sent them. For `spindle::cluster`, whose workers run the tasks
    /// they take in a local pool: the same frame limit applies
    /// ([`TaskError::ArgumentTooLarge`], [`TaskError::ResultTooLarge`]), and every
    /// fault is contained as for `submit`.
    #[allow(dead_code)] // spindle::cluster's
    pub(crate) fn submit_encoded(
        &self,
        task: &str,
        encoded_arg: &[u8],
        timeout: Option<Duration>,
    ) -> Future<Vec<u8>> {
        let (future, completion) = completion::pending_encoded(&self.shared.origin);
        self.queue(task, None, timeout, completion, |mut frame, limit| {
            // The frame's length as a reader counts it: header and argument.
            let len = frame.bytes_mut().len() - wire::PREFIX + encoded_arg.len();
            limits::check(Part::Argument, len, limit).map_err(|_| EncodeError::TooLarge)?;
            frame.bytes_mut().extend_from_slice(encoded_arg);
            Ok(frame)
        });
        future
    }

    /// Builds the frame of a request (`body` appends the argument within the frame
    /// limit) and queues it, or fails `completion` at once.
    fn queue(
        &self,
        task: &str,
        chunk: Option<usize>,
        timeout: Option<Duration>,
        completion: Box<dyn Completion>,
        body: impl FnOnce(FrameBuf, usize) -> Result<FrameBuf, EncodeError>,
    ) {
        // Decided once, here: a task whose submission was heard has its start heard.
        let announce = trace::enabled();
        let request = Request {
            task,
            chunked: chunk.is_some(),
            announce,
            initializer: false,
        };
        let limit = self.shared.limits.max_frame;
        let frame = body(FrameBuf::new(&request), limit)
            .map_err(|e| limits::encode_error(e, Part::Argument, limit))
            .and_then(|f| {
                f.finish(limit)
                    .map_err(|_| limits::too_large(Part::Argument, limit))
            });
        let frame = match frame {
            Ok(frame) => Arc::new(frame),
            Err(e) => return completion.fail(e),
        };
        if timeout.is_some() {
            self.start_timer();
        }
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
        let (writes, wake_timer) = {
            let mut st = self.shared.state.lock();
            if st.shutdown {
                drop(st);
                panic!("cannot schedule new futures after shutdown");
            }
            if let Some(why) = &st.broken {
                let why = why.clone();
                drop(st);
                return state::fail_all(vec![job], &why);
            }
            st.pending.push_back(job);
            self.shared.dispatch(&mut st, Fill::Shallow)
        };
        if wake_timer {
            self.shared.state.notify_all();
        }
        self.shared.write(writes);
    }

    /// Runs `task` on every item, `chunksize` 1: the results in input order, as
    /// Python's `Executor.map`. Items are submitted as the iterator is consumed, a
    /// bounded number ahead (32 chunks per worker); dropping the iterator cancels the
    /// ones not started.
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
        self.map_chunked_inner(task, items, chunksize, self.default_timeout)
    }

    /// As [`map`](ProcessPoolExecutor::map), with each item's own timeout in place of
    /// the pool's: an item past it gives `Err(TaskError::Timeout)` (its worker is
    /// killed and replaced), and the others go on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::futures::TaskError;
    ///
    /// spindle::task! {
    ///     const NAP = fn nap(ms: u64) -> u64 {
    ///         std::thread::sleep(Duration::from_millis(ms));
    ///         ms
    ///     }
    /// }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(2);
    ///     let naps: Vec<_> = pool.map_with_timeout(NAP, [1, 60_000, 2], Duration::from_secs(1)).collect();
    ///     assert_eq!(naps, [Ok(1), Err(TaskError::Timeout), Ok(2)]);
    /// }
    /// ```
    pub fn map_with_timeout<'a, A, O, I>(
        &'a self,
        task: TaskHandle<A, O>,
        items: I,
        timeout: Duration,
    ) -> impl Iterator<Item = Result<O, TaskError>> + 'a
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
        A: Serialize + 'a,
        O: DeserializeOwned + Send + 'static,
    {
        self.map_chunked_inner(task, items, 1, Some(timeout))
    }

    /// As [`map_chunked`](ProcessPoolExecutor::map_chunked), with each chunk's own
    /// timeout in place of the pool's: a chunk past it gives `Err(TaskError::Timeout)`
    /// for each of its items. Panics on a `chunksize` of 0.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// spindle::task! { const INC = fn inc(x: u32) -> u32 { x + 1 } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(2);
    ///     let all: Result<Vec<u32>, _> =
    ///         pool.map_chunked_with_timeout(INC, 0..100, 10, Duration::from_secs(30)).collect();
    ///     assert_eq!(all.unwrap()[99], 100);
    /// }
    /// ```
    pub fn map_chunked_with_timeout<'a, A, O, I>(
        &'a self,
        task: TaskHandle<A, O>,
        items: I,
        chunksize: usize,
        timeout: Duration,
    ) -> impl Iterator<Item = Result<O, TaskError>> + 'a
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
        A: Serialize + 'a,
        O: DeserializeOwned + Send + 'static,
    {
        self.map_chunked_inner(task, items, chunksize, Some(timeout))
    }

    fn map_chunked_inner<'a, A, O, I>(
        &'a self,
        task: TaskHandle<A, O>,
        items: I,
        chunksize: usize,
        timeout: Option<Duration>,
    ) -> MapChunks<'a, A, O, I::IntoIter>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
        A: Serialize + 'a,
        O: DeserializeOwned + Send + 'static,
    {
        assert!(chunksize > 0, "chunksize must be at least 1");
        let ahead = MAP_AHEAD_PER_WORKER * self.max_workers();
        MapChunks::new(self, task, items.into_iter(), chunksize, ahead, timeout)
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

    /// Stops every worker now with SIGTERM (Python 3.14's `terminate_workers`), and
    /// shuts the pool down: a running task fails with
    /// `TaskError::WorkerDied("terminate_workers() stopped the worker: killed by signal 15")`,
    /// every task not yet started is cancelled, and `submit` panics afterwards. It
    /// does not wait; dropping the pool then waits only for the workers to exit. A task
    /// that catches SIGTERM keeps its worker alive until it returns: see
    /// [`kill_workers`](ProcessPoolExecutor::kill_workers).
    ///
    /// ```
    /// use spindle::futures::TaskError;
    ///
    /// spindle::task! { const SPIN = fn spin(_x: ()) { loop { std::hint::spin_loop() } } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(1);
    ///     let endless = pool.submit(SPIN, ());
    ///     let queued = pool.submit(SPIN, ());
    ///     pool.terminate_workers();
    ///     // WorkerDied("terminate_workers() stopped the worker: killed by signal 15"),
    ///     // or Cancelled if its worker had not started it yet.
    ///     assert!(endless.result().is_err());
    ///     assert_eq!(queued.result(), Err(TaskError::Cancelled));
    /// }
    /// ```
    pub fn terminate_workers(&self) {
        self.stop_workers("terminate_workers()", libc::SIGTERM);
    }

    /// As [`terminate_workers`](ProcessPoolExecutor::terminate_workers), with SIGKILL
    /// (Python 3.14's `kill_workers`), which no task can catch: a running task fails
    /// with `TaskError::WorkerDied("kill_workers() stopped the worker: killed by signal 9")`,
    /// and the pool can be dropped at once, however long its tasks would have run.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// spindle::task! { const NAP = fn nap(s: u64) { std::thread::sleep(Duration::from_secs(s)) } }
    ///
    /// fn main() {
    ///     spindle::process::init();
    ///     let pool = spindle::process::ProcessPoolExecutor::new(1);
    ///     let long = pool.submit(NAP, 3600);
    ///     pool.kill_workers();
    ///     drop(pool); // no hour-long wait
    ///     assert!(long.result().is_err());
    /// }
    /// ```
    pub fn kill_workers(&self) {
        self.stop_workers("kill_workers()", libc::SIGKILL);
    }

    fn stop_workers(&self, by: &'static str, signal: libc::c_int) {
        let (queued, never_started) = {
            let mut st = self.shared.state.lock();
            st.shutdown = true;
            st.stopping.get_or_insert((by, signal));
            let queued: Vec<Job> = st.pending.drain(..).collect();
            let mut never_started = Vec::new();
            for live in st.slots.iter_mut().flatten() {
                // Requests in its pipe it has not started never will: take them back.
                let claims = Arc::clone(&live.claims);
                let (kept, taken): (Vec<_>, Vec<_>) = live
                    .in_flight
                    .drain(..)
                    .partition(|r| !claims.revoke(r.seq()));
                live.in_flight.extend(kept);
                never_started.extend(taken);
                live.stop(Stop::Terminated(by), signal);
            }
            for pid in st.starting.iter().flatten() {
                // Still starting, so not yet reaped: the pid is its own.
                spawn::signal(*pid, signal);
            }
            (queued, never_started)
        };
        for job in queued {
            if job.started {
                job.completion.fail(TaskError::Cancelled);
            } else {
                job.completion.cancel();
            }
        }
        dispatch::cancel_sent(
            (never_started.into_iter())
                .filter_map(|request| match request {
                    state::InFlight::Task { job, .. } => Some(job),
                    state::InFlight::Init { .. } => None,
                })
                .collect(),
        );
        // Closes the pipes of workers with nothing left in flight.
        self.shared.dispatch_and_write();
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
