//! `as_completed` and `wait`, after CPython's AsCompletedTests and WaitTests: futures in
//! every state (finished, failed, cancelled, running, pending), every `ReturnWhen`, with
//! and without timeouts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::futures::{
    Future, ReturnWhen, TaskError, ThreadPoolExecutor, WaitResult, WaitTimeout, as_completed,
    as_completed_timeout, wait,
};
use spindle::sync::Event;
use spindle::thread::{self, ThreadInfo, ThreadState};

const LONG: Duration = Duration::from_secs(20);

/// A task that waits for `gate`, then returns `value`.
fn gated(pool: &ThreadPoolExecutor, gate: &Arc<Event>, value: i32) -> Future<i32> {
    let g = Arc::clone(gate);
    pool.submit(move || {
        assert!(g.wait_timeout(LONG), "test gate never opened");
        value
    })
}

fn finished(pool: &ThreadPoolExecutor, value: i32) -> Future<i32> {
    let f = pool.submit(move || value);
    assert!(f.wait_timeout(LONG));
    f
}

fn failed(pool: &ThreadPoolExecutor) -> Future<i32> {
    let f = pool.submit(|| -> i32 { panic!("failed on purpose") });
    assert!(f.wait_timeout(LONG));
    f
}

/// A future cancelled before it ran (queued behind a task that holds the only worker).
fn cancelled() -> Future<i32> {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let blocker = gated(&pool, &gate, 0);
    let f = pool.submit(|| 1);
    assert!(f.cancel());
    gate.set();
    blocker.result().unwrap();
    f
}

/// Waits (bounded) until `t` parks as `state` on something whose name starts with `on`.
fn parks_on(t: &ThreadInfo, state: ThreadState, on: &str) -> bool {
    let end = Instant::now() + LONG;
    while Instant::now() < end {
        if t.state() == state && t.waiting_on().is_some_and(|w| w.starts_with(on)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn as_completed_yields_in_completion_order() {
    let pool = ThreadPoolExecutor::new(3);
    let gates: Vec<_> = (0..3).map(|_| Arc::new(Event::new())).collect();
    let futures: Vec<_> = (0..3).map(|i| gated(&pool, &gates[i], i as i32)).collect();
    let mut it = as_completed(futures);
    for i in [2usize, 0, 1] {
        gates[i].set();
        let f = it.next().expect("one more future");
        assert!(f.done());
        assert_eq!(f.result(), Ok(i as i32));
    }
    assert!(it.next().is_none());
}

#[test]
fn as_completed_yields_every_future_whatever_its_outcome() {
    // CPython's test_no_timeout.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let futures = vec![
        finished(&pool, 1),
        failed(&pool),
        cancelled(),
        gated(&pool, &gate, 4),
    ];
    let ids: HashSet<u64> = futures.iter().map(Future::task_id).collect();
    let mut it = as_completed(futures);
    assert_eq!(it.len(), 4);
    let mut yielded = HashSet::new();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let f = it.next().unwrap();
        yielded.insert(f.task_id());
        outcomes.push(f.result());
    }
    gate.set();
    let last = it.next().unwrap();
    yielded.insert(last.task_id());
    assert_eq!(last.result(), Ok(4));
    assert!(it.next().is_none());
    assert_eq!(yielded, ids);
    assert!(outcomes.contains(&Ok(1)));
    assert!(outcomes.contains(&Err(TaskError::Cancelled)));
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(TaskError::Panicked(_))))
    );
}

#[test]
fn as_completed_gives_the_done_ones_first_in_list_order() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let futures = vec![
        gated(&pool, &gate, 0),
        finished(&pool, 1),
        finished(&pool, 2),
    ];
    let mut it = as_completed(futures);
    assert_eq!(it.next().unwrap().result(), Ok(1));
    assert_eq!(it.next().unwrap().result(), Ok(2));
    gate.set();
    assert_eq!(it.next().unwrap().result(), Ok(0));
}

#[test]
fn as_completed_with_zero_timeout_yields_the_done_then_one_timeout() {
    // CPython's test_zero_timeout.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let futures = vec![
        finished(&pool, 1),
        gated(&pool, &gate, 2),
        failed(&pool),
        cancelled(),
    ];
    let pending_id = futures[1].task_id();
    let mut it = as_completed_timeout(futures, Duration::ZERO);
    let mut done = 0;
    let mut timeouts = 0;
    for item in it.by_ref() {
        match item {
            Ok(f) => {
                assert!(f.done());
                done += 1;
            }
            Err(e) => {
                assert_eq!(e, WaitTimeout);
                timeouts += 1;
            }
        }
    }
    assert_eq!((done, timeouts), (3, 1));
    assert!(it.next().is_none());
    let rest = it.into_remaining();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].task_id(), pending_id);
    gate.set();
    assert_eq!(rest.into_iter().next().unwrap().result(), Ok(2));
}

