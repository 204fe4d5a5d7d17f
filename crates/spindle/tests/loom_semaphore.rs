//! Loom models of `Semaphore` and `BoundedSemaphore`: permits are never lost or made up,
//! a release always reaches a parked waiter, and one permit excludes.
//!
//! Each model uses its primitives once on the model's main thread before starting other
//! threads: the shim creates each loom atomic on first use (the primitives' constructors
//! are `const fn`s), and loom requires an atomic's creation to happen before any other
//! thread touches it.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle --release --test loom_semaphore
//! ```

#![cfg(loom)]

use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use spindle::sync::{BoundedSemaphore, Semaphore};

/// One permit guards a cell: loom reports a race if two holders could overlap.
#[test]
fn one_permit_excludes() {
    struct Shared {
        sem: Semaphore,
        count: UnsafeCell<usize>,
    }
    // SAFETY: `count` is only touched while holding the one permit (what this checks).
    unsafe impl Sync for Shared {}
    loom::model(|| {
        let s = Arc::new(Shared {
            sem: Semaphore::new(1),
            count: UnsafeCell::new(0),
        });
        drop(s.sem.acquire());
        let others: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    let _p = s.sem.acquire();
                    // SAFETY: the permit excludes the other holders.
                    s.count.with_mut(|c| unsafe { *c += 1 });
                })
            })
            .collect();
        for t in others {
            t.join().unwrap();
        }
        // SAFETY: both threads joined.
        assert_eq!(s.count.with(|c| unsafe { *c }), 2);
        assert_eq!(s.sem.available_permits(), 1);
    });
}

/// A release reaches a thread parked for a permit, however they interleave.
#[test]
fn release_wakes_a_waiter() {
    loom::model(|| {
        let s = Arc::new(Semaphore::new(0));
        s.release(1);
        s.acquire().forget();
        let waiter = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.acquire().forget())
        };
        s.release(1);
        waiter.join().unwrap();
        assert_eq!(s.available_permits(), 0);
    });
}

/// `release(2)` with two waiters wakes both.
#[test]
fn release_n_wakes_n_waiters() {
    loom::model(|| {
        let s = Arc::new(Semaphore::new(0));
        s.release(1);
        s.acquire().forget();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || s.acquire().forget())
            })
            .collect();
        s.release(2);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(s.available_permits(), 0);
    });
}

/// A timed acquire that may give up at any moment, beside a blocking one: permits are
/// conserved and the blocking waiter is always served.
#[test]
fn timed_acquire_racing_release() {
    loom::model(|| {
        let s = Arc::new(Semaphore::new(0));
        s.release(1);
        s.acquire().forget();
        let timed = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                s.try_acquire_for(Duration::ZERO)
                    .map(|p| p.forget())
                    .is_some()
            })
        };
        let blocking = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.acquire().forget())
        };
        s.release(2);
        let timed_got_one = timed.join().unwrap();
        blocking.join().unwrap();
        assert_eq!(s.available_permits(), if timed_got_one { 0 } else { 1 });
    });
}

/// A bounded semaphore hands its permit around and refuses to go past its bound.
#[test]
fn bounded_permit_round_trip() {
    loom::model(|| {
        let s = Arc::new(BoundedSemaphore::new(1));
        drop(s.acquire());
        let other = {
            let s = Arc::clone(&s);
            thread::spawn(move || drop(s.acquire()))
        };
        drop(s.acquire());
        other.join().unwrap();
        assert_eq!(s.available_permits(), 1);
        assert!(s.release(1).is_err());
    });
}
