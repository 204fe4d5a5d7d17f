//! Every `ThreadState`, observed from another thread, with `waiting_on` naming what the
//! thread waits for: `Kind "name"` for named primitives, `Kind created at FILE:LINE:COL`
//! for unnamed ones.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{PATIENCE, reach, start_named, wait_until};
use spindle::sync::{
    Barrier, BoundedSemaphore, Condition, Event, Gil, Mutex, ReentrantMutex, RwLock, Semaphore,
};
use spindle::thread::{self, Thread, ThreadState};

/// What `waiting_on` should say.
enum On {
    Exactly(&'static str),
    /// An unnamed primitive of this kind, created in this file.
    CreatedHere(&'static str),
}

impl On {
    #[track_caller]
    fn check(&self, seen: Option<String>) {
        let seen = seen.expect("a parked thread says what it waits on");
        match self {
            On::Exactly(want) => assert_eq!(seen, *want),
            On::CreatedHere(kind) => assert!(
                seen.starts_with(&format!("{kind} created at"))
                    && seen.contains("thread_states.rs"),
                "{seen:?} should name the {kind} by where this file created it"
            ),
        }
    }
}

/// Runs `wait` on its own thread, checks that it reads `state` and waits on `on`, then
/// calls `release` and checks that the thread ends.
#[track_caller]
fn observe(
    state: ThreadState,
    on: On,
    wait: impl FnOnce() + Send + 'static,
    release: impl FnOnce(),
) {
    let waiter = thread::spawn(wait);
    let info = waiter.info();
    reach(&info, state);
    on.check(info.waiting_on());
    release();
    assert!(
        waiter.wait_timeout(PATIENCE),
        "the waiter never ended: {info:?}"
    );
    waiter.join().expect("the waiter must not panic");
    assert_eq!(info.state(), ThreadState::Terminated);
    assert_eq!(info.waiting_on(), None);
}

#[test]
fn new_runnable_terminated() {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let t = Thread::new(move || {
        while !s.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    });
    let info = t.info();
    assert_eq!(info.state(), ThreadState::New);
    let h = t.start().unwrap();
    assert_eq!(info.state(), ThreadState::Runnable);
    assert_eq!(info.waiting_on(), None);
    stop.store(true, Ordering::SeqCst);
    h.join().unwrap();
    assert_eq!(info.state(), ThreadState::Terminated);
}

/// Back to `Runnable`, waiting on nothing, once a wait ends.
#[test]
fn runnable_again_after_a_wait() {
    let m = Arc::new(Mutex::named("m", ()));
    let stop = Arc::new(AtomicBool::new(false));
    let held = m.lock();
    let (m2, s) = (Arc::clone(&m), Arc::clone(&stop));
    let h = thread::spawn(move || {
        drop(m2.lock());
        while !s.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    });
    reach(&h.info(), ThreadState::Blocked);
    drop(held);
    assert!(wait_until(PATIENCE, || !m.is_locked()
        && h.info().state() == ThreadState::Runnable));
    assert_eq!(h.info().waiting_on(), None);
    stop.store(true, Ordering::SeqCst);
    h.join().unwrap();
}

// ---- Blocked: acquiring a lock ----

#[test]
fn blocked_on_a_named_mutex() {
    let m = Arc::new(Mutex::named("accounts", ()));
    let held = m.lock();
    let m2 = Arc::clone(&m);
    observe(
        ThreadState::Blocked,
        On::Exactly("Mutex \"accounts\""),
        move || drop(m2.lock()),
        || drop(held),
    );
}

#[test]
fn blocked_on_an_unnamed_mutex() {
    let m = Arc::new(Mutex::new(()));
    let held = m.lock();
    let m2 = Arc::clone(&m);
    observe(
        ThreadState::Blocked,
        On::CreatedHere("Mutex"),
        move || drop(m2.lock()),
        || drop(held),
    );
}

#[test]
fn blocked_on_a_reentrant_mutex() {
    let m = Arc::new(ReentrantMutex::named("tree", ()));
    let held = m.lock();
    let m2 = Arc::clone(&m);
    observe(
        ThreadState::Blocked,
        On::Exactly("ReentrantMutex \"tree\""),
        move || drop(m2.lock()),
        || drop(held),
    );
    let m = Arc::new(ReentrantMutex::new(()));
    let held = m.lock();
    let m2 = Arc::clone(&m);
    observe(
        ThreadState::Blocked,
        On::CreatedHere("ReentrantMutex"),
        move || drop(m2.lock()),
        || drop(held),
    );
}

#[test]
fn blocked_reading_a_write_locked_rwlock() {
    let l = Arc::new(RwLock::named("table", ()));
    let held = l.write();
    let l2 = Arc::clone(&l);
    observe(
        ThreadState::Blocked,
        On::Exactly("RwLock \"table\""),
        move || drop(l2.read()),
        || drop(held),
    );
}

#[test]
fn blocked_writing_a_read_locked_rwlock() {
    let l = Arc::new(RwLock::new(()));
    let held = l.read();
    let l2 = Arc::clone(&l);
    observe(
        ThreadState::Blocked,
        On::CreatedHere("RwLock"),
        move || drop(l2.write()),
        || drop(held),
    );
}

#[test]
fn blocked_writing_a_write_locked_rwlock() {
    let l = Arc::new(RwLock::named("table", ()));
    let held = l.write();
    let l2 = Arc::clone(&l);
    observe(
        ThreadState::Blocked,
        On::Exactly("RwLock \"table\""),
        move || drop(l2.write()),
        || drop(held),
    );
}

#[test]
fn blocked_on_a_gil() {
    let gil = Arc::new(Gil::new());
    let held = gil.acquire();
    let g2 = Arc::clone(&gil);
    observe(
        ThreadState::Blocked,
        On::CreatedHere("Gil"),
        move || drop(g2.acquire()),
        || drop(held),
    );
}

// ---- Waiting: parked without a timeout on anything else ----

#[test]
fn waiting_on_a_condition() {
    let c = Arc::new(Condition::named("jobs", false));
    let c2 = Arc::clone(&c);
    let wait = move || c2.lock().wait_until(|ready| *ready);
    observe(
        ThreadState::Waiting,
        On::Exactly("Condition \"jobs\""),
        wait,
        || {
            *c.lock() = true;
            c.notify_all();
        },
    );
}

#[test]
fn waiting_on_an_event() {
    let e = Arc::new(Event::named("ready"));
    let e2 = Arc::clone(&e);
    observe(
        ThreadState::Waiting,
        On::Exactly("Event \"ready\""),
        move || e2.wait(),
        || e.set(),
    );
    let e = Arc::new(Event::new());
    let e2 = Arc::clone(&e);
    observe(
        ThreadState::Waiting,
        On::CreatedHere("Event"),
        move || e2.wait(),
        || e.set(),
    );
}

#[test]
fn waiting_on_a_barrier() {
    let b = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&b);
    observe(
        ThreadState::Waiting,
        On::CreatedHere("Barrier"),
        move || {
            b2.wait().unwrap();
        },
        || {
            b.wait().unwrap();
        },
    );
}

#[test]
fn waiting_on_a_semaphore() {
    let s = Arc::new(Semaphore::named("slots", 0));
    let s2 = Arc::clone(&s);
    observe(
        ThreadState::Waiting,
        On::Exactly("Semaphore \"slots\""),
        move || s2.acquire().forget(),
        || s.release(1),
    );
    let s = Arc::new(BoundedSemaphore::new(1));
    s.acquire().forget();
    let s2 = Arc::clone(&s);
    observe(
        ThreadState::Waiting,
        On::CreatedHere("BoundedSemaphore"),
        move || drop(s2.acquire()),
        || {
            s.release(1).unwrap();
        },
    );
}

#[test]
fn waiting_to_join() {
    let go = Arc::new(Event::new());
    let g = Arc::clone(&go);
    let target = start_named("joined-one", move || g.wait());
    observe(
        ThreadState::Waiting,
        On::Exactly("join of thread \"joined-one\""),
        move || target.join().unwrap(),
        || go.set(),
    );
}

// ---- TimedWaiting: parked with a timeout, or sleeping ----

/// A sleeping thread reads `TimedWaiting` and waits on "sleep". The sleeper sleeps again
/// and again until told to stop, so the observation has no window to land in (a single
/// 300 ms sleep used to end before a preempted observer looked); the state and the name
/// are read until they are seen together, in one sleep or another.
#[test]
fn timed_waiting_in_sleep() {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let sleeper = thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
        }
    });
    let info = sleeper.info();
    assert!(
        wait_until(PATIENCE, || info.state() == ThreadState::TimedWaiting
            && info.waiting_on().as_deref() == Some("sleep")),
        "never seen sleeping: {info:?}"
    );
    stop.store(true, Ordering::SeqCst);
    sleeper.join().unwrap();
    assert_eq!(info.state(), ThreadState::Terminated);
    assert_eq!(info.waiting_on(), None);
}

