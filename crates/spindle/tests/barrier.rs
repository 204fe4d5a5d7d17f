//! `Barrier`: Python's, reusable cycle after cycle. Scenarios follow CPython's
//! `Lib/test/lock_tests.py` `BarrierTests` where named.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{PATIENCE, reach, scaled, wait_until};
use spindle::sync::{Barrier, BrokenBarrier, Event, Mutex};
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

/// Issue 12, item 5. CPython's `Barrier._wait` applies the timeout to waiting for the
/// other parties only: the action runs under the condition's lock, so a waiter whose
/// timeout expires meanwhile cannot act on it until the action is over, and then finds
/// the barrier passed. Here the first party's timeout expires while the last one runs a
/// slow action: both must pass, and the barrier must not be broken.
///
/// Ordered by state: the action runs until the first party has been seen to give up its
/// timeout (it reads `Waiting` once its deadline passed during the action). A party that
/// arrives after the first one's timeout finds the barrier broken and runs no action:
/// that attempt proves nothing, so it is retried with a longer timeout.
#[test]
fn slow_action_does_not_break_a_barrier_that_filled_in_time() {
    let mut timeout = Duration::from_millis(100);
    loop {
        let action_started = Arc::new(Event::new());
        let release_action = Arc::new(Event::new());
        let (started, release) = (Arc::clone(&action_started), Arc::clone(&release_action));
        let b = Arc::new(Barrier::with_action(2, move || {
            started.set();
            assert!(
                release.wait_timeout(PATIENCE),
                "the test never released the action"
            );
        }));
        let b1 = Arc::clone(&b);
        let first = thread::spawn(move || b1.wait_timeout(timeout));
        reach(&first.info(), ThreadState::TimedWaiting);
        let b2 = Arc::clone(&b);
        let last = thread::spawn(move || b2.wait());
        assert!(
            wait_until(PATIENCE, || action_started.is_set() || last.is_finished()),
            "the last party neither ran the action nor returned"
        );
        if !action_started.is_set() {
            // The last party came after the first one's timeout: a fair break. Retry.
            assert_eq!(last.join().unwrap(), Err(BrokenBarrier));
            assert_eq!(first.join().unwrap(), Err(BrokenBarrier));
            timeout *= 2;
            assert!(timeout < PATIENCE, "the last party never arrived in time");
            continue;
        }
        // The barrier filled in time. Keep the action running until the first party's
        // timeout has passed: it then waits on without one (or, wrongly, returns).
        let first_info = first.info();
        assert!(
            wait_until(PATIENCE, || first_info.state() == ThreadState::Waiting
                || first.is_finished()),
            "{first_info:?}"
        );
        release_action.set();
        let results = (first.join().unwrap(), last.join().unwrap());
        assert!(
            matches!(results, (Ok(_), Ok(_))),
            "a slow action broke a barrier that filled in time: {results:?}"
        );
        assert!(!b.is_broken());
        return;
    }
}

/// Issue 12, item 6. CPython's `Barrier._enter` waits, without the caller's timeout, for
/// the previous cycle to drain before joining the next one (the timeout then covers the
/// next cycle's filling). A party arriving while the previous cycle runs its action must
/// neither fail while the barrier is not broken nor leave the next cycle a party short.
#[test]
fn party_arriving_while_the_previous_cycle_acts_waits_for_the_next_cycle() {
    let release_action = Arc::new(Event::new());
    let release = Arc::clone(&release_action);
    let b = Arc::new(Barrier::with_action(2, move || {
        assert!(
            release.wait_timeout(PATIENCE),
            "the test never released the action"
        );
    }));
    let cycle_one = on_parties(2, &b, |b, _| b.wait());
    // One of the two runs the action, which holds the cycle until released.
    assert!(wait_until(PATIENCE, || cycle_one.iter().any(|t| t
        .info()
        .state()
        == ThreadState::TimedWaiting
        && t.info()
            .waiting_on()
            .is_some_and(|on| on.starts_with("Event")))));

    // Arrives while the action runs, with a timeout that would expire before the release.
    let b3 = Arc::clone(&b);
    let early = thread::spawn(move || b3.wait_timeout(Duration::from_secs(2)));
    let early_info = early.info();
    // It waits for the cycle to clear without a timeout (reads `Waiting`), or, wrongly,
    // counts its timeout down (`TimedWaiting`) and returns when it expires.
    assert!(
        wait_until(PATIENCE, || early_info.state() == ThreadState::Waiting
            || early.is_finished()),
        "{early_info:?}"
    );
    let b4 = Arc::clone(&b);
    let partner = thread::spawn(move || b4.wait());
    reach(&partner.info(), ThreadState::Waiting);
    assert!(
        !early.is_finished(),
        "returned before the cycle it waited for ended"
    );

    release_action.set();
    for t in cycle_one {
        assert!(t.join().unwrap().is_ok());
    }
    let second = (early.join().unwrap(), partner.join().unwrap());
    let (Ok(a), Ok(b_index)) = second else {
        panic!("the party that came during the action lost the next cycle: {second:?}");
    };
    let mut indices = [a, b_index];
    indices.sort_unstable();
    assert_eq!(indices, [0, 1]);
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
}