#[test]
fn as_completed_timeout_measures_from_the_call() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let start = Instant::now();
    let mut it = as_completed_timeout(vec![gated(&pool, &gate, 1)], Duration::from_millis(50));
    assert!(it.next().unwrap().is_err());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(50));
    assert!(waited < LONG);
    gate.set();
}

#[test]
fn as_completed_over_nothing_yields_nothing() {
    assert!(as_completed(Vec::<Future<u8>>::new()).next().is_none());
    assert!(
        as_completed_timeout(Vec::<Future<u8>>::new(), Duration::ZERO)
            .next()
            .is_none()
    );
}

#[test]
fn dropping_as_completed_early_leaves_the_rest_running() {
    // The future not yet yielded is dropped with the iterator while its task still waits
    // in the queue (behind one that holds the only worker): dropping is not cancelling,
    // so the task must still run, to the end, once the worker is free.
    let pool = ThreadPoolExecutor::new(1);
    let done = finished(&pool, 1);
    let gate = Arc::new(Event::new());
    let blocker = gated(&pool, &gate, 0);
    let ran_to_the_end = Arc::new(Event::new());
    let r = Arc::clone(&ran_to_the_end);
    let queued = pool.submit(move || {
        r.set();
        2
    });
    let mut it = as_completed(vec![done, queued]);
    assert_eq!(it.next().unwrap().result(), Ok(1));
    drop(it);
    gate.set();
    assert_eq!(blocker.result(), Ok(0));
    assert!(
        ran_to_the_end.wait_timeout(LONG),
        "the task of a future dropped with the iterator never ran"
    );
    pool.shutdown(true, false);
}

#[test]
fn a_thread_in_as_completed_reads_waiting() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let futures = vec![gated(&pool, &gate, 1), pool.submit(|| 2)];
    let consumer = thread::spawn(move || {
        as_completed(futures)
            .map(|f| f.result().unwrap())
            .collect::<Vec<_>>()
    });
    let seen = parks_on(
        &consumer.info(),
        ThreadState::Waiting,
        "as_completed over 2 futures",
    );
    gate.set();
    assert_eq!(consumer.join().unwrap(), [1, 2]);
    assert!(seen);
}