#[test]
fn timed_waiting_in_try_lock_for() {
    let m = Arc::new(Mutex::named("accounts", ()));
    let held = m.lock();
    let m2 = Arc::clone(&m);
    let wait = move || assert!(m2.try_lock_for(PATIENCE).is_some());
    observe(
        ThreadState::TimedWaiting,
        On::Exactly("Mutex \"accounts\""),
        wait,
        || drop(held),
    );

    let r = Arc::new(ReentrantMutex::new(()));
    let held = r.lock();
    let r2 = Arc::clone(&r);
    let wait = move || assert!(r2.try_lock_for(PATIENCE).is_some());
    observe(
        ThreadState::TimedWaiting,
        On::CreatedHere("ReentrantMutex"),
        wait,
        || drop(held),
    );
}

#[test]
fn timed_waiting_in_rwlock_try_for() {
    let l = Arc::new(RwLock::named("table", ()));
    let held = l.write();
    let l2 = Arc::clone(&l);
    let wait = move || assert!(l2.try_read_for(PATIENCE).is_some());
    observe(
        ThreadState::TimedWaiting,
        On::Exactly("RwLock \"table\""),
        wait,
        || drop(held),
    );
    let held = l.read();
    let l2 = Arc::clone(&l);
    let wait = move || assert!(l2.try_write_for(PATIENCE).is_some());
    observe(
        ThreadState::TimedWaiting,
        On::Exactly("RwLock \"table\""),
        wait,
        || drop(held),
    );
}

