//! `ThreadPoolExecutor`, after CPython's `test_concurrent_futures` (ExecutorTest,
//! ThreadPoolShutdownTest, ThreadPoolExecutorTest, InitializerMixin), plus what spindle
//! adds: panics that are never lost, concurrent submitters, visible worker states.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::futures::{TaskError, ThreadPoolExecutor};
use spindle::sync::{Barrier, Event};
use spindle::thread::{self, ThreadState};

const LONG: Duration = Duration::from_secs(20);

/// A task that blocks until `set`: lets a test hold a worker busy.
fn gate() -> (Arc<Event>, impl Fn() -> Arc<Event>) {
    let e = Arc::new(Event::new());
    let e2 = Arc::clone(&e);
    (e, move || Arc::clone(&e2))
}

/// Names of the live threads whose name starts with `prefix`.
fn threads_named(prefix: &str) -> Vec<String> {
    thread::enumerate()
        .into_iter()
        .map(|t| t.name())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Polls `cond` (a test helper only) until it holds or `LONG` passes.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let end = Instant::now() + LONG;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

#[test]
fn submit_returns_the_value() {
    let pool = ThreadPoolExecutor::new(2);
    let f = pool.submit(|| 2u64.pow(8));
    assert_eq!(f.result(), Ok(256));
}

#[test]
fn submit_moves_arguments_into_the_task() {
    let pool = ThreadPoolExecutor::new(2);
    let words = ["spindle".to_owned(), "futures".to_owned()];
    let f = pool.submit(move || words.join(" "));
    assert_eq!(f.result().unwrap(), "spindle futures");
}

#[test]
fn a_panicking_task_gives_err_with_message_and_worker_name_and_the_worker_lives_on() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("survivor")
        .build();
    let failed = pool.submit(|| -> u32 { panic!("bad input {}", 7) });
    match failed.result() {
        Err(TaskError::Panicked(p)) => {
            assert_eq!(p.message(), "bad input 7");
            assert_eq!(p.thread_name(), "survivor_0");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    // The same (only) worker runs the next task.
    let next = pool.submit(|| thread::current().name());
    assert_eq!(next.result().unwrap(), "survivor_0");
    assert_eq!(pool.workers_started(), 1);
}

#[test]
fn zero_workers_is_refused() {
    let r = panic::catch_unwind(|| ThreadPoolExecutor::new(0));
    assert!(r.is_err());
    let r = panic::catch_unwind(|| ThreadPoolExecutor::builder().max_workers(0).build());
    assert!(r.is_err());
}

#[test]
fn default_workers_is_pythons_min_32_cores_plus_4() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        ThreadPoolExecutor::default().max_workers(),
        (cores + 4).min(32)
    );
}

#[test]
fn submit_after_shutdown_panics_with_pythons_message() {
    let pool = ThreadPoolExecutor::new(2);
    pool.shutdown(true, false);
    let r = panic::catch_unwind(AssertUnwindSafe(|| pool.submit(|| 1)));
    let payload = r.expect_err("submit after shutdown must panic");
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert_eq!(msg, "cannot schedule new futures after shutdown");
}

