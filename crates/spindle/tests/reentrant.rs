//! `ReentrantMutex`: the shared lock suite, plus re-entry (lock_tests.py `RLockTests`).

mod common;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use common::lock_suite::{self, lock_suite};
use common::{PATIENCE, reach, scaled};
use spindle::sync::{RLock, ReentrantMutex};
use spindle::thread::{self, ThreadState};

lock_suite!(spindle::sync::ReentrantMutex<()>);

#[test]
fn no_starvation() {
    lock_suite::no_starvation::<ReentrantMutex<()>>();
}

#[test]
fn eight_threads_count_to_800_000_through_a_cell() {
    const THREADS: usize = 8;
    let rounds = scaled(100_000);
    let total = Arc::new(ReentrantMutex::named("total", Cell::new(0usize)));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let total = Arc::clone(&total);
            thread::spawn(move || {
                for _ in 0..rounds {
                    let outer = total.lock();
                    let inner = total.lock();
                    inner.set(outer.get() + 1);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(total.lock().get(), THREADS * rounds);
}

/// lock_tests.py `RLockTests.test_reacquire`: the owner locks again, in every way.
#[test]
fn owner_locks_again() {
    let r = RLock::new(());
    let a = r.lock();
    let b = r.lock_checked().expect("re-entry is never a deadlock");
    let c = r.try_lock().expect("the owner may try again");
    let d = r
        .try_lock_for(Duration::ZERO)
        .expect("the owner needs no wait");
    assert_eq!(r.lock_count(), 4);
    drop((a, b, c, d));
    assert_eq!(r.lock_count(), 0);
    assert!(!r.is_locked());
}

/// Released only when the last guard goes, in whatever order the guards are dropped;
/// another thread waits until then.
#[test]
fn released_when_every_guard_is_dropped() {
    let r = Arc::new(ReentrantMutex::named("tree", 5));
    let first = r.lock();
    let second = r.lock();
    let r2 = Arc::clone(&r);
    let other = thread::spawn(move || *r2.lock());
    reach(&other.info(), ThreadState::Blocked);
    drop(first); // out of order: the second guard still holds it
    assert!(common::holds_for(common::SETTLE, || other.info().state()
        == ThreadState::Blocked));
    assert_eq!(r.lock_count(), 1);
    drop(second);
    assert_eq!(other.join().unwrap(), 5);
}

/// lock_tests.py `RLockTests.test__is_owned`, and `lock_count` read from another thread.
#[test]
fn ownership_and_count_seen_from_elsewhere() {
    let r = Arc::new(RLock::new(()));
    assert!(!r.is_owned_by_current_thread());
    let g1 = r.lock();
    let g2 = r.lock();
    assert!(r.is_owned_by_current_thread());
    let r2 = Arc::clone(&r);
    let seen = thread::spawn(move || {
        (
            r2.is_owned_by_current_thread(),
            r2.lock_count(),
            r2.is_locked(),
        )
    });
    assert_eq!(seen.join().unwrap(), (false, 2, true));
    drop(g2);
    assert_eq!(r.lock_count(), 1);
    drop(g1);
    assert!(!r.is_owned_by_current_thread());
}

#[test]
fn another_thread_cannot_enter_while_owned() {
    let r = Arc::new(RLock::new(()));
    let _g = r.lock();
    let r2 = Arc::clone(&r);
    let other = thread::spawn(move || {
        (
            r2.try_lock().is_none(),
            r2.try_lock_for(Duration::from_millis(20)).is_none(),
        )
    });
    assert_eq!(other.join().unwrap(), (true, true));
}

#[test]
fn carries_data() {
    let mut r = ReentrantMutex::new(String::from("a"));
    r.get_mut().push('b');
    assert_eq!(&*r.lock(), "ab");
    assert_eq!(r.into_inner(), "ab");
    static R: RLock = RLock::new(());
    let _g = R.lock();
    assert!(R.is_owned_by_current_thread());
    let waits = PATIENCE; // a long timeout is never needed by the owner
    assert!(R.try_lock_for(waits).is_some());
}
