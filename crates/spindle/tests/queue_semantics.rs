//! CPython's `Lib/test/test_queue.py` (3.13), ported: `BaseQueueTestMixin`'s scenarios,
//! each run against `Queue`, `LifoQueue` and `PriorityQueue`. Test names follow
//! CPython's. Where CPython's trigger thread sleeps 0.1 s and hopes the other thread has
//! blocked by then, these tests see it blocked: its state reads `Waiting` on the queue.
//!
//! Not ported: `test_negative_timeout_raises_exception` (a `Duration` cannot be
//! negative), `test_shrinking_queue` (`maxsize` cannot change), `FailingQueueTest` (no
//! overridable `_put`/`_get`) and `SimpleQueue`'s tests (spindle has no `SimpleQueue`).

mod queue_common;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use queue_common::{AnyQueue, do_blocking_test, join_soon, on_thread};
use spindle::queue::{GetError, PutError};
use spindle::sync::{Barrier, Event};

const QUEUE_SIZE: usize = 5;
const SHORT: Duration = Duration::from_millis(10);
const LONG: Duration = Duration::from_secs(10);

fn qfull<Q: AnyQueue>(q: &Q) -> bool {
    q.maxsize().is_some_and(|max| q.len() == max)
}

/// `basic_queue_test`: order, fullness, and each blocking and non-blocking call.
fn basic_queue_test<Q: AnyQueue>(q: &Arc<Q>) {
    assert_eq!(q.len(), 0, "call this with an empty queue");
    assert!(q.is_empty());
    assert!(!q.is_full());
    q.put(111).unwrap();
    q.put(333).unwrap();
    q.put(222).unwrap();
    let actual = [q.get().unwrap(), q.get().unwrap(), q.get().unwrap()];
    assert_eq!(
        actual,
        Q::ORDER_OF_111_333_222,
        "didn't queue the data in order"
    );
    for i in 0..QUEUE_SIZE as i64 - 1 {
        q.put(i).unwrap();
        assert!(q.len() > 0, "queue should not be empty");
    }
    assert!(!qfull(&**q), "queue should not be full");
    let last = 2 * QUEUE_SIZE as i64;
    let full = 3 * 2 * QUEUE_SIZE as i64;
    q.put(last).unwrap();
    assert!(qfull(&**q), "queue should be full");
    assert!(!q.is_empty());
    assert!(q.is_full());
    assert_eq!(
        q.try_put(full),
        Err(PutError::Full(full)),
        "didn't block when full"
    );
    assert_eq!(
        q.put_timeout(full, SHORT),
        Err(PutError::Full(full)),
        "didn't time out"
    );
    // A blocking put, unblocked by a get.
    let unclog = |q: &Q| assert!(q.get().is_ok());
    let got = do_blocking_test(q, move |q| q.put(full), unclog);
    assert_eq!(got, Ok(()));
    let got = do_blocking_test(q, move |q| q.put_timeout(full, LONG), unclog);
    assert_eq!(got, Ok(()));
    // Empty it.
    for _ in 0..QUEUE_SIZE {
        q.get().unwrap();
    }
    assert_eq!(q.len(), 0, "queue should be empty");
    assert_eq!(q.try_get(), Err(GetError::Empty), "didn't block when empty");
    assert_eq!(
        q.get_timeout(SHORT),
        Err(GetError::Empty),
        "didn't time out"
    );
    // A blocking get, unblocked by a put.
    let got = do_blocking_test(q, |q| q.get(), |q| q.put(-7).unwrap());
    assert_eq!(got, Ok(-7));
    let got = do_blocking_test(q, |q| q.get_timeout(LONG), |q| q.put(-8).unwrap());
    assert_eq!(got, Ok(-8));
}

fn test_basic<Q: AnyQueue>() {
    // Twice, to see that the same queue works again.
    let q = Arc::new(Q::bounded(QUEUE_SIZE));
    basic_queue_test(&q);
    basic_queue_test(&q);
}

