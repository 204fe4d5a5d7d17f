//! What spindle adds to Python's queues: states and names you can see, errors with
//! messages, and the Rust traits users expect.

mod queue_common;

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Duration;

use queue_common::{AnyQueue, PATIENCE, eventually, join_soon, on_thread};
use spindle::queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, TaskDoneError};
use spindle::thread::{self, ThreadState};

fn state_of_a_thread_blocked_in<Q: AnyQueue, R: Send + 'static>(
    q: &Arc<Q>,
    call: impl FnOnce(&Q) -> R + Send + 'static,
) -> (ThreadState, Option<String>, spindle::thread::JoinHandle<R>) {
    let h = on_thread(q, call);
    let info = h.info();
    assert!(
        eventually(|| matches!(
            info.state(),
            ThreadState::Waiting | ThreadState::TimedWaiting
        )),
        "the thread never parked"
    );
    (info.state(), info.waiting_on(), h)
}

fn test_blocked_threads_read_waiting_and_name_the_queue<Q: AnyQueue>() {
    let q = Arc::new(Q::named_bounded("jobs", 1));
    let expected = Some(format!("{} \"jobs\"", Q::KIND));

    let (state, on, getter) = state_of_a_thread_blocked_in(&q, |q| q.get());
    assert_eq!((state, on), (ThreadState::Waiting, expected.clone()));
    q.put(1).unwrap();
    assert_eq!(join_soon(getter), Ok(1));

    let (state, on, getter) = state_of_a_thread_blocked_in(&q, |q| q.get_timeout(PATIENCE));
    assert_eq!((state, on), (ThreadState::TimedWaiting, expected.clone()));
    q.put(2).unwrap();
    assert_eq!(join_soon(getter), Ok(2));

    q.task_done().unwrap();
    q.task_done().unwrap();
    q.put(3).unwrap();
    let (state, on, putter) = state_of_a_thread_blocked_in(&q, |q| q.put(4));
    assert_eq!((state, on), (ThreadState::Waiting, expected.clone()));
    let (state, on, timed_putter) =
        state_of_a_thread_blocked_in(&q, |q| q.put_timeout(5, PATIENCE));
    assert_eq!((state, on), (ThreadState::TimedWaiting, expected.clone()));
    let (state, on, joiner) = state_of_a_thread_blocked_in(&q, |q| q.join());
    assert_eq!((state, on), (ThreadState::Waiting, expected));
    // Wakes the putters, and drops item 3 as done, which releases the joiner.
    q.shutdown(true);
    assert_eq!(join_soon(putter), Err(PutError::ShutDown(4)));
    assert_eq!(join_soon(timed_putter), Err(PutError::ShutDown(5)));
    join_soon(joiner);
    // A thread that is done waiting reads Runnable again, waiting on nothing.
    let me = thread::current();
    assert_eq!((me.state(), me.waiting_on()), (ThreadState::Runnable, None));
}

fn test_bounded_zero_panics_with_a_helpful_message<Q: AnyQueue>() {
    let err = std::panic::catch_unwind(|| Q::bounded(0)).expect_err("bounded(0) must panic");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    assert!(msg.contains("maxsize must be at least 1"), "{msg}");
    assert!(msg.contains(&format!("{}::new()", Q::KIND)), "{msg}");
}

fn test_unbounded_queues_are_never_full<Q: AnyQueue>() {
    let q = Q::new();
    for n in 0..10_000 {
        q.try_put(n).unwrap();
    }
    assert!(!q.is_full());
    assert_eq!((q.maxsize(), q.len()), (None, 10_000));
}

fn test_debug_shows_the_queues_state<Q: AnyQueue>() {
    let q = Q::named_bounded("orders", 3);
    q.put(1).unwrap();
    let shown = format!("{q:?}");
    for part in [
        Q::KIND,
        "\"orders\"",
        "len: 1",
        "maxsize: Some(3)",
        "unfinished_tasks: 1",
    ] {
        assert!(shown.contains(part), "{shown} lacks {part}");
    }
}

for_each_queue!(
    test_blocked_threads_read_waiting_and_name_the_queue,
    test_bounded_zero_panics_with_a_helpful_message,
    test_unbounded_queues_are_never_full,
    test_debug_shows_the_queues_state,
);

