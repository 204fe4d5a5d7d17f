//! `Thread::start` and `JoinHandle` edge cases: a start that fails leaves no ghost thread
//! behind, a thread cannot join itself, and pool workers take no `Thread-N` numbers.
//!
//! Every call that hung before its fix runs under a watchdog ([`finishes`]), so a
//! regression fails the test instead of hanging the run.

mod common;

use std::io::ErrorKind;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{PATIENCE, is_child, run_as_child, thread_number};
use spindle::futures::ThreadPoolExecutor;
use spindle::thread::{self, JoinHandle, Thread, ThreadState};

/// Runs `f` on a helper std thread and waits at most [`PATIENCE`] for it; `None` if it
/// did not finish in time (the helper is left behind: the test fails anyway).
fn finishes<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE).ok()
}

/// `join_non_daemon` returns (under the watchdog), failing the test otherwise.
#[track_caller]
fn join_non_daemon_returns() {
    assert!(
        finishes(thread::join_non_daemon).is_some(),
        "join_non_daemon did not return within {PATIENCE:?}: a ghost thread is left"
    );
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<not a string>".to_owned()
    }
}

// ---- task 1: a start that fails leaves nothing alive ----

#[test]
fn nul_in_name_is_refused_before_the_thread_is_registered() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let t = Thread::new(move || flag.store(true, Ordering::SeqCst)).name("bad\0name");
    let info = t.info();

    let err = t
        .start()
        .expect_err("a name with a NUL byte cannot be started");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(msg.contains(r#""bad\0name""#), "names the thread: {msg}");
    assert!(msg.contains("NUL"), "names the rule: {msg}");

    assert_eq!(info.state(), ThreadState::New);
    assert!(!info.is_alive());
    assert!(
        !thread::enumerate().contains(&info),
        "a ghost in enumerate()"
    );
    join_non_daemon_returns();
    assert!(!ran.load(Ordering::SeqCst), "the body never runs");
}

#[test]
fn nul_in_name_of_a_daemon_is_refused_too() {
    let t = Thread::new(|| ()).name("\0").daemon(true);
    let info = t.info();
    let err = t.start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains(r#""\0""#), "{err}");
    assert_eq!(info.state(), ThreadState::New);
    assert!(!thread::enumerate().contains(&info));
}

/// The current virtual memory size of this process, in bytes (`VmSize`).
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .expect("a VmSize line");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmSize in kB");
    kb * 1024
}

/// Sets the soft `RLIMIT_AS`; the hard limit stays, so it can be raised again.
fn set_address_space_limit(bytes: libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of both calls.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut lim), 0);
        lim.rlim_cur = bytes.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &lim), 0);
    }
}

const REFUSED_STARTS: usize = 2000;

/// The OS refuses the thread (no address space left for its stack): `start` gives an
/// error naming it, the record reads `New` again, and a `join_non_daemon` that saw it
/// alive meanwhile is woken rather than left parked forever.
///
/// Runs in a child process: it lowers the process's `RLIMIT_AS`.
#[test]
fn os_refusal_leaves_no_ghost_and_wakes_join_non_daemon() {
    const TEST: &str = "os_refusal_leaves_no_ghost_and_wakes_join_non_daemon";
    if is_child(TEST) {
        refused_starts_in_child();
        return;
    }
    let out = run_as_child(TEST);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("refused starts checked"),
        "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

fn refused_starts_in_child() {
    // A helper that calls `join_non_daemon` over and over, so that it keeps catching
    // records in the moment they are alive but their OS thread is being refused. Started
    // (and its allocator arena made) before the limit is lowered.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    {
        let (stop, calls) = (Arc::clone(&stop), Arc::clone(&calls));
        std::thread::spawn(move || {
            thread::join_non_daemon();
            ready_tx.send(()).unwrap();
            while !stop.load(Ordering::Relaxed) {
                thread::join_non_daemon();
                calls.fetch_add(1, Ordering::Relaxed);
            }
            let _ = done_tx.send(());
        });
    }
    ready_rx.recv().unwrap();
    let names: Vec<String> = (0..REFUSED_STARTS).map(|i| format!("doomed-{i}")).collect();
    let mut outcomes = Vec::with_capacity(REFUSED_STARTS);

    // Room for small allocations, none for a thread's stack (2 MiB by default).
    set_address_space_limit(vm_size() + 512 * 1024);
    for name in &names {
        let t = Thread::new(|| ()).name(name.as_str());
        let info = t.info();
        outcomes.push((info, t.start().map_err(|e| (e.kind(), e.to_string()))));
    }
    set_address_space_limit(libc::RLIM_INFINITY);

    stop.store(true, Ordering::Relaxed);
    let helper_done = done_rx.recv_timeout(PATIENCE).is_ok();
    let mut started = 0;
    for (name, (info, outcome)) in names.iter().zip(outcomes) {
        match outcome {
            Ok(h) => {
                started += 1;
                h.join().unwrap();
            }
            Err((_, msg)) => {
                assert!(
                    msg.contains(&format!("\"{name}\"")),
                    "names the thread: {msg}"
                );
                assert_eq!(info.state(), ThreadState::New, "{name}");
                assert!(!thread::enumerate().contains(&info), "{name} is a ghost");
            }
        }
    }
    assert_eq!(
        started, 0,
        "RLIMIT_AS did not stop every thread from starting"
    );
    assert!(
        helper_done,
        "a join_non_daemon that saw a refused thread alive was never woken"
    );
    assert!(calls.load(Ordering::Relaxed) > 0);
    join_non_daemon_returns();
    println!("refused starts checked");
}

