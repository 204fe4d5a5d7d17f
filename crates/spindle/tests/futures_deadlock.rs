//! A future knows which worker runs its task, so `deadlock::check` follows a wait on a
//! future to that worker: the classic "the caller holds the lock its own task needs".
//! Here the worker blocks on the lock first and the caller then waits for the future,
//! which checks nothing as it begins, so the cycle is left for `check()` to find. (In
//! the other order the worker's lock finds it at once: see `tests/deadlock_waitfor.rs`.)
//!
//! The two threads of the cycle stay stuck for good (that is the point), so this test has
//! its own binary and leaks its pool instead of dropping it (which would wait for them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::deadlock;
use spindle::futures::ThreadPoolExecutor;
use spindle::sync::{Event, Mutex};
use spindle::thread;

#[test]
fn check_reports_a_caller_waiting_on_a_task_that_needs_the_callers_lock() {
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
        let f = pool.submit(move || *l2.lock() += 1);
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
        f.result()
    })
    .name("caller")
    .start()
    .unwrap();
    assert!(holding.wait_timeout(Duration::from_secs(20)));

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
