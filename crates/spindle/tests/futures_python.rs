//! Where `Future`, `add_done_callback`, `result` and `wait` must behave as CPython 3.11's
//! `concurrent.futures` does (issue 12, "Futures"), each case named after what it caught,
//! plus the stress that keeps them true with many threads on a small machine.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::Instant;

use common::{PATIENCE, start_named, wait_until};
use spindle::futures::{Future, ReturnWhen, TaskError, ThreadPoolExecutor, wait};
use spindle::sync::{Barrier, Event};
use spindle::thread::{self, ThreadState};

/// A pool with one worker whose first task holds it until `gate` is set, so that a test
/// decides when the task it submits completes. Returns the task's future.
fn gated<T: Send + 'static>(
    pool: &ThreadPoolExecutor,
    gate: &Arc<Event>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Future<T> {
    let g = Arc::clone(gate);
    pool.submit(move || {
        assert!(g.wait_timeout(PATIENCE), "the test never opened the gate");
        f()
    })
}

/// A done callback that marks `entered`, then holds the thread that runs it until
/// `leave` is set (bounded), recording whether `leave` came in time.
fn holding_callback<T>(
    entered: &Arc<Event>,
    leave: &Arc<Event>,
    left_in_time: &Arc<AtomicBool>,
) -> impl FnOnce(&Result<T, TaskError>) + Send + 'static {
    let (entered, leave, left) = (
        Arc::clone(entered),
        Arc::clone(leave),
        Arc::clone(left_in_time),
    );
    move |_| {
        entered.set();
        left.store(leave.wait_timeout(PATIENCE), Ordering::SeqCst);
    }
}

// ---- Item 1: a callback added to a done future runs at once, on the caller's thread ----

/// CPython 3.11 `Future.add_done_callback`: "if the future has already completed or been
/// cancelled, fn will be called immediately", on the calling thread, before it returns.
/// Here the worker is still inside a callback added before completion (it holds it) when
/// the second is added: the second must not be queued behind it.
#[test]
fn add_done_callback_on_a_failed_future_runs_at_once_while_the_worker_runs_earlier_callbacks() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let f = gated(&pool, &gate, || -> u8 { panic!("failed for item 1") });
    let (entered, leave) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let left_in_time = Arc::new(AtomicBool::new(false));
    f.add_done_callback(holding_callback(&entered, &leave, &left_in_time));
    gate.set();
    assert!(f.wait_timeout(PATIENCE));
    assert!(
        entered.wait_timeout(PATIENCE),
        "the worker runs the first callback"
    );

    let seen = Arc::new(StdMutex::new(None));
    let s = Arc::clone(&seen);
    f.add_done_callback(move |r| {
        let panicked =
            matches!(r, Err(TaskError::Panicked(p)) if p.message() == "failed for item 1");
        *s.lock().unwrap() = Some((thread::current().name(), panicked));
    });
    let ran = seen.lock().unwrap().clone();
    leave.set();
    assert_eq!(
        ran,
        Some((thread::current().name(), true)),
        "the callback ran before add_done_callback returned, on the caller, with the panic"
    );
    assert!(matches!(f.result(), Err(TaskError::Panicked(_))));
    pool.shutdown(true, false);
    assert!(left_in_time.load(Ordering::SeqCst));
}

/// The same with a value: the callback still runs before `add_done_callback` returns, on
/// the caller's thread. A value that is neither `Clone` nor `Sync` can be lent to one
/// callback at a time, so the caller waits (visibly) for the worker's callback to hand it
/// back, then runs its own: never queued for later.
#[test]
fn add_done_callback_on_a_finished_future_runs_before_returning_while_the_worker_runs_earlier_callbacks()
 {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let f = gated(&pool, &gate, || 5u32);
    let (entered, leave) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let left_in_time = Arc::new(AtomicBool::new(false));
    f.add_done_callback(holding_callback(&entered, &leave, &left_in_time));
    gate.set();
    assert!(f.wait_timeout(PATIENCE));
    assert!(
        entered.wait_timeout(PATIENCE),
        "the worker runs the first callback"
    );

    // Hands the value back once this thread is seen waiting for it (or after PATIENCE).
    let me = thread::current();
    let l = Arc::clone(&leave);
    let releaser = start_named("releaser", move || {
        let waited = wait_until(PATIENCE, || me.state() == ThreadState::Waiting);
        l.set();
        waited
    });
    let seen = Arc::new(StdMutex::new(None));
    let s = Arc::clone(&seen);
    f.add_done_callback(move |r| *s.lock().unwrap() = Some((thread::current().name(), r.clone())));
    let ran = seen.lock().unwrap().clone();
    leave.set();
    assert_eq!(
        ran,
        Some((thread::current().name(), Ok(5))),
        "the callback ran before add_done_callback returned, on the caller, with the value"
    );
    assert!(releaser.join().unwrap(), "the caller waited for the value");
    assert_eq!(f.result(), Ok(5));
    pool.shutdown(true, false);
    assert!(left_in_time.load(Ordering::SeqCst));
}

