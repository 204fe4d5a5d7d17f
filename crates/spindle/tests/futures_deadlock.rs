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

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::deadlock::{self, Detection};
use spindle::futures::{Future, ThreadPoolExecutor};
use spindle::sync::{DeadlockError, Event, Mutex};
use spindle::thread::{self, JoinHandle};

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