#[test]
fn shutdown_waits_for_queued_tasks_and_ends_the_workers() {
    // CPython's test_threads_terminate / test_hang_issue12364.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("terminate")
        .build();
    let futures: Vec<_> = (0..6)
        .map(|i| {
            pool.submit(move || {
                thread::sleep(Duration::from_millis(10));
                i
            })
        })
        .collect();
    assert_eq!(pool.workers_started(), 3);
    pool.shutdown(true, false);
    assert!(futures.iter().all(|f| f.done()));
    assert!(threads_named("terminate_").is_empty());
    let values: Vec<i32> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(values, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn shutdown_without_wait_returns_at_once_and_the_work_still_finishes() {
    let pool = ThreadPoolExecutor::new(1);
    let (release, g) = gate();
    let g = g();
    let running = pool.submit(move || g.wait_timeout(LONG));
    let queued = pool.submit(|| 5);
    let start = Instant::now();
    pool.shutdown(false, false);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(!queued.done());
    release.set();
    assert_eq!(running.result(), Ok(true));
    assert_eq!(queued.result(), Ok(5));
}

#[test]
fn shutdown_with_cancel_futures_cancels_what_has_not_started() {
    // CPython's test_cancel_futures: some run, the rest are cancelled, none stay pending.
    // The busy tasks are released only once this thread is seen waiting in `shutdown`,
    // which it enters after taking the queued tasks: none of those can have started.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("cancel-at-shutdown")
        .build();
    let (release, g) = gate();
    let started = Arc::new(Barrier::new(3));
    let blockers: Vec<_> = (0..2)
        .map(|_| {
            let (g, started) = (g(), Arc::clone(&started));
            pool.submit(move || {
                started.wait().unwrap();
                g.wait_timeout(LONG)
            })
        })
        .collect();
    started.wait().unwrap(); // both workers are busy
    let queued: Vec<_> = (0..50).map(|i| pool.submit(move || i)).collect();
    let me = thread::current();
    let releaser = thread::spawn(move || {
        let in_shutdown = eventually(|| {
            me.waiting_on()
                .is_some_and(|w| w == "shutdown of ThreadPoolExecutor \"cancel-at-shutdown\"")
        });
        release.set();
        in_shutdown
    });
    pool.shutdown(true, true);
    assert!(
        releaser.join().unwrap(),
        "shutdown waited for the busy workers"
    );
    assert!(queued.iter().all(|f| f.cancelled()));
    for f in queued {
        assert_eq!(f.result(), Err(TaskError::Cancelled));
    }
    for f in blockers {
        assert_eq!(f.result(), Ok(true));
    }
}

#[test]
fn shutdown_twice_is_harmless() {
    let pool = ThreadPoolExecutor::new(2);
    let f = pool.submit(|| 1);
    pool.shutdown(true, false);
    pool.shutdown(true, true);
    pool.shutdown(false, false);
    assert_eq!(f.result(), Ok(1));
}

#[test]
fn drop_waits_for_queued_tasks_as_leaving_a_with_block() {
    let ran = Arc::new(AtomicUsize::new(0));
    {
        let pool = ThreadPoolExecutor::new(2);
        for _ in 0..10 {
            let ran = Arc::clone(&ran);
            pool.submit(move || {
                thread::sleep(Duration::from_millis(2));
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), 10);
}

#[test]
fn the_last_owner_dropping_the_pool_from_its_own_worker_does_not_hang() {
    // The task drops the last handle only once the test has dropped its own (an event,
    // not a sleep), and checks that it is the last: the drop runs on the pool's worker.
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let inner = Arc::clone(&pool);
    let test_dropped = Arc::new(Event::new());
    let t = Arc::clone(&test_dropped);
    let f = pool.submit(move || {
        assert!(t.wait_timeout(LONG), "the test never dropped its handle");
        let last = Arc::strong_count(&inner) == 1;
        drop(inner);
        last
    });
    drop(pool);
    test_dropped.set();
    assert!(f.wait_timeout(LONG));
    assert_eq!(f.result(), Ok(true), "the worker dropped the last handle");
}

#[test]
fn worker_names_use_the_prefix_as_python() {
    // CPython's test_thread_names_assigned.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(5)
        .thread_name_prefix("SpecialPool")
        .build();
    let barrier = Arc::new(Barrier::new(5));
    let futures: Vec<_> = (0..5)
        .map(|_| {
            let b = Arc::clone(&barrier);
            pool.submit(move || {
                b.wait().unwrap();
                thread::current().name()
            })
        })
        .collect();
    let names: HashSet<String> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    let expected: HashSet<String> = (0..5).map(|i| format!("SpecialPool_{i}")).collect();
    assert_eq!(names, expected);
}

#[test]
fn default_worker_names_are_threadpoolexecutor_n_k() {
    // CPython's test_thread_names_default.
    let pool = ThreadPoolExecutor::new(1);
    let name = pool.submit(|| thread::current().name()).result().unwrap();
    let rest = name
        .strip_prefix("ThreadPoolExecutor-")
        .expect("default prefix");
    let (pool_n, worker_n) = rest.split_once('_').expect("PREFIX_N");
    assert!(pool_n.parse::<usize>().is_ok(), "{name}");
    assert_eq!(worker_n, "0");
}

#[test]
fn workers_start_lazily_and_idle_ones_are_reused() {
    // CPython's test_idle_thread_reuse.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(5)
        .thread_name_prefix("reuse")
        .build();
    assert_eq!(pool.workers_started(), 0);
    assert!(threads_named("reuse_").is_empty());
    for i in 0..10 {
        assert_eq!(pool.submit(move || i).result(), Ok(i));
        // Let the worker park again before the next submission.
        let idle = eventually(|| {
            thread::enumerate().iter().any(|t| {
                t.name() == "reuse_0"
                    && t.waiting_on()
                        .is_some_and(|w| w.starts_with("work queue of"))
            })
        });
        assert!(idle);
    }
    assert_eq!(pool.workers_started(), 1);
    assert_eq!(threads_named("reuse_"), ["reuse_0"]);
}

#[test]
fn saturation_starts_exactly_max_workers() {
    // CPython's test_saturation.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .thread_name_prefix("saturate")
        .build();
    let (release, g) = gate();
    let futures: Vec<_> = (0..20)
        .map(|_| {
            let g = g();
            pool.submit(move || g.wait_timeout(LONG))
        })
        .collect();
    assert_eq!(pool.workers_started(), 4);
    assert_eq!(threads_named("saturate_").len(), 4);
    release.set();
    for f in futures {
        assert_eq!(f.result(), Ok(true));
    }
}

#[test]
fn an_idle_worker_reads_waiting_on_the_work_queue() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("observed")
        .build();
    pool.submit(|| ()).result().unwrap();
    let worker = thread::enumerate()
        .into_iter()
        .find(|t| t.name() == "observed_0")
        .expect("the worker is alive");
    assert!(eventually(|| worker.state() == ThreadState::Waiting));
    assert_eq!(
        worker.waiting_on().as_deref(),
        Some("work queue of ThreadPoolExecutor \"observed\"")
    );
}

#[test]
fn initializer_runs_once_per_worker_before_its_tasks() {
    // CPython's InitializerMixin.test_initializer.
    let inits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&inits);
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    let seen: Vec<_> = (0..10)
        .map(|_| {
            let inits = Arc::clone(&inits);
            pool.submit(move || inits.load(Ordering::SeqCst))
        })
        .collect();
    for f in seen {
        assert!(f.result().unwrap() >= 1);
    }
    pool.shutdown(true, false);
    assert_eq!(inits.load(Ordering::SeqCst), pool.workers_started());
}

#[test]
fn a_panicking_initializer_breaks_the_pool_for_pending_and_later_tasks() {
    // CPython's FailingInitializerMixin: every task fails with BrokenThreadPool.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("broken")
        .initializer(|| panic!("cannot open the database"))
        .build();
    let pending: Vec<_> = (0..5).map(|i| pool.submit(move || i)).collect();
    for f in pending {
        match f.result() {
            Err(TaskError::BrokenPool(why)) => {
                assert!(why.contains("initializer"), "{why}");
                assert!(why.contains("cannot open the database"), "{why}");
                assert!(why.contains("broken_"), "names the worker: {why}");
            }
            other => panic!("expected BrokenPool, got {other:?}"),
        }
    }
    let later = pool.submit(|| 1);
    assert!(matches!(later.result(), Err(TaskError::BrokenPool(_))));
    assert!(eventually(|| threads_named("broken_").is_empty()));
}

#[test]
fn tasks_can_be_submitted_from_several_threads_at_once() {
    let pool = Arc::new(ThreadPoolExecutor::new(4));
    let submitters: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let futures: Vec<_> = (0..2_000u64)
                    .map(|i| pool.submit(move || t * 10_000 + i))
                    .collect();
                futures
                    .into_iter()
                    .map(|f| f.result().unwrap())
                    .sum::<u64>()
            })
        })
        .collect();
    let total: u64 = submitters.into_iter().map(|h| h.join().unwrap()).sum();
    let expected: u64 = (0..4u64)
        .map(|t| (0..2_000u64).map(|i| t * 10_000 + i).sum::<u64>())
        .sum();
    assert_eq!(total, expected);
    assert!(pool.workers_started() <= 4);
}

