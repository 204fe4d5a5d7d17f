//! `RwLock`: the shared lock suite (run on the write side), plus sharing between readers,
//! and neither side starving the other.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::lock_suite::{self, lock_suite};
use common::{PATIENCE, SETTLE, holds_for, reach, scaled, wait_until};
use spindle::sync::{Barrier, RwLock};
use spindle::thread::{self, ThreadState};

lock_suite!(spindle::sync::RwLock<()>);

#[test]
fn no_starvation_between_writers() {
    lock_suite::no_starvation::<RwLock<()>>();
}

#[test]
fn eight_writers_count_to_800_000() {
    const THREADS: usize = 8;
    let rounds = scaled(100_000);
    let total = Arc::new(RwLock::named("total", 0usize));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let total = Arc::clone(&total);
            thread::spawn(move || {
                for _ in 0..rounds {
                    *total.write() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(*total.read(), THREADS * rounds);
}

/// Readers hold the lock at the same time: each waits, holding it, for all the others.
#[test]
fn readers_share() {
    const READERS: usize = 4;
    let lock = Arc::new(RwLock::new(7));
    let all_in = Arc::new(Barrier::new(READERS));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (lock, all_in) = (Arc::clone(&lock), Arc::clone(&all_in));
            thread::spawn(move || {
                let g = lock.read();
                all_in
                    .wait_timeout(PATIENCE)
                    .expect("every reader got in at once");
                *g
            })
        })
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap(), 7);
    }
}

#[test]
fn try_read_and_try_write() {
    let lock = Arc::new(RwLock::new(0));
    let on_other = |f: fn(&RwLock<i32>) -> (bool, bool)| {
        let lock = Arc::clone(&lock);
        thread::spawn(move || f(&lock)).join().unwrap()
    };
    // Each guard is dropped before the next try (a guard kept alive would change the answer).
    let tries = |l: &RwLock<i32>| {
        let read = l.try_read().is_some();
        let write = l.try_write().is_some();
        (read, write)
    };
    assert_eq!(on_other(tries), (true, true), "free");
    let r = lock.read();
    assert_eq!(on_other(tries), (true, false), "read-locked");
    drop(r);
    let w = lock.write();
    assert_eq!(on_other(tries), (false, false), "write-locked");
    let timed = |l: &RwLock<i32>| {
        let t = Duration::from_millis(20);
        let read = l.try_read_for(t).is_some();
        let write = l.try_write_for(t).is_some();
        (read, write)
    };
    assert_eq!(on_other(timed), (false, false), "write-locked, timed");
    drop(w);
    let r = lock.read();
    assert_eq!(on_other(timed), (true, false), "read-locked, timed");
    drop(r);
    assert!(!lock.is_locked());
    assert_eq!(on_other(timed), (true, true), "free again, timed");
}

/// A waiting writer keeps new readers out (writers never starve), and readers waiting
/// behind it get in once it is done.
#[test]
fn a_waiting_writer_blocks_new_readers() {
    let lock = Arc::new(RwLock::named("queue", Vec::new()));
    let first = lock.read();
    let l = Arc::clone(&lock);
    let writer = thread::spawn(move || l.write().push("writer"));
    reach(&writer.info(), ThreadState::Blocked);
    let l = Arc::clone(&lock);
    let latecomer = thread::spawn(move || {
        let refused = l.try_read().is_none();
        let seen = l.read().clone();
        (refused, seen)
    });
    reach(&latecomer.info(), ThreadState::Blocked);
    assert_eq!(
        latecomer.info().waiting_on().as_deref(),
        Some("RwLock \"queue\"")
    );
    drop(first);
    let (refused, seen) = latecomer.join().unwrap();
    assert!(refused, "a new reader got in ahead of a waiting writer");
    assert_eq!(
        seen,
        ["writer"],
        "the reader behind the writer got in first"
    );
    writer.join().unwrap();
}

/// Several readers that keep re-acquiring (always at least one inside) do not keep a
/// writer out.
#[test]
fn writer_not_starved_by_a_stream_of_readers() {
    const READERS: usize = 4;
    let lock = Arc::new(RwLock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (lock, stop, reads) = (Arc::clone(&lock), Arc::clone(&stop), Arc::clone(&reads));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = lock.read();
                    for _ in 0..200 {
                        std::hint::spin_loop();
                    }
                    drop(g);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    assert!(wait_until(PATIENCE, || reads.load(Ordering::Relaxed) > 100));
    let got_in = lock
        .try_write_for(Duration::from_secs(10))
        .map(|mut g| *g += 1)
        .is_some();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(
        got_in,
        "the writer starved behind {} reads",
        reads.load(Ordering::Relaxed)
    );
    assert_eq!(*lock.read(), 1);
}

/// Writers that keep re-acquiring do not keep a reader out.
#[test]
fn readers_not_starved_by_writers() {
    const WRITERS: usize = 2;
    let lock = Arc::new(RwLock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut g = lock.write();
                    *g += 1;
                    for _ in 0..200 {
                        std::hint::spin_loop();
                    }
                }
            })
        })
        .collect();
    assert!(wait_until(PATIENCE, || *lock.read() > 100));
    let mut all_in = true;
    for _ in 0..scaled(20_000) / 1000 {
        all_in &= lock.try_read_for(Duration::from_secs(10)).is_some();
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(all_in, "a reader starved behind the writers");
}

/// A writer that gives up while readers are inside leaves the reader count right: once
/// everyone is gone the lock is free, and writers and readers still get in.
#[test]
fn writers_giving_up_among_readers_leave_the_lock_consistent() {
    let lock = Arc::new(RwLock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(g) = lock.try_read_for(Duration::from_millis(1)) {
                        std::hint::black_box(*g);
                    }
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
            thread::spawn(move || {
                let mut wrote = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(mut g) = lock.try_write_for(Duration::from_micros(20)) {
                        *g += 1;
                        wrote += 1;
                    }
                }
                wrote
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(if cfg!(miri) { 10 } else { 1500 }));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let wrote: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(
        !lock.is_locked(),
        "nobody holds the lock, yet it reads locked"
    );
    assert_eq!(lock.try_write().map(|g| *g), Some(wrote));
}

/// A writer's exclusion holds against readers arriving at any moment.
#[test]
fn readers_never_see_a_writer_inside() {
    let lock = Arc::new(RwLock::new(()));
    let writing = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..4 {
        let (lock, writing, stop, violations) = (
            Arc::clone(&lock),
            Arc::clone(&writing),
            Arc::clone(&stop),
            Arc::clone(&violations),
        );
        handles.push(thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if i < 2 {
                    let _w = lock.write();
                    writing.store(true, Ordering::SeqCst);
                    std::hint::spin_loop();
                    writing.store(false, Ordering::SeqCst);
                } else if let Some(_r) = lock.try_read() {
                    if writing.load(Ordering::SeqCst) {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    thread::sleep(Duration::from_millis(if cfg!(miri) { 10 } else { 1500 }));
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(violations.load(Ordering::SeqCst), 0);
    assert!(holds_for(SETTLE / 10, || !lock.is_locked()));
}

#[test]
fn carries_data() {
    let mut lock = RwLock::new(vec![1]);
    lock.write().push(2);
    lock.get_mut().push(3);
    assert_eq!(*lock.read(), [1, 2, 3]);
    let text = format!("{lock:?}");
    assert!(text.contains("[1, 2, 3]"), "{text}");
    assert_eq!(lock.into_inner(), [1, 2, 3]);
}
