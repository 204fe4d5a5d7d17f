// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! `Worker`: serves a pool's tasks, each in one of its local processes, until SIGTERM
//! or SIGINT.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::Connection;

use super::client::{DEFAULT_LEASE, MIN_LEASE, open_pool};
use super::error::ClusterError;
use super::finish::{self, Finished};
use super::keys::{GROUP, Keys};
use super::local::{self, LocalPool};
use super::scripts::SCRIPTS;
use super::server::Server;
use super::signals::Signals;
use super::{lease, take};
use crate::sync::{Condition, Event};

/// A cluster worker: takes tasks from a pool on a Redis server and runs each in one of
/// its local worker processes (a local
/// [`ProcessPoolExecutor`](crate::process::ProcessPoolExecutor)), so a task that
/// crashes kills only that process.
///
/// A worker program is two lines: [`process::init`](crate::process::init) first in
/// `main` (the local processes are the program started again), then
/// `Worker::connect(url)?.run()`. Start as many as you like, on as many machines.
///
/// ```no_run
/// spindle::task! {
///     const SQUARE = fn square(x: u64) -> u64 { x * x }
/// }
///
/// fn main() -> Result<(), spindle::cluster::ClusterError> {
///     spindle::process::init();
///     spindle::cluster::Worker::connect("redis://127.0.0.1:6379")?.run()
/// }
/// ```
pub struct Worker {
    serving: Arc<Serving>,
    processes: usize,
    max_frame: usize,
    con: Connection,
}

/// Configures a [`Worker`]: [`Worker::builder`].
///
/// ```no_run
/// use std::time::Duration;
///
/// let worker = spindle::cluster::Worker::builder("redis://127.0.0.1:6379")
///     .pool("reports")
///     .processes(4)
///     .lease(Duration::from_secs(30))
///     .build()?;
/// # Ok::<(), spindle::cluster::ClusterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WorkerBuilder {
    url: String,
    pool: Option<String>,
    processes: Option<usize>,
    lease: Duration,
    max_frame: usize,
}

impl WorkerBuilder {
    /// The pool to serve (default: the program's file name and a fingerprint of its
    /// registered tasks, as the executor's default, so the same program's client and
    /// workers meet).
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// How many local worker processes run tasks at once (default: the available
    /// cores; at least 1). The worker holds at most this many tasks.
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n.max(1));
        self
    }

    /// The lease for tasks that carry none (default 10 s, at least 100 ms). It also
    /// sets how often the worker looks for tasks whose holders went silent.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(MIN_LEASE);
        self
    }

    /// The largest argument or result a local process takes or sends (default 64 MiB,
    /// as the process pool's): past it the task fails with the process pool's error.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Connects (within 5 s), checks the server, creates the pool's stream if needed
    /// and lists this worker in it. The local processes start with
    /// [`run`](Worker::run).
    pub fn build(self) -> Result<Worker, ClusterError> {
        let (server, keys, mut con) = open_pool(&self.url, self.pool)?;
        let processes = self
            .processes
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let consumer = format!("{}:{}:{:04x}", host_name(), std::process::id(), nonce());
        let info = serde_json::json!({
            "host": host_name(),
            "pid": std::process::id(),
            "processes": processes,
            "lease_ms": self.lease.as_millis() as u64,
        })
        .to_string();
        let serving = Arc::new(Serving {
            server,
            keys,
            consumer,
            info,
            lease: self.lease,
            held: Condition::new(Held {
                tasks: HashMap::new(),
                reserved: 0,
                outcomes: Vec::new(),
                stopping: false,
                gone: false,
                fatal: None,
            }),
            stop_beating: Event::new(),
        });
        serving.beat(&mut con, &[])?;
        Ok(Worker {
            serving,
            processes,
            max_frame: self.max_frame,
            con,
        })
    }
}

