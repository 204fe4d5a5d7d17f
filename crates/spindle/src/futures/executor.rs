// Layer 9 (futures): executors and futures, over everything below.
//! `ThreadPoolExecutor`: Python's thread pool, with panics that always reach someone.

use std::any::type_name;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::builder::ThreadPoolBuilder;
use super::error::TaskError;
use super::future::Future;
use super::job::Queued;
use super::map::MapResults;
use super::pool::{Initializer, Pool};
use super::task::next_task_id;
use crate::trace::{self, EventKind};

/// A pool of worker threads that run submitted closures and hand back [`Future`]s:
/// Python's `concurrent.futures.ThreadPoolExecutor`.
///
/// * Workers start lazily: a submission starts one only when no idle worker is there to
///   take it, until `max_workers` run. Workers are spindle threads named `PREFIX_0`,
///   `PREFIX_1`, ... (prefix `ThreadPoolExecutor-N` by default, as in Python), so their
///   states show in [`thread::enumerate`](crate::thread::enumerate); an idle one reads
///   `Waiting` on `work queue of ThreadPoolExecutor "PREFIX"`.
/// * A task that panics gives `Err(TaskError::Panicked)` (message and worker name), and
///   the worker lives on. A panic nobody reads goes to the excepthook.
/// * [`map`](ThreadPoolExecutor::map) yields one `Result` per item, in input order, from
///   a bounded window of tasks: a panicking item fails alone, and a huge (or endless)
///   input runs in constant memory.
/// * Dropping the executor is `shutdown(wait = true, cancel_futures = false)`, as leaving
///   Python's `with` block: queued tasks still run, and the drop waits for them.
///
/// Built on one queue behind a spindle [`Mutex`](crate::sync::Mutex) and a condition
/// variable (no work stealing: tasks may block without starving anyone). Each task is one
/// small allocation, its future's (24 bytes for a `u64` result); its closure waits in the
/// queue itself when it captures no more than two words.
///
/// # Fairness
/// Tasks start in submission order (one FIFO queue); which worker runs which is up to
/// the scheduler.
///
/// # Which executor should I use?
/// This one for I/O-bound work, blocking calls and anything that waits; it also runs
/// CPU-bound Rust code in parallel (there is no GIL). A process pool isolates tasks that
/// may crash, leak or must be killed.
///
/// ```
/// use spindle::futures::{as_completed, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder().max_workers(4).thread_name_prefix("fetch").build();
/// let futures: Vec<_> = (1..=5u64).map(|n| pool.submit(move || n * n)).collect();
/// let mut total = 0;
/// for f in as_completed(futures) {
///     total += f.result().unwrap();
/// }
/// assert_eq!(total, 55);
/// ```
pub struct ThreadPoolExecutor {
    pool: Arc<Pool>,
}

