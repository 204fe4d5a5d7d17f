//! Python 3.13's `shutdown`, with the producers, consumers and joiners it must release
//! seen blocked on the queue first (their state reads `Waiting`), for every queue type.

mod queue_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use queue_common::{AnyQueue, assert_blocks, handed_out, join_soon, on_thread};
use spindle::queue::{GetError, PutError, Queue};

const LONG: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_millis(20);

fn getters_blocked_on_an_empty_queue_wake_with_shutdown<Q: AnyQueue>(immediate: bool) {
    let q = Arc::new(Q::new());
    let getters = [
        on_thread(&q, |q| q.get()),
        on_thread(&q, |q| q.get()),
        on_thread(&q, |q| q.get_timeout(LONG)),
    ];
    for g in &getters {
        assert_blocks(g, Q::KIND);
    }
    q.shutdown(immediate);
    for g in getters {
        assert_eq!(join_soon(g), Err(GetError::ShutDown));
    }
}

fn test_blocked_getters_wake_with_shutdown<Q: AnyQueue>() {
    getters_blocked_on_an_empty_queue_wake_with_shutdown::<Q>(false);
}

fn test_blocked_getters_wake_with_immediate_shutdown<Q: AnyQueue>() {
    getters_blocked_on_an_empty_queue_wake_with_shutdown::<Q>(true);
}

fn putters_blocked_on_a_full_queue_get_their_items_back<Q: AnyQueue>(immediate: bool) {
    let q = Arc::new(Q::bounded(1));
    q.put(1).unwrap();
    let putters = [
        on_thread(&q, |q| q.put(2)),
        on_thread(&q, |q| q.put(3)),
        on_thread(&q, |q| q.put_timeout(4, LONG)),
    ];
    for p in &putters {
        assert_blocks(p, Q::KIND);
    }
    q.shutdown(immediate);
    let results: Vec<_> = putters.into_iter().map(join_soon).collect();
    assert_eq!(
        results,
        [
            Err(PutError::ShutDown(2)),
            Err(PutError::ShutDown(3)),
            Err(PutError::ShutDown(4))
        ]
    );
    if immediate {
        assert_eq!(q.try_get(), Err(GetError::ShutDown));
        assert_eq!(q.unfinished_tasks(), 0);
    } else {
        // What was put before the shutdown still comes out; then ShutDown.
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Err(GetError::ShutDown));
        assert_eq!(q.unfinished_tasks(), 1);
    }
}

fn test_blocked_putters_get_their_items_back<Q: AnyQueue>() {
    putters_blocked_on_a_full_queue_get_their_items_back::<Q>(false);
}

fn test_blocked_putters_get_their_items_back_on_immediate_shutdown<Q: AnyQueue>() {
    putters_blocked_on_a_full_queue_get_their_items_back::<Q>(true);
}

fn test_immediate_shutdown_releases_blocked_joiners<Q: AnyQueue>() {
    let q = Arc::new(Q::new());
    for n in 0..3 {
        q.put(n).unwrap();
    }
    let joiners = [on_thread(&q, |q| q.join()), on_thread(&q, |q| q.join())];
    for j in &joiners {
        assert_blocks(j, Q::KIND);
    }
    q.shutdown(true);
    for j in joiners {
        join_soon(j);
    }
    assert_eq!((q.len(), q.unfinished_tasks()), (0, 0));
    assert!(
        q.task_done().is_err(),
        "the dropped items already count as done"
    );
}

fn test_immediate_shutdown_still_waits_for_items_taken_but_not_done<Q: AnyQueue>() {
    let q = Arc::new(Q::new());
    q.put(2).unwrap();
    q.put(1).unwrap();
    // The item the queue's order hands out first (2, 1 or 1) is the one in work.
    let taken = q.get().unwrap();
    assert_eq!(taken, handed_out(Q::KIND, &[2, 1])[0]);
    let joiner = on_thread(&q, |q| q.join());
    assert_blocks(&joiner, Q::KIND);
    q.shutdown(true);
    // Only the item left in the queue counts as done: the one taken is still in work.
    assert_eq!(q.unfinished_tasks(), 1);
    assert!(!q.join_timeout(SHORT));
    assert!(!joiner.is_finished());
    q.task_done().unwrap();
    join_soon(joiner);
}

