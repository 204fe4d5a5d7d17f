//! Races between the executor's side and the caller's side of many futures at once:
//! every outcome must be consistent and no waiter may miss its wake-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use spindle::futures::{ReturnWhen, TaskError, ThreadPoolExecutor, as_completed, wait};
use spindle::thread;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn cancel_racing_with_start_is_all_or_nothing() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let ran = Arc::new(AtomicUsize::new(0));
    let n = 5_000;
    let futures: Vec<_> = (0..n)
        .map(|i| {
            let ran = Arc::clone(&ran);
            pool.submit(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                i
            })
        })
        .collect();
    let futures = Arc::new(futures);
    let canceller = {
        let futures = Arc::clone(&futures);
        thread::spawn(move || {
            // From the back, so that some cancels win and some lose.
            futures.iter().rev().filter(|f| f.cancel()).count()
        })
    };
    let cancelled = canceller.join().unwrap();
    pool.shutdown(true, false);
    let futures = Arc::into_inner(futures).expect("the canceller is done");
    let mut ok = 0;
    for (i, f) in futures.into_iter().enumerate() {
        match f.result() {
            Ok(v) => {
                assert_eq!(v, i);
                ok += 1;
            }
            Err(TaskError::Cancelled) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok + cancelled, n);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        ok,
        "a cancelled task never runs"
    );
}

#[test]
fn many_threads_waiting_on_the_same_futures_all_wake() {
    for _ in 0..20 {
        let pool = ThreadPoolExecutor::new(2);
        let futures: Vec<_> = (0..8u64)
            .map(|i| {
                pool.submit(move || {
                    thread::sleep(Duration::from_micros(50 * i));
                    i
                })
            })
            .collect();
        let futures = Arc::new(futures);
        let watchers: Vec<_> = (0..4)
            .map(|k| {
                let futures = Arc::clone(&futures);
                thread::spawn(move || {
                    if k % 2 == 0 {
                        futures.iter().all(|f| f.wait_timeout(LONG))
                    } else {
                        wait(&futures, ReturnWhen::AllCompleted, Some(LONG))
                            .not_done
                            .is_empty()
                    }
                })
            })
            .collect();
        for w in watchers {
            assert!(w.join().unwrap(), "a waiter missed its wake-up");
        }
        let futures = Arc::into_inner(futures).expect("the watchers are done");
        let sum: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
        assert_eq!(sum, 28);
    }
}

#[test]
fn results_read_while_tasks_complete_are_never_lost() {
    let pool = ThreadPoolExecutor::new(2);
    for round in 0..50u64 {
        let futures: Vec<_> = (0..200u64)
            .map(|i| pool.submit(move || i * round))
            .collect();
        let sum: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
        assert_eq!(sum, round * 199 * 200 / 2);
    }
}

#[test]
fn callbacks_added_while_the_task_completes_each_run_once() {
    let pool = ThreadPoolExecutor::new(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let n = 2_000;
    for i in 0..n {
        let f = pool.submit(move || i);
        let c = Arc::clone(&calls);
        f.add_done_callback(move |r| {
            assert_eq!(r.as_ref().ok(), Some(&i));
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(f.result(), Ok(i));
    }
    pool.shutdown(true, false);
    assert_eq!(calls.load(Ordering::SeqCst), n);
}
