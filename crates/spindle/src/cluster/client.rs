// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! `ClusterExecutor`: submits tasks to a pool's stream and completes their futures from
//! the client's result stream.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ClusterError;
use super::keys::{self, GROUP, Keys};
use super::local;
use super::map::MapChunks;
use super::reader;
use super::scripts::{self, SCRIPTS};
use super::server::Server;
use super::task::{ClusterTask, Pending};
use crate::futures::{Future, TaskError};
use crate::process::TaskHandle;
use crate::sync::{Condition, Mutex};
use crate::thread::JoinHandle;
use crate::trace::{self, EventKind};

/// Runs [`task!`](crate::task)s on cluster workers anywhere, through a Redis server:
/// the process pool's tasks, with the same [`Future`],
/// [`as_completed`](crate::futures::as_completed) and [`wait`](crate::futures::wait).
///
/// Results arrive exactly once; a task runs at least once (again on another worker if
/// its worker stops renewing its lease). A task that panics, crashes its process or
/// passes its timeout fails for good. See the [module docs](super) for the whole
/// contract.
///
/// Dropping the executor shuts it down as `shutdown(true, false)` does: it waits until
/// every submitted task has its result.
///
/// ```no_run
/// use spindle::cluster::ClusterExecutor;
///
/// spindle::task! {
///     const SQUARE = fn square(x: u64) -> u64 { x * x }
/// }
///
/// fn main() -> Result<(), spindle::cluster::ClusterError> {
///     spindle::process::init();
///     let cluster = ClusterExecutor::connect("redis://127.0.0.1:6379")?;
///     assert_eq!(cluster.submit(SQUARE, 7).result(), Ok(49));
///     let squares: Vec<u64> = cluster.map(SQUARE, 1..=4).map(Result::unwrap).collect();
///     assert_eq!(squares, [1, 4, 9, 16]);
///     Ok(())
/// }
/// ```
pub struct ClusterExecutor {
    shared: Arc<Shared>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

/// Configures a [`ClusterExecutor`]: [`ClusterExecutor::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use spindle::cluster::ClusterExecutor;
///
/// let cluster = ClusterExecutor::builder("redis://127.0.0.1:6379")
///     .pool("reports")
///     .timeout(Duration::from_secs(60))
///     .max_deliveries(3)
///     .lease(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(cluster.pool(), "reports");
/// # Ok::<(), spindle::cluster::ClusterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    url: String,
    pool: Option<String>,
    timeout: Option<Duration>,
    max_deliveries: u32,
    lease: Duration,
    max_frame: usize,
}

/// The default lease: a worker that stops renewing a task for this long loses it.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// The shortest lease accepted: renewals go out a few times per lease.
pub(crate) const MIN_LEASE: Duration = Duration::from_millis(100);

impl ClusterBuilder {
    /// The pool to submit to (default: the program's file name and a fingerprint of
    /// its registered tasks; see the [module docs](super#pools)).
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// Each task's timeout, unless it is submitted with its own: past it, the worker's
    /// local process running it is killed and the task fails with
    /// [`TaskError::Timeout`]. The clock starts when a worker starts the task. Default:
    /// none.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times a task may be started (default 3): a task whose worker stopped
    /// renewing its lease this many times fails with [`TaskError::WorkerDied`]. At
    /// least 1.
    pub fn max_deliveries(mut self, n: u32) -> Self {
        self.max_deliveries = n.max(1);
        self
    }

