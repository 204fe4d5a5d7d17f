//! `Barrier`: Python's, reusable cycle after cycle. Scenarios follow CPython's
//! `Lib/test/lock_tests.py` `BarrierTests` where named.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{PATIENCE, reach, scaled, wait_until};
use spindle::sync::{Barrier, BrokenBarrier, Mutex};
use spindle::thread::{self, JoinHandle, ThreadState};

const PARTIES: usize = 4;

fn on_parties<T: Send + 'static>(
    n: usize,
    b: &Arc<Barrier>,
    f: impl Fn(&Barrier, usize) -> T + Send + Sync + 'static,
) -> Vec<JoinHandle<T>> {
    let f = Arc::new(f);
    (0..n)
        .map(|i| {
            let (b, f) = (Arc::clone(b), Arc::clone(&f));
            thread::spawn(move || f(&b, i))
        })
        .collect()
}

/// lock_tests.py `BarrierTests.test_barrier` and `test_wait_return`: over many cycles the
/// indices of each cycle are distinct and cover `0..parties`, and nobody leaves a cycle
/// before everyone has arrived.
#[test]
fn indices_cover_every_cycle() {
    let cycles = scaled(200_000) / 1000;
    let b = Arc::new(Barrier::new(PARTIES));
    let arrived = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(vec![Vec::new(); cycles]));
    let (arr, s) = (Arc::clone(&arrived), Arc::clone(&seen));
    let threads = on_parties(PARTIES, &b, move |b, _| {
        for cycle in 0..cycles {
            arr.fetch_add(1, Ordering::SeqCst);
            let index = b.wait().expect("nothing breaks this barrier");
            assert!(
                arr.load(Ordering::SeqCst) >= (cycle + 1) * PARTIES,
                "left cycle {cycle} before everyone arrived"
            );
            s.lock()[cycle].push(index);
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    for (cycle, indices) in seen.lock().iter_mut().enumerate() {
        indices.sort_unstable();
        assert_eq!(*indices, (0..PARTIES).collect::<Vec<_>>(), "cycle {cycle}");
    }
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
}

/// lock_tests.py `BarrierTests.test_action`: the action runs exactly once per cycle,
/// before anyone is let go.
#[test]
fn action_runs_once_per_cycle() {
    let cycles = scaled(100_000) / 1000;
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let b = Arc::new(Barrier::with_action(PARTIES, move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let r = Arc::clone(&runs);
    let threads = on_parties(PARTIES, &b, move |b, _| {
        for cycle in 0..cycles {
            b.wait().unwrap();
            // The next cycle's action needs this thread to arrive first.
            assert_eq!(r.load(Ordering::SeqCst), cycle + 1);
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), cycles);
}

/// An action that panics: the panic resumes in the thread that ran it (the last to
/// arrive), every other waiter gets `Err(BrokenBarrier)`, and a reset makes it usable.
#[test]
fn panicking_action_breaks_the_barrier() {
    let fail = Arc::new(AtomicUsize::new(1));
    let f = Arc::clone(&fail);
    let b = Arc::new(Barrier::with_action(3, move || {
        if f.load(Ordering::SeqCst) == 1 {
            panic!("the action failed");
        }
    }));
    let threads = on_parties(3, &b, |b, _| {
        panic::catch_unwind(AssertUnwindSafe(|| b.wait())).map_err(|payload| {
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .unwrap_or_default()
        })
    });
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let panicked: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(panicked, ["the action failed"], "{outcomes:?}");
    let broken = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Err(BrokenBarrier))))
        .count();
    assert_eq!(broken, 2, "{outcomes:?}");
    assert!(b.is_broken());
    assert_eq!(b.wait(), Err(BrokenBarrier));

    b.reset();
    fail.store(0, Ordering::SeqCst);
    let threads = on_parties(3, &b, |b, _| b.wait());
    for t in threads {
        assert!(t.join().unwrap().is_ok());
    }
}

/// lock_tests.py `BarrierTests.test_timeout`: a timed-out wait breaks the barrier for
/// every waiter, including those waiting without a timeout, and for later arrivals.
#[test]
fn wait_timeout_breaks_it_for_every_waiter() {
    let b = Arc::new(Barrier::new(3));
    let b2 = Arc::clone(&b);
    let patient = thread::spawn(move || b2.wait());
    reach(&patient.info(), ThreadState::Waiting);
    let b2 = Arc::clone(&b);
    let hasty = thread::spawn(move || b2.wait_timeout(Duration::from_millis(50)));
    assert_eq!(hasty.join().unwrap(), Err(BrokenBarrier));
    assert_eq!(patient.join().unwrap(), Err(BrokenBarrier));
    assert!(b.is_broken());
    assert_eq!(b.wait_timeout(PATIENCE), Err(BrokenBarrier));
}

/// lock_tests.py `BarrierTests.test_abort`.
#[test]
fn abort_breaks_it_for_every_waiter() {
    let b = Arc::new(Barrier::new(3));
    let threads = on_parties(2, &b, |b, _| b.wait());
    assert!(wait_until(PATIENCE, || b.n_waiting() == 2));
    b.abort();
    for t in threads {
        assert_eq!(t.join().unwrap(), Err(BrokenBarrier));
    }
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(b.wait(), Err(BrokenBarrier));
}

/// lock_tests.py `BarrierTests.test_reset`: waiters get `Err`, and the barrier works again.
#[test]
fn reset_releases_waiters_with_err_and_reuses() {
    let b = Arc::new(Barrier::new(3));
    let threads = on_parties(2, &b, |b, _| b.wait());
    assert!(wait_until(PATIENCE, || b.n_waiting() == 2));
    b.reset();
    for t in threads {
        assert_eq!(t.join().unwrap(), Err(BrokenBarrier));
    }
    assert!(!b.is_broken());
    let threads = on_parties(3, &b, |b, _| b.wait());
    let mut indices: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
}

/// lock_tests.py `BarrierTests.test_abort_and_reset`.
#[test]
fn abort_then_reset() {
    let b = Arc::new(Barrier::new(2));
    b.abort();
    assert_eq!(b.wait(), Err(BrokenBarrier));
    b.reset();
    assert!(!b.is_broken());
    let threads = on_parties(2, &b, |b, _| b.wait_timeout(PATIENCE));
    for t in threads {
        assert!(t.join().unwrap().is_ok());
    }
}

/// lock_tests.py `BarrierTests.test_single_thread`.
#[test]
fn one_party_passes_at_once() {
    let b = Barrier::new(1);
    for _ in 0..3 {
        assert_eq!(b.wait(), Ok(0));
    }
    assert_eq!(b.parties(), 1);
}

#[test]
fn zero_parties_panics_naming_parties() {
    let err = panic::catch_unwind(|| Barrier::new(0)).unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("parties"), "{msg}");
    assert!(panic::catch_unwind(|| Barrier::with_action(0, || ())).is_err());
}

#[test]
fn waiters_read_waiting_on_the_barrier() {
    let b = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&b);
    let waiter = thread::spawn(move || b2.wait());
    reach(&waiter.info(), ThreadState::Waiting);
    let on = waiter.info().waiting_on().unwrap();
    assert!(
        on.starts_with("Barrier created at") && on.contains("barrier.rs"),
        "{on}"
    );
    assert_eq!(b.n_waiting(), 1);
    assert_eq!(b.wait(), Ok(1));
    assert_eq!(waiter.join().unwrap(), Ok(0));
    assert!(format!("{b:?}").contains("parties: 2"));
    assert!(BrokenBarrier.to_string().contains("broken"));
}

