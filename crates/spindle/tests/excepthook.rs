//! The excepthook: every thread that ends in a panic reaches it, joined or not, and its
//! panic is printed once (issue 12, "one message per panic").
//!
//! The hook is process-wide. Under `cargo test` these tests share one process, so the
//! in-process ones share one recording hook and each looks only for its own uniquely
//! named threads; tests that need another hook (or none) re-run this binary as a child,
//! and read what it printed.

mod common;

use std::process::{Command, Output};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::Duration;

use common::{PATIENCE, is_child, run_as_child, start_named, unique_name, wait_until};
use spindle::sync::Mutex;
use spindle::thread::{self, Panicked, Thread};

/// How many times `needle` occurs in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// As `run_as_child`, with `RUST_BACKTRACE` set to `backtrace` (or removed).
fn run_as_child_with_backtrace(test: &str, backtrace: Option<&str>) -> Output {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SPINDLE_TEST_CHILD", test)
        .env_remove("RUST_LIB_BACKTRACE");
    match backtrace {
        Some(v) => cmd.env("RUST_BACKTRACE", v),
        None => cmd.env_remove("RUST_BACKTRACE"),
    };
    cmd.output().expect("the test binary ran again as a child")
}

/// Every panic the excepthook has heard of in this process, once `recorded()` ran.
fn recorded() -> &'static StdMutex<Vec<Panicked>> {
    static SEEN: OnceLock<StdMutex<Vec<Panicked>>> = OnceLock::new();
    SEEN.get_or_init(|| {
        thread::set_excepthook(|p| recorded().lock().unwrap().push(p.clone()));
        StdMutex::new(Vec::new())
    })
}

fn reports_for(name: &str) -> Vec<Panicked> {
    recorded()
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.thread_name() == name)
        .cloned()
        .collect()
}

/// A custom hook hears of every panicking thread, joined or never joined, with its
/// message and name; threads that end normally never reach it.
#[test]
fn custom_hook_receives_every_panicking_thread() {
    recorded();
    let joined = unique_name("joined");
    let detached = unique_name("detached");
    let never_joined = unique_name("never-joined");
    let fine = unique_name("fine");

    let h = start_named(&joined, || -> u8 { panic!("joined panic") });
    assert_eq!(h.join().unwrap_err().message(), "joined panic");
    drop(start_named(&detached, || -> u8 {
        panic!("detached {}", 1)
    }));
    let kept = start_named(&never_joined, || -> u8 { panic!("kept, never joined") });
    start_named(&fine, || 5).join().unwrap();

    for (name, message) in [
        (&joined, "joined panic"),
        (&detached, "detached 1"),
        (&never_joined, "kept, never joined"),
    ] {
        assert!(
            wait_until(PATIENCE, || !reports_for(name).is_empty()),
            "the hook never heard of {name}"
        );
        let reports = reports_for(name);
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].message(), message);
    }
    assert!(kept.is_finished());
    assert!(reports_for(&fine).is_empty());
}

/// The hook runs when the thread ends, before `join` returns: a joiner can rely on it.
#[test]
fn hook_has_run_by_the_time_join_returns() {
    recorded();
    let name = unique_name("early");
    let h = Thread::new(|| -> u8 { panic!("reported first") })
        .name(&name)
        .start()
        .unwrap();
    assert!(h.join().is_err());
    assert_eq!(reports_for(&name).len(), 1);
}

/// The default hook prints `Exception in thread NAME:`, where the thread panicked, and
/// the message to stderr.
#[test]
fn default_hook_prints_to_stderr() {
    const TEST: &str = "default_hook_prints_to_stderr";
    if is_child(TEST) {
        let h = start_named("reporter", || -> u8 { panic!("the message, in full") });
        assert!(h.join().is_err());
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("child done"));
    assert!(
        stderr.contains(
            "Exception in thread reporter:\npanicked at crates/spindle/tests/excepthook.rs:"
        ),
        "stderr was:\n{stderr}"
    );
    assert!(
        stderr.contains(":\nthe message, in full"),
        "stderr was:\n{stderr}"
    );
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}

