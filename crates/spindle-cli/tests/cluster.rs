//! `spindle cluster status`, run as a user runs it, against a `redis-server` each test
//! starts for itself (the cluster demonstration is tested as `spindle lab remote`, in
//! `lab.rs`). A machine without `redis-server` fails these tests with how to install it
//! (`apt-get install redis-server`, or `scripts/test`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SPINDLE: &str = env!("CARGO_BIN_EXE_spindle");
const PATIENCE: Duration = Duration::from_secs(30);

/// A `redis-server` on a free loopback port, persistence off; killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir = std::env::temp_dir().join(format!("spindle-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--logfile", "redis.log"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install it with `apt-get install redis-server`")
            });
        let server = Server { child, port, dir };
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spindle(args: &[&str]) -> Output {
    Command::new(SPINDLE).args(args).output().unwrap()
}

#[test]
fn status_lists_the_pools_and_their_workers() {
    let server = Server::start("status");
    let url = server.url();
    let mut worker = Command::new(SPINDLE)
        .args(["__cluster-worker", "--url", &url, "--pool", "reports"])
        .args(["--processes", "1", "--lease-ms", "1000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let doc: serde_json::Value = loop {
        let out = spindle(&["cluster", "status", &url, "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if doc["pools"][0]["workers"]
            .as_array()
            .is_some_and(|w| w.len() == 1)
        {
            break doc;
        }
        assert!(Instant::now() < deadline, "the worker never showed: {doc}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let pool = &doc["pools"][0];
    assert_eq!(pool["pool"], "reports");
    assert_eq!(pool["workers"][0]["pid"], u64::from(worker.id()));
    assert_eq!(pool["queued"], 0);
    let text = spindle(&["cluster", "status", &url, "--pool", "reports"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("reports") && text.contains("workers of reports"),
        "{text}"
    );
    assert!(text.contains(&worker.id().to_string()), "{text}");
    // SAFETY: signals our own child, not yet reaped.
    unsafe { libc::kill(worker.id() as libc::pid_t, libc::SIGTERM) };
    assert!(
        worker.wait().unwrap().success(),
        "the worker's run() returned Ok"
    );
}

#[test]
fn status_of_a_server_that_is_not_there_fails_naming_it() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:secret@127.0.0.1:{port}");
    let started = Instant::now();
    let out = spindle(&["cluster", "status", &url]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("redis://:***@127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}