#[test]
fn an_unnamed_queue_is_named_by_where_it_was_created() {
    let q = Arc::new(Queue::<u8>::new());
    let line = line!() - 1; // the line above
    let getter = on_thread(&q, |q| q.get());
    let info = getter.info();
    assert!(eventually(|| info.state() == ThreadState::Waiting));
    let on = info.waiting_on().unwrap();
    let prefix = format!("Queue created at {}:{line}:", file!());
    assert!(on.starts_with(&prefix), "{on} does not start with {prefix}");
    q.shutdown(false);
    assert_eq!(join_soon(getter), Err(GetError::ShutDown));
}

#[test]
fn bounded_zero_panics_at_the_callers_line() {
    let err = std::panic::catch_unwind(|| {
        let _ = LifoQueue::<u8>::bounded(0);
    });
    assert!(err.is_err());
    // The message names the type that was misused.
    let err = std::panic::catch_unwind(|| PriorityQueue::<u8>::bounded(0)).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("PriorityQueue::bounded: maxsize must be at least 1"),
        "{msg}"
    );
}

#[test]
fn priority_queue_orders_tuples_and_reverse() {
    let q = PriorityQueue::new();
    for (priority, seq, job) in [
        (2, 0, "write"),
        (1, 1, "read"),
        (2, 2, "sync"),
        (1, 3, "open"),
    ] {
        q.put((priority, seq, job)).unwrap();
    }
    let jobs: Vec<_> = std::iter::from_fn(|| q.try_get().ok())
        .map(|(_, _, j)| j)
        .collect();
    assert_eq!(jobs, ["read", "open", "write", "sync"]);

    let largest_first = PriorityQueue::new();
    for n in [3, 9, 1] {
        largest_first.put(Reverse(n)).unwrap();
    }
    assert_eq!(largest_first.get(), Ok(Reverse(9)));
}

#[test]
fn errors_have_messages_and_give_items_back() {
    let full: PutError<String> = PutError::Full("job".into());
    assert_eq!(full.to_string(), "the queue is full");
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert!(full.is_full() && !full.is_shut_down());
    assert_eq!(full.clone().into_inner(), "job");
    let shut: PutError<String> = PutError::ShutDown("job".into());
    assert_eq!(shut.to_string(), "the queue is shut down");
    assert!(shut.is_shut_down());
    assert_ne!(full, shut);
    assert_eq!(GetError::Empty.to_string(), "the queue is empty");
    assert_eq!(
        GetError::ShutDown.to_string(),
        "the queue is shut down and has no items left"
    );
    assert!(
        TaskDoneError
            .to_string()
            .contains("task_done() called more times")
    );

    // All of them are std errors, usable with `?` into a boxed error.
    fn boxed() -> Result<(), Box<dyn std::error::Error>> {
        let q = Queue::bounded(1);
        q.put(1u8)?;
        q.try_put(2u8)?;
        Ok(())
    }
    assert_eq!(boxed().unwrap_err().to_string(), "the queue is full");
}

#[test]
fn a_put_that_fails_gives_back_an_item_that_is_not_debug() {
    struct Opaque(u8);
    let q = Queue::bounded(1);
    q.put(Opaque(1)).unwrap();
    let back = q.try_put(Opaque(2)).unwrap_err().into_inner();
    assert_eq!(back.0, 2);
    assert_eq!(q.get().unwrap().0, 1);
}

#[test]
fn queues_are_send_and_sync_unwind_safe_and_default() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Queue<std::cell::Cell<u8>>>();
    send_sync::<LifoQueue<Vec<u8>>>();
    send_sync::<PriorityQueue<u8>>();
    send_sync::<PutError<u8>>();
    // An owned queue can cross `catch_unwind`, whatever keeps its items.
    fn unwind_safe<T: std::panic::UnwindSafe>() {}
    unwind_safe::<Queue<u8>>();
    unwind_safe::<LifoQueue<u8>>();
    unwind_safe::<PriorityQueue<u8>>();
    let q: Queue<u8> = Queue::default();
    assert_eq!(q.maxsize(), None);
    let iter = q.iter();
    assert!(format!("{iter:?}").starts_with("Iter { queue: Queue"));
}

#[test]
fn iterating_takes_items_as_they_come() {
    let q = Arc::new(Queue::new());
    let consumer = on_thread(&q, |q: &Queue<i64>| {
        q.iter().take_while(|&n| n >= 0).collect::<Vec<_>>()
    });
    for n in [5, 6, -1, 7] {
        q.put(n).unwrap();
    }
    assert_eq!(join_soon(consumer), [5, 6]);
    assert_eq!(q.try_get(), Ok(7));
    assert!(q.get_timeout(Duration::from_millis(1)).is_err());
}