/// Issue 12, "one message per panic": a thread's panic is printed once, in the
/// excepthook's form with its location, as CPython prints an uncaught thread exception
/// once (through `threading.excepthook`), even when the thread is joined and its error
/// read. Rust's panic hook used to print it as well (`thread 'T' panicked at ...`).
#[test]
fn a_thread_panic_is_printed_once_in_the_excepthooks_form() {
    const TEST: &str = "a_thread_panic_is_printed_once_in_the_excepthooks_form";
    if is_child(TEST) {
        let h = start_named("once", || -> u8 { panic!("printed exactly once") });
        let err = h.join().unwrap_err();
        assert_eq!(err.message(), "printed exactly once");
        let at = err
            .location()
            .expect("the location of a thread's panic is known");
        assert!(
            at.starts_with("crates/spindle/tests/excepthook.rs:"),
            "{at}"
        );
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(
        count(&stderr, "printed exactly once"),
        1,
        "stderr was:\n{stderr}"
    );
    assert_eq!(count(&stderr, "Exception in thread once:"), 1, "{stderr}");
    assert_eq!(count(&stderr, "panicked at"), 1, "{stderr}");
    assert!(!stderr.contains("thread 'once' panicked"), "{stderr}");
}

/// Issue 12: a deadlock report from a spindle thread used to print twice in full (by
/// spindle's panic hook, then by the excepthook); it prints once, with where it happened.
#[test]
fn a_deadlock_report_from_a_thread_is_printed_once() {
    const TEST: &str = "a_deadlock_report_from_a_thread_is_printed_once";
    if is_child(TEST) {
        let h = start_named("relocker", || {
            let m = Mutex::named("taken-twice", ());
            let _first = m.lock();
            let _second = m.lock(); // deadlock: panics with the report
        });
        let err = h.join().unwrap_err();
        assert!(err.message().contains("waits for a lock it holds itself"));
        assert!(err.location().is_some());
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(
        count(&stderr, "waits for a lock it holds itself"),
        1,
        "stderr was:\n{stderr}"
    );
    assert_eq!(
        count(&stderr, "Exception in thread relocker:\npanicked at"),
        1,
        "{stderr}"
    );
}

/// Outside spindle's threads nothing changes: a deadlock report raised on a thread
/// spindle did not start is printed by the panic hook, with the report in full.
#[test]
fn a_deadlock_report_outside_spindle_threads_is_still_printed() {
    const TEST: &str = "a_deadlock_report_outside_spindle_threads_is_still_printed";
    if is_child(TEST) {
        let outcome = std::thread::Builder::new()
            .name("plain-std".into())
            .spawn(|| {
                let m = Mutex::named("std-twice", ());
                let _first = m.lock();
                let _second = m.lock();
            })
            .unwrap()
            .join();
        assert!(outcome.is_err());
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(
        count(&stderr, "waits for a lock it holds itself"),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("thread 'plain-std' panicked at"),
        "{stderr}"
    );
}

/// A panic hook the program installed before spindle ran stays in control: it hears
/// every panic of spindle's threads too (and the default excepthook still reports).
#[test]
fn a_panic_hook_installed_first_hears_thread_panics() {
    const TEST: &str = "a_panic_hook_installed_first_hears_thread_panics";
    if is_child(TEST) {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("my panic hook: {:?}", info.payload().downcast_ref::<&str>());
        }));
        let h = start_named("hooked", || -> u8 { panic!("to both") });
        assert!(h.join().is_err());
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(
        count(&stderr, "my panic hook: Some(\"to both\")"),
        1,
        "{stderr}"
    );
    assert_eq!(count(&stderr, "Exception in thread hooked:"), 1, "{stderr}");
}

/// A panic hook installed after spindle's replaces it, as any `set_hook` does: it hears
/// every panic; spindle adds only the excepthook's report.
#[test]
fn a_panic_hook_installed_later_replaces_spindles() {
    const TEST: &str = "a_panic_hook_installed_later_replaces_spindles";
    if is_child(TEST) {
        let _ = start_named("before", || ()).join(); // spindle's hook is in now
        std::panic::set_hook(Box::new(|_| eprintln!("the later hook")));
        let h = start_named("after", || -> u8 { panic!("late") });
        assert!(h.join().is_err());
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(count(&stderr, "the later hook"), 1, "{stderr}");
    assert_eq!(
        count(&stderr, "Exception in thread after:\nlate"),
        1,
        "{stderr}"
    );
}

/// Nothing is lost: a panic the thread catches itself never reaches the excepthook, so
/// it is printed (in Rust's form) once the thread ends, since spindle cannot tell when it
/// happens whether it will be caught.
#[test]
fn a_panic_caught_inside_the_thread_is_printed_when_it_ends() {
    const TEST: &str = "a_panic_caught_inside_the_thread_is_printed_when_it_ends";
    if is_child(TEST) {
        let h = start_named("catcher", || {
            let caught = std::panic::catch_unwind(|| -> u8 { panic!("caught inside") });
            assert!(caught.is_err());
            7
        });
        assert_eq!(h.join().unwrap(), 7);
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(count(&stderr, "caught inside"), 1, "{stderr}");
    assert!(
        stderr.contains("thread 'catcher'")
            && stderr.contains("panicked at crates/spindle/tests/excepthook.rs:"),
        "{stderr}"
    );
    assert!(!stderr.contains("Exception in thread"), "{stderr}");
}

/// Nothing is lost when a panic during a panic aborts the process: both are printed.
#[test]
fn a_panic_while_panicking_is_printed_before_the_abort() {
    const TEST: &str = "a_panic_while_panicking_is_printed_before_the_abort";
    if is_child(TEST) {
        struct PanicsOnDrop;
        impl Drop for PanicsOnDrop {
            fn drop(&mut self) {
                panic!("the second panic, from a Drop");
            }
        }
        let h = start_named("doubly", || {
            let _bomb = PanicsOnDrop;
            panic!("the first panic");
        });
        let _ = h.join(); // the process aborts before this returns
        println!("not aborted");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the process should have aborted: {stderr}"
    );
    assert!(stderr.contains("the first panic"), "{stderr}");
    assert!(stderr.contains("the second panic, from a Drop"), "{stderr}");
}

/// With `RUST_BACKTRACE=1`, the one report carries the backtrace, as Rust's hook would.
#[test]
fn rust_backtrace_adds_the_backtrace_to_the_report() {
    const TEST: &str = "rust_backtrace_adds_the_backtrace_to_the_report";
    if is_child(TEST) {
        let h = start_named("traced", || -> u8 { panic!("with a trace") });
        assert!(h.join().unwrap_err().backtrace().is_some());
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, Some("1"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(count(&stderr, "with a trace"), 1, "{stderr}");
    assert_eq!(count(&stderr, "stack backtrace:"), 1, "{stderr}");
}

/// A hook that panics itself does not take the process down; the panic is still
/// reported (by the default hook), and spindle keeps working.
#[test]
fn panicking_hook_does_not_crash_the_process() {
    const TEST: &str = "panicking_hook_does_not_crash_the_process";
    if is_child(TEST) {
        thread::set_excepthook(|_| panic!("the hook is broken"));
        let h = start_named("unlucky", || -> u8 { panic!("original failure") });
        assert_eq!(h.join().unwrap_err().message(), "original failure");
        drop(start_named("unjoined", || -> u8 {
            panic!("second failure")
        }));
        thread::sleep(Duration::from_millis(200));
        assert_eq!(thread::spawn(|| 7).join().unwrap(), 7);
        println!("still alive");
        return;
    }
    let out = run_as_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the process died: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("still alive"));
    assert!(stderr.contains("excepthook itself panicked"), "{stderr}");
    assert!(
        stderr.contains("Exception in thread unlucky:\npanicked at")
            && stderr.contains(":\noriginal failure"),
        "{stderr}"
    );
}

/// `set_excepthook` replaces the hook: only the latest one hears of a panic.
#[test]
fn set_excepthook_replaces_the_previous_hook() {
    const TEST: &str = "set_excepthook_replaces_the_previous_hook";
    if is_child(TEST) {
        let first = Arc::new(StdMutex::new(0));
        let second = Arc::new(StdMutex::new(0));
        let f = Arc::clone(&first);
        thread::set_excepthook(move |_| *f.lock().unwrap() += 1);
        let s = Arc::clone(&second);
        thread::set_excepthook(move |_| *s.lock().unwrap() += 1);
        let _ = thread::spawn(|| -> u8 { panic!("once") }).join();
        assert_eq!((*first.lock().unwrap(), *second.lock().unwrap()), (0, 1));
        println!("replaced");
        return;
    }
    let out = run_as_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("replaced"));
    assert!(
        !stderr.contains("Exception in thread"),
        "the default hook ran: {stderr}"
    );
    // The hook set is the only report: the panic hook does not print it either.
    assert!(
        !stderr.contains("panicked at"),
        "the panic hook printed it: {stderr}"
    );
}

/// A pool task's panic is its future's outcome, as an exception in a CPython
/// `concurrent.futures` task is: nothing is printed when the panic happens. A future read
/// with `result` prints nothing at all; one dropped unread reaches the excepthook once
/// (spindle's "no panic lost"), in the excepthook's form, never in Rust's.
#[test]
fn a_pool_task_panic_is_printed_only_when_nobody_reads_it_and_then_once() {
    const TEST: &str = "a_pool_task_panic_is_printed_only_when_nobody_reads_it_and_then_once";
    if is_child(TEST) {
        let pool = spindle::futures::ThreadPoolExecutor::builder()
            .max_workers(1)
            .thread_name_prefix("tasks")
            .build();
        let read = pool.submit(|| -> u8 { panic!("read by result") });
        assert!(read.result().is_err());
        let unread = pool.submit(|| -> u8 { panic!("never read") });
        assert!(unread.wait_timeout(std::time::Duration::from_secs(20)));
        drop(unread);
        drop(pool);
        println!("child done");
        return;
    }
    let out = run_as_child_with_backtrace(TEST, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(count(&stderr, "read by result"), 0, "stderr was:\n{stderr}");
    assert_eq!(count(&stderr, "never read"), 1, "stderr was:\n{stderr}");
    assert!(!stderr.contains("thread 'tasks_0' panicked"), "{stderr}");
}
