//! Two builds of one program, whose task of the same name takes another argument type,
//! serve different default pools, and a worker of one never takes the other's tasks
//! (API.md: the default pool fingerprints the registered tasks' names and types).
//!
//! The other build is the binary `cluster_fingerprint` (`cluster_common/other_build.rs`):
//! named as this test, so its task has this test's task's name. Both run here under one
//! file name, `program`, so that only the fingerprint can tell their pools apart. A
//! `harness = false` test; needs the feature `cluster`.

#[path = "common/cases.rs"]
mod cases;
#[allow(dead_code)] // this test needs only a plain server
#[path = "cluster_common/redis_server.rs"]
mod redis_server;
#[path = "cluster_common/two_builds.rs"]
mod two_builds;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use spindle::cluster::PoolStatus;

spindle::task! {
    /// Returns its argument and the pid of the worker running it.
    pub const SHAPE = pub fn shape(x: u64) -> (u64, u32) {
        (x, two_builds::worker_pid())
    }
}

const PATIENCE: Duration = Duration::from_secs(20);

/// One build of the program, under the file name `program` in a directory of its own.
struct Build {
    exe: PathBuf,
}

impl Build {
    /// `original` linked (or copied) to `dir/program`.
    fn install(original: &Path, dir: &Path) -> Build {
        std::fs::create_dir_all(dir).unwrap();
        let exe = dir.join("program");
        let _ = std::fs::remove_file(&exe);
        if std::fs::hard_link(original, &exe).is_err() {
            std::fs::copy(original, &exe).unwrap();
        }
        Build { exe }
    }

    /// This build started in `role` against `url`, its output captured.
    fn start(&self, role: &str, url: &str) -> RoleProcess {
        let child = Command::new(&self.exe)
            .env(two_builds::ROLE, role)
            .env(two_builds::URL, url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        RoleProcess { child }
    }

    /// The lines this build prints in `role`, which must end well.
    fn run(&self, role: &str, url: &str) -> Vec<String> {
        self.start(role, url).finish()
    }
}

/// A build playing a role; SIGKILLed when dropped, if still running.
struct RoleProcess {
    child: Child,
}

impl RoleProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most [`PATIENCE`]) for the process to exit with status 0: its lines
    /// (a few, which the pipe holds until they are read here).
    fn finish(mut self) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "a build did not finish its role");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success(), "a build failed its role: {status}");
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out.lines().map(str::to_owned).collect()
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pool_status(url: &str, pool: &str) -> PoolStatus {
    spindle::cluster::status(url, Some(pool))
        .unwrap()
        .pop()
        .unwrap()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `n pid` lines: every task's number came back, each from the worker `pid`.
fn assert_served_by(lines: &[String], pid: u32) {
    let expected: Vec<String> = (0..two_builds::TASKS)
        .map(|n| format!("{n} {pid}"))
        .collect();
    assert_eq!(lines, expected);
}

fn builds_whose_task_types_differ_serve_different_pools() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cluster_fingerprint-{}", std::process::id()));
    let this = Build::install(&std::env::current_exe().unwrap(), &dir.join("this"));
    let other = Build::install(
        Path::new(env!("CARGO_BIN_EXE_cluster_fingerprint")),
        &dir.join("other"),
    );

    let this_pool = this.run("pool", &url).concat();
    let other_pool = other.run("pool", &url).concat();
    assert!(this_pool.starts_with("program-"), "{this_pool}");
    assert!(other_pool.starts_with("program-"), "{other_pool}");
    assert_ne!(
        this_pool, other_pool,
        "one program name, one task name, another argument type: another pool"
    );

    // Only the other build's worker runs while this build's tasks are queued.
    let other_worker = other.start("worker", &url);
    wait_until("the other build's worker to join its pool", || {
        pool_status(&url, &other_pool).workers.len() == 1
    });
    let this_client = this.start("client", &url);
    wait_until("this build's tasks to be queued", || {
        pool_status(&url, &this_pool).submitted == two_builds::TASKS
    });
    // The other worker serves its own build's tasks, submitted after these...
    assert_served_by(&other.run("client", &url), other_worker.pid());
    // ...and has taken none of this build's.
    let status = pool_status(&url, &this_pool);
    assert_eq!(
        (status.queued, status.running, status.done),
        (two_builds::TASKS, 0, 0),
        "{status:?}"
    );
    assert!(status.workers.is_empty(), "{status:?}");

    // This build's worker takes them.
    let this_worker = this.start("worker", &url);
    assert_served_by(&this_client.finish(), this_worker.pid());
    let other_status = pool_status(&url, &other_pool);
    assert_eq!(
        (other_status.submitted, other_status.done),
        (two_builds::TASKS, two_builds::TASKS),
        "{other_status:?}"
    );
    drop((this_worker, other_worker));
    let _ = std::fs::remove_dir_all(&dir);
}

const CASES: &[cases::Case] = &[(
    "builds_whose_task_types_differ_serve_different_pools",
    builds_whose_task_types_differ_serve_different_pools,
)];

fn main() {
    spindle::process::init();
    two_builds::play_role(|cluster, n| cluster.submit(SHAPE, n));
    cases::run(CASES, Duration::from_secs(120), || {});
}
