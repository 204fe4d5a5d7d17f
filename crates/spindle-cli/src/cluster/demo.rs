//! The demonstration that remote concurrency loses nothing: tasks run on two worker
//! processes that share nothing but a local Redis server; one worker is SIGKILLed
//! mid-task; every result still arrives, exactly once.
//!
//! [`run`] is the whole experiment, for `spindle lab remote` to show: it starts
//! `redis-server` (when one is installed), two workers (this program, started again in
//! its hidden `__cluster-worker` role), submits the tasks, kills a worker while it
//! holds some, and counts. Without `redis-server` it says so, and how to install it,
//! instead of measuring anything.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spindle::cluster::ClusterExecutor;
use spindle::futures::Future;

use super::child;
use super::local_redis::{INSTALL_HINT, LocalRedis, NoServer};

spindle::task! {
    /// The demonstration's task: logs its start and end with its worker's pid,
    /// sleeps, and returns its number.
    const LOGGED_SLEEP = fn logged_sleep((log, n, ms): (String, u64, u64)) -> u64 {
        append(&log, &format!("start {n} {}", parent_pid()));
        std::thread::sleep(Duration::from_millis(ms));
        append(&log, &format!("end {n} {}", parent_pid()));
        n
    }
}

/// How big a run is.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Tasks submitted.
    pub tasks: u64,
    /// How long each task sleeps.
    pub task_time: Duration,
    /// Each task's lease: how soon a killed worker's tasks run elsewhere.
    pub lease: Duration,
    /// The program to start as the workers, with `__cluster-worker` (normally this
    /// program: `std::env::current_exe()`).
    pub worker_program: PathBuf,
}

impl DemoOptions {
    /// A run of a few seconds: 40 tasks of 200 ms, a 500 ms lease, this program as
    /// the workers.
    pub fn quick() -> DemoOptions {
        DemoOptions {
            tasks: 40,
            task_time: Duration::from_millis(200),
            lease: Duration::from_millis(500),
            worker_program: std::env::current_exe().expect("the running program's path"),
        }
    }
}

/// What the demonstration found.
#[derive(Debug, Clone, PartialEq)]
pub enum DemoOutcome {
    /// It ran: the counts.
    Ran(DemoCounts),
    /// It could not run here (no `redis-server`): why, and how to fix it. Neither a
    /// success nor a failure of the claim.
    Skipped {
        /// For example "needs redis-server: apt-get install redis-server (Debian, Ubuntu)".
        reason: String,
    },
    /// It started but could not finish (a worker would not start, a bound ran out).
    Failed {
        /// What went wrong.
        reason: String,
    },
}

/// The counts of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCounts {
    /// Tasks submitted.
    pub tasks: u64,
    /// Times a task's body started, on either worker (re-runs included).
    pub executions: u64,
    /// Tasks whose future gave their own value.
    pub results: u64,
    /// Tasks with no value: an error, a wrong value, or no answer in time.
    pub lost: u64,
    /// Results published beyond one per task (the server's count of published
    /// results, less the tasks).
    pub duplicated: u64,
    /// Tasks the killed worker had started and not finished, which ran again on the
    /// other worker.
    pub rerun: u64,
    /// The killed worker's pid.
    pub killed_worker: u32,
}

impl DemoCounts {
    /// The claim holds: every task has its result, none twice.
    pub fn holds(&self) -> bool {
        self.results == self.tasks && self.lost == 0 && self.duplicated == 0
    }
}

/// Runs the demonstration (a few seconds with [`DemoOptions::quick`]).
pub fn run(options: &DemoOptions) -> DemoOutcome {
    let server = match LocalRedis::start() {
        Ok(s) => s,
        Err(NoServer::NotInstalled) => {
            return DemoOutcome::Skipped {
                reason: format!("needs redis-server: {INSTALL_HINT}"),
            };
        }
        Err(NoServer::Failed(why)) => return DemoOutcome::Failed { reason: why },
    };
    match run_on(&server, options) {
        Ok(counts) => DemoOutcome::Ran(counts),
        Err(reason) => DemoOutcome::Failed { reason },
    }
}