/// Numbers default pool names, `ThreadPoolExecutor-0`, `-1`, ... as Python does.
static POOLS: AtomicUsize = AtomicUsize::new(0);

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads.
    ///
    /// # Panics
    /// If `max_workers` is 0.
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::new(3);
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn new(max_workers: usize) -> ThreadPoolExecutor {
        ThreadPoolExecutor::builder()
            .max_workers(max_workers)
            .build()
    }

    /// Configures a pool: worker count, thread names, an initializer, daemon workers.
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::builder()
    ///     .max_workers(2)
    ///     .thread_name_prefix("io")
    ///     .initializer(|| println!("worker ready"))
    ///     .build();
    /// assert_eq!(pool.submit(|| spindle::thread::current().name()).result().unwrap(), "io_0");
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    pub(crate) fn from_parts(
        max_workers: usize,
        prefix: Option<String>,
        initializer: Option<Initializer>,
        daemon: bool,
    ) -> ThreadPoolExecutor {
        assert!(max_workers > 0, "max_workers must be greater than 0");
        let prefix = prefix.unwrap_or_else(|| {
            format!(
                "ThreadPoolExecutor-{}",
                POOLS.fetch_add(1, Ordering::Relaxed)
            )
        });
        ThreadPoolExecutor {
            pool: Pool::new(max_workers, prefix, initializer, daemon),
        }
    }

    /// Schedules `f` to run on a worker and returns its [`Future`] at once.
    ///
    /// If the pool is broken (its initializer panicked), the future is already failed with
    /// [`TaskError::BrokenPool`].
    ///
    /// # Panics
    /// With "cannot schedule new futures after shutdown" once the pool is shut down.
    ///
    /// ```
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let f = pool.submit(|| "hello".len());
    /// assert_eq!(f.result(), Ok(5));
    /// ```
    #[track_caller]
    pub fn submit<F, T>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.try_submit(f) {
            Some(future) => future,
            None => panic!("cannot schedule new futures after shutdown"),
        }
    }

    /// `submit`, or `None` once the pool is shut down.
    pub(crate) fn try_submit<F, T>(&self, f: F) -> Option<Future<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_submit_as(type_name::<F>(), f)
    }

    /// `try_submit`, the task traced under `name` (`map` names the mapped function, not
    /// its own wrapper).
    pub(crate) fn try_submit_as<F, T>(&self, name: &'static str, f: F) -> Option<Future<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let task = next_task_id();
        let (future, promise) = Future::new_pair(task, self.pool.index, None);
        trace::emit(|| EventKind::TaskSubmitted {
            task,
            name: name.to_owned(),
        });
        match self.pool.submit(Queued::new(promise, f)) {
            Ok(()) => Some(future),
            // The refused job is dropped unrun: its future (dropped too) fails quietly.
            Err(_refused) => None,
        }
    }

    /// Runs `f` on every item, in parallel, and yields each result in input order:
    /// `Ok(value)`, or the `Err` of that item alone (a panic in one item loses no other).
    ///
    /// Items are taken from `items` lazily: at most `2 × max_workers` tasks are in flight
    /// (submitted, not yet yielded), so an endless or huge input runs in constant memory.
    /// Work starts at once; dropping the iterator early cancels the tasks not yet started.
    ///
    /// # Panics
    /// When the iterator needs to submit after the pool was shut down (as
    /// [`submit`](ThreadPoolExecutor::submit)).
    ///
    /// ```
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(4);
    /// let results: Vec<_> = pool
    ///     .map(|x: u32| if x == 3 { panic!("three") } else { x * 10 }, 1..=4)
    ///     .collect();
    /// assert_eq!(results[0], Ok(10));
    /// assert!(results[2].is_err());
    /// assert_eq!(results[3], Ok(40));
    ///
    /// // Endless input, constant memory:
    /// let first: Vec<u64> = pool.map(|x: u64| x * x, 0..).take(5).map(Result::unwrap).collect();
    /// assert_eq!(first, [0, 1, 4, 9, 16]);
    /// ```
    #[must_use = "the results (and panics) of `map` are in the iterator: consume it"]
    #[track_caller]
    pub fn map<I, F, R>(&self, f: F, items: I) -> impl Iterator<Item = Result<R, TaskError>>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        self.map_window(f, items, 2 * self.pool.max_workers)
    }

    /// [`map`](ThreadPoolExecutor::map) with at most `window` tasks in flight (Python
    /// 3.14's `buffersize`). A `window` of 0 counts as 1.
    ///
    /// ```
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let squares: Vec<_> = pool.map_window(|x: i32| x * x, vec![1, 2, 3], 1).collect();
    /// assert_eq!(squares, [Ok(1), Ok(4), Ok(9)]);
    /// ```
    #[must_use = "the results (and panics) of `map` are in the iterator: consume it"]
    #[track_caller]
    pub fn map_window<I, F, R>(
        &self,
        f: F,
        items: I,
        window: usize,
    ) -> MapResults<'_, I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        MapResults::new(self, Arc::new(f), items.into_iter(), window.max(1))
    }

    /// Stops accepting tasks (Python's `shutdown`). Queued tasks still run, unless
    /// `cancel_futures`, which cancels every task not yet started. With `wait`, returns
    /// once every worker has finished and exited (a worker calling this waits for the
    /// others only). Calling it again is harmless.
    ///
    /// ```
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let f = pool.submit(|| 1);
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(), Ok(1));
    /// let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.submit(|| 2)));
    /// assert!(refused.is_err());
    /// ```
    #[track_caller]
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.pool.shutdown(wait, cancel_futures);
    }

    /// The most worker threads this pool runs.
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::default();
    /// assert!(pool.max_workers() >= 5 && pool.max_workers() <= 32);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.pool.max_workers
    }

    /// How many workers have started so far (lazily, never more than `max_workers`).
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::new(8);
    /// assert_eq!(pool.workers_started(), 0);
    /// pool.submit(|| ()).result().unwrap();
    /// assert_eq!(pool.workers_started(), 1);
    /// ```
    pub fn workers_started(&self) -> usize {
        self.pool.started()
    }

    /// How many submitted tasks wait for a worker.
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::new(1);
    /// pool.shutdown(true, false);
    /// assert_eq!(pool.queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.pool.queued()
    }
}

/// `min(32, cores + 4)` workers, Python's default (enough for I/O-bound work, without
/// taking every core's worth of threads on a big machine).
///
/// ```
/// let pool = spindle::futures::ThreadPoolExecutor::default();
/// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
/// assert_eq!(pool.max_workers(), (cores + 4).min(32));
/// ```
impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        ThreadPoolExecutor::builder().build()
    }
}

/// Waits for the queued tasks and the workers, as `shutdown(true, false)`.
impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.pool.shutdown(true, false);
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("name", &self.pool.origin)
            .field("max_workers", &self.pool.max_workers)
            .field("workers_started", &self.pool.started())
            .field("queued", &self.pool.queued())
            .finish()
    }
}
