//! `Semaphore` and `BoundedSemaphore`: the shared lock suite (one permit), and counting.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{PATIENCE, SETTLE, holds_for, reach, scaled, wait_until};
use spindle::sync::{BoundedSemaphore, Semaphore};
use spindle::thread::{self, ThreadState};

mod semaphore {
    use crate::common::lock_suite::lock_suite;
    lock_suite!(spindle::sync::Semaphore);
}

mod bounded {
    use crate::common::lock_suite::lock_suite;
    lock_suite!(spindle::sync::BoundedSemaphore);
}

/// 8 threads x 100,000 increments of a plain counter, guarded by one permit.
#[test]
fn one_permit_guards_a_counter_exactly() {
    const THREADS: usize = 8;
    let rounds = scaled(100_000);
    let sem = Arc::new(Semaphore::new(1));
    let counter = Arc::new(common::RacyCounter::new());
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (sem, counter) = (Arc::clone(&sem), Arc::clone(&counter));
            thread::spawn(move || {
                for _ in 0..rounds {
                    let _p = sem.acquire();
                    counter.bump();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(counter.get(), (THREADS * rounds) as u64);
    assert_eq!(sem.available_permits(), 1);
}

/// Python's `test_semaphore` basics: permits count down and back up.
#[test]
fn counts_permits() {
    let s = Semaphore::new(3);
    let a = s.acquire();
    let b = s.try_acquire().unwrap();
    assert_eq!(s.available_permits(), 1);
    let c = s.try_acquire_for(Duration::from_millis(1)).unwrap();
    assert!(s.try_acquire().is_none());
    drop((a, b));
    assert_eq!(s.available_permits(), 2);
    drop(c);
    assert_eq!(s.available_permits(), 3);
    let zero = Semaphore::new(0);
    assert!(zero.try_acquire().is_none());
    zero.release(2);
    assert_eq!(zero.available_permits(), 2);
}

#[test]
fn try_acquire_for_gives_up_after_its_timeout() {
    let s = Semaphore::new(0);
    let timeout = Duration::from_millis(50);
    let start = Instant::now();
    assert!(s.try_acquire_for(timeout).is_none());
    assert!(start.elapsed() >= timeout);
    assert_eq!(s.available_permits(), 0);
}

/// `release(n)` with m > n waiters lets exactly n through; the rest keep waiting.
#[test]
fn release_n_wakes_n_waiters() {
    const WAITERS: usize = 5;
    let s = Arc::new(Semaphore::named("gate", 0));
    let through = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (s, through) = (Arc::clone(&s), Arc::clone(&through));
            thread::spawn(move || {
                s.acquire().forget();
                through.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for w in &waiters {
        reach(&w.info(), ThreadState::Waiting);
        assert_eq!(w.info().waiting_on().as_deref(), Some("Semaphore \"gate\""));
    }
    s.release(3);
    assert!(wait_until(PATIENCE, || through.load(Ordering::SeqCst) == 3));
    assert!(holds_for(SETTLE, || through.load(Ordering::SeqCst) == 3));
    assert_eq!(s.available_permits(), 0);
    let still_waiting = waiters
        .iter()
        .filter(|w| w.info().state() == ThreadState::Waiting)
        .count();
    assert_eq!(still_waiting, 2);
    s.release(2);
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(through.load(Ordering::SeqCst), WAITERS);
}

#[test]
fn release_past_usize_max_panics_and_changes_nothing() {
    let s = Semaphore::new(usize::MAX - 1);
    s.release(1);
    assert_eq!(s.available_permits(), usize::MAX);
    let err = panic::catch_unwind(AssertUnwindSafe(|| s.release(5))).unwrap_err();
    let msg = spindle_message(&*err);
    assert!(
        msg.contains("release(5)"),
        "the message should name the argument: {msg}"
    );
    assert!(msg.contains("usize::MAX"), "{msg}");
    assert_eq!(s.available_permits(), usize::MAX);
    // Still usable.
    s.acquire().forget();
    assert_eq!(s.available_permits(), usize::MAX - 1);
}

#[test]
fn bounded_over_release_is_an_error_and_changes_nothing() {
    let s = BoundedSemaphore::named("pool", 2);
    let err = s.release(1).unwrap_err();
    assert_eq!(s.available_permits(), 2);
    let text = err.to_string();
    assert!(
        text.contains("release(1)") && text.contains("2 of 2"),
        "{text}"
    );
    let _: &dyn std::error::Error = &err;

    s.acquire().forget();
    s.acquire().forget();
    let err = s.release(3).unwrap_err();
    assert!(err.to_string().contains("release(3) with 0 of 2"), "{err}");
    assert_eq!(
        s.available_permits(),
        0,
        "a refused release gives back nothing"
    );
    assert_eq!(s.release(2), Ok(()));
    assert_eq!(s.available_permits(), 2);
    assert!(s.release(usize::MAX).is_err());
    assert_eq!(s.available_permits(), 2);
}

#[test]
fn bounded_release_wakes_waiters() {
    let s = Arc::new(BoundedSemaphore::new(1));
    s.acquire().forget();
    let s2 = Arc::clone(&s);
    let waiter = thread::spawn(move || s2.acquire().forget());
    reach(&waiter.info(), ThreadState::Waiting);
    s.release(1).unwrap();
    waiter.join().unwrap();
    assert_eq!(s.available_permits(), 0);
}

#[test]
fn forget_keeps_the_permit_taken() {
    let s = Semaphore::new(2);
    s.acquire().forget();
    s.try_acquire().unwrap().forget();
    assert_eq!(s.available_permits(), 0);
    s.release(2);
    assert_eq!(s.available_permits(), 2);
    let b = BoundedSemaphore::new(1);
    b.acquire().forget();
    assert_eq!(b.available_permits(), 0);
    b.release(1).unwrap();
    assert_eq!(b.available_permits(), 1);
}

/// A permit dropped after an extra `release` already refilled a bounded semaphore leaves
/// it at its bound (documented), never above.
#[test]
fn bounded_never_exceeds_its_bound() {
    let s = BoundedSemaphore::new(1);
    let p = s.acquire();
    s.release(1).unwrap();
    drop(p);
    assert_eq!(s.available_permits(), 1);
}

#[test]
fn debug_names_it() {
    let s = Semaphore::named("db", 4);
    let text = format!("{s:?} {:?}", s.acquire());
    assert!(text.contains("db") && text.contains('3'), "{text}");
}

fn spindle_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
