//! What both builds of the `cluster_fingerprint` program do, chosen by environment
//! variables: print their default pool, serve it as a worker, or run their task
//! through it as a client. Included by the test `cluster_fingerprint` and by the
//! binary of the same name (`other_build.rs`), the program's other build.

use std::time::Duration;

use spindle::cluster::{ClusterExecutor, Worker};
use spindle::futures::Future;

/// The role a process started by the test plays: `pool`, `worker` or `client`.
pub const ROLE: &str = "SPINDLE_TWO_BUILDS_ROLE";
/// The server's URL.
pub const URL: &str = "SPINDLE_TWO_BUILDS_URL";
/// How many tasks a client submits (numbered from 0).
pub const TASKS: u64 = 4;
/// The longest a client waits for one result.
const CLIENT_PATIENCE: Duration = Duration::from_secs(60);

/// This build's task, run through `cluster` on `n`: `(n, the worker's pid)`.
pub type Submit = fn(&ClusterExecutor, u64) -> Future<(u64, u32)>;

/// In a process the test started in a role, plays it on the default pool and exits
/// (status 0 when it went well); elsewhere returns at once.
///
/// - `pool` prints the default pool's name;
/// - `worker` serves the default pool with one local process until SIGTERM;
/// - `client` submits tasks `0..TASKS` at once, then prints each result as
///   `n worker-pid`, in order.
pub fn play_role(submit: Submit) {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let url = std::env::var(URL).expect("the test gives the URL");
    match role.as_str() {
        "pool" => println!("{}", ClusterExecutor::connect(&url).unwrap().pool()),
        "worker" => Worker::builder(&url)
            .processes(1)
            .build()
            .and_then(Worker::run)
            .unwrap(),
        "client" => {
            let cluster = ClusterExecutor::connect(&url).unwrap();
            let futures: Vec<_> = (0..TASKS).map(|n| submit(&cluster, n)).collect();
            for f in futures {
                assert!(f.wait_timeout(CLIENT_PATIENCE), "no result in time");
                let (n, pid) = f.result().unwrap();
                println!("{n} {pid}");
            }
        }
        other => panic!("no role {other:?}"),
    }
    std::process::exit(0);
}

/// The pid of the cluster worker whose local process runs this (its parent).
pub fn worker_pid() -> u32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() as u32 }
}