    /// The lease each task carries (default 10 s, at least 100 ms): a worker renews it
    /// a few times per lease while the task runs; a task whose lease runs out is taken
    /// over by another worker.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(MIN_LEASE);
        self
    }

    /// The largest encoded argument sent (default 64 MiB, as the process pool's): a
    /// larger one fails its task at once.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Connects (within 5 s), checks the server (Redis 6.2 or later), and starts the
    /// thread that reads this client's results.
    pub fn build(self) -> Result<ClusterExecutor, ClusterError> {
        let (server, keys, con) = open_pool(&self.url, self.pool)?;
        let client_id = client_id();
        let shared = Arc::new(Shared {
            origin: Arc::from(format!(
                "ClusterExecutor {:?} at {}",
                keys.pool(),
                server.url()
            )),
            results: keys.results(&client_id),
            server,
            keys,
            client_id,
            lease_ms: self.lease.as_millis() as u64,
            max_deliveries: self.max_deliveries,
            max_frame: self.max_frame,
            default_timeout: self.timeout,
            next_seq: AtomicU64::new(1),
            link: Mutex::named(
                "ClusterExecutor connection",
                Link {
                    con: Some(con),
                    retry_after: None,
                },
            ),
            table: Condition::new(Table {
                waiting: HashMap::new(),
                shutdown: false,
                reader_alive: false,
            }),
        });
        let executor = ClusterExecutor {
            reader: Mutex::named("ClusterExecutor reader", None),
            shared,
        };
        executor.ensure_reader()?;
        Ok(executor)
    }
}

/// Connects to `url` (within 5 s), checks the server, and prepares `pool` (the default
/// pool when `None`): what a client and a worker both do first.
pub(crate) fn open_pool(
    url: &str,
    pool: Option<String>,
) -> Result<(Server, Keys, Connection), ClusterError> {
    let server = Server::open(url)?;
    let keys = Keys::new(&pool.unwrap_or_else(keys::default_pool))?;
    let mut con = server.connect_checked()?;
    prepare_pool(&server, &mut con, &keys)?;
    Ok((server, keys, con))
}

/// Creates the pool's stream and consumer group if they do not exist, and lists the
/// pool for status.
fn prepare_pool(server: &Server, con: &mut Connection, keys: &Keys) -> Result<(), ClusterError> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.tasks())
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query(con);
    match created {
        Ok(()) => {}
        Err(e) if e.code() == Some("BUSYGROUP") => {}
        Err(e) => return Err(server.failed("creating the pool's stream", e)),
    }
    redis::cmd("SADD")
        .arg(keys::POOLS)
        .arg(keys.pool())
        .query::<()>(con)
        .map_err(|e| server.failed("listing the pool", e))?;
    SCRIPTS
        .load(con)
        .map_err(|e| server.failed("loading the protocol's scripts", e))
}

/// A name no other client of the server will have: host, pid, time and a counter.
fn client_id() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.{}.{:x}{n}",
        super::worker::host_name(),
        std::process::id(),
        nanos & 0xffff_ffff
    )
}

/// What the executor, its futures and its reader thread share.
pub(crate) struct Shared {
    pub(crate) server: Server,
    pub(crate) keys: Keys,
    client_id: String,
    /// This client's result stream.
    pub(crate) results: String,
    origin: Arc<str>,
    lease_ms: u64,
    max_deliveries: u32,
    max_frame: usize,
    default_timeout: Option<Duration>,
    next_seq: AtomicU64,
    /// The connection that submits and cancels.
    link: Mutex<Link>,
    /// The tasks waiting for their results; notified when it empties or the reader
    /// stops.
    pub(crate) table: Condition<Table>,
}

struct Link {
    con: Option<Connection>,
    /// After a failed reconnect, the next try waits until then (submits fail at once).
    retry_after: Option<Instant>,
}

pub(crate) struct Table {
    pub(crate) waiting: HashMap<u64, Arc<dyn Pending>>,
    pub(crate) shutdown: bool,
    pub(crate) reader_alive: bool,
}

/// One task ready to go: its number and its fields.
struct Prepared {
    seq: u64,
    task: Arc<dyn Pending>,
    name: &'static str,
    arg: Vec<u8>,
    chunk: Option<usize>,
    timeout: Option<Duration>,
}

impl Shared {
    pub(crate) fn origin(&self) -> &Arc<str> {
        &self.origin
    }

    fn task_id(&self, seq: u64) -> String {
        format!("{}:{seq}", self.client_id)
    }

