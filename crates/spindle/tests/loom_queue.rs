//! Loom models of the lock-free `Queue`s: the ring under `Queue::bounded(n)` and the list
//! of blocks under `Queue::new()` (three slots a block under loom, so that a model
//! crosses a block's end). Items are never lost, duplicated or reordered; a put or get
//! that parks is always woken; `task_done` and `join` agree with the items put; and
//! `shutdown(immediate)`, racing puts and gets, drops exactly the items no get took,
//! counting them done.
//!
//! The queues create their atomics as they are made, so unlike the other models these
//! need no warming up.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle --release --test loom_queue
//! ```

#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use spindle::queue::{GetError, PutError, Queue};

/// The two kinds of lock-free queue, with the room each needs for a model.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `Queue::bounded(n)`: a ring of `n` slots.
    Ring(usize),
    /// `Queue::new()`: a list of three-slot blocks.
    List,
}

impl Kind {
    fn make(self) -> Queue<u32> {
        match self {
            Kind::Ring(n) => Queue::bounded(n),
            Kind::List => Queue::new(),
        }
    }
}

/// One producer puts `n` items while the consumer takes them: in order, none lost, and
/// each side parks when the ring is full or the queue empty, and is woken.
fn hand_over(kind: Kind, n: u32) {
    loom::model(move || {
        let q = Arc::new(kind.make());
        let producer = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..n {
                    q.put(i).unwrap();
                }
            })
        };
        for i in 0..n {
            assert_eq!(q.get(), Ok(i));
            q.task_done().unwrap();
        }
        producer.join().unwrap();
        assert_eq!((q.len(), q.unfinished_tasks()), (0, 0));
        assert!(q.task_done().is_err());
    });
}

#[test]
fn a_ring_of_one_hands_items_over_in_order() {
    hand_over(Kind::Ring(1), 3);
}

#[test]
fn a_list_hands_items_over_in_order_across_a_block() {
    // The fourth item goes into a second block, installed by the third put.
    hand_over(Kind::List, 4);
}

/// Two producers, one item each, and a consumer taking both: each item arrives once,
/// and with a ring of one slot a producer parks until the consumer makes room.
fn two_producers(kind: Kind) {
    loom::model(move || {
        let q = Arc::new(kind.make());
        let producers: Vec<_> = (0..2u32)
            .map(|i| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.put(i).unwrap())
            })
            .collect();
        let mut got = [q.get().unwrap(), q.get().unwrap()];
        for p in producers {
            p.join().unwrap();
        }
        got.sort();
        assert_eq!(got, [0, 1]);
        assert_eq!(q.len(), 0);
    });
}

/// One producer putting two items, and two consumers taking one each: each item
/// arrives once, and neither consumer sleeps through its item. The first `ready` items
/// are put before the consumers start.
fn two_consumers(kind: Kind, ready: u32) {
    loom::model(move || {
        let q = Arc::new(kind.make());
        for i in 0..ready {
            q.put(i).unwrap();
        }
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get().unwrap())
            })
            .collect();
        for i in ready..2u32 {
            q.put(i).unwrap();
        }
        let mut got: Vec<_> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, [0, 1]);
        assert_eq!(q.len(), 0);
    });
}

#[test]
fn a_ring_of_one_takes_two_producers_in_turn() {
    two_producers(Kind::Ring(1));
}

/// The first item is ready: the two gets race for it, and whichever loses races the
/// second put. A get that finds a put still writing its slot spins until it is written
/// (as crossbeam's array channel does); with both gets spinning on one put, loom
/// explores schedules in which the two spinners take turns and the put never runs, far
/// past its branch limit, so the model keeps to one spinner at a time.
#[test]
fn a_ring_of_two_feeds_two_consumers() {
    two_consumers(Kind::Ring(2), 1);
}

#[test]
fn a_list_takes_two_producers() {
    two_producers(Kind::List);
}

#[test]
fn a_list_feeds_two_consumers() {
    two_consumers(Kind::List, 0);
}

/// Three gets race for the three items of a full block: whichever reads the last slot
/// frees the block, or hands the freeing to a get still reading its slot.
#[test]
fn a_list_block_is_freed_once_by_whoever_reads_last() {
    loom::model(|| {
        let q = Arc::new(Queue::new());
        for i in 0..3u32 {
            q.put(i).unwrap();
        }
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get().unwrap())
            })
            .collect();
        let mut got = vec![q.get().unwrap()];
        got.extend(getters.into_iter().map(|g| g.join().unwrap()));
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        // The queue still works after the block change.
        q.put(3).unwrap();
        assert_eq!(q.get(), Ok(3));
    });
}