#[test]
fn as_completed_scales_to_many_futures() {
    let pool = ThreadPoolExecutor::new(4);
    let futures: Vec<_> = (0..20_000u64).map(|i| pool.submit(move || i)).collect();
    let mut seen = vec![false; 20_000];
    for f in as_completed(futures) {
        let i = f.result().unwrap() as usize;
        assert!(!seen[i], "yielded twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn wait_first_completed() {
    // CPython's test_first_completed.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let quick_gate = Arc::new(Event::new());
    let fs = vec![gated(&pool, &quick_gate, 42), gated(&pool, &gate, 0)];
    quick_gate.set();
    let w = wait(&fs, ReturnWhen::FirstCompleted, None);
    assert_eq!(
        w,
        WaitResult {
            done: vec![0],
            not_done: vec![1]
        }
    );
    gate.set();
}

#[test]
fn wait_first_completed_some_already_completed() {
    // CPython's test_first_completed_some_already_completed.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let fs = vec![cancelled(), finished(&pool, 1), gated(&pool, &gate, 2)];
    let w = wait(&fs, ReturnWhen::FirstCompleted, Some(LONG));
    assert_eq!(w.done, [0, 1]);
    assert_eq!(w.not_done, [2]);
    gate.set();
}

#[test]
fn wait_first_exception() {
    // CPython's test_first_exception: returns at the failure, the slow one still runs.
    // Ordered by state, not sleeps: the failing task waits until the first one is done
    // (seen through the futures themselves), and `wait` is already parked by then.
    let pool = ThreadPoolExecutor::new(3);
    let (first_gate, fail_gate, slow_gate) = (
        Arc::new(Event::new()),
        Arc::new(Event::new()),
        Arc::new(Event::new()),
    );
    let fs = Arc::new(vec![
        gated(&pool, &first_gate, 42),
        {
            let g = Arc::clone(&fail_gate);
            pool.submit(move || -> i32 {
                assert!(g.wait_timeout(LONG), "test gate never opened");
                panic!("first exception")
            })
        },
        gated(&pool, &slow_gate, 3),
    ]);
    let me = thread::current();
    let sequencer = {
        let fs = Arc::clone(&fs);
        thread::spawn(move || {
            let parked = parks_on(&me, ThreadState::Waiting, "wait(FirstException)");
            first_gate.set();
            // A success does not end a FirstException wait; the failure comes after it.
            let first_done = fs[0].wait_timeout(LONG);
            fail_gate.set();
            parked && first_done
        })
    };
    let w = wait(&fs, ReturnWhen::FirstException, None);
    assert!(sequencer.join().unwrap());
    assert_eq!(w.done, [0, 1]);
    assert_eq!(w.not_done, [2]);
    slow_gate.set();
}

#[test]
fn wait_first_exception_some_already_complete() {
    // CPython's test_first_exception_some_already_complete.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let fs = vec![
        finished(&pool, 1),
        cancelled(),
        gated(&pool, &gate, 2),
        pool.submit(|| -> i32 {
            thread::sleep(Duration::from_millis(5));
            panic!("late failure")
        }),
    ];
    let w = wait(&fs, ReturnWhen::FirstException, Some(LONG));
    assert!(w.done.contains(&0) && w.done.contains(&1) && w.done.contains(&3));
    assert_eq!(w.not_done, [2]);
    gate.set();
}

#[test]
fn wait_first_exception_one_already_failed() {
    // CPython's test_first_exception_one_already_failed.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let fs = vec![failed(&pool), gated(&pool, &gate, 1)];
    let w = wait(&fs, ReturnWhen::FirstException, None);
    assert_eq!((w.done, w.not_done), (vec![0], vec![1]));
    gate.set();
}

#[test]
fn wait_first_exception_without_failures_waits_for_all() {
    // A cancellation is not an exception.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let fs = vec![cancelled(), finished(&pool, 1), gated(&pool, &gate, 2)];
    let w = wait(
        &fs,
        ReturnWhen::FirstException,
        Some(Duration::from_millis(30)),
    );
    assert_eq!(w.not_done, [2], "a cancellation did not end the wait");
    gate.set();
    let w = wait(&fs, ReturnWhen::FirstException, None);
    assert_eq!(w.done, [0, 1, 2]);
}

#[test]
fn wait_all_completed() {
    // CPython's test_all_completed.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let fs = vec![
        finished(&pool, 1),
        failed(&pool),
        cancelled(),
        gated(&pool, &gate, 4),
    ];
    let g = Arc::clone(&gate);
    let opener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        g.set();
    });
    let w = wait(&fs, ReturnWhen::AllCompleted, None);
    assert_eq!(w.done, [0, 1, 2, 3]);
    assert!(w.not_done.is_empty());
    opener.join().unwrap();
}

#[test]
fn wait_timeout_returns_what_is_done_so_far() {
    // CPython's test_timeout.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let fs = vec![finished(&pool, 1), failed(&pool), gated(&pool, &gate, 3)];
    let start = Instant::now();
    let w = wait(
        &fs,
        ReturnWhen::AllCompleted,
        Some(Duration::from_millis(50)),
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!((w.done, w.not_done), (vec![0, 1], vec![2]));
    gate.set();
}

#[test]
fn a_thread_in_wait_reads_its_state_and_what_it_waits_for() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let fs = vec![gated(&pool, &gate, 1), finished(&pool, 2)];
    let w = thread::spawn(move || wait(&fs, ReturnWhen::AllCompleted, Some(LONG)));
    let seen = parks_on(
        &w.info(),
        ThreadState::TimedWaiting,
        "wait(AllCompleted) over 2 futures",
    );
    gate.set();
    assert_eq!(w.join().unwrap().done, [0, 1]);
    assert!(seen);
}

#[test]
fn wait_over_nothing_returns_at_once() {
    for mode in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        assert_eq!(
            wait(&Vec::<Future<u8>>::new(), mode, None),
            WaitResult::default()
        );
    }
}

#[test]
fn the_same_futures_can_be_waited_on_repeatedly_and_from_two_threads() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Arc::new(Event::new());
    let fs = Arc::new(vec![gated(&pool, &gate, 1), gated(&pool, &gate, 2)]);
    let watchers: Vec<_> = (0..2)
        .map(|_| {
            let fs = Arc::clone(&fs);
            thread::spawn(move || wait(&fs, ReturnWhen::AllCompleted, Some(LONG)).done)
        })
        .collect();
    assert!(
        wait(
            &fs,
            ReturnWhen::FirstCompleted,
            Some(Duration::from_millis(10))
        )
        .done
        .is_empty()
    );
    gate.set();
    for w in watchers {
        assert_eq!(w.join().unwrap(), [0, 1]);
    }
}