impl Worker {
    /// A worker of the default pool with the default settings; see
    /// [`builder`](Worker::builder). Fails within 5 s, naming the URL, if nothing
    /// answers there.
    ///
    /// ```
    /// let err = spindle::cluster::Worker::connect("redis://127.0.0.1:1").unwrap_err();
    /// assert!(err.to_string().contains("redis://127.0.0.1:1"));
    /// ```
    pub fn connect(url: &str) -> Result<Worker, ClusterError> {
        Worker::builder(url).build()
    }

    /// A builder, for the settings [`connect`](Worker::connect) leaves at their
    /// defaults. Connects to nothing until [`build`](WorkerBuilder::build).
    ///
    /// ```
    /// let builder = spindle::cluster::Worker::builder("redis://127.0.0.1:6379").processes(2);
    /// ```
    pub fn builder(url: &str) -> WorkerBuilder {
        WorkerBuilder {
            url: url.to_owned(),
            pool: None,
            processes: None,
            lease: DEFAULT_LEASE,
            max_frame: local::DEFAULT_MAX_FRAME,
        }
    }

    /// The pool this worker serves.
    ///
    /// ```no_run
    /// let worker = spindle::cluster::Worker::builder("redis://127.0.0.1:6379").pool("reports").build()?;
    /// assert_eq!(worker.pool(), "reports");
    /// # Ok::<(), spindle::cluster::ClusterError>(())
    /// ```
    pub fn pool(&self) -> &str {
        self.serving.keys.pool()
    }

    /// This worker's name in the pool (`host:pid:nonce`), as `spindle cluster status`
    /// lists it.
    ///
    /// ```no_run
    /// let worker = spindle::cluster::Worker::connect("redis://127.0.0.1:6379")?;
    /// assert!(worker.name().contains(&std::process::id().to_string()));
    /// # Ok::<(), spindle::cluster::ClusterError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.serving.consumer
    }

    /// Serves tasks until SIGTERM or SIGINT: then takes no new task, finishes the
    /// ones it holds, leaves the pool and returns `Ok(())`. Returns an error once the
    /// server has been unreachable for longer than the worker's lease (at least 5 s)
    /// and the tasks its local processes were running have ended: their results
    /// cannot be published, and they run again elsewhere.
    ///
    /// Call it on the thread that should hear the signals (usually the main thread),
    /// after [`process::init`](crate::process::init). The local processes do not
    /// hear SIGINT or SIGTERM: a Ctrl-C in the worker's terminal lets the running
    /// tasks finish.
    ///
    /// ```no_run
    /// fn main() -> Result<(), spindle::cluster::ClusterError> {
    ///     spindle::process::init();
    ///     spindle::cluster::Worker::connect("redis://127.0.0.1:6379")?.run()
    /// }
    /// ```
    pub fn run(self) -> Result<(), ClusterError> {
        let Worker {
            serving,
            processes,
            max_frame,
            con,
        } = self;
        let mut signals = Signals::block()?;
        // Started while the signals are blocked: the threads and the local processes
        // keep them blocked.
        let local = Arc::new(LocalPool::start(processes, max_frame));
        let finisher = finish::start(Arc::clone(&serving), Arc::clone(&local), processes);
        let heartbeat = lease::start(Arc::clone(&serving));
        let served = signals
            .listen()
            .and_then(|()| take::serve(&serving, con, &local, processes));
        // Drain: the finisher publishes what the local processes still run, then ends.
        {
            let mut held = serving.held.lock();
            held.stopping = true;
            // A server gone for the reconnect window will not hear these results: the
            // tasks run again elsewhere once their leases run out.
            held.gone |= served.is_err();
            serving.held.notify_all();
            while !held.tasks.is_empty() {
                held.wait();
            }
        }
        let _ = finisher.join();
        local.shutdown();
        serving.stop_beating.set();
        let _ = heartbeat.join();
        let fatal = serving.held.lock().fatal.take();
        let left = serving.leave();
        drop(signals);
        served?;
        if let Some(e) = fatal {
            return Err(e);
        }
        left
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("url", &self.serving.server.url())
            .field("pool", &self.serving.keys.pool())
            .field("name", &self.serving.consumer)
            .field("processes", &self.processes)
            .field("lease", &self.serving.lease)
            .finish()
    }
}