    /// Runs `f` on the submit connection, connecting first if there is none. A
    /// connection that failed is dropped; the next call connects again (at most once a
    /// second).
    fn with_link<T>(
        &self,
        action: &str,
        f: impl Fn(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, ClusterError> {
        let mut link = self.link.lock();
        if link.con.is_none() {
            if link.retry_after.is_some_and(|t| Instant::now() < t) {
                return Err(ClusterError::Unreachable {
                    url: self.server.url().to_owned(),
                    reason: "the connection was lost and could not be made again".to_owned(),
                });
            }
            match self.server.connect().and_then(|mut con| {
                SCRIPTS
                    .load(&mut con)
                    .map_err(|e| self.server.failed("loading the protocol's scripts", e))?;
                Ok(con)
            }) {
                Ok(con) => link.con = Some(con),
                Err(e) => {
                    link.retry_after = Some(Instant::now() + Duration::from_secs(1));
                    return Err(e);
                }
            }
        }
        let con = link.con.as_mut().expect("connected above");
        let mut outcome = f(con);
        if let Err(e) = &outcome {
            if scripts::is_noscript(e) {
                // The server restarted and lost its script cache; nothing ran.
                outcome = SCRIPTS.load(con).and_then(|()| f(con));
            }
        }
        outcome.map_err(|e| {
            if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                link.con = None;
            }
            self.server.failed(action, e)
        })
    }

    /// Sends `batch` in one round trip. Each task is in the table before its entry
    /// exists, so that its result always finds it.
    fn send(&self, batch: Vec<Prepared>) {
        if batch.is_empty() {
            return;
        }
        {
            let mut table = self.table.lock();
            if table.shutdown {
                drop(table);
                panic!("cannot schedule new futures after shutdown");
            }
            for p in &batch {
                table.waiting.insert(p.seq, Arc::clone(&p.task));
            }
        }
        let (tasks_key, counts) = (self.keys.tasks(), self.keys.counts());
        let lease = self.lease_ms.to_string();
        let max = self.max_deliveries.to_string();
        let ttl = scripts::TASK_TTL_MS.to_string();
        let cmds: Vec<redis::Cmd> = batch
            .iter()
            .map(|p| {
                let id = self.task_id(p.seq);
                let record = self.keys.task(&id);
                let chunk = p.chunk.unwrap_or(0).to_string();
                let timeout = p
                    .timeout
                    .map_or(0, |t| t.as_millis().max(1) as u64)
                    .to_string();
                scripts::evalsha(
                    &SCRIPTS.submit,
                    &[&tasks_key, &record, &counts],
                    &[
                        id.as_bytes(),
                        p.name.as_bytes(),
                        &p.arg,
                        chunk.as_bytes(),
                        timeout.as_bytes(),
                        self.results.as_bytes(),
                        lease.as_bytes(),
                        max.as_bytes(),
                        ttl.as_bytes(),
                    ],
                )
            })
            .collect();
        let sent = self.with_link("submitting a task", |con| {
            let mut pipe = redis::pipe();
            for cmd in &cmds {
                pipe.add_command(cmd.clone());
            }
            pipe.query::<Vec<redis::Value>>(con)
        });
        if let Err(e) = sent {
            let error = TaskError::BrokenPool(e.to_string());
            let mut table = self.table.lock();
            let failed: Vec<_> = batch
                .iter()
                .filter_map(|p| table.waiting.remove(&p.seq))
                .collect();
            drop(table);
            for task in failed {
                task.fail(error.clone());
            }
            self.table.notify_all();
        }
    }

    /// Asks the server to cancel task `seq`; on success, cancels its future.
    pub(crate) fn cancel(&self, seq: u64) -> bool {
        let record = self.keys.task(&self.task_id(seq));
        let cancelled = self.with_link("cancelling a task", |con| {
            SCRIPTS
                .cancel
                .key(self.keys.tasks())
                .key(&record)
                .key(self.keys.counts())
                .arg(scripts::CANCELLED_TTL_MS)
                .invoke::<i64>(con)
        });
        if cancelled != Ok(1) {
            return false;
        }
        let task = self.table.lock().waiting.remove(&seq);
        self.table.notify_all();
        task.is_some_and(|t| t.cancel_here())
    }

    /// Fails every waiting task with `error` (the reader lost its connection).
    pub(crate) fn fail_all(&self, error: &TaskError) {
        let failed: Vec<_> = {
            let mut table = self.table.lock();
            table.reader_alive = false;
            table.waiting.drain().map(|(_, t)| t).collect()
        };
        for task in failed {
            task.fail(error.clone());
        }
        self.table.notify_all();
    }

    /// Wakes the reader at once (an entry of kind `wake` in its stream).
    fn wake_reader(&self) {
        let _ = self.with_link("waking the result reader", |con| {
            redis::cmd("XADD")
                .arg(&self.results)
                .arg("*")
                .arg("kind")
                .arg("wake")
                .query::<()>(con)
        });
    }
}

impl ClusterExecutor {
    /// Connects to the Redis server at `url` with the default settings; see
    /// [`builder`](ClusterExecutor::builder). Fails within 5 s, naming the URL, if
    /// nothing answers there.
    ///
    /// ```
    /// let err = spindle::cluster::ClusterExecutor::connect("redis://127.0.0.1:1").unwrap_err();
    /// assert!(err.to_string().contains("redis://127.0.0.1:1"));
    /// ```
    pub fn connect(url: &str) -> Result<ClusterExecutor, ClusterError> {
        ClusterExecutor::builder(url).build()
    }

