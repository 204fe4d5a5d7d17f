//! Helpers shared by the test binaries; each includes them with `mod common;`.
//!
//! Timing: the test machine is small and busy, so nothing here asserts that something
//! happens quickly. "Soon" means within [`PATIENCE`]; "never" means not during [`SETTLE`].

#![allow(dead_code)] // every binary uses a different subset

pub mod cases;
pub mod lock_suite;
pub mod process;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::thread::{JoinHandle, Thread, ThreadInfo, ThreadState};

/// How long a test waits for something that should happen soon before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How long a test watches for something that must not happen.
pub const SETTLE: Duration = Duration::from_millis(200);

/// `n` natively, a small fraction of it under Miri (which runs ~1000x slower).
pub const fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        let small = n / 1000;
        if small < 3 { 3 } else { small }
    } else {
        n
    }
}

/// Polls `cond` until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Polls until `info` reads `state`, for at most `timeout`; whether it did.
pub fn wait_for_state(info: &ThreadInfo, state: ThreadState, timeout: Duration) -> bool {
    wait_until(timeout, || info.state() == state)
}

/// Waits (up to [`PATIENCE`]) until `info` reads `state`, failing the test otherwise.
#[track_caller]
pub fn reach(info: &ThreadInfo, state: ThreadState) {
    assert!(
        wait_for_state(info, state, PATIENCE),
        "thread never reached {state:?}: {info:?}"
    );
}

/// Whether `cond` holds every time it is polled during `duration`.
pub fn holds_for(duration: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        if !cond() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// Starts a spindle thread named `name`.
pub fn start_named<T: Send + 'static>(
    name: impl Into<String>,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    Thread::new(f)
        .name(name)
        .start()
        .expect("the OS started the thread")
}

/// A name no other thread of this process has, for tests that share process-wide state
/// (the excepthook, `enumerate`) with tests running beside them under `cargo test`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A counter whose increment is a separate load and store: exact under a lock that
/// really excludes, losing updates (without undefined behaviour) under one that does not.
pub struct RacyCounter(AtomicU64);

impl RacyCounter {
    pub const fn new() -> Self {
        RacyCounter(AtomicU64::new(0))
    }

    pub fn bump(&self) {
        let v = self.0.load(Ordering::Relaxed);
        std::hint::spin_loop(); // widen the window a broken lock would leave open
        self.0.store(v + 1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for RacyCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// The environment variable that tells a re-run test binary which test is the child.
const CHILD: &str = "SPINDLE_TEST_CHILD";

/// Whether this process is the child that `run_as_child(test)` started.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|t| t == test)
}

/// Runs the test `test` of this binary again in a child process (as rayon's
/// `tests/stack_overflow_crash.rs` does), where `is_child(test)` is true; its output.
pub fn run_as_child(test: &str) -> Output {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .expect("the test binary ran again as a child")
}

/// The N of a default `Thread-N` name.
#[track_caller]
pub fn thread_number(name: &str) -> usize {
    name.strip_prefix("Thread-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a default Thread-N name: {name}"))
}
