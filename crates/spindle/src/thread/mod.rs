// Layer 6 (thread API): public threads over the primitives and the waiting path.
//! Threads you can see: Python's `threading` thread model over OS threads.
//!
//! Every thread has a record that any other thread can read: its id, name, daemon flag,
//! [`ThreadState`], and what it is parked on. Threads started by spindle get `Thread-N`
//! names as in Python; any other thread registers itself the first time it touches
//! spindle (the main thread as `MainThread`).
//!
//! A panic never goes unnoticed, and is reported once: [`JoinHandle::join`] returns it as
//! [`Panicked`], and the excepthook ([`set_excepthook`]) hears of it when the thread ends,
//! joined or not (the default one prints it, with where it happened).
//!
//! Beyond `Thread` and `spawn`: a [`Timer`] runs a function after a delay on a thread of its
//! own, [`Local`] keeps one value per thread, and the `Thread` builder sets a thread's
//! [stack size](Thread::stack_size), [CPU affinity](Thread::affinity) and
//! [priority](Thread::priority).
//!
//! ```
//! use spindle::thread::{self, Thread, ThreadState};
//!
//! let worker = Thread::new(|| (1..=10u64).product::<u64>()).name("factorial");
//! let h = worker.start().unwrap();
//! assert_eq!(h.join().unwrap(), 3_628_800);
//! assert_eq!(thread::main_thread().name(), "MainThread");
//! ```

mod info;
mod local;
mod os;
pub(crate) mod panic_hook;
mod panicked;
pub(crate) mod registry;
mod spawn;
pub(crate) mod state;
mod timer;

use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use info::ThreadInfo;
pub use local::Local;
pub use panicked::{Panicked, set_excepthook};
#[allow(unused_imports)] // used by the executors
pub(crate) use panicked::{payload_message, report as report_panic};
pub use spawn::{JoinHandle, Thread, spawn};
pub use state::ThreadState;
pub use timer::{Timer, TimerHandle};

use crate::wait::{self, Wait, Waitable};

/// The calling thread, registering it first if spindle has not seen it yet (a thread
/// spindle did not start is named after its OS name, else `Dummy-N`, and is a daemon).
///
/// ```
/// let me = spindle::thread::current();
/// assert_eq!(me, spindle::thread::current());
/// ```
pub fn current() -> ThreadInfo {
    ThreadInfo(registry::try_current().unwrap_or_else(registry::unregistered))
}

/// The process's main thread, named `MainThread`, known even if it never used spindle.
///
/// ```
/// let main = spindle::thread::main_thread();
/// assert_eq!(main.name(), "MainThread");
/// assert_eq!(main.id(), 1);
/// assert!(main.is_alive());
/// ```
pub fn main_thread() -> ThreadInfo {
    ThreadInfo(registry::main_record().clone())
}

/// Every live thread spindle knows of, the main thread included, in start order.
///
/// ```
/// use spindle::thread;
/// assert!(thread::enumerate().contains(&thread::main_thread()));
/// ```
pub fn enumerate() -> Vec<ThreadInfo> {
    registry::snapshot().into_iter().map(ThreadInfo).collect()
}

/// How many threads [`enumerate`] lists.
///
/// ```
/// assert!(spindle::thread::active_count() >= 1);
/// ```
pub fn active_count() -> usize {
    registry::count()
}

/// Sleeps for `d`, as `std::thread::sleep`, with the state reading `TimedWaiting`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// spindle::thread::sleep(Duration::from_millis(5));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[track_caller]
pub fn sleep(d: Duration) {
    let deadline = wait::deadline_after(d);
    let on = Sleep;
    let wait = Wait {
        on: &on,
        state: ThreadState::TimedWaiting,
        at: Location::caller(),
        check: false,
    };
    // A key nobody else uses: this stack slot's address, for as long as we sleep.
    let key_slot = 0u8;
    let key = &key_slot as *const u8 as usize;
    while Instant::now() < deadline {
        let _ = wait::park(
            &wait,
            key,
            || true,
            || {},
            |_, _| {},
            parking_lot_core::DEFAULT_PARK_TOKEN,
            Some(deadline),
        );
    }
}

/// Waits until every non-daemon thread spindle started has ended (Python's rule at exit:
/// the interpreter waits for its non-daemon threads). Threads started meanwhile count too.
///
/// As at Python's exit, the idle workers of a thread pool nobody shut down leave once
/// the work queued there has run (CPython tells them so with `threading._register_atexit`),
/// so a program that never shuts its `ThreadPoolExecutor` down still gets past this; the
/// pool starts workers again if it is used afterwards.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use spindle::thread;
///
/// let done = Arc::new(AtomicBool::new(false));
/// let flag = Arc::clone(&done);
/// thread::spawn(move || flag.store(true, Ordering::SeqCst)); // not joined
/// thread::join_non_daemon();
/// assert!(done.load(Ordering::SeqCst));
/// ```
#[track_caller]
pub fn join_non_daemon() {
    let _exit = Exit::begin();
    let me = registry::current_id();
    loop {
        let pending: Vec<_> = registry::snapshot()
            .into_iter()
            .filter(|t| t.spawned && !t.daemon() && t.id != me)
            .collect();
        if pending.is_empty() {
            return;
        }
        for t in pending {
            if let Err(e) = spawn::wait_for_end(&t, None, Location::caller()) {
                crate::deadlock::raise::raise(e);
            }
        }
    }
}

/// What `join_non_daemon` tells before it waits, as CPython's `threading._register_atexit`:
/// each hook registered (once) by a layer above, such as the thread pools.
static EXIT_HOOKS: parking_lot::Mutex<Vec<fn()>> = parking_lot::Mutex::new(Vec::new());

/// How many `join_non_daemon` calls are under way.
static EXITING: AtomicUsize = AtomicUsize::new(0);

/// Registers `hook` to run each time `join_non_daemon` begins.
pub(crate) fn at_exit(hook: fn()) {
    EXIT_HOOKS.lock().push(hook);
}

/// Whether a `join_non_daemon` is under way: threads that only wait for work (idle pool
/// workers) should leave rather than wait.
pub(crate) fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst) != 0
}

/// One `join_non_daemon` under way, from its hooks until it returns.
struct Exit;

impl Exit {
    fn begin() -> Exit {
        EXITING.fetch_add(1, Ordering::SeqCst);
        let hooks = EXIT_HOOKS.lock().clone();
        for hook in hooks {
            hook();
        }
        Exit
    }
}

impl Drop for Exit {
    fn drop(&mut self) {
        EXITING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a sleeping thread waits on.
struct Sleep;

impl Waitable for Sleep {
    fn describe(&self) -> String {
        "sleep".to_owned()
    }

    fn description(&self) -> std::sync::Arc<str> {
        crate::description::cached("sleep", 0, None, || self.describe())
    }
}
