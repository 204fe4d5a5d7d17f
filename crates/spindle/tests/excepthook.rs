//! The excepthook: every thread that ends in a panic reaches it, joined or not.
//!
//! The hook is process-wide. Under `cargo test` these tests share one process, so the
//! in-process ones share one recording hook and each looks only for its own uniquely
//! named threads; tests that need another hook (or none) re-run this binary as a child.

mod common;

use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::Duration;

use common::{PATIENCE, is_child, run_as_child, start_named, unique_name, wait_until};
use spindle::thread::{self, Panicked, Thread};

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

/// The default hook prints `Exception in thread NAME:` and the message to stderr.
#[test]
fn default_hook_prints_to_stderr() {
    const TEST: &str = "default_hook_prints_to_stderr";
    if is_child(TEST) {
        let h = start_named("reporter", || -> u8 { panic!("the message, in full") });
        assert!(h.join().is_err());
        println!("child done");
        return;
    }
    let out = run_as_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("child done"));
    assert!(
        stderr.contains("Exception in thread reporter:\nthe message, in full"),
        "stderr was:\n{stderr}"
    );
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
        stderr.contains("Exception in thread unlucky:\noriginal failure"),
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
}