#[test]
fn ten_tasks_sleeping_150ms_on_ten_workers_finish_together() {
    // The classic demo: ten I/O-bound tasks overlap instead of taking 1.5 s in a row.
    let pool = ThreadPoolExecutor::new(10);
    let start = Instant::now();
    let futures: Vec<_> = (0..10)
        .map(|i| {
            pool.submit(move || {
                thread::sleep(Duration::from_millis(150));
                i
            })
        })
        .collect();
    let results: Vec<i32> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    let elapsed = start.elapsed();
    assert_eq!(results, (0..10).collect::<Vec<_>>());
    assert!(elapsed >= Duration::from_millis(150));
    // Sequential would be 1.5 s; allow a noisy machine plenty of slack below that.
    assert!(elapsed < Duration::from_millis(1_000), "took {elapsed:?}");
}

#[test]
fn a_task_closure_is_freed_once_it_has_run() {
    // CPython's test_no_stale_references.
    let token = Arc::new(());
    let held = Arc::clone(&token);
    let pool = ThreadPoolExecutor::new(1);
    let f = pool.submit(move || drop(held));
    f.wait();
    assert!(eventually(|| Arc::strong_count(&token) == 1));
    f.result().unwrap();
}

#[test]
fn executor_is_send_and_sync_and_future_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<ThreadPoolExecutor>();
    send::<spindle::futures::Future<Vec<u8>>>();
    send_sync::<spindle::futures::Future<Vec<u8>>>();
}
