//! `Timer` (issue 12, item 9): Python's `threading.Timer`, a function run after a delay on
//! a thread of its own, cancellable until it fires. Ordered by the timer thread's state
//! (`TimedWaiting` while it counts down), never by sleeps.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{PATIENCE, SETTLE, holds_for, reach, thread_number};
use spindle::sync::Event;
use spindle::thread::{self, Thread, ThreadState, Timer};

static FIRED_ON: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn fire() {
    *FIRED_ON.lock().unwrap() = Some(thread::current().name());
}

/// CPython's `Timer(interval, function).start()` runs `function` once `interval` has
/// passed, on the timer's own thread. spindle names that thread `Thread-N (f)`, as
/// Python names a thread after its target, and it reads `TimedWaiting` while it counts
/// down.
#[test]
fn timer_runs_its_function_after_the_delay_on_its_own_thread() {
    let interval = Duration::from_millis(200);
    let timer = Timer::new(interval, fire);
    let name = timer.info().name();
    let number = thread_number(name.strip_suffix(" (fire)").expect("named after `fire`"));
    assert!(number >= 1);
    assert_eq!(timer.interval(), interval);
    let started = Instant::now();
    let h = timer.start().unwrap();
    reach(&h.info(), ThreadState::TimedWaiting);
    assert_eq!(
        h.info().waiting_on().as_deref(),
        Some("timer delay of 200ms")
    );
    assert!(h.is_alive());
    h.join().unwrap();
    assert!(started.elapsed() >= interval, "fired before its delay");
    assert_eq!(FIRED_ON.lock().unwrap().as_deref(), Some(name.as_str()));
}

/// CPython's `Timer.cancel()`: "Stop the timer, and cancel the execution of the timer's
/// action. This will only work if the timer is still in its waiting stage." The thread
/// ends at once, without running the function.
#[test]
fn cancel_before_it_fires_means_it_never_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    let h = Timer::new(Duration::from_secs(3600), move || {
        r.store(true, Ordering::SeqCst)
    })
    .start()
    .unwrap();
    reach(&h.info(), ThreadState::TimedWaiting);
    assert!(h.cancel());
    assert!(
        h.wait_timeout(PATIENCE),
        "a cancelled timer kept its thread"
    );
    assert!(h.cancel(), "cancelling again still says it will not run");
    assert!(!h.fired());
    assert!(!h.is_alive());
    h.join().unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

/// Once the function has started, `cancel` does not stop it and says so.
#[test]
fn cancel_after_it_fired_returns_false_and_does_not_stop_it() {
    let started = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let finished = Arc::new(AtomicBool::new(false));
    let (s, r, f) = (
        Arc::clone(&started),
        Arc::clone(&release),
        Arc::clone(&finished),
    );
    let h = Timer::new(Duration::ZERO, move || {
        s.set();
        assert!(r.wait_timeout(PATIENCE));
        f.store(true, Ordering::SeqCst);
    })
    .start()
    .unwrap();
    assert!(started.wait_timeout(PATIENCE));
    assert!(h.fired());
    assert!(!h.cancel());
    release.set();
    h.join().unwrap();
    assert!(finished.load(Ordering::SeqCst));
}

/// `cancel` racing the end of the delay: the function runs at most once, and exactly
/// when `cancel` said it would not be stopped.
#[test]
fn cancel_racing_the_deadline_agrees_with_whether_it_ran() {
    let runs: Vec<_> = (0..200)
        .map(|i| {
            let ran = Arc::new(AtomicUsize::new(0));
            let r = Arc::clone(&ran);
            let h = Timer::new(Duration::from_micros(i % 50), move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .start()
            .unwrap();
            let cancelled = h.cancel();
            assert_eq!(h.fired(), !cancelled);
            (h, ran, cancelled)
        })
        .collect();
    for (h, ran, cancelled) in runs {
        h.join().unwrap();
        let times = ran.load(Ordering::SeqCst);
        assert_eq!(
            times,
            usize::from(!cancelled),
            "cancel said {cancelled}, ran {times}"
        );
    }
}

/// A pending timer is a non-daemon thread: Python's interpreter waits for it at exit, and
/// so does `join_non_daemon`; a daemon timer is not waited for.
#[test]
fn a_pending_timer_holds_up_join_non_daemon() {
    let daemon = Timer::new(Duration::from_secs(3600), || ())
        .daemon(true)
        .start()
        .unwrap();
    let pending = Timer::new(Duration::from_secs(3600), || ())
        .start()
        .unwrap();
    reach(&pending.info(), ThreadState::TimedWaiting);
    let joiner = Thread::new(thread::join_non_daemon)
        .daemon(true)
        .start()
        .unwrap();
    let waits_for_timer = format!("join of thread \"{}\"", pending.info().name());
    let joiner_info = joiner.info();
    assert!(
        common::wait_until(PATIENCE, || joiner_info.waiting_on().as_deref()
            == Some(waits_for_timer.as_str())
            || joiner.is_finished()),
        "{joiner_info:?}"
    );
    assert!(
        holds_for(SETTLE, || !joiner.is_finished()),
        "join_non_daemon returned while a timer was pending"
    );
    assert!(pending.cancel());
    assert!(
        joiner.wait_timeout(PATIENCE),
        "join_non_daemon waited for the daemon timer"
    );
    joiner.join().unwrap();
    assert!(daemon.is_alive());
    assert!(daemon.cancel());
    daemon.join().unwrap();
}

/// The function's panic ends the timer thread as any thread's panic does: `join` returns
/// it, with the thread's name.
#[test]
fn a_timers_panic_reaches_join() {
    let h = Timer::new(Duration::ZERO, || panic!("the alarm broke"))
        .name("alarm")
        .start()
        .unwrap();
    let err = h.join().unwrap_err();
    assert_eq!(
        (err.message(), err.thread_name()),
        ("the alarm broke", "alarm")
    );
}

/// A closure is named after the function that wrote it, as Python shows `<lambda>`.
#[test]
fn a_closure_timer_is_named_after_the_function_that_wrote_it() {
    let t = Timer::new(Duration::ZERO, || ());
    let name = t.info().name();
    assert!(
        name.ends_with(" (<closure in a_closure_timer_is_named_after_the_function_that_wrote_it>)"),
        "{name}"
    );
    assert!(format!("{t:?}").contains("Timer"));
    let h = t.start().unwrap();
    h.join().unwrap();
}