// ---- task 2: a thread cannot join itself ----

/// Starts a thread that receives its own handle and calls `op` on it inside
/// `catch_unwind`; the panic message it reported (or `None` if `op` returned).
fn self_join_message(name: &str, op: fn(JoinHandle<()>)) -> Option<String> {
    let (handle_tx, handle_rx) = mpsc::channel::<JoinHandle<()>>();
    let (report_tx, report_rx) = mpsc::channel::<Option<String>>();
    let h = Thread::new(move || {
        let own = handle_rx.recv().unwrap();
        let caught = panic::catch_unwind(AssertUnwindSafe(|| op(own)));
        report_tx
            .send(caught.err().map(|p| panic_text(&*p)))
            .unwrap();
    })
    .name(name)
    .start()
    .unwrap();
    let info = h.info();
    handle_tx.send(h).unwrap();
    let report = report_rx
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("thread \"{name}\" hung joining itself"));
    assert!(
        common::wait_for_state(&info, ThreadState::Terminated, PATIENCE),
        "the thread ends after refusing to join itself"
    );
    report
}

#[test]
fn join_on_own_handle_panics_at_once() {
    let msg = self_join_message("selfish", |h| {
        let _ = h.join();
    });
    assert_eq!(
        msg.as_deref(),
        Some("thread \"selfish\" cannot join itself")
    );
}

#[test]
fn wait_timeout_on_own_handle_panics_at_once() {
    let msg = self_join_message("impatient", |h| {
        // Before the fix this waited the whole minute, then returned false.
        let _ = h.wait_timeout(Duration::from_secs(60));
    });
    assert_eq!(
        msg.as_deref(),
        Some("thread \"impatient\" cannot join itself")
    );
}

#[test]
fn joining_another_thread_still_works_from_a_spindle_thread() {
    let inner = thread::spawn(|| 5);
    let outer = thread::spawn(move || inner.join().unwrap() + 1);
    assert_eq!(finishes(move || outer.join().unwrap()), Some(6));
}

// ---- task 3: pool workers take no Thread-N numbers ----

/// Python numbers only threads created without a name: a 2-worker pool in between two
/// unnamed threads leaves their numbers consecutive. Runs in a child process, so that no
/// other test creates threads in between.
#[test]
fn pool_workers_take_no_thread_numbers() {
    const TEST: &str = "pool_workers_take_no_thread_numbers";
    if is_child(TEST) {
        let before = thread::spawn(|| ()).info().name();
        let workers = {
            let pool = ThreadPoolExecutor::new(2);
            // Both tasks must run at once, so both workers start.
            let both = Arc::new(std::sync::Barrier::new(2));
            let futures: Vec<_> = (0..2)
                .map(|_| {
                    let both = Arc::clone(&both);
                    pool.submit(move || {
                        both.wait();
                        thread::current().name()
                    })
                })
                .collect();
            let mut names: Vec<String> = futures.into_iter().map(|f| f.result().unwrap()).collect();
            names.sort();
            names.dedup();
            names
        };
        let after = thread::spawn(|| ()).info().name();
        assert_eq!(workers.len(), 2, "two workers ran: {workers:?}");
        assert!(
            workers.iter().all(|w| !w.starts_with("Thread-")),
            "{workers:?}"
        );
        assert_eq!(
            thread_number(&after),
            thread_number(&before) + 1,
            "{before} then {after} around a 2-worker pool"
        );
        println!("numbers consecutive: {before} {after}");
        return;
    }
    let out = run_as_child(TEST);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("numbers consecutive"),
        "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
