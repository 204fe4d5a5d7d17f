//! Regressions of issue 11 under `Detection::LockOrder` (case 6): a forgotten guard of a
//! lock that was then dropped must not stay on its thread's stack of held locks, or every
//! later acquisition records an order that never was, and an unrelated thread is told of
//! an inversion.
//!
//! The detection mode and the lock-order handler are process-wide, hence a binary of
//! its own. nextest runs each test in its own process; under `cargo test` the tests of
//! this binary take turns (`SERIAL`).

mod deadlock_support;

use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdMutexGuard};
use std::time::Duration;

use deadlock_support::TimeLimit;
use spindle::deadlock::{self, DeadlockError, DeadlockKind, Detection};
use spindle::sync::{Mutex, ReentrantMutex, RwLock};
use spindle::thread::Thread;

static SERIAL: StdMutex<()> = StdMutex::new(());

type Found = Arc<StdMutex<Vec<DeadlockError>>>;

/// Takes this binary's turn, turns lock-order checking on and collects its reports.
fn lock_order_on() -> (StdMutexGuard<'static, ()>, Found) {
    let turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let found: Found = Arc::new(StdMutex::new(Vec::new()));
    let sink = Arc::clone(&found);
    deadlock::set_lock_order_handler(move |e| sink.lock().unwrap().push(e.clone()));
    deadlock::set_detection(Detection::LockOrder);
    (turn, found)
}

fn run(name: &str, f: impl FnOnce() + Send + 'static) {
    Thread::new(f)
        .name(name)
        .start()
        .expect("the thread started")
        .join()
        .expect("the thread did not panic");
}

/// One kind of lock, each function making its own lock of class `class` (its name).
struct Kind {
    what: &'static str,
    forget_a_guard_of_a_dropped_lock: fn(class: &str),
    /// Takes `x`, then (holding it) a lock of the class.
    take_after: fn(class: &str, x: &Mutex<()>),
    /// Takes a lock of the class, then (holding it) `x`.
    take_before: fn(class: &str, x: &Mutex<()>),
}

/// The scenario for one kind: thread "forgetful" forgets a guard of a lock of
/// class `C`, drops the lock, then takes `x`; thread "unrelated" takes `x`, then a new
/// lock of class `C`. Nothing was ever held while `x` was taken by "forgetful", so that
/// is the first order between `x` and `C`: no report. Then a thread that really takes
/// `C` then `x` is reported (lock-order checking is on and sees these locks).
fn forgotten_guard_leaves_the_held_stack(kind: &Kind) {
    let (_turn, found) = lock_order_on();
    let class = format!("dropped-{}", kind.what);
    let x = Arc::new(Mutex::named(format!("x-after-{}", kind.what), ()));
    {
        let (x, class, forget) = (
            Arc::clone(&x),
            class.clone(),
            kind.forget_a_guard_of_a_dropped_lock,
        );
        run("forgetful", move || {
            forget(&class);
            drop(x.lock()); // holds nothing now: no order to record
        });
    }
    {
        let (x, class, take_after) = (Arc::clone(&x), class.clone(), kind.take_after);
        run("unrelated", move || take_after(&class, &x));
    }
    let false_reports: Vec<DeadlockError> = found.lock().unwrap().drain(..).collect();
    assert!(
        false_reports.is_empty(),
        "{}: a forgotten guard of a dropped lock stayed on its thread's held stack; \
         false lock-order report(s):\n{}",
        kind.what,
        false_reports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Not vacuous: the real inversion (C then x, after "unrelated" took x then C) is seen.
    {
        let (x, class, take_before) = (Arc::clone(&x), class.clone(), kind.take_before);
        run("really-inverted", move || take_before(&class, &x));
    }
    let real = found.lock().unwrap().drain(..).collect::<Vec<_>>();
    assert_eq!(real.len(), 1, "{}: {real:#?}", kind.what);
    assert_eq!(real[0].kind(), DeadlockKind::LockOrder);
    let mut names = real[0].thread_names();
    names.sort();
    assert_eq!(names, ["really-inverted", "unrelated"], "{}", real[0]);
}

#[test]
fn a_forgotten_guard_of_a_dropped_mutex_leaves_the_held_stack() {
    let _limit = TimeLimit::start(Duration::from_secs(60), "mutex");
    forgotten_guard_leaves_the_held_stack(&Kind {
        what: "Mutex",
        forget_a_guard_of_a_dropped_lock: |class| {
            let m = Mutex::named(class, ());
            std::mem::forget(m.lock());
            drop(m);
        },
        take_after: |class, x| {
            let _x = x.lock();
            let c = Mutex::named(class, ());
            drop(c.lock());
        },
        take_before: |class, x| {
            let c = Mutex::named(class, ());
            let _c = c.lock();
            drop(x.lock());
        },
    });
}

#[test]
fn a_forgotten_guard_of_a_dropped_reentrant_mutex_leaves_the_held_stack() {
    let _limit = TimeLimit::start(Duration::from_secs(60), "reentrant");
    forgotten_guard_leaves_the_held_stack(&Kind {
        what: "ReentrantMutex",
        forget_a_guard_of_a_dropped_lock: |class| {
            let m = ReentrantMutex::named(class, ());
            std::mem::forget(m.lock());
            drop(m);
        },
        take_after: |class, x| {
            let _x = x.lock();
            let c = ReentrantMutex::named(class, ());
            drop(c.lock());
        },
        take_before: |class, x| {
            let c = ReentrantMutex::named(class, ());
            let _c = c.lock();
            drop(x.lock());
        },
    });
}

#[test]
fn a_forgotten_write_guard_of_a_dropped_rwlock_leaves_the_held_stack() {
    let _limit = TimeLimit::start(Duration::from_secs(60), "rwlock write");
    forgotten_guard_leaves_the_held_stack(&Kind {
        what: "RwLock-write",
        forget_a_guard_of_a_dropped_lock: |class| {
            let l = RwLock::named(class, ());
            std::mem::forget(l.write());
            drop(l);
        },
        take_after: |class, x| {
            let _x = x.lock();
            let c = RwLock::named(class, ());
            drop(c.write());
        },
        take_before: |class, x| {
            let c = RwLock::named(class, ());
            let _c = c.write();
            drop(x.lock());
        },
    });
}

#[test]
fn a_forgotten_read_guard_of_a_dropped_rwlock_leaves_the_held_stack() {
    let _limit = TimeLimit::start(Duration::from_secs(60), "rwlock read");
    forgotten_guard_leaves_the_held_stack(&Kind {
        what: "RwLock-read",
        forget_a_guard_of_a_dropped_lock: |class| {
            let l = RwLock::named(class, ());
            std::mem::forget(l.read());
            drop(l);
        },
        take_after: |class, x| {
            let _x = x.lock();
            let c = RwLock::named(class, ());
            drop(c.read());
        },
        take_before: |class, x| {
            let c = RwLock::named(class, ());
            let _c = c.read();
            drop(x.lock());
        },
    });
}
