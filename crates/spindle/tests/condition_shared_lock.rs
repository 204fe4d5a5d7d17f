//! Several conditions over one lock (issue 12, item 7): Python's `Condition(lock)`, which
//! CPython's own `queue.Queue` uses to keep `not_empty` and `not_full` on one mutex.
//! Here a `Condition` owns the lock and its first condition; `new_condition` makes more.
//!
//! Detection mode and `check()` are process-wide: the stall test is written for nextest,
//! which runs each test in its own process.

mod common;

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{PATIENCE, SETTLE, holds_for, reach, start_named, wait_until};
use spindle::deadlock::{self, DeadlockKind};
use spindle::sync::{Condition, ConditionVar};
use spindle::thread::{self, Thread, ThreadState};

/// The classic bounded buffer: the condition is "not empty", a second one "not full".
struct Bounded {
    items: Condition<VecDeque<usize>>,
    not_full: ConditionVar,
    capacity: usize,
    /// The most items the buffer ever held.
    peak: AtomicUsize,
}

impl Bounded {
    fn new(capacity: usize) -> Self {
        let items = Condition::named("not_empty", VecDeque::new());
        let not_full = items.named_condition("not_full");
        Bounded {
            items,
            not_full,
            capacity,
            peak: AtomicUsize::new(0),
        }
    }

    fn put(&self, item: usize) {
        let mut items = self.items.lock();
        self.not_full
            .wait_until(&mut items, |q| q.len() < self.capacity);
        items.push_back(item);
        self.peak.fetch_max(items.len(), Ordering::SeqCst);
        self.items.notify_one();
    }

    fn get(&self) -> usize {
        let mut items = self.items.lock();
        items.wait_until(|q| !q.is_empty());
        let item = items.pop_front().expect("not empty");
        self.not_full.notify_one();
        item
    }
}