/// Stress for item 1: threads add callbacks while the futures complete. Every callback
/// runs exactly once, and one added after `done()` was seen true has run by the time
/// `add_done_callback` returns.
#[test]
fn callbacks_added_by_many_threads_while_futures_complete_run_once_and_at_once_when_done() {
    const ROUNDS: usize = 300;
    const ADDERS: usize = 4;
    const PER_ADDER: usize = 8;
    let pool = ThreadPoolExecutor::new(2);
    let late = Arc::new(AtomicUsize::new(0));
    for round in 0..ROUNDS {
        let f = Arc::new(pool.submit(move || {
            // A little work, so that completions land among the additions.
            (0..(round % 7) * 200).fold(round, |a, b| std::hint::black_box(a ^ b))
        }));
        let runs: Arc<Vec<AtomicUsize>> = Arc::new(
            (0..ADDERS * PER_ADDER)
                .map(|_| AtomicUsize::new(0))
                .collect(),
        );
        let start = Arc::new(Barrier::new(ADDERS));
        let adders: Vec<_> = (0..ADDERS)
            .map(|a| {
                let (f, runs, start, late) = (
                    Arc::clone(&f),
                    Arc::clone(&runs),
                    Arc::clone(&start),
                    Arc::clone(&late),
                );
                thread::spawn(move || {
                    start.wait().unwrap();
                    for k in 0..PER_ADDER {
                        let slot = a * PER_ADDER + k;
                        let was_done = f.done();
                        let r = Arc::clone(&runs);
                        f.add_done_callback(move |_| {
                            r[slot].fetch_add(1, Ordering::SeqCst);
                        });
                        if was_done && runs[slot].load(Ordering::SeqCst) != 1 {
                            late.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for a in adders {
            a.join().unwrap();
        }
        assert!(f.wait_timeout(PATIENCE));
        assert!(
            wait_until(PATIENCE, || runs
                .iter()
                .all(|r| r.load(Ordering::SeqCst) >= 1)),
            "round {round}: a callback never ran"
        );
        assert!(
            runs.iter().all(|r| r.load(Ordering::SeqCst) == 1),
            "round {round}: a callback ran twice"
        );
    }
    assert_eq!(
        late.load(Ordering::SeqCst),
        0,
        "callbacks added to a done future had not run when add_done_callback returned"
    );
}

// ---- Item 2: `result` returns when the future is finished, not after its callbacks ----

/// CPython 3.11 `Future.set_exception` sets FINISHED and notifies the waiters under the
/// future's condition, then invokes the done callbacks; `result()` returns as soon as the
/// state is FINISHED. So a callback may wait for what the `result()` caller does next.
#[test]
fn result_of_a_failed_task_returns_without_waiting_for_its_done_callbacks() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let f = gated(&pool, &gate, || -> u8 { panic!("failed for item 2") });
    let (entered, after_result) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let callback_saw_it = Arc::new(AtomicBool::new(false));
    f.add_done_callback(holding_callback(&entered, &after_result, &callback_saw_it));
    gate.set();
    let outcome = f.result();
    // The callback waits for this: it can only come after `result` returned.
    after_result.set();
    assert!(matches!(outcome, Err(TaskError::Panicked(p)) if p.message() == "failed for item 2"));
    pool.shutdown(true, false);
    assert!(entered.is_set());
    assert!(
        callback_saw_it.load(Ordering::SeqCst),
        "result() returned while the callback still ran (it saw what came after)"
    );
}

/// Item 2 with a panic nobody reads by `result`: the callback that runs while `result`
/// has already returned still sees it, and the panic is not lost.
#[test]
fn a_callback_still_sees_the_panic_after_result_took_it() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let f = gated(&pool, &gate, || -> u8 { panic!("seen twice") });
    let (go, seen) = (Arc::new(Event::new()), Arc::new(StdMutex::new(None)));
    let (g, s) = (Arc::clone(&go), Arc::clone(&seen));
    f.add_done_callback(move |r| {
        assert!(g.wait_timeout(PATIENCE));
        *s.lock().unwrap() =
            Some(matches!(r, Err(TaskError::Panicked(p)) if p.message() == "seen twice"));
    });
    gate.set();
    assert!(matches!(f.result(), Err(TaskError::Panicked(_))));
    go.set();
    pool.shutdown(true, false);
    assert_eq!(*seen.lock().unwrap(), Some(true));
}

// ---- Item 3: `wait` lists every future that was done before it returned ----

/// CPython 3.11 changes a future's state and tells its waiters under the future's one
/// condition, so `wait` cannot miss a future that anyone saw done before it returned.
/// B is done (the task of A saw it so) before A completes; whichever report wakes
/// `wait(FirstCompleted)`, B must be in `done`. Threads parked on B widen the window
/// between B's completion and its report, where the bug lived.
#[test]
fn wait_lists_a_future_another_thread_saw_done_before_the_one_that_woke_it() {
    const ROUNDS: usize = 60;
    let pool = ThreadPoolExecutor::new(2);
    for round in 0..ROUNDS {
        let futures: Arc<OnceLock<Vec<Future<u32>>>> = Arc::new(OnceLock::new());
        let gate_b = Arc::new(Event::new());
        let fs = Arc::clone(&futures);
        // A: done as soon as it sees B done (spinning: it must not miss the moment).
        let a = pool.submit(move || {
            let end = Instant::now() + PATIENCE;
            let fs = loop {
                if let Some(fs) = fs.get() {
                    break fs;
                }
                assert!(Instant::now() < end, "the futures were never published");
                std::thread::yield_now();
            };
            while !fs[1].done() {
                assert!(Instant::now() < end, "B never completed");
                std::hint::spin_loop();
            }
            0
        });
        let b = gated(&pool, &gate_b, || 1);
        assert!(futures.set(vec![a, b]).is_ok());
        let parked_on_b: Vec<_> = (0..12)
            .map(|_| {
                let fs = Arc::clone(&futures);
                thread::spawn(move || fs.get().unwrap()[1].wait_timeout(PATIENCE))
            })
            .collect();
        let parked: Vec<_> = parked_on_b.iter().map(|p| p.info()).collect();
        let me = thread::current();
        let opener = start_named("opener", move || {
            let all_parked = wait_until(PATIENCE, || {
                me.state() == ThreadState::TimedWaiting
                    && parked
                        .iter()
                        .all(|p| p.state() == ThreadState::TimedWaiting)
            });
            gate_b.set();
            all_parked
        });
        let fs = futures.get().unwrap();
        let w = wait(fs, ReturnWhen::FirstCompleted, Some(PATIENCE));
        assert!(opener.join().unwrap());
        assert!(
            w.done.contains(&1),
            "round {round}: B was done before A, yet wait listed {w:?}"
        );
        for p in parked_on_b {
            assert!(p.join().unwrap());
        }
    }
}

/// Stress for item 3: 1,000 futures completing concurrently. Task 0 looks at the others,
/// notes every one it sees done, then fails; `wait(FirstException)` returns at that
/// failure (or when all are done), and must list as done every future task 0 saw done.
#[test]
fn wait_over_a_thousand_futures_completing_concurrently_lists_every_done_one() {
    const N: usize = 1_000;
    const ROUNDS: usize = 20;
    let pool = ThreadPoolExecutor::new(4);
    for round in 0..ROUNDS {
        let futures: Arc<OnceLock<Vec<Future<usize>>>> = Arc::new(OnceLock::new());
        let seen_done: Arc<StdMutex<Vec<usize>>> = Arc::default();
        let (fs, seen) = (Arc::clone(&futures), Arc::clone(&seen_done));
        let mut all = vec![pool.submit(move || -> usize {
            assert!(wait_until(PATIENCE, || fs.get().is_some()));
            let fs = fs.get().unwrap();
            // Let some complete, then note every one seen done.
            assert!(wait_until(PATIENCE, || fs[1..]
                .iter()
                .filter(|f| f.done())
                .count()
                > N / 4));
            let done: Vec<usize> = (1..N).filter(|&i| fs[i].done()).collect();
            *seen.lock().unwrap() = done;
            panic!("the first exception")
        })];
        all.extend(
            (1..N).map(|i| {
                pool.submit(move || (0..i % 50).fold(i, |a, b| std::hint::black_box(a + b)))
            }),
        );
        assert!(futures.set(all).is_ok());
        let fs = futures.get().unwrap();
        let w = wait(fs, ReturnWhen::FirstException, Some(PATIENCE));
        assert!(
            w.done.contains(&0),
            "round {round}: the failure ended the wait"
        );
        let missing: Vec<usize> = seen_done
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|i| !w.done.contains(i))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: seen done before the failure, yet listed not done: {missing:?}"
        );
        assert!(fs.iter().all(|f| f.wait_timeout(PATIENCE)));
    }
}
