//! What the cluster test binaries share: their own `redis-server`, worker processes
//! (this test binary started again in the worker role), the tasks they run, and a log
//! of executions the tests read to see what ran where.
//!
//! A binary using this calls `spindle::process::init()` and then [`serve_if_worker`]
//! first thing in `main`.

#![allow(dead_code)] // each binary uses a different subset

pub mod redis_server;
pub mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use spindle::cluster::{PoolStatus, Worker};
use spindle::futures::{Future, TaskError};

pub use redis_server::RedisServer;

/// How long a test waits for something that should happen soon: generous, as the
/// machine is small and shared.
pub const PATIENCE: Duration = Duration::from_secs(20);

const ROLE: &str = "SPINDLE_CLUSTER_TEST_ROLE";
const URL: &str = "SPINDLE_CLUSTER_TEST_URL";
const POOL: &str = "SPINDLE_CLUSTER_TEST_POOL";
const LEASE_MS: &str = "SPINDLE_CLUSTER_TEST_LEASE_MS";
const PROCESSES: &str = "SPINDLE_CLUSTER_TEST_PROCESSES";
const MAX_FRAME: &str = "SPINDLE_CLUSTER_TEST_MAX_FRAME";

spindle::task! {
    /// Logs its start and end (with its worker's pid), sleeping `ms` between: returns
    /// `(tag, worker pid)`.
    pub const SLEEPY = pub fn sleepy((log, tag, ms): (String, u64, u64)) -> (u64, u32) {
        append(&log, &format!("start {tag} {}", worker_pid()));
        std::thread::sleep(Duration::from_millis(ms));
        append(&log, &format!("end {tag} {}", worker_pid()));
        (tag, worker_pid())
    }

    /// Logs its start, then panics with `message`.
    pub const PANICS = pub fn panics((log, message): (String, String)) -> u32 {
        append(&log, "start panics 0");
        panic!("{message}")
    }

    /// Logs its start, then aborts its process.
    pub const ABORTS = pub fn aborts(log: String) -> u32 {
        append(&log, "start aborts 0");
        std::process::abort()
    }

    /// Logs its start, then SIGKILLs its cluster worker (its parent); it dies with it.
    pub const KILLS_ITS_WORKER = pub fn kills_its_worker(log: String) {
        append(&log, &format!("start killer {}", worker_pid()));
        // SAFETY: sends a signal to another process; no memory is involved.
        unsafe { libc::kill(libc::getppid(), libc::SIGKILL) };
        std::thread::sleep(Duration::from_secs(60));
    }

    /// The pid of the cluster worker running it.
    pub const WORKER_PID = pub fn worker_pid_task(_x: ()) -> u32 { worker_pid() }

    /// The pool the cluster worker running it serves.
    pub const POOL_OF_WORKER = pub fn pool_of_worker(_x: ()) -> String {
        std::env::var(POOL).unwrap_or_default()
    }

    pub const SQUARE = pub fn square(x: u64) -> u64 { x * x }

    pub const PANICS_ON_ODD = pub fn panics_on_odd(x: u64) -> u64 {
        assert!(x % 2 == 0, "odd: {x}");
        x
    }

    pub const LEN = pub fn len(bytes: Vec<u8>) -> usize { bytes.len() }

    pub const BYTES = pub fn bytes(n: usize) -> Vec<u8> { vec![7; n] }
}

/// The pid of the cluster worker whose local process runs this (its parent).
pub fn worker_pid() -> u32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() as u32 }
}

/// Appends one line to `path` (one `write`, so lines of concurrent writers never mix).
pub fn append(path: &str, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// The lines of the execution log: `(event, tag, worker pid)`.
pub fn log_lines(path: &Path) -> Vec<(String, String, u32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            Some((
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
                parts.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// The workers (pids) that started task `tag`, in order.
pub fn starts_of(path: &Path, tag: &str) -> Vec<u32> {
    log_lines(path)
        .into_iter()
        .filter(|(event, t, _)| event == "start" && t == tag)
        .map(|(_, _, pid)| pid)
        .collect()
}

/// Polls `cond` until it holds, failing the test after [`PATIENCE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The future's outcome, failing the test if it takes longer than [`PATIENCE`].
pub fn get<T>(f: Future<T>) -> Result<T, TaskError> {
    assert!(
        f.wait_timeout(PATIENCE),
        "a future did not complete within {PATIENCE:?}"
    );
    f.result()
}

/// The status of `pool` on the server at `url`.
pub fn pool_status(url: &str, pool: &str) -> PoolStatus {
    spindle::cluster::status(url, Some(pool))
        .unwrap()
        .pop()
        .unwrap()
}

/// A worker process: this test binary started again in the worker role. SIGKILLed
/// when dropped, if still running.
pub struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    /// Starts a worker of `pool` at `url` with `processes` local processes and tasks'
    /// default `lease`, and waits until it is listed in the pool.
    pub fn start(url: &str, pool: &str, processes: usize, lease: Duration) -> WorkerProcess {
        WorkerProcess::start_limited(url, pool, processes, lease, 64 << 20)
    }

    /// As [`start`](WorkerProcess::start), refusing frames over `max_frame` bytes.
    pub fn start_limited(
        url: &str,
        pool: &str,
        processes: usize,
        lease: Duration,
        max_frame: usize,
    ) -> WorkerProcess {
        let child = Command::new(std::env::current_exe().unwrap())
            .env(MAX_FRAME, max_frame.to_string())
            .env(ROLE, "worker")
            .env(URL, url)
            .env(POOL, pool)
            .env(LEASE_MS, lease.as_millis().to_string())
            .env(PROCESSES, processes.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let worker = WorkerProcess { child };
        let pid = u64::from(worker.pid());
        wait_until("the worker to join its pool", || {
            pool_status(url, pool).workers.iter().any(|w| w.pid == pid)
        });
        worker
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the worker process.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: sends a signal to our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Waits for the worker to exit, at most [`PATIENCE`].
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the worker did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In a process started by [`WorkerProcess::start`], serves as a cluster worker and
/// exits (status 0 when `run` returned `Ok`, 3 with the error on stderr otherwise);
/// elsewhere returns at once.
pub fn serve_if_worker() {
    if std::env::var(ROLE).as_deref() != Ok("worker") {
        return;
    }
    let var = |name: &str| std::env::var(name).unwrap();
    let worker = Worker::builder(&var(URL))
        .pool(var(POOL))
        .processes(var(PROCESSES).parse().unwrap())
        .lease(Duration::from_millis(var(LEASE_MS).parse().unwrap()))
        .max_frame_size(var(MAX_FRAME).parse().unwrap())
        .build();
    let outcome = worker.and_then(Worker::run);
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("cluster worker failed: {e}");
            std::process::exit(3)
        }
    }
}

/// A fresh execution log in `dir`.
pub fn new_log(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.log"));
    let _ = std::fs::remove_file(&path);
    path
}