#[test]
fn timed_waiting_in_try_acquire_for() {
    let s = Arc::new(Semaphore::named("slots", 0));
    let s2 = Arc::clone(&s);
    let wait = move || {
        s2.try_acquire_for(PATIENCE)
            .expect("released in time")
            .forget()
    };
    observe(
        ThreadState::TimedWaiting,
        On::Exactly("Semaphore \"slots\""),
        wait,
        || s.release(1),
    );
}

#[test]
fn timed_waiting_in_wait_timeouts() {
    let c = Arc::new(Condition::named("jobs", false));
    let c2 = Arc::clone(&c);
    let wait = move || assert!(c2.lock().wait_until_timeout(|ready| *ready, PATIENCE));
    observe(
        ThreadState::TimedWaiting,
        On::Exactly("Condition \"jobs\""),
        wait,
        || {
            *c.lock() = true;
            c.notify_all();
        },
    );
    let c = Arc::new(Condition::new(()));
    let c2 = Arc::clone(&c);
    let wait = move || assert!(c2.lock().wait_timeout(PATIENCE));
    observe(
        ThreadState::TimedWaiting,
        On::CreatedHere("Condition"),
        wait,
        || {
            drop(c.lock()); // the waiter is queued once it has let go of the lock
            c.notify_one();
        },
    );

    let e = Arc::new(Event::named("ready"));
    let e2 = Arc::clone(&e);
    let wait = move || assert!(e2.wait_timeout(PATIENCE));
    observe(
        ThreadState::TimedWaiting,
        On::Exactly("Event \"ready\""),
        wait,
        || e.set(),
    );

    let b = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&b);
    let wait = move || {
        b2.wait_timeout(PATIENCE).unwrap();
    };
    observe(
        ThreadState::TimedWaiting,
        On::CreatedHere("Barrier"),
        wait,
        || {
            b.wait().unwrap();
        },
    );
}

#[test]
fn timed_waiting_for_a_join() {
    let go = Arc::new(Event::new());
    let g = Arc::clone(&go);
    let target = Arc::new(start_named("awaited", move || g.wait()));
    let t2 = Arc::clone(&target);
    let wait = move || assert!(t2.wait_timeout(PATIENCE));
    observe(
        ThreadState::TimedWaiting,
        On::Exactly("join of thread \"awaited\""),
        wait,
        || go.set(),
    );
}