/// `worker`: sums items until it gets a negative one.
fn worker<Q: AnyQueue>(q: &Q, cum: &AtomicI64) {
    loop {
        let x = q.get().unwrap();
        if x < 0 {
            q.task_done().unwrap();
            return;
        }
        cum.fetch_add(x, Ordering::SeqCst);
        q.task_done().unwrap();
    }
}

fn queue_join_test<Q: AnyQueue>(q: &Arc<Q>) {
    let cum = Arc::new(AtomicI64::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let cum = Arc::clone(&cum);
            on_thread(q, move |q| worker(q, &cum))
        })
        .collect();
    for i in 0..100 {
        q.put(i).unwrap();
    }
    assert!(q.join_timeout(LONG), "join did not return");
    assert_eq!(
        cum.load(Ordering::SeqCst),
        (0..100).sum::<i64>(),
        "join() did not block until all tasks were done"
    );
    for _ in 0..2 {
        q.put(-1).unwrap(); // tell the workers to stop
    }
    q.join(); // joining twice works
    for w in workers {
        join_soon(w);
    }
}

fn test_queue_task_done<Q: AnyQueue>() {
    let q = Q::new();
    assert!(
        q.task_done().is_err(),
        "did not detect the task count going negative"
    );
    assert_eq!(q.unfinished_tasks(), 0);
}

fn test_queue_join<Q: AnyQueue>() {
    let q = Arc::new(Q::new());
    queue_join_test(&q);
    queue_join_test(&q);
    assert!(
        q.task_done().is_err(),
        "did not detect the task count going negative"
    );
    assert_eq!(
        q.unfinished_tasks(),
        0,
        "a failed task_done changes nothing"
    );
}

fn test_nowait<Q: AnyQueue>() {
    let q = Q::bounded(QUEUE_SIZE);
    for _ in 0..QUEUE_SIZE {
        q.try_put(1).unwrap();
    }
    assert_eq!(q.try_put(1), Err(PutError::Full(1)));
    for _ in 0..QUEUE_SIZE {
        q.try_get().unwrap();
    }
    assert_eq!(q.try_get(), Err(GetError::Empty));
}

fn test_shutdown_empty<Q: AnyQueue>() {
    let q = Q::new();
    q.shutdown(false);
    assert_eq!(q.put(1), Err(PutError::ShutDown(1)));
    assert_eq!(q.get(), Err(GetError::ShutDown));
}

fn test_shutdown_nonempty<Q: AnyQueue>() {
    let q = Q::new();
    q.put(1).unwrap();
    q.shutdown(false);
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.get(), Err(GetError::ShutDown));
}

fn test_shutdown_immediate<Q: AnyQueue>() {
    let q = Q::new();
    q.put(1).unwrap();
    q.shutdown(true);
    assert_eq!(q.get(), Err(GetError::ShutDown));
}

fn test_shutdown_allowed_transitions<Q: AnyQueue>() {
    let q = Q::new();
    assert!(!q.is_shutdown());
    q.shutdown(false);
    assert!(q.is_shutdown());
    q.shutdown(true);
    assert!(q.is_shutdown());
    q.shutdown(false);
    assert!(q.is_shutdown());
}

fn shutdown_all_methods_in_one_thread<Q: AnyQueue>(immediate: bool) {
    let q = Q::bounded(2);
    q.put(1).unwrap();
    q.try_put(2).unwrap();
    q.shutdown(immediate);
    assert_eq!(q.put(3), Err(PutError::ShutDown(3)));
    assert_eq!(q.try_put(4), Err(PutError::ShutDown(4)));
    if immediate {
        assert_eq!(q.get(), Err(GetError::ShutDown));
        assert_eq!(q.try_get(), Err(GetError::ShutDown));
        assert!(q.task_done().is_err());
        q.join();
    } else {
        let mut got = [q.get().unwrap(), 0];
        q.task_done().unwrap();
        got[1] = q.get().unwrap();
        q.task_done().unwrap();
        got.sort();
        assert_eq!(got, [1, 2]);
        q.join();
        // Shut down and empty: every kind of get fails with ShutDown.
        assert_eq!(q.get(), Err(GetError::ShutDown));
        assert_eq!(q.try_get(), Err(GetError::ShutDown));
        assert_eq!(
            q.get_timeout(Duration::from_secs(1)),
            Err(GetError::ShutDown)
        );
    }
}

