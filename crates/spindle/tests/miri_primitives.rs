//! Every primitive under contention, small enough to run under Miri, which checks the
//! unsafe code (lock words, guards, the waiting path's erased pointers) for undefined
//! behaviour and data races:
//!
//! `MIRIFLAGS=-Zmiri-permissive-provenance cargo +nightly miri test -p spindle --test miri_primitives`
//!
//! (parking_lot_core casts integers to pointers; the flag accepts that.) The same tests
//! run natively with the rest of the suite.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::sync::{
    Barrier, BoundedSemaphore, Condition, DeadlockError, Event, Gil, Mutex, ReentrantMutex, RwLock,
    Semaphore,
};
use spindle::thread::{self, Local};

const THREADS: usize = 3;
const ROUNDS: usize = if cfg!(miri) { 10 } else { 1000 };

fn on_threads(f: impl Fn(usize) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let f = Arc::clone(&f);
            thread::spawn(move || f(i))
        })
        .collect();
    for h in handles {
        h.join().expect("worker panicked");
    }
}

#[test]
fn mutex_counts_exactly() {
    let m = Arc::new(Mutex::new(0usize));
    let m2 = Arc::clone(&m);
    on_threads(move |_| {
        for _ in 0..ROUNDS {
            *m2.lock() += 1;
        }
    });
    assert_eq!(*m.lock(), THREADS * ROUNDS);
}

#[test]
fn reentrant_mutex_counts_exactly() {
    let m = Arc::new(ReentrantMutex::new(Cell::new(0usize)));
    let m2 = Arc::clone(&m);
    on_threads(move |_| {
        for _ in 0..ROUNDS {
            let outer = m2.lock();
            let inner = m2.lock();
            inner.set(inner.get() + 1);
            drop(inner);
            drop(outer);
        }
    });
    assert_eq!(m.lock().get(), THREADS * ROUNDS);
}

#[test]
fn rwlock_readers_and_writers() {
    let l = Arc::new(RwLock::new(0usize));
    let l2 = Arc::clone(&l);
    on_threads(move |i| {
        for _ in 0..ROUNDS {
            if i == 0 {
                *l2.write() += 1;
            } else {
                let a = l2.read();
                assert!(*a <= ROUNDS);
            }
        }
    });
    assert_eq!(*l.read(), ROUNDS);
}

#[test]
fn condition_hands_items_over() {
    let c = Arc::new(Condition::new(Vec::<usize>::new()));
    let producer = {
        let c = Arc::clone(&c);
        thread::spawn(move || {
            for i in 0..ROUNDS {
                c.lock().push(i);
                c.notify_one();
            }
        })
    };
    let mut got = 0;
    while got < ROUNDS {
        let mut items = c.lock();
        items.wait_until(|v| !v.is_empty());
        got += items.drain(..).count();
    }
    producer.join().unwrap();
    assert_eq!(got, ROUNDS);
}

#[test]
fn semaphore_limits_concurrency() {
    let s = Arc::new(Semaphore::new(1));
    let inside = Arc::new(Mutex::new(0usize));
    let (s2, inside2) = (Arc::clone(&s), Arc::clone(&inside));
    on_threads(move |_| {
        for _ in 0..ROUNDS {
            let _p = s2.acquire();
            let now = {
                let mut n = inside2.lock();
                *n += 1;
                *n
            };
            assert_eq!(now, 1);
            *inside2.lock() -= 1;
        }
    });
    assert_eq!(s.available_permits(), 1);
    let b = BoundedSemaphore::new(1);
    assert!(b.release(1).is_err());
}

#[test]
fn event_and_barrier() {
    let e = Arc::new(Event::new());
    let b = Arc::new(Barrier::new(THREADS));
    let (e2, b2) = (Arc::clone(&e), Arc::clone(&b));
    on_threads(move |i| {
        if i == 0 {
            e2.set();
        }
        e2.wait();
        for _ in 0..3 {
            assert!(b2.wait().unwrap() < THREADS);
        }
    });
    assert!(e.is_set());
    // Python's `Event.wait` returns the flag: true at once for a set event.
    assert!(
        e.wait_timeout(Duration::ZERO),
        "a set event's wait said it timed out"
    );
    e.clear();
    assert!(
        !e.wait_timeout(Duration::ZERO),
        "a clear event's wait said it was set"
    );
}