fn test_shutdown_lets_join_wait_for_the_items_left<Q: AnyQueue>() {
    let q = Arc::new(Q::new());
    q.put(1).unwrap();
    q.put(2).unwrap();
    let joiner = on_thread(&q, |q| q.join());
    assert_blocks(&joiner, Q::KIND);
    q.shutdown(false);
    assert!(!q.join_timeout(SHORT), "shutdown(false) must not end join");
    assert!(!joiner.is_finished());
    let mut left = Vec::new();
    while let Ok(item) = q.get() {
        left.push(item);
        q.task_done().unwrap();
    }
    assert_eq!(
        left,
        handed_out(Q::KIND, &[1, 2]),
        "the items left, in order"
    );
    join_soon(joiner);
    assert_eq!(q.unfinished_tasks(), 0);
}

fn test_immediate_shutdown_wakes_putters_and_joiners_at_once<Q: AnyQueue>() {
    let q = Arc::new(Q::bounded(2));
    q.put(1).unwrap();
    q.put(2).unwrap();
    let putters = [on_thread(&q, |q| q.put(3)), on_thread(&q, |q| q.put(4))];
    let joiners = [
        on_thread(&q, |q| q.join_timeout(LONG)),
        on_thread(&q, |q| {
            q.join();
            true
        }),
    ];
    for t in &putters {
        assert_blocks(t, Q::KIND);
    }
    for t in &joiners {
        assert_blocks(t, Q::KIND);
    }
    q.shutdown(true);
    let put_results: Vec<_> = putters.into_iter().map(join_soon).collect();
    assert_eq!(
        put_results,
        [Err(PutError::ShutDown(3)), Err(PutError::ShutDown(4))]
    );
    for j in joiners {
        assert!(join_soon(j));
    }
    assert!(q.is_empty());
}

fn test_consumers_iterating_end_when_the_queue_is_shut_down_and_drained<Q: AnyQueue>() {
    let q = Arc::new(Q::bounded(4));
    let consumers: Vec<_> = (0..3).map(|_| on_thread(&q, |q| q.consume())).collect();
    for c in &consumers {
        assert_blocks(c, Q::KIND);
    }
    for n in 0..100 {
        q.put(n).unwrap();
    }
    q.shutdown(false);
    let mut all: Vec<i64> = consumers.into_iter().flat_map(join_soon).collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
}

fn test_consumers_iterating_end_at_once_on_immediate_shutdown<Q: AnyQueue>() {
    let q = Arc::new(Q::new());
    for n in 0..5 {
        q.put(n).unwrap();
    }
    q.shutdown(true);
    assert_eq!(q.consume(), Vec::<i64>::new());
}

for_each_queue!(
    test_blocked_getters_wake_with_shutdown,
    test_blocked_getters_wake_with_immediate_shutdown,
    test_blocked_putters_get_their_items_back,
    test_blocked_putters_get_their_items_back_on_immediate_shutdown,
    test_immediate_shutdown_releases_blocked_joiners,
    test_immediate_shutdown_still_waits_for_items_taken_but_not_done,
    test_shutdown_lets_join_wait_for_the_items_left,
    test_immediate_shutdown_wakes_putters_and_joiners_at_once,
    test_consumers_iterating_end_when_the_queue_is_shut_down_and_drained,
    test_consumers_iterating_end_at_once_on_immediate_shutdown,
);

/// An item that, when dropped, counts itself and looks at the queue it was in.
struct Inspecting {
    queue: Arc<std::sync::OnceLock<Arc<Queue<Inspecting>>>>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Inspecting {
    fn drop(&mut self) {
        if let Some(q) = self.queue.get() {
            // Would deadlock (and spindle would panic) if dropped under the queue's lock.
            let _ = q.len();
        }
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn immediate_shutdown_drops_the_items_left_outside_the_lock() {
    let slot = Arc::new(std::sync::OnceLock::new());
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Arc::new(Queue::new());
    let _ = slot.set(Arc::clone(&q));
    let item = || Inspecting {
        queue: Arc::clone(&slot),
        drops: Arc::clone(&drops),
    };
    for _ in 0..3 {
        assert!(q.put(item()).is_ok());
    }
    q.shutdown(true);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    // A put after shutdown gives the item back instead of dropping it.
    let back = q.put(item()).unwrap_err().into_inner();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    // Break the cycle queue -> item -> slot -> queue (the queue is empty now anyway).
    drop(slot);
}