fn test_shutdown_all_methods_in_one_thread<Q: AnyQueue>() {
    shutdown_all_methods_in_one_thread::<Q>(false);
}

fn test_shutdown_immediate_all_methods_in_one_thread<Q: AnyQueue>() {
    shutdown_all_methods_in_one_thread::<Q>(true);
}

/// `_shutdown_all_methods_in_many_threads`: writers put until one of them shuts the
/// queue down half-way; readers poll with `try_get` until `ShutDown`; with `immediate`,
/// joiners wait too and must return.
fn shutdown_all_methods_in_many_threads<Q: AnyQueue>(immediate: bool) {
    const WRITERS: usize = 4;
    const READERS: usize = 6;
    const JOINERS: usize = 2;
    const MSGS: usize = 1024 * 16;
    const PER_WRITER: usize = MSGS / WRITERS;
    const WHEN_SHUTDOWN: usize = PER_WRITER / 2;

    let q = Arc::new(Q::new());
    let parties = WRITERS + READERS + if immediate { JOINERS } else { 0 };
    let start = Arc::new(Barrier::new(parties));
    let shutdown_now = Arc::new(Event::new());
    let shutdown_claimed = Arc::new(AtomicBool::new(false));
    let res_puts = Arc::new(Mutex::new(Vec::new()));
    let res_gets = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();

    for _ in 0..WRITERS {
        let (start, shutdown_now, claimed, res_puts) = (
            Arc::clone(&start),
            Arc::clone(&shutdown_now),
            Arc::clone(&shutdown_claimed),
            Arc::clone(&res_puts),
        );
        threads.push(on_thread(&q, move |q| {
            for i in 0..WHEN_SHUTDOWN / 2 {
                q.put(i as i64).unwrap();
            }
            start.wait().unwrap();
            for i in WHEN_SHUTDOWN / 2..PER_WRITER {
                if q.put(i as i64).is_err() {
                    res_puts.lock().unwrap().push(false);
                    break;
                }
                // Exactly one writer triggers the shutdown.
                if i == WHEN_SHUTDOWN && !claimed.swap(true, Ordering::SeqCst) {
                    shutdown_now.set();
                    res_puts.lock().unwrap().push(true);
                }
            }
        }));
    }
    for _ in 0..READERS {
        let (start, res_gets) = (Arc::clone(&start), Arc::clone(&res_gets));
        threads.push(on_thread(&q, move |q| {
            q.get().unwrap();
            q.task_done().unwrap();
            start.wait().unwrap();
            loop {
                match q.try_get() {
                    Ok(_) => q.task_done().unwrap(),
                    Err(GetError::ShutDown) => {
                        res_gets.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    Err(GetError::Empty) => std::thread::yield_now(),
                }
            }
        }));
    }
    let res_shutdown = {
        let shutdown_now = Arc::clone(&shutdown_now);
        on_thread(&q, move |q| {
            assert!(
                shutdown_now.wait_timeout(LONG),
                "no writer reached the shutdown point"
            );
            q.shutdown(immediate);
            q.len() == 0
        })
    };
    if immediate {
        for _ in 0..JOINERS {
            let start = Arc::clone(&start);
            threads.push(on_thread(&q, move |q| {
                start.wait().unwrap();
                assert!(
                    q.join_timeout(LONG),
                    "join did not return after shutdown(true)"
                );
            }));
        }
    }
    for t in threads {
        join_soon(t);
    }
    let emptied_by_shutdown = join_soon(res_shutdown);

    assert!(res_puts.lock().unwrap().contains(&true));
    assert_eq!(res_gets.load(Ordering::SeqCst), READERS);
    if immediate {
        assert!(emptied_by_shutdown);
        assert!(q.is_empty());
    }
}

fn test_shutdown_all_methods_in_many_threads<Q: AnyQueue>() {
    shutdown_all_methods_in_many_threads::<Q>(false);
}

fn test_shutdown_immediate_all_methods_in_many_threads<Q: AnyQueue>() {
    shutdown_all_methods_in_many_threads::<Q>(true);
}

/// `_get`: waits for `go`, then gets; whether the outcome was the expected one.
fn get_after<Q: AnyQueue>(
    q: &Arc<Q>,
    go: &Arc<Event>,
    expect_shutdown: bool,
) -> spindle::thread::JoinHandle<bool> {
    let go = Arc::clone(go);
    on_thread(q, move |q| {
        assert!(go.wait_timeout(LONG));
        match q.get() {
            Ok(_) => !expect_shutdown,
            Err(_) => expect_shutdown,
        }
    })
}

fn put_after<Q: AnyQueue>(
    q: &Arc<Q>,
    item: i64,
    go: &Arc<Event>,
    expect_shutdown: bool,
) -> spindle::thread::JoinHandle<bool> {
    let go = Arc::clone(go);
    on_thread(q, move |q| {
        assert!(go.wait_timeout(LONG));
        match q.put(item) {
            Ok(()) => !expect_shutdown,
            Err(PutError::ShutDown(back)) => expect_shutdown && back == item,
            Err(PutError::Full(_)) => false,
        }
    })
}

/// `_get_task_done`: waits for `go`, gets and marks done; whether it got an item.
fn get_task_done_after<Q: AnyQueue>(
    q: &Arc<Q>,
    go: &Arc<Event>,
) -> spindle::thread::JoinHandle<bool> {
    let go = Arc::clone(go);
    on_thread(q, move |q| {
        assert!(go.wait_timeout(LONG));
        match q.get() {
            Ok(_) => {
                q.task_done().unwrap();
                true
            }
            Err(_) => false,
        }
    })
}

fn join_on_thread<Q: AnyQueue>(q: &Arc<Q>) -> spindle::thread::JoinHandle<bool> {
    on_thread(q, |q| q.join_timeout(LONG))
}

fn shutdown_get<Q: AnyQueue>(immediate: bool) {
    let q = Arc::new(Q::bounded(2));
    let go = Arc::new(Event::new());
    q.put(1).unwrap();
    q.put(2).unwrap(); // full
    let threads: Vec<_> = if immediate {
        (0..2).map(|_| get_after(&q, &go, true)).collect()
    } else {
        // Two of the three get the items left; one gets ShutDown.
        (0..3).map(|_| get_after(&q, &go, false)).collect()
    };
    q.shutdown(immediate);
    go.set();
    let mut results: Vec<bool> = threads.into_iter().map(join_soon).collect();
    results.sort();
    if immediate {
        assert_eq!(results, [true, true]);
    } else {
        assert_eq!(results, [false, true, true]);
    }
}

fn test_shutdown_get<Q: AnyQueue>() {
    shutdown_get::<Q>(false);
}

fn test_shutdown_immediate_get<Q: AnyQueue>() {
    shutdown_get::<Q>(true);
}

fn shutdown_put<Q: AnyQueue>(immediate: bool) {
    let q = Arc::new(Q::bounded(2));
    let go = Arc::new(Event::new());
    q.put(1).unwrap();
    q.put(2).unwrap(); // full
    let threads = [put_after(&q, 3, &go, true), put_after(&q, 4, &go, true)];
    q.shutdown(immediate);
    go.set();
    let results: Vec<bool> = threads.into_iter().map(join_soon).collect();
    assert_eq!(results, [true, true]);
}

fn test_shutdown_put<Q: AnyQueue>() {
    shutdown_put::<Q>(false);
}

fn test_shutdown_immediate_put<Q: AnyQueue>() {
    shutdown_put::<Q>(true);
}

fn shutdown_join<Q: AnyQueue>(immediate: bool) {
    let q = Arc::new(Q::new());
    let go = Arc::new(Event::new());
    q.put(1).unwrap();
    let mut joiners = vec![join_on_thread(&q), join_on_thread(&q)];
    let getters: Vec<_> = if immediate {
        Vec::new()
    } else {
        (0..q.len()).map(|_| get_task_done_after(&q, &go)).collect()
    };
    q.shutdown(immediate);
    go.set();
    let results: Vec<bool> = joiners.drain(..).map(join_soon).collect();
    assert_eq!(results, [true, true]);
    for g in getters {
        assert!(join_soon(g));
    }
}

fn test_shutdown_immediate_join<Q: AnyQueue>() {
    shutdown_join::<Q>(true);
}

fn test_shutdown_join<Q: AnyQueue>() {
    shutdown_join::<Q>(false);
}

fn shutdown_put_join<Q: AnyQueue>(immediate: bool) {
    let q = Arc::new(Q::bounded(2));
    let go = Arc::new(Event::new());
    q.put(1).unwrap(); // not full
    let putter = put_after(&q, 3, &go, true);
    let joiner = join_on_thread(&q);
    assert_eq!(q.unfinished_tasks(), 1);
    q.shutdown(immediate);
    go.set();
    if immediate {
        assert_eq!(q.try_get(), Err(GetError::ShutDown));
    } else {
        assert_eq!(q.get(), Ok(1));
        q.task_done().unwrap();
    }
    assert!(join_soon(putter));
    assert!(join_soon(joiner));
}

fn test_shutdown_immediate_put_join<Q: AnyQueue>() {
    shutdown_put_join::<Q>(true);
}

fn test_shutdown_put_join<Q: AnyQueue>() {
    shutdown_put_join::<Q>(false);
}

fn test_shutdown_get_task_done_join<Q: AnyQueue>() {
    let q = Arc::new(Q::bounded(2));
    let go = Arc::new(Event::new());
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.unfinished_tasks(), q.len());
    let getters = [get_task_done_after(&q, &go), get_task_done_after(&q, &go)];
    let joiners = [join_on_thread(&q), join_on_thread(&q)];
    go.set();
    q.shutdown(false);
    for g in getters {
        assert!(join_soon(g), "a getter found no item");
    }
    for j in joiners {
        assert!(join_soon(j), "a joiner did not return");
    }
}

fn test_shutdown_pending_get<Q: AnyQueue>() {
    let q = Arc::new(Q::new());
    let getter = on_thread(&q, |q| q.get());
    q.shutdown(false);
    assert_eq!(join_soon(getter), Err(GetError::ShutDown));
}

for_each_queue!(
    test_basic,
    test_queue_task_done,
    test_queue_join,
    test_nowait,
    test_shutdown_empty,
    test_shutdown_nonempty,
    test_shutdown_immediate,
    test_shutdown_allowed_transitions,
    test_shutdown_all_methods_in_one_thread,
    test_shutdown_immediate_all_methods_in_one_thread,
    test_shutdown_all_methods_in_many_threads,
    test_shutdown_immediate_all_methods_in_many_threads,
    test_shutdown_get,
    test_shutdown_immediate_get,
    test_shutdown_put,
    test_shutdown_immediate_put,
    test_shutdown_immediate_join,
    test_shutdown_join,
    test_shutdown_immediate_put_join,
    test_shutdown_put_join,
    test_shutdown_get_task_done_join,
    test_shutdown_pending_get,
);
