// Layer 9 (futures): executors and futures, over everything below.
//! `ThreadPoolBuilder`: how a `ThreadPoolExecutor` is configured.

use std::fmt;
use std::sync::Arc;

use super::executor::ThreadPoolExecutor;
use super::pool::Initializer;

/// Configures a [`ThreadPoolExecutor`] (Python's constructor arguments).
///
/// ```
/// use spindle::futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(2)
///     .thread_name_prefix("io")
///     .build();
/// let name = pool.submit(|| spindle::thread::current().name()).result().unwrap();
/// assert_eq!(name, "io_0");
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    prefix: Option<String>,
    initializer: Option<Initializer>,
    daemon: bool,
}

impl ThreadPoolBuilder {
    pub(crate) fn new() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            max_workers: None,
            prefix: None,
            initializer: None,
            daemon: false,
        }
    }

    /// The most worker threads (default `min(32, cores + 4)`). `build` panics on 0.
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::builder().max_workers(3).build();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(mut self, n: usize) -> ThreadPoolBuilder {
        self.max_workers = Some(n);
        self
    }

    /// Names workers `PREFIX_0`, `PREFIX_1`, ... (default prefix `ThreadPoolExecutor-N`,
    /// N counting pools from 0, as in Python).
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::builder().thread_name_prefix("db").build();
    /// let name = pool.submit(|| spindle::thread::current().name()).result().unwrap();
    /// assert_eq!(name, "db_0");
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> ThreadPoolBuilder {
        self.prefix = Some(prefix.into());
        self
    }

    /// Runs `init` on each worker when it starts, before any task. If it panics, the pool
    /// is broken (Python's `BrokenThreadPool`): the panic goes to the excepthook, and every
    /// queued and later task fails with [`TaskError::BrokenPool`](super::TaskError::BrokenPool),
    /// whose text names the initializer and its panic.
    ///
    /// ```
    /// use spindle::futures::{TaskError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .initializer(|| panic!("no database"))
    ///     .build();
    /// match pool.submit(|| 1).result() {
    ///     Err(TaskError::BrokenPool(why)) => assert!(why.contains("initializer") && why.contains("no database")),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// ```
    pub fn initializer(mut self, init: impl Fn() + Send + Sync + 'static) -> ThreadPoolBuilder {
        self.initializer = Some(Arc::new(init));
        self
    }

    /// Makes the workers daemon threads, which
    /// [`join_non_daemon`](crate::thread::join_non_daemon) does not wait for (default
    /// `false`: workers are ordinary threads, as in Python 3.9 and later). Useful for a
    /// pool that lives as long as the program.
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::builder().daemon(true).build();
    /// assert!(pool.submit(|| spindle::thread::current().is_daemon()).result().unwrap());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> ThreadPoolBuilder {
        self.daemon = daemon;
        self
    }

    /// The executor. No thread starts until the first task is submitted.
    ///
    /// # Panics
    /// If `max_workers` is 0.
    ///
    /// ```
    /// let pool = spindle::futures::ThreadPoolExecutor::builder().build();
    /// assert_eq!(pool.workers_started(), 0);
    /// ```
    pub fn build(self) -> ThreadPoolExecutor {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        ThreadPoolExecutor::from_parts(max_workers, self.prefix, self.initializer, self.daemon)
    }
}

/// Python's default: `min(32, cores + 4)`.
fn default_max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores + 4).min(32)
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.prefix)
            .field("initializer", &self.initializer.is_some())
            .field("daemon", &self.daemon)
            .finish()
    }
}
