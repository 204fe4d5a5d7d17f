//! A future knows which worker runs its task, so detection follows a wait on a future to
//! that worker: the classic "the caller holds the lock its own task needs". Here the
//! worker blocks on the lock first and the caller then waits for the future: the wait
//! is checked as it begins and fails at once with the report, as a lock would. (In the
//! other order the worker's lock finds it: see `tests/deadlock_waitfor.rs`.) With
//! detection `Off`, nothing is checked at wait time and `check()` finds the cycle.
//!
//! With detection off the two threads of the cycle stay stuck for good, so these tests
//! have their own binary (nextest runs each in a process of its own, so the mode set by
//! one never reaches the other) and leak their pool instead of dropping it.

mod deadlock_support;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::deadlock::{self, Detection};
use spindle::futures::{Future, ThreadPoolExecutor};
use spindle::sync::{DeadlockError, Event, Mutex};
use spindle::thread::{self, JoinHandle, ThreadInfo};

/// A thread "caller" that holds the ledger, submits a task that locks it, waits until the
/// worker is blocked on it, then takes the future's result; with the ledger's event.
fn caller_waiting_on_its_own_task<R: Send + 'static>(
    take: impl FnOnce(Future<()>) -> R + Send + 'static,
) -> (JoinHandle<R>, Arc<Event>) {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("ledger-worker")
        .build();
    let pool = Box::leak(Box::new(pool));
    let ledger = Arc::new(Mutex::named("ledger", 0u64));
    let holding = Arc::new(Event::new());
    let (l, h) = (Arc::clone(&ledger), Arc::clone(&holding));
    let caller = thread::Thread::new(move || {
        let _held = l.lock();
        h.set();
        let l2 = Arc::clone(&l);
        let f = pool.submit(move || {
            *l2.lock() += 1;
        });
        let worker_blocked = || {
            thread::enumerate()
                .iter()
                .any(|t| t.name() == "ledger-worker_0" && t.state() == thread::ThreadState::Blocked)
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !worker_blocked() {
            assert!(
                Instant::now() < deadline,
                "the worker never blocked on the ledger"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        take(f)
    })
    .name("caller")
    .start()
    .unwrap();
    assert!(holding.wait_timeout(Duration::from_secs(20)));
    (caller, holding)
}

#[test]
fn a_result_that_would_close_a_cycle_fails_at_once_with_the_report() {
    let (caller, _) = caller_waiting_on_its_own_task(|f| {
        let waited = panic::catch_unwind(AssertUnwindSafe(|| f.result()));
        let payload = waited.expect_err("result() waited for a task that waits for us");
        let report = payload
            .downcast::<DeadlockError>()
            .expect("the panic carries the deadlock report");
        report.to_string()
    });
    // The caller's unwind released the ledger: the worker goes on, and the caller ends.
    let report = caller.join().expect("the caller caught the report");
    assert!(report.contains("Future of task"), "{report}");
    assert!(report.contains("ledger-worker_0"), "{report}");
    assert!(report.contains("Mutex \"ledger\""), "{report}");
}

#[test]
fn with_detection_off_check_reports_a_caller_waiting_on_a_task_that_needs_the_callers_lock() {
    deadlock::set_detection(Detection::Off);
    let (caller, _) = caller_waiting_on_its_own_task(|f| f.result());

    let end = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let found = deadlock::check()
            .into_iter()
            .map(|e| e.to_string())
            .find(|r| r.contains("ledger-worker_0") && r.contains("caller"));
        if let Some(r) = found {
            break r;
        }
        assert!(Instant::now() < end, "no deadlock reported");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(report.contains("Future of task"), "{report}");
    assert!(report.contains("ledger"), "{report}");
    // The cycle never ends: leave both threads parked; the process exits after the test.
    std::mem::forget(caller);
}

/// Issue 11, item 1: a wait on a future that is done must stop naming the task's runner
/// the moment the future is done. Here a done callback of the runner takes a lock that a
/// waiter holds while it waits for that very future: once the future is done the waiter
/// is about to go on (and release the lock), so there is no cycle; a waiter woken but not
/// yet running used to still say "waits for the runner", and the callback's lock-time
/// search reported one (118 false reports in 400 rounds).
#[test]
fn a_finished_future_wait_does_not_name_the_runner_whose_callback_takes_the_waiters_lock() {
    const ROUNDS: u64 = 400;
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("runner")
        .build();
    let x = Arc::new(Mutex::named("x", ()));
    let false_reports: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    for round in 0..ROUNDS {
        let f = Arc::new(pool.submit(move || round));
        let (x2, reports) = (Arc::clone(&x), Arc::clone(&false_reports));
        let called = Arc::new(Event::new());
        let c = Arc::clone(&called);
        f.add_done_callback(move |_| {
            match x2.lock_checked() {
                Ok(g) => drop(g),
                Err(e) => reports.lock().unwrap().push(e.to_string()),
            }
            c.set();
        });
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (x, f) = (Arc::clone(&x), Arc::clone(&f));
                thread::spawn(move || match x.lock_checked() {
                    Ok(g) => {
                        f.wait();
                        drop(g);
                        None
                    }
                    Err(e) => Some(e.to_string()),
                })
            })
            .collect();
        for w in waiters {
            if let Some(report) = w.join().expect("a waiter panicked") {
                false_reports.lock().unwrap().push(report);
            }
        }
        // The next round's waiters must not hold `x` while this callback still wants it.
        assert!(called.wait_timeout(Duration::from_secs(20)));
    }
    pool.shutdown(true, false);
    let reports = false_reports.lock().unwrap();
    assert!(
        reports.is_empty(),
        "{} false deadlock reports in {ROUNDS} rounds, the first:\n{}",
        reports.len(),
        reports.first().map_or("", String::as_str)
    );
}

/// A one-worker pool (kept alive by the caller) and a task on it that returns 5 once
/// the returned gate is set.
fn gated_task() -> (ThreadPoolExecutor, Future<i32>, Arc<Event>) {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("deliverer")
        .build();
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let f = pool.submit(move || {
        assert!(g.wait_timeout(Duration::from_secs(20)));
        5
    });
    (pool, f, gate)
}

/// Polls (bounded) until `reader` waits in a `Future`'s `result`.
fn until_waiting_in_result(reader: &ThreadInfo) {
    let end = Instant::now() + Duration::from_secs(20);
    while !(reader.state() == thread::ThreadState::Waiting
        && reader
            .waiting_on()
            .is_some_and(|w| w.starts_with("Future of task")))
    {
        assert!(Instant::now() < end, "the reader never waited in result()");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `result` waits for a value that callbacks added before completion still have to see
/// (it is lent to them, not copied). A callback that then takes a lock the `result`
/// caller holds closes a real cycle: the wait names the thread running the callbacks, so
/// the callback's lock reports it instead of both threads hanging.
#[test]
fn a_callback_locking_what_the_result_caller_holds_is_reported_not_hung() {
    let (_pool, f, gate) = gated_task();
    let x = Arc::new(Mutex::named("held-by-the-reader", ()));
    let reader_waits = Arc::new(Event::new());
    let report = Arc::new(std::sync::Mutex::new(None));
    let (x2, rw, r) = (
        Arc::clone(&x),
        Arc::clone(&reader_waits),
        Arc::clone(&report),
    );
    f.add_done_callback(move |_| {
        assert!(rw.wait_timeout(Duration::from_secs(20)));
        *r.lock().unwrap() = Some(x2.lock_checked().map(drop).map_err(|e| e.to_string()));
    });
    let held = x.lock();
    let me = thread::current();
    let opener = thread::spawn(move || {
        gate.set();
        // The callback takes the lock only once this thread waits in `result`.
        until_waiting_in_result(&me);
        reader_waits.set();
    });
    assert_eq!(f.result(), Ok(5));
    drop(held);
    opener.join().unwrap();
    let report = report.lock().unwrap().take().expect("the callback ran");
    let report = report.expect_err("the cycle was reported");
    assert!(report.contains("Future of task"), "{report}");
    assert!(report.contains("held-by-the-reader"), "{report}");
}

/// The same cycle with the `result` caller kept off the CPU (nice 19, pinned beside a
/// busy thread). `result` waits until the value is settled, past its done callbacks: the
/// future becoming done must not wake it (it still waits), or its published wait is over
/// while it is off the CPU, the callback's lock finds no cycle and sleeps, and the caller,
/// once it runs and waits again, closes the cycle itself: its `result` panics with the
/// report, where the one who should learn of it is the callback taking the lock (seen in
/// CI as an occasional failure of the test above).
#[test]
fn a_result_caller_kept_off_the_cpu_stays_waiting_when_the_future_becomes_done() {
    let _limit =
        deadlock_support::TimeLimit::start(Duration::from_secs(60), "off-CPU result caller");
    let off_cpu = Arc::new(deadlock_support::OffCpu::start_spinning());
    let (_pool, f, gate) = gated_task();
    let x = Arc::new(Mutex::named("held-by-the-reader", ()));
    let in_callback = Arc::new(Event::new());
    let go = Arc::new(Event::new());
    let report = Arc::new(std::sync::Mutex::new(None));
    let (x2, ic, gc, r) = (
        Arc::clone(&x),
        Arc::clone(&in_callback),
        Arc::clone(&go),
        Arc::clone(&report),
    );
    f.add_done_callback(move |_| {
        ic.set();
        assert!(gc.wait_timeout(Duration::from_secs(20)));
        *r.lock().unwrap() = Some(x2.lock_checked().map(drop).map_err(|e| e.to_string()));
    });
    let (x3, oc) = (Arc::clone(&x), Arc::clone(&off_cpu));
    let reader = thread::Thread::new(move || {
        oc.enter();
        let held = x3.lock();
        let outcome = f.result();
        drop(held);
        outcome
    })
    .name("reader")
    .start()
    .unwrap();
    until_waiting_in_result(&reader.info());
    // The task ends; its callback starts while the reader is still off the CPU, and
    // takes the reader's lock at once.
    gate.set();
    assert!(in_callback.wait_timeout(Duration::from_secs(20)));
    go.set();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| reader.join()));
    let report = report.lock().unwrap().take().expect("the callback ran");
    assert_eq!(
        outcome.ok().and_then(Result::ok),
        Some(Ok(5)),
        "the reader's result() failed instead of the callback's lock (callback: {report:?})"
    );
    let report = report.expect_err("the callback's lock reported the cycle");
    assert!(report.contains("held-by-the-reader"), "{report}");
}