/// The holder never lets go of the GIL by itself: the other threads get it only when a
/// `tick` hands it over (a forced switch), and then one at a time.
#[test]
fn gil_switches_between_threads() {
    let gil = Arc::new(Gil::with_switch_interval(Duration::from_micros(50)));
    let inside = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let mut held = gil.acquire();
    inside.fetch_add(1, Ordering::SeqCst);
    let others: Vec<_> = (1..THREADS)
        .map(|_| {
            let (gil, inside, ran) = (Arc::clone(&gil), Arc::clone(&inside), Arc::clone(&ran));
            thread::spawn(move || {
                let _g = gil.acquire();
                assert_eq!(
                    inside.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two holders at once"
                );
                ran.fetch_add(1, Ordering::SeqCst);
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(if cfg!(miri) { 600 } else { 20 });
    while ran.load(Ordering::SeqCst) < THREADS - 1 {
        assert!(
            Instant::now() < deadline,
            "the holder's ticks never handed the GIL over"
        );
        inside.fetch_sub(1, Ordering::SeqCst);
        held.tick();
        assert_eq!(
            inside.fetch_add(1, Ordering::SeqCst),
            0,
            "two holders at once"
        );
    }
    drop(held);
    for h in others {
        h.join().expect("worker panicked");
    }
    assert!(gil.forced_switches() >= 1);
}

/// Two conditions over one lock (a bounded buffer of one slot), under Miri's eye: the
/// second condition's notifications are deferred across the two.
#[test]
fn two_conditions_hand_items_over() {
    let slot = Arc::new(Condition::new(None::<usize>));
    let emptied = Arc::new(slot.new_condition());
    let (s, e) = (Arc::clone(&slot), Arc::clone(&emptied));
    let producer = thread::spawn(move || {
        for i in 0..ROUNDS {
            let mut g = s.lock();
            e.wait_until(&mut g, |v| v.is_none());
            *g = Some(i);
            s.notify_one();
        }
    });
    for i in 0..ROUNDS {
        let mut g = slot.lock();
        g.wait_until(|v| v.is_some());
        assert_eq!(g.take(), Some(i));
        emptied.notify_one();
    }
    producer.join().unwrap();
    // A guard forgotten, the condition gone: the second condition holds no pointer to it.
    let c = Condition::new(0u8);
    let other = c.new_condition();
    std::mem::forget(c.lock());
    other.notify_all();
    drop(c);
    other.notify_one();
}

#[test]
fn self_deadlock_is_reported_and_unwinds() {
    let m = Mutex::new(());
    let held = m.lock();
    let err: DeadlockError = m.lock_checked().unwrap_err();
    assert_eq!(err.threads().len(), 1);
    drop(held);
    assert!(m.try_lock().is_some());
}

#[test]
fn panics_reach_join() {
    let h = thread::spawn(|| -> u8 { panic!("checked by miri") });
    assert_eq!(h.join().unwrap_err().message(), "checked by miri");
}

#[test]
fn local_values_stay_per_thread() {
    let local = Arc::new(Local::new());
    assert_eq!(*local.get_or(|| usize::MAX), usize::MAX);
    let l2 = Arc::clone(&local);
    on_threads(move |i| {
        assert_eq!(l2.get(), None);
        assert_eq!(*l2.get_or(|| i), i);
        assert_eq!(l2.get(), Some(&i));
    });
    // Threads started after those ended get fresh values (their slots are recycled).
    let l3 = Arc::clone(&local);
    on_threads(move |i| assert_eq!(*l3.get_or(|| i + 10), i + 10));
    assert_eq!(local.get(), Some(&usize::MAX));
}

/// Values set and read without lending go when their thread ends, freed by the next use
/// of the `Local` on another thread; one replaced while `with` reads it waits for `with`.
#[test]
fn local_values_go_with_their_threads() {
    let local: Arc<Local<String>> = Arc::new(Local::new());
    let l2 = Arc::clone(&local);
    on_threads(move |i| {
        l2.set(format!("thread {i}"));
        l2.with(|v| {
            assert_eq!(v.map(String::as_str), Some(format!("thread {i}").as_str()));
            l2.set(String::from("replaced while read"));
            assert_eq!(v.map(String::len), Some(format!("thread {i}").len()));
        });
    });
    for _ in 0..10 {
        local.with(|v| assert!(v.is_none()));
        thread::sleep(Duration::from_millis(1));
    }
    local.with_or(|| String::from("main"), |v| assert_eq!(v, "main"));
}

/// Each thread puts `ROUNDS` items into `q` and takes `ROUNDS` out; every item comes out
/// once. With `q` bounded to 2, puts wait for room and gets for items.
fn queue_hands_items_over_once(q: spindle::queue::Queue<usize>) {
    let q = Arc::new(q);
    let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (q2, t2) = (Arc::clone(&q), Arc::clone(&taken));
    on_threads(move |i| {
        let mut mine = Vec::new();
        for n in 0..ROUNDS {
            q2.put(i * ROUNDS + n).unwrap();
            mine.push(q2.get().unwrap());
            q2.task_done().unwrap();
        }
        t2.lock().unwrap().extend(mine);
    });
    let mut all = std::mem::take(&mut *taken.lock().unwrap());
    all.sort();
    assert_eq!(all, (0..THREADS * ROUNDS).collect::<Vec<_>>());
    assert_eq!((q.len(), q.unfinished_tasks()), (0, 0));
}

#[test]
fn bounded_queue_ring_hands_items_over_once() {
    queue_hands_items_over_once(spindle::queue::Queue::bounded(2));
}

#[test]
fn unbounded_queue_list_hands_items_over_once() {
    queue_hands_items_over_once(spindle::queue::Queue::new());
}

#[test]
fn unbounded_queue_frees_its_blocks_read_or_dropped() {
    // 100 items cross three blocks; half are read (freeing their blocks), the rest
    // dropped by an immediate shutdown. Miri reports any block leaked or freed twice.
    let q = spindle::queue::Queue::new();
    for n in 0..100 {
        q.put(Arc::new(n)).unwrap();
    }
    let kept: Vec<_> = (0..50).map(|_| q.get().unwrap()).collect();
    q.shutdown(true);
    assert!(kept.iter().all(|item| Arc::strong_count(item) == 1));
    assert_eq!(q.unfinished_tasks(), 50);
}
