//! Loom models of `RwLock`: writers exclude everyone, readers share, and a released
//! lock always reaches the threads parked for it (the regression
//! `writer_parked_behind_readers_is_woken` in `tests/regressions.rs` was a lost wake-up
//! of exactly this kind).
//!
//! Each model uses its primitives once on the model's main thread before starting other
//! threads: the shim creates each loom atomic on first use (the primitives' constructors
//! are `const fn`s), and loom requires an atomic's creation to happen before any other
//! thread touches it.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle --release --test loom_rwlock
//! ```

#![cfg(loom)]

use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use spindle::sync::RwLock;

struct Shared {
    lock: RwLock<()>,
    value: UnsafeCell<usize>,
}

// SAFETY: `value` is written under the write lock and read under a read lock (checked).
unsafe impl Sync for Shared {}

fn shared() -> Arc<Shared> {
    let lock = RwLock::new(());
    drop(lock.try_write()); // uses it once on this thread (see the module docs)
    Arc::new(Shared {
        lock,
        value: UnsafeCell::new(0),
    })
}

/// A writer holds the lock while a reader and another writer park behind it; on release
/// both must get in (the reader may get in first, the writer must not be forgotten).
#[test]
fn reader_and_writer_parked_behind_a_writer() {
    loom::model(|| {
        let s = shared();
        let held = s.lock.write();
        let reader = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let _r = s.lock.read();
                // SAFETY: under a read lock.
                s.value.with(|v| unsafe { *v })
            })
        };
        let writer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let _w = s.lock.write();
                // SAFETY: under the write lock.
                s.value.with_mut(|v| unsafe { *v += 1 });
            })
        };
        drop(held);
        let seen = reader.join().unwrap();
        writer.join().unwrap();
        assert!(seen <= 1);
        assert!(s.lock.try_write().is_some());
    });
}

/// Two writers and a reader: writes exclude each other and the reader.
#[test]
fn writers_exclude() {
    loom::model(|| {
        let s = shared();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    let _w = s.lock.write();
                    // SAFETY: under the write lock.
                    s.value.with_mut(|v| unsafe { *v += 1 });
                })
            })
            .collect();
        let seen = {
            let _r = s.lock.read();
            // SAFETY: under a read lock.
            s.value.with(|v| unsafe { *v })
        };
        for w in writers {
            w.join().unwrap();
        }
        assert!(seen <= 2);
        // SAFETY: everyone joined.
        assert_eq!(s.value.with(|v| unsafe { *v }), 2);
    });
}

/// A writer that gives up while a reader is inside (or arriving) hands back its claim
/// without disturbing the reader count: the lock ends free.
#[test]
fn timed_writer_giving_up_among_readers() {
    loom::model(|| {
        let s = shared();
        let reader = {
            let s = Arc::clone(&s);
            thread::spawn(move || drop(s.lock.read()))
        };
        let writer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                if let Some(_w) = s.lock.try_write_for(Duration::ZERO) {
                    // SAFETY: under the write lock.
                    s.value.with_mut(|v| unsafe { *v += 1 });
                }
            })
        };
        drop(s.lock.read());
        reader.join().unwrap();
        writer.join().unwrap();
        assert!(!s.lock.is_locked());
        assert!(s.lock.try_write().is_some());
    });
}

/// A reader arriving while a releasing writer hands the lock to a parked writer: the
/// hand-over must not overwrite the reader's count (it once did, with a load then a store).
#[test]
fn reader_arriving_during_hand_over() {
    loom::model(|| {
        let s = shared();
        let held = s.lock.write();
        let writer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let _w = s.lock.write();
                // SAFETY: under the write lock.
                s.value.with_mut(|v| unsafe { *v += 1 });
            })
        };
        let reader = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let _r = s.lock.read();
                // SAFETY: under a read lock.
                s.value.with(|v| unsafe { *v })
            })
        };
        drop(held);
        writer.join().unwrap();
        reader.join().unwrap();
        assert!(s.lock.try_write().is_some());
    });
}