/// A getter parked on an empty queue wakes with `ShutDown`, whichever comes first.
fn shutdown_wakes_a_getter(kind: Kind, immediate: bool) {
    loom::model(move || {
        let q = Arc::new(kind.make());
        let getter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get())
        };
        q.shutdown(immediate);
        assert_eq!(getter.join().unwrap(), Err(GetError::ShutDown));
    });
}

#[test]
fn shutdown_wakes_a_getter_on_a_ring() {
    shutdown_wakes_a_getter(Kind::Ring(1), false);
}

#[test]
fn immediate_shutdown_wakes_a_getter_on_a_list() {
    shutdown_wakes_a_getter(Kind::List, true);
}

/// A putter parked on a full ring wakes with its item back.
#[test]
fn shutdown_wakes_a_putter_on_a_full_ring() {
    loom::model(|| {
        let q = Arc::new(Queue::bounded(1));
        q.put(1u32).unwrap();
        let putter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(2))
        };
        q.shutdown(false);
        assert_eq!(putter.join().unwrap(), Err(PutError::ShutDown(2)));
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Err(GetError::ShutDown));
    });
}

/// `shutdown(true)` races a put and a get on a queue holding one item. Every item put
/// is either taken by the get or dropped, never both; dropped items count as done, so
/// the unfinished tasks are exactly the items taken; afterwards the queue is empty and
/// refuses both sides.
fn immediate_shutdown_races(kind: Kind) {
    loom::model(move || {
        let q = Arc::new(kind.make());
        q.put(0).unwrap();
        let putter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(1).is_ok())
        };
        let getter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.try_get().ok())
        };
        q.shutdown(true);
        let put = putter.join().unwrap();
        let got = getter.join().unwrap();
        if let Some(item) = got {
            assert!(item == 0 || (item == 1 && put), "got {item} never put");
        }
        let taken = usize::from(got.is_some());
        assert_eq!(q.unfinished_tasks(), taken, "put {put}, got {got:?}");
        assert_eq!(q.len(), 0);
        assert_eq!(q.try_get(), Err(GetError::ShutDown));
        assert_eq!(q.put(2), Err(PutError::ShutDown(2)));
        for _ in 0..taken {
            q.task_done().unwrap();
        }
        assert!(q.task_done().is_err());
        q.join();
    });
}

#[test]
fn immediate_shutdown_races_a_put_and_a_get_on_a_ring() {
    immediate_shutdown_races(Kind::Ring(2));
}

#[test]
fn immediate_shutdown_races_a_put_and_a_get_on_a_list() {
    immediate_shutdown_races(Kind::List);
}

/// Two immediate shutdowns at once: one drains, the other returns after it has.
#[test]
fn two_immediate_shutdowns_drain_once() {
    loom::model(|| {
        let q = Arc::new(Queue::new());
        for i in 0..2u32 {
            q.put(i).unwrap();
        }
        let other = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                q.shutdown(true);
                q.unfinished_tasks()
            })
        };
        q.shutdown(true);
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(other.join().unwrap(), 0);
    });
}

/// A joiner parked while a task is unfinished is woken by the `task_done` that
/// finishes the last one, and `task_done` is refused once none is left.
fn task_done_wakes_a_joiner(kind: Kind) {
    loom::model(move || {
        let q = Arc::new(kind.make());
        q.put(7).unwrap();
        let joiner = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.join())
        };
        let worker = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                assert_eq!(q.get(), Ok(7));
                q.task_done().unwrap();
            })
        };
        joiner.join().unwrap();
        worker.join().unwrap();
        assert!(q.task_done().is_err());
    });
}

#[test]
fn task_done_wakes_a_joiner_on_a_ring() {
    task_done_wakes_a_joiner(Kind::Ring(1));
}

#[test]
fn task_done_wakes_a_joiner_on_a_list() {
    task_done_wakes_a_joiner(Kind::List);
}

/// A `task_done` racing `shutdown(true)` on a queue whose only item is still queued:
/// CPython lets the task be marked done first, and then the drop does not count the
/// item again; either way the count ends at 0, never below.
fn task_done_races_an_immediate_shutdown(kind: Kind) {
    loom::model(move || {
        let q = Arc::new(kind.make());
        q.put(1).unwrap();
        let marker = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.task_done().is_ok())
        };
        q.shutdown(true);
        let marked = marker.join().unwrap();
        assert_eq!(q.unfinished_tasks(), 0, "marked: {marked}");
        assert!(q.task_done().is_err());
    });
}

#[test]
fn task_done_races_an_immediate_shutdown_on_a_ring() {
    task_done_races_an_immediate_shutdown(Kind::Ring(1));
}

#[test]
fn task_done_races_an_immediate_shutdown_on_a_list() {
    task_done_races_an_immediate_shutdown(Kind::List);
}