const POOL: &str = "spindle-lab-remote";
/// The longest any one step may take.
const PATIENCE: Duration = Duration::from_secs(30);

fn run_on(server: &LocalRedis, options: &DemoOptions) -> Result<DemoCounts, String> {
    let url = server.url();
    let log = server.dir().join("executions.log");
    let mut victim = Worker::start(options, &url)?;
    let cluster = ClusterExecutor::builder(&url)
        .pool(POOL)
        .lease(options.lease)
        .build()
        .map_err(|e| e.to_string())?;
    let log_arg = log.to_string_lossy().into_owned();
    let ms = options.task_time.as_millis() as u64;
    let futures: Vec<Future<u64>> = (0..options.tasks)
        .map(|n| cluster.submit(LOGGED_SLEEP, (log_arg.clone(), n, ms)))
        .collect();
    let survivor = Worker::start(options, &url)?;
    // Kill the victim while it runs tasks: started, not yet ended.
    let deadline = Instant::now() + PATIENCE;
    let held = loop {
        let running = unfinished_on(&log, victim.pid());
        if !running.is_empty() {
            break running;
        }
        if Instant::now() > deadline {
            return Err("the first worker never started a task".to_owned());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    victim.kill();
    let mut results = 0;
    for (n, f) in futures.into_iter().enumerate() {
        if f.wait_timeout(PATIENCE) && f.result() == Ok(n as u64) {
            results += 1;
        }
    }
    let status = spindle::cluster::status(&url, Some(POOL)).map_err(|e| e.to_string())?;
    let published = status.first().map_or(0, |p| p.done);
    let lines = log_lines(&log);
    let executions = lines.iter().filter(|(event, ..)| event == "start").count() as u64;
    let rerun = held
        .iter()
        .filter(|n| {
            lines
                .iter()
                .any(|(event, m, pid)| event == "start" && m == *n && *pid == survivor.pid())
        })
        .count() as u64;
    drop(survivor);
    Ok(DemoCounts {
        tasks: options.tasks,
        executions,
        results,
        lost: options.tasks - results,
        duplicated: published.saturating_sub(options.tasks),
        rerun,
        killed_worker: victim.pid(),
    })
}

/// A worker process of the demonstration; stopped (SIGTERM, then SIGKILL) on drop.
struct Worker {
    child: Child,
}

impl Worker {
    fn start(options: &DemoOptions, url: &str) -> Result<Worker, String> {
        let child = child::owned_by_this_thread(&mut Command::new(&options.worker_program))
            .arg("__cluster-worker")
            .args(["--url", url, "--pool", POOL, "--processes", "2"])
            .arg("--lease-ms")
            .arg(options.lease.as_millis().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        let worker = Worker { child };
        let pid = u64::from(worker.pid());
        let deadline = Instant::now() + PATIENCE;
        loop {
            let listed = spindle::cluster::status(url, Some(POOL))
                .ok()
                .and_then(|p| p.into_iter().next())
                .is_some_and(|p| p.workers.iter().any(|w| w.pid == pid));
            if listed {
                return Ok(worker);
            }
            if Instant::now() > deadline {
                return Err("a worker did not join its pool".to_owned());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // SAFETY: signals our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }
}

/// The tasks that worker `pid` started and has not ended.
fn unfinished_on(log: &Path, pid: u32) -> Vec<String> {
    let mut open: HashMap<String, bool> = HashMap::new();
    for (event, n, by) in log_lines(log) {
        if by == pid {
            open.insert(n, event == "start");
        }
    }
    open.into_iter()
        .filter_map(|(n, running)| running.then_some(n))
        .collect()
}

fn log_lines(log: &Path) -> Vec<(String, String, u32)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            Some((
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
                parts.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// Appends one line in one `write` (concurrent writers' lines never mix).
fn append(path: &str, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// The pid of the cluster worker running this task (the local process's parent).
fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() as u32 }
}