    /// A builder, for the settings [`connect`](ClusterExecutor::connect) leaves at their
    /// defaults. Connects to nothing until [`build`](ClusterBuilder::build).
    ///
    /// ```
    /// let builder = spindle::cluster::ClusterExecutor::builder("redis://127.0.0.1:6379")
    ///     .pool("reports")
    ///     .max_deliveries(5);
    /// ```
    pub fn builder(url: &str) -> ClusterBuilder {
        ClusterBuilder {
            url: url.to_owned(),
            pool: None,
            timeout: None,
            max_deliveries: 3,
            lease: DEFAULT_LEASE,
            max_frame: local::DEFAULT_MAX_FRAME,
        }
    }

    /// The pool this executor submits to.
    ///
    /// ```no_run
    /// let cluster = spindle::cluster::ClusterExecutor::builder("redis://127.0.0.1:6379")
    ///     .pool("reports")
    ///     .build()?;
    /// assert_eq!(cluster.pool(), "reports");
    /// # Ok::<(), spindle::cluster::ClusterError>(())
    /// ```
    pub fn pool(&self) -> &str {
        self.shared.keys.pool()
    }

    /// The server's URL, its password hidden.
    ///
    /// ```no_run
    /// let cluster = spindle::cluster::ClusterExecutor::connect("redis://:pw@127.0.0.1:6379")?;
    /// assert_eq!(cluster.url(), "redis://:***@127.0.0.1:6379");
    /// # Ok::<(), spindle::cluster::ClusterError>(())
    /// ```
    pub fn url(&self) -> &str {
        self.shared.server.url()
    }

    /// Queues `task(arg)` in the pool; the future completes with its result when a
    /// worker has run it.
    ///
    /// Panics "cannot schedule new futures after shutdown" once shut down. An argument
    /// over the frame limit, or a server that cannot be reached, gives a future that
    /// has already failed.
    ///
    /// ```no_run
    /// spindle::task! { const SHOUT = fn shout(s: String) -> String { s.to_uppercase() } }
    ///
    /// fn main() -> Result<(), spindle::cluster::ClusterError> {
    ///     spindle::process::init();
    ///     let cluster = spindle::cluster::ClusterExecutor::connect("redis://127.0.0.1:6379")?;
    ///     assert_eq!(cluster.submit(SHOUT, "hi".to_owned()).result().unwrap(), "HI");
    ///     Ok(())
    /// }
    /// ```
    pub fn submit<A, O>(&self, task: TaskHandle<A, O>, arg: A) -> Future<O>
    where
        A: Serialize,
        O: DeserializeOwned + Send + 'static,
    {
        self.submit_encoded(task.name(), &arg, None, self.shared.default_timeout)
    }

