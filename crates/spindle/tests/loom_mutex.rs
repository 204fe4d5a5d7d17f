//! Loom models of `Mutex` and `ReentrantMutex`: the real lock word and park/unpark
//! protocol, explored over every interleaving (up to the preemption bound) through the
//! `crate::loom` shim. Loom fails a model on a lost wake-up (every thread blocked) and on
//! a data race on the protected cell (a lock that does not order its critical sections).
//!
//! Each model uses its primitives once on the model's main thread before starting other
//! threads: the shim creates each loom atomic on first use (the primitives' constructors
//! are `const fn`s), and loom requires an atomic's creation to happen before any other
//! thread touches it.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle --release --test loom_mutex
//! ```

#![cfg(loom)]

use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use spindle::sync::{Mutex, MutexGuard, ReentrantMutex};

/// A counter the lock is supposed to protect; loom checks every access is ordered.
struct Guarded<L> {
    lock: L,
    count: UnsafeCell<usize>,
}

// SAFETY: `count` is only touched under `lock` (which is what the models check).
unsafe impl<L: Sync> Sync for Guarded<L> {}

impl<L> Guarded<L> {
    fn new(lock: L, warm_up: impl FnOnce(&L)) -> Arc<Self> {
        warm_up(&lock);
        Arc::new(Guarded {
            lock,
            count: UnsafeCell::new(0),
        })
    }

    /// Call only with the lock held.
    fn bump(&self) {
        // SAFETY: the caller holds the lock; loom reports it if that does not exclude.
        self.count.with_mut(|c| unsafe { *c += 1 });
    }

    fn count(&self) -> usize {
        // SAFETY: every other thread has been joined.
        self.count.with(|c| unsafe { *c })
    }
}

/// Three threads (the model's main one too) increment under the lock.
#[test]
fn mutex_excludes_and_wakes() {
    loom::model(|| {
        let g = Guarded::new(Mutex::new(()), |m| drop(m.lock()));
        let others: Vec<_> = (0..2)
            .map(|_| {
                let g = Arc::clone(&g);
                thread::spawn(move || {
                    let _held = g.lock.lock();
                    g.bump();
                })
            })
            .collect();
        {
            let _held = g.lock.lock();
            g.bump();
        }
        for t in others {
            t.join().unwrap();
        }
        assert_eq!(g.count(), 3);
        assert!(!g.lock.is_locked());
    });
}

/// A timed acquire that gives up (time is not modelled: it may give up at once) must not
/// leave the lock believing nobody, or somebody, is parked when that is not so: the
/// blocking waiter is still woken, and the lock ends free.
#[test]
fn mutex_timed_acquire_racing_a_waiter() {
    loom::model(|| {
        let g = Guarded::new(Mutex::new(()), |m| drop(m.lock()));
        let quitter = {
            let g = Arc::clone(&g);
            thread::spawn(move || {
                if let Some(_held) = g.lock.try_lock_for(Duration::ZERO) {
                    g.bump();
                }
            })
        };
        let waiter = {
            let g = Arc::clone(&g);
            thread::spawn(move || {
                let _held = g.lock.lock();
                g.bump();
            })
        };
        {
            let _held = g.lock.lock();
            g.bump();
        }
        quitter.join().unwrap();
        waiter.join().unwrap();
        assert!((2..=3).contains(&g.count()));
        assert!(g.lock.try_lock().is_some());
    });
}

/// `unlock_fair` hands the lock straight to a parked waiter, or frees it if none.
#[test]
fn mutex_fair_unlock_hands_over() {
    loom::model(|| {
        let g = Guarded::new(Mutex::new(()), |m| drop(m.lock()));
        let other = {
            let g = Arc::clone(&g);
            thread::spawn(move || {
                let held = g.lock.lock();
                g.bump();
                MutexGuard::unlock_fair(held);
            })
        };
        let held = g.lock.lock();
        g.bump();
        MutexGuard::unlock_fair(held);
        other.join().unwrap();
        assert_eq!(g.count(), 2);
        assert!(!g.lock.is_locked());
    });
}

/// Two threads each take a reentrant lock twice, nested.
#[test]
fn reentrant_mutex_excludes_across_threads() {
    loom::model(|| {
        let g = Guarded::new(ReentrantMutex::new(()), |m| drop(m.lock()));
        let other = {
            let g = Arc::clone(&g);
            thread::spawn(move || {
                let _outer = g.lock.lock();
                let _inner = g.lock.lock();
                g.bump();
            })
        };
        {
            let _outer = g.lock.lock();
            g.bump();
            let _inner = g.lock.try_lock().expect("the owner may lock again");
            g.bump();
        }
        other.join().unwrap();
        assert_eq!(g.count(), 3);
        assert_eq!(g.lock.lock_count(), 0);
    });
}