/// Issue 12, item 7: the two-condition bounded buffer of CPython's `queue.Queue`
/// (`not_empty` and `not_full` over one mutex) can be written, and with several producers
/// and consumers on 2 cores every item arrives exactly once, the bound always holds, and
/// nobody sleeps through a notification meant for them (`notify_one` on the right
/// condition is enough: a lost or misdirected wake-up hangs the test).
#[test]
fn two_conditions_on_one_lock_make_a_bounded_buffer() {
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 3;
    const EACH: usize = 2000;
    let buffer = Arc::new(Bounded::new(2));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let b = Arc::clone(&buffer);
            thread::spawn(move || (0..EACH).for_each(|i| b.put(p * EACH + i)))
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let b = Arc::clone(&buffer);
            thread::spawn(move || {
                (0..PRODUCERS * EACH / CONSUMERS)
                    .map(|_| b.get())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for p in producers {
        assert!(p.wait_timeout(PATIENCE), "a producer hung");
        p.join().unwrap();
    }
    let mut all = Vec::new();
    for c in consumers {
        assert!(c.wait_timeout(PATIENCE), "a consumer hung");
        all.extend(c.join().unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (0..PRODUCERS * EACH).collect::<Vec<_>>());
    assert!(
        buffer.peak.load(Ordering::SeqCst) <= 2,
        "the bound was exceeded"
    );
    assert!(buffer.items.lock().is_empty());
}

/// Each condition wakes only its own waiters (Python: `Condition(lock).notify` wakes the
/// threads waiting on that condition object, not every one over the lock).
#[test]
fn a_condition_wakes_only_its_own_waiters() {
    let c = Arc::new(Condition::new(0usize));
    let other = Arc::new(c.new_condition());
    let woken = Arc::new(AtomicUsize::new(0));
    let (c1, w1) = (Arc::clone(&c), Arc::clone(&woken));
    let on_first = thread::spawn(move || {
        c1.lock().wait();
        w1.fetch_add(1, Ordering::SeqCst);
    });
    let (c2, o2, w2) = (Arc::clone(&c), Arc::clone(&other), Arc::clone(&woken));
    let on_second = thread::spawn(move || {
        o2.wait(&mut c2.lock());
        w2.fetch_add(10, Ordering::SeqCst);
    });
    reach(&on_first.info(), ThreadState::Waiting);
    reach(&on_second.info(), ThreadState::Waiting);
    drop(c.lock()); // both have released the lock: they are queued

    other.notify_all();
    assert!(wait_until(PATIENCE, || on_second.is_finished()));
    assert!(
        holds_for(SETTLE, || woken.load(Ordering::SeqCst) == 10),
        "the first condition's waiter woke for the second's notification"
    );
    c.notify_all();
    on_first.join().unwrap();
    on_second.join().unwrap();
    assert_eq!(woken.load(Ordering::SeqCst), 11);
}

/// A second condition's waiters read `Waiting` / `TimedWaiting` and name it, as the
/// first condition's do.
#[test]
fn a_second_conditions_waiters_read_their_state_and_name() {
    let c = Arc::new(Condition::named("buffer", ()));
    let named = Arc::new(c.named_condition("not_full"));
    let (c2, n2) = (Arc::clone(&c), Arc::clone(&named));
    let waiter = thread::spawn(move || n2.wait(&mut c2.lock()));
    reach(&waiter.info(), ThreadState::Waiting);
    assert_eq!(
        waiter.info().waiting_on().as_deref(),
        Some("Condition \"not_full\"")
    );
    drop(c.lock());
    named.notify_one();
    waiter.join().unwrap();

    let unnamed = Arc::new(c.new_condition());
    let (c2, u2) = (Arc::clone(&c), Arc::clone(&unnamed));
    let waiter = thread::spawn(move || u2.wait_timeout(&mut c2.lock(), PATIENCE));
    reach(&waiter.info(), ThreadState::TimedWaiting);
    let on = waiter.info().waiting_on().unwrap();
    assert!(
        on.starts_with("Condition created at") && on.contains("condition_shared_lock.rs"),
        "{on}"
    );
    drop(c.lock());
    unnamed.notify_all();
    assert!(waiter.join().unwrap(), "notified, not timed out");
    assert!(format!("{unnamed:?}").contains("ConditionVar"));
}

/// As for the first condition: a notification sent with the lock held takes effect when
/// the lock is released, so the woken thread finds it free instead of waking to block.
#[test]
fn a_second_condition_notified_with_the_lock_held_wakes_on_release() {
    let c = Arc::new(Condition::new(0usize));
    let other = Arc::new(c.new_condition());
    let (c2, o2) = (Arc::clone(&c), Arc::clone(&other));
    let waiter = thread::spawn(move || {
        let mut g = c2.lock();
        o2.wait_until(&mut g, |n| *n == 1);
    });
    let info = waiter.info();
    reach(&info, ThreadState::Waiting);
    let mut held = c.lock();
    *held = 1;
    other.notify_one();
    assert!(
        holds_for(SETTLE, || info.state() == ThreadState::Waiting),
        "woke while the lock was still held: {info:?}"
    );
    drop(held);
    assert!(
        waiter.wait_timeout(PATIENCE),
        "never woke after the release"
    );
    waiter.join().unwrap();
}

/// A holder that notifies one condition and then waits on another must not sit on the
/// deferred notification while it waits: the thread it woke is the one that will wake it.
/// Both ways round: the first condition notified and the second waited on, and back.
#[test]
fn notify_one_condition_then_wait_on_another_delivers_the_notification() {
    #[derive(Default)]
    struct Turn(usize);
    let c = Arc::new(Condition::new(Turn::default()));
    let other = Arc::new(c.new_condition());
    let (c2, o2) = (Arc::clone(&c), Arc::clone(&other));
    let partner = thread::spawn(move || {
        let mut g = c2.lock();
        g.wait_until(|t| t.0 == 1); // on the first condition
        g.0 = 2;
        o2.notify_one();
        o2.wait_until(&mut g, |t| t.0 == 3); // on the second
        g.0 = 4;
        c2.notify_one();
    });
    reach(&partner.info(), ThreadState::Waiting);

    let mut g = c.lock();
    g.0 = 1;
    c.notify_one(); // deferred: the lock is held
    assert!(
        other.wait_until_timeout(&mut g, |t| t.0 == 2, PATIENCE),
        "the partner never got the first condition's notification"
    );
    g.0 = 3;
    other.notify_one(); // deferred again, on the second condition
    assert!(
        g.wait_until_timeout(|t| t.0 == 4, PATIENCE),
        "the partner never got the second condition's notification"
    );
    drop(g);
    partner.join().unwrap();
}

#[test]
fn waiting_with_another_conditions_guard_panics_naming_both() {
    let mine = Condition::named("mine", ());
    let theirs = Condition::named("theirs", ());
    let cv = mine.named_condition("room");
    let mut g = theirs.lock();
    let err = panic::catch_unwind(AssertUnwindSafe(|| cv.wait(&mut g))).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("Condition \"room\"") && msg.contains("Condition \"theirs\""),
        "{msg}"
    );
    drop(g);
    // A condition that has never made another one has nothing to share either.
    let plain = Condition::new(());
    let mut g = plain.lock();
    assert!(panic::catch_unwind(AssertUnwindSafe(|| cv.wait_timeout(&mut g, PATIENCE))).is_err());
}

/// A second condition holds no pointer into its condition: after a guard was forgotten
/// (the lock stays held) and the condition itself dropped, notifying it is harmless.
#[test]
fn a_second_condition_outlives_forgotten_guards_and_its_condition() {
    let c = Condition::new(vec![1]);
    let other = c.new_condition();
    let guard = c.lock();
    std::mem::forget(guard);
    other.notify_all(); // this thread still holds the lock: deferred, never sent
    assert!(
        c.lock_checked().is_err(),
        "the forgotten guard keeps the lock"
    );
    drop(c);
    other.notify_one();
    other.notify_all();
    drop(other);

    // Made while another thread holds the lock: that holder's notifications are sent.
    let c = Arc::new(Condition::new(0));
    let other = Arc::new(c.new_condition());
    let (c2, o2) = (Arc::clone(&c), Arc::clone(&other));
    let waiter = thread::spawn(move || o2.wait_until_timeout(&mut c2.lock(), |n| *n > 0, PATIENCE));
    reach(&waiter.info(), ThreadState::TimedWaiting);
    let mut g = c.lock();
    let late = c.new_condition();
    *g = 1;
    other.notify_one();
    late.notify_one();
    drop(g);
    assert!(waiter.join().unwrap());
}

/// Deadlock detection sees waits on a second condition as it sees waits on the first:
/// threads parked on it for good, with nobody left to notify, are a stall, and the
/// report names the condition.
#[test]
fn a_stall_on_a_second_condition_is_reported_naming_it() {
    let c = Arc::new(Condition::named("buffer", 0));
    let not_full = Arc::new(c.named_condition("not_full"));
    let waiters: Vec<_> = (0..2)
        .map(|i| {
            let (c, n) = (Arc::clone(&c), Arc::clone(&not_full));
            start_named(format!("producer-{i}"), move || {
                n.wait_until(&mut c.lock(), |v| *v > 0)
            })
        })
        .collect();
    for w in &waiters {
        reach(&w.info(), ThreadState::Waiting);
    }
    let checker = Thread::new(deadlock::check).daemon(true).start().unwrap();
    let found = checker.join().unwrap();
    let stall = found
        .iter()
        .find(|d| d.kind() == DeadlockKind::Stall)
        .unwrap_or_else(|| panic!("no stall in {found:#?}"));
    let names = stall.thread_names();
    assert!(
        names.contains(&"producer-0".to_owned()) && names.contains(&"producer-1".to_owned()),
        "{names:?}"
    );
    assert!(
        stall.to_string().contains("Condition \"not_full\""),
        "{stall}"
    );
    *c.lock() = 1;
    not_full.notify_all();
    for w in waiters {
        assert!(w.wait_timeout(PATIENCE));
        w.join().unwrap();
    }
}

/// As for the first condition (issue 11): a waiter holding `a` waits on the second
/// condition; the notifier, holding the condition's lock, notifies it (deferred until
/// the lock is released) and then blocks on `a`. A real cycle, reported as it forms, to
/// exactly one of the two, instead of both parking for good.
#[test]
fn a_cycle_closed_by_a_second_condition_notified_under_its_lock_is_reported() {
    use spindle::sync::{DeadlockError, Mutex};
    fn caught<T>(f: impl FnOnce() -> T) -> Result<T, DeadlockError> {
        panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            *payload
                .downcast::<DeadlockError>()
                .unwrap_or_else(|other| panic::resume_unwind(other))
        })
    }
    let a = Arc::new(Mutex::named("a", ()));
    let cond = Arc::new(Condition::named("buffer", false));
    let ready = Arc::new(cond.named_condition("ready"));
    let waiter = {
        let (a, cond, ready) = (Arc::clone(&a), Arc::clone(&cond), Arc::clone(&ready));
        start_named("cond-waiter", move || {
            let held = a.lock();
            let outcome = caught(|| ready.wait_until(&mut cond.lock(), |r| *r));
            drop(held);
            outcome
        })
    };
    reach(&waiter.info(), ThreadState::Waiting);
    let notifier = {
        let (a, cond, ready) = (Arc::clone(&a), Arc::clone(&cond), Arc::clone(&ready));
        start_named("notifier", move || {
            let mut g = cond.lock();
            *g = true;
            ready.notify_one();
            let got = a.lock_checked().map(drop);
            drop(g);
            got
        })
    };
    assert!(
        notifier.wait_timeout(PATIENCE) && waiter.wait_timeout(PATIENCE),
        "the cycle was not reported as it formed (both parked)"
    );
    let outcomes = [notifier.join().unwrap(), waiter.join().unwrap()];
    let reports: Vec<&DeadlockError> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(reports.len(), 1, "exactly one reporter: {reports:#?}");
    assert_eq!(reports[0].kind(), DeadlockKind::Cycle);
    assert!(
        reports[0].to_string().contains("Mutex \"a\""),
        "{}",
        reports[0]
    );
}