    /// As [`submit`](ClusterExecutor::submit), with this task's own timeout.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use spindle::futures::TaskError;
    ///
    /// spindle::task! { const SPIN = fn spin(_x: ()) { loop { std::hint::spin_loop() } } }
    ///
    /// fn main() -> Result<(), spindle::cluster::ClusterError> {
    ///     spindle::process::init();
    ///     let cluster = spindle::cluster::ClusterExecutor::connect("redis://127.0.0.1:6379")?;
    ///     let f = cluster.submit_with_timeout(SPIN, (), Duration::from_millis(100));
    ///     assert_eq!(f.result(), Err(TaskError::Timeout));
    ///     Ok(())
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
        self.submit_encoded(task.name(), &arg, None, Some(timeout))
    }

    /// Runs `task` on every item: results in input order, as Python's `Executor.map`.
    /// Items are submitted as the iterator is consumed, a bounded number ahead;
    /// dropping the iterator cancels the ones no worker has started.
    ///
    /// ```no_run
    /// spindle::task! { const CUBE = fn cube(x: i64) -> i64 { x * x * x } }
    ///
    /// fn main() -> Result<(), spindle::cluster::ClusterError> {
    ///     spindle::process::init();
    ///     let cluster = spindle::cluster::ClusterExecutor::connect("redis://127.0.0.1:6379")?;
    ///     let cubes: Result<Vec<i64>, _> = cluster.map(CUBE, [-1, 2, 3]).collect();
    ///     assert_eq!(cubes.unwrap(), [-1, 8, 27]);
    ///     Ok(())
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

