//! Python's exit rule with thread pools alive (issue 12, item 4): `join_non_daemon` waits
//! for the work a pool still has, then returns, even though the pool was never shut down.
//!
//! CPython 3.11 registers `concurrent.futures.thread._python_exit` with
//! `threading._register_atexit`: at interpreter exit it wakes every pool's idle workers
//! (a `None` put behind the queued work items) and they leave, so a script that never
//! shuts its `ThreadPoolExecutor` down still exits, after the queued work ran.
//!
//! `join_non_daemon` is process-wide, so these tests have their own binary. Each calls it
//! on a plain std thread and waits for it with a time limit: a hang fails the test.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};

use common::{PATIENCE, start_named, wait_until};
use spindle::futures::ThreadPoolExecutor;
use spindle::sync::Event;
use spindle::thread::{self, ThreadState};

/// One test at a time: under `cargo test` they share the process, and each one's exit
/// would wait for the others' threads.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: StdMutex<()> = StdMutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `thread::join_non_daemon()` on a std thread; whether it returned within PATIENCE.
fn join_non_daemon_returns() -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        thread::join_non_daemon();
        let _ = tx.send(());
    });
    rx.recv_timeout(PATIENCE).is_ok()
}

/// Whether a thread named `name` is alive and parked idle on its pool's work queue.
fn idle(name: &str) -> bool {
    thread::enumerate().iter().any(|t| {
        t.name() == name
            && t.state() == ThreadState::Waiting
            && t.waiting_on()
                .is_some_and(|w| w.starts_with("work queue of"))
    })
}

fn alive(prefix: &str) -> usize {
    thread::enumerate()
        .iter()
        .filter(|t| t.name().starts_with(prefix))
        .count()
}

#[test]
fn join_non_daemon_returns_with_a_live_idle_pool() {
    let _serial = one_at_a_time();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("idle-at-exit")
        .build();
    assert_eq!(pool.submit(|| 1).result(), Ok(1));
    assert!(wait_until(PATIENCE, || idle("idle-at-exit_0")));

    assert!(
        join_non_daemon_returns(),
        "join_non_daemon hung on the idle workers of a pool nobody shut down"
    );
    assert_eq!(alive("idle-at-exit_"), 0, "the idle workers left");
    // The pool itself still works: a worker starts again for new work.
    assert_eq!(pool.submit(|| 2).result(), Ok(2));
}

#[test]
fn join_non_daemon_lets_queued_work_finish_before_the_workers_leave() {
    let _serial = one_at_a_time();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("busy-at-exit")
        .build();
    let gate = Arc::new(Event::new());
    let futures: Vec<_> = (0..10)
        .map(|i| {
            let g = Arc::clone(&gate);
            pool.submit(move || {
                assert!(g.wait_timeout(PATIENCE));
                i
            })
        })
        .collect();
    let opener = start_named("exit-opener", {
        let gate = Arc::clone(&gate);
        move || {
            // Opened only once the exit is under way (the workers are still busy).
            let busy = wait_until(PATIENCE, || {
                thread::enumerate().iter().any(|t| {
                    t.waiting_on()
                        .is_some_and(|w| w.starts_with("join of thread \"busy-at-exit_"))
                })
            });
            gate.set();
            busy
        }
    });
    assert!(join_non_daemon_returns());
    assert!(
        opener.join().unwrap(),
        "join_non_daemon waited for the busy workers"
    );
    assert!(
        futures.iter().all(|f| f.done()),
        "queued work ran before the exit"
    );
    let values: Vec<i32> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(values, (0..10).collect::<Vec<_>>());
    assert_eq!(alive("busy-at-exit_"), 0);
}

#[test]
fn a_thread_still_running_at_exit_can_submit_and_get_its_result() {
    let _serial = one_at_a_time();
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .thread_name_prefix("late-at-exit")
            .build(),
    );
    assert_eq!(pool.submit(|| 0).result(), Ok(0));
    assert!(wait_until(PATIENCE, || idle("late-at-exit_0")));
    let go = Arc::new(Event::new());
    let (p, g) = (Arc::clone(&pool), Arc::clone(&go));
    // A non-daemon thread that submits only once the exit has begun.
    let late = start_named("late-submitter", move || {
        assert!(g.wait_timeout(PATIENCE));
        p.submit(|| 42).result()
    });
    let late_info = late.info();
    let opener = start_named("late-opener", {
        let go = Arc::clone(&go);
        move || {
            let exiting = wait_until(PATIENCE, || {
                alive("late-at-exit_") == 0
                    && thread::enumerate().iter().any(|t| {
                        t.waiting_on()
                            .is_some_and(|w| w == "join of thread \"late-submitter\"")
                    })
            });
            go.set();
            exiting
        }
    });
    assert!(join_non_daemon_returns());
    assert!(
        opener.join().unwrap(),
        "the exit began with the idle worker gone"
    );
    assert_eq!(late_info.state(), ThreadState::Terminated);
    assert_eq!(late.join().unwrap(), Ok(42));
    assert_eq!(alive("late-at-exit_"), 0);
}
