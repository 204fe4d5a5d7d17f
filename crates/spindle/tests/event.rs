//! `Event`: Python's flag. Scenarios follow CPython's `Lib/test/lock_tests.py`
//! `EventTests` where named.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PATIENCE, reach};
use spindle::sync::Event;
use spindle::thread::{self, ThreadState};

/// lock_tests.py `EventTests.test_is_set`.
#[test]
fn set_clear_is_set() {
    let e = Event::new();
    assert!(!e.is_set());
    e.set();
    assert!(e.is_set());
    e.set();
    assert!(e.is_set());
    e.clear();
    assert!(!e.is_set());
    e.clear();
    assert!(!e.is_set());
}

/// lock_tests.py `EventTests.test_notify`: set wakes every waiter.
#[test]
fn set_wakes_every_waiter() {
    let e = Arc::new(Event::named("go"));
    let waiters: Vec<_> = (0..5)
        .map(|i| {
            let e = Arc::clone(&e);
            thread::spawn(move || {
                if i % 2 == 0 {
                    e.wait();
                    true
                } else {
                    e.wait_timeout(PATIENCE)
                }
            })
        })
        .collect();
    for (i, w) in waiters.iter().enumerate() {
        let state = if i % 2 == 0 {
            ThreadState::Waiting
        } else {
            ThreadState::TimedWaiting
        };
        reach(&w.info(), state);
        assert_eq!(w.info().waiting_on().as_deref(), Some("Event \"go\""));
    }
    e.set();
    for w in waiters {
        assert!(w.join().unwrap());
    }
}

#[test]
fn wait_returns_at_once_when_set() {
    let e = Event::new();
    e.set();
    e.wait();
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(e.wait_timeout(PATIENCE));
}

/// lock_tests.py `EventTests.test_timeout`.
#[test]
fn wait_timeout_is_false_when_never_set() {
    let e = Event::new();
    let timeout = Duration::from_millis(50);
    let start = Instant::now();
    assert!(!e.wait_timeout(timeout));
    assert!(start.elapsed() >= timeout);
    assert!(!e.wait_timeout(Duration::ZERO));
}

/// lock_tests.py `EventTests.test_set_and_clear`: a waiter whose event was set while it
/// waited returns true, even if it was cleared again before the waiter woke.
#[test]
fn wait_timeout_is_true_when_set_then_cleared_before_waking() {
    for _ in 0..20 {
        let e = Arc::new(Event::new());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let e = Arc::clone(&e);
                thread::spawn(move || e.wait_timeout(PATIENCE))
            })
            .collect();
        for w in &waiters {
            reach(&w.info(), ThreadState::TimedWaiting);
        }
        e.set();
        e.clear();
        for w in waiters {
            let start = Instant::now();
            assert!(w.join().unwrap(), "a set was missed");
            assert!(start.elapsed() < PATIENCE);
        }
        assert!(!e.is_set());
    }
}

/// lock_tests.py `EventTests.test_reset_internal_locks`-like reuse: set, clear, wait again.
#[test]
fn reusable_after_clear() {
    let e = Arc::new(Event::new());
    for _ in 0..5 {
        let e2 = Arc::clone(&e);
        let waiter = thread::spawn(move || e2.wait());
        reach(&waiter.info(), ThreadState::Waiting);
        e.set();
        waiter.join().unwrap();
        e.clear();
        assert!(!e.wait_timeout(Duration::from_millis(1)));
    }
}

#[test]
fn unnamed_event_is_named_by_where_it_was_made() {
    let e = Arc::new(Event::default());
    let e2 = Arc::clone(&e);
    let waiter = thread::spawn(move || e2.wait());
    reach(&waiter.info(), ThreadState::Waiting);
    let on = waiter.info().waiting_on().unwrap();
    assert!(
        on.starts_with("Event created at") && on.contains("event.rs"),
        "{on}"
    );
    e.set();
    waiter.join().unwrap();
    assert!(format!("{e:?}").contains("set: true"));
}