    /// As [`map`](ClusterExecutor::map), sending items `chunksize` at a time: one task
    /// (one stream entry, one result) per chunk, far fewer round trips for small
    /// tasks. Each item still has its own result; a chunk whose worker process crashes
    /// fails as a whole. Panics on a `chunksize` of 0.
    ///
    /// ```no_run
    /// spindle::task! { const HALVE = fn halve(x: u32) -> u32 { x / 2 } }
    ///
    /// fn main() -> Result<(), spindle::cluster::ClusterError> {
    ///     spindle::process::init();
    ///     let cluster = spindle::cluster::ClusterExecutor::connect("redis://127.0.0.1:6379")?;
    ///     let halves: Vec<u32> = cluster.map_chunked(HALVE, 0..1000, 100).map(Result::unwrap).collect();
    ///     assert_eq!(halves[999], 499);
    ///     Ok(())
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
        MapChunks::new(self, task, items.into_iter(), chunksize, self.map_window())
    }

    /// Stops taking tasks; with `cancel_futures`, cancels those no worker has started;
    /// with `wait`, returns once every submitted task has its result. Calling it again
    /// is harmless; `submit` afterwards panics.
    ///
    /// ```no_run
    /// spindle::task! { const ONE = fn one(_x: ()) -> u8 { 1 } }
    ///
    /// fn main() -> Result<(), spindle::cluster::ClusterError> {
    ///     spindle::process::init();
    ///     let cluster = spindle::cluster::ClusterExecutor::connect("redis://127.0.0.1:6379")?;
    ///     let f = cluster.submit(ONE, ());
    ///     cluster.shutdown(true, false);
    ///     assert!(f.done());
    ///     Ok(())
    /// }
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let queued: Vec<(u64, Arc<dyn Pending>)> = {
            let mut table = self.shared.table.lock();
            table.shutdown = true;
            if cancel_futures {
                table
                    .waiting
                    .iter()
                    .filter(|(_, t)| !t.is_started())
                    .map(|(seq, t)| (*seq, Arc::clone(t)))
                    .collect()
            } else {
                Vec::new()
            }
        };
        for (seq, _) in queued {
            self.shared.cancel(seq);
        }
        if !wait {
            return;
        }
        {
            let mut table = self.shared.table.lock();
            while !table.waiting.is_empty() && table.reader_alive {
                table.wait();
            }
        }
        // The reader ends once nothing waits: wake it from its blocking read.
        self.shared.wake_reader();
        if let Some(reader) = self.reader.lock().take() {
            // The reader does not panic; if it did, the excepthook has heard.
            let _ = reader.join();
        }
        let _ = self.shared.with_link("removing the result stream", |con| {
            redis::cmd("DEL").arg(&self.shared.results).query::<()>(con)
        });
    }

    /// Encodes and sends one task (a chunk when `chunk` is `Some(items)`).
    pub(crate) fn submit_encoded<A, R>(
        &self,
        name: &'static str,
        arg: &A,
        chunk: Option<usize>,
        timeout: Option<Duration>,
    ) -> Future<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        let mut futures = self.submit_many(name, std::iter::once((arg, chunk)), timeout);
        futures.pop().expect("one task in, one future out")
    }

    /// Encodes and sends several tasks in one round trip.
    pub(crate) fn submit_many<'x, A, R>(
        &self,
        name: &'static str,
        args: impl Iterator<Item = (&'x A, Option<usize>)>,
        timeout: Option<Duration>,
    ) -> Vec<Future<R>>
    where
        A: Serialize + ?Sized + 'x,
        R: DeserializeOwned + Send + 'static,
    {
        if self.shared.table.lock().shutdown {
            panic!("cannot schedule new futures after shutdown");
        }
        // A reader that cannot start means a server that cannot be reached: the submit
        // below fails too, and with it each future.
        let _ = self.ensure_reader();
        let mut futures = Vec::new();
        let mut batch = Vec::new();
        for (arg, chunk) in args {
            let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
            let (task, future) = ClusterTask::<R>::new(&self.shared, seq);
            let trace_id = task.trace_id();
            trace::emit(|| EventKind::TaskSubmitted {
                task: trace_id,
                name: match chunk {
                    None => name.to_owned(),
                    Some(1) => format!("{name} (cluster map, 1 item)"),
                    Some(n) => format!("{name} (cluster map, {n} items)"),
                },
            });
            match postcard::to_stdvec(arg) {
                Ok(bytes) if bytes.len() > self.shared.max_frame => {
                    task.fail(local::argument_refused(bytes.len(), self.shared.max_frame));
                }
                Ok(bytes) => batch.push(Prepared {
                    seq,
                    task,
                    name,
                    arg: bytes,
                    chunk,
                    timeout,
                }),
                Err(e) => task.fail(TaskError::WorkerDied(format!(
                    "the argument does not encode: {e}"
                ))),
            }
            futures.push(future);
        }
        self.shared.send(batch);
        // The reader may have lost its connection while these were sent: start another,
        // or fail what waits, so that no future waits for a reader that is gone.
        if let Err(e) = self.ensure_reader() {
            self.shared.fail_all(&TaskError::BrokenPool(e.to_string()));
        }
        futures
    }

    pub(crate) fn default_timeout(&self) -> Option<Duration> {
        self.shared.default_timeout
    }

    /// Starts the result reader if it is not running (first use, or after it lost its
    /// connection).
    fn ensure_reader(&self) -> Result<(), ClusterError> {
        let mut reader = self.reader.lock();
        if self.shared.table.lock().reader_alive {
            return Ok(());
        }
        if let Some(old) = reader.take() {
            let _ = old.join();
        }
        let con = self.shared.server.connect()?;
        self.shared.table.lock().reader_alive = true;
        *reader = Some(reader::start(Arc::clone(&self.shared), con));
        Ok(())
    }

    /// How many map chunks may be in flight: twice the pool's worker processes, at
    /// least 16.
    fn map_window(&self) -> usize {
        let infos = self.shared.with_link("reading the pool's workers", |con| {
            redis::cmd("HVALS")
                .arg(self.shared.keys.workers())
                .query::<Vec<String>>(con)
        });
        let processes: usize = infos
            .unwrap_or_default()
            .iter()
            .filter_map(|info| serde_json::from_str::<serde_json::Value>(info).ok())
            .filter_map(|v| v.get("processes")?.as_u64())
            .map(|n| n as usize)
            .sum();
        (2 * processes).clamp(16, 1024)
    }
}

impl Drop for ClusterExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl fmt::Debug for ClusterExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.shared.table.lock();
        f.debug_struct("ClusterExecutor")
            .field("url", &self.shared.server.url())
            .field("pool", &self.shared.keys.pool())
            .field("client", &self.shared.client_id)
            .field("waiting", &table.waiting.len())
            .field("shutdown", &table.shutdown)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executor_and_its_futures_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<ClusterExecutor>();
        send_sync::<ClusterBuilder>();
        send::<Future<u64>>();
        send::<super::super::Worker>();
    }
}