/// What the worker's threads share.
pub(crate) struct Serving {
    pub(crate) server: Server,
    pub(crate) keys: Keys,
    /// This worker's consumer name in the group.
    pub(crate) consumer: String,
    /// Its JSON description for status (the heartbeat adds the time and tasks held).
    info: String,
    /// The lease of tasks that carry none; also the reclaim cadence.
    pub(crate) lease: Duration,
    /// The tasks held (by stream entry), notified when one is let go.
    pub(crate) held: Condition<Held>,
    /// Set once the heartbeat is to stop.
    pub(crate) stop_beating: Event,
}

/// The worker's tasks, and the outcomes on their way to the server. The serving loop
/// and the finisher both take tasks: each first reserves the local processes it takes
/// for, so that together they never hold more tasks than processes.
pub(crate) struct Held {
    pub(crate) tasks: HashMap<String, HeldTask>,
    /// Local processes a taker is taking a task for right now.
    pub(crate) reserved: usize,
    /// Outcomes of local runs, for the finisher (in the order they came).
    pub(crate) outcomes: Vec<Finished>,
    /// No new task: a signal came, or the server is gone.
    pub(crate) stopping: bool,
    /// The server stayed unreachable: outcomes are dropped, not sent.
    pub(crate) gone: bool,
    /// Why the worker must stop: the server stayed unreachable.
    pub(crate) fatal: Option<ClusterError>,
}

impl Held {
    /// Reserves every idle local process (none once stopping); how many.
    pub(crate) fn reserve(&mut self, processes: usize) -> usize {
        if self.stopping || super::signals::stop_requested() {
            return 0;
        }
        let free = processes.saturating_sub(self.tasks.len() + self.reserved);
        self.reserved += free;
        free
    }
}

/// A task this worker started and has not finished.
pub(crate) struct HeldTask {
    pub(crate) id: String,
    /// The run's fencing token: the task's start count when this run started.
    pub(crate) token: i64,
    pub(crate) lease: Duration,
    pub(crate) reply: String,
}

/// How long a worker keeps trying to reach a server that went away before it gives
/// up (its tasks then run elsewhere).
pub(crate) fn reconnect_window(lease: Duration) -> Duration {
    lease.max(Duration::from_secs(5))
}

impl Serving {
    /// A fresh connection with the scripts loaded.
    pub(crate) fn reconnect(&self) -> Result<Connection, ClusterError> {
        let mut con = self.server.connect()?;
        SCRIPTS
            .load(&mut con)
            .map_err(|e| self.server.failed("loading the protocol's scripts", e))?;
        Ok(con)
    }

    /// Renews the leases of `entries` and records a heartbeat; the entries this worker
    /// no longer owns.
    pub(crate) fn beat(
        &self,
        con: &mut Connection,
        entries: &[String],
    ) -> Result<Vec<String>, ClusterError> {
        let mut call = SCRIPTS.renew.key(self.keys.tasks());
        call.key(self.keys.workers())
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(&self.info)
            .arg(entries);
        call.invoke::<Vec<String>>(con)
            .map_err(|e| self.server.failed("renewing the worker's leases", e))
    }

    /// Leaves the workers list (and the consumer group, if it holds nothing).
    fn leave(&self) -> Result<(), ClusterError> {
        let mut con = self.reconnect()?;
        SCRIPTS
            .leave
            .key(self.keys.tasks())
            .key(self.keys.workers())
            .arg(GROUP)
            .arg(&self.consumer)
            .invoke::<i64>(&mut con)
            .map(drop)
            .map_err(|e| self.server.failed("leaving the pool", e))
    }
}

/// This machine's name, from the kernel (`uname`), or "localhost".
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A few bits that differ between two workers of one process.
fn nonce() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos as u16) ^ NEXT.fetch_add(0x9e37, Ordering::Relaxed)
}