/// Regression: the action ran under the barrier's internal lock, so an action asking the
/// barrier anything (`n_waiting`, `is_broken`, `{:?}`) hung every thread of the cycle.
/// It now runs without it, and an `abort` from the action fails the cycle for everyone.
#[test]
fn the_action_may_use_its_own_barrier() {
    let me: Arc<std::sync::OnceLock<std::sync::Weak<Barrier>>> = Arc::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let abort_next = Arc::new(AtomicUsize::new(0));
    let (me2, seen2, abort2) = (Arc::clone(&me), Arc::clone(&seen), Arc::clone(&abort_next));
    let b = Arc::new(Barrier::with_action(3, move || {
        let b = me2
            .get()
            .and_then(std::sync::Weak::upgrade)
            .expect("set before use");
        seen2
            .lock()
            .push((b.n_waiting(), b.is_broken(), !format!("{b:?}").is_empty()));
        if abort2.load(Ordering::SeqCst) == 1 {
            b.abort();
        }
    }));
    me.set(Arc::downgrade(&b)).unwrap();

    let threads = on_parties(3, &b, |b, _| b.wait());
    for t in threads {
        assert!(t.wait_timeout(PATIENCE), "a thread of the cycle hung");
        assert!(t.join().unwrap().is_ok());
    }
    assert_eq!(*seen.lock(), [(3, false, true)]);

    abort_next.store(1, Ordering::SeqCst);
    let threads = on_parties(3, &b, |b, _| b.wait());
    for t in threads {
        assert!(t.wait_timeout(PATIENCE), "a thread of the cycle hung");
        assert_eq!(t.join().unwrap(), Err(BrokenBarrier));
    }
    assert!(b.is_broken());
}

/// While the action waits for a lock, the barrier's state lock is free (its methods
/// answer) and the thread running the action reads `Blocked` on that lock, as any
/// lock wait does.
#[test]
fn the_action_runs_outside_the_barriers_state_lock() {
    let m = Arc::new(Mutex::named("wanted-by-the-action", ()));
    let m2 = Arc::clone(&m);
    let b = Arc::new(Barrier::with_action(2, move || drop(m2.lock())));
    let held = m.lock();
    let b1 = Arc::clone(&b);
    let first = thread::spawn(move || b1.wait());
    reach(&first.info(), ThreadState::Waiting);
    let b2 = Arc::clone(&b);
    let last = thread::spawn(move || b2.wait());
    reach(&last.info(), ThreadState::Blocked);
    assert_eq!(
        last.info().waiting_on().as_deref(),
        Some("Mutex \"wanted-by-the-action\"")
    );
    assert_eq!(
        b.n_waiting(),
        2,
        "the state lock is free while the action runs"
    );
    drop(held);
    let mut indices: Vec<_> = [first, last]
        .into_iter()
        .map(|t| {
            assert!(t.wait_timeout(PATIENCE), "a party hung");
            t.join().unwrap().unwrap()
        })
        .collect();
    indices.sort();
    assert_eq!(indices, [0, 1]);
}
