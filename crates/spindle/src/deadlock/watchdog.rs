// Layer 7 (detection's public face, trace recording): stands on the primitives and the thread API below it.
//! The top layer of detection: a thread that looks for deadlocks so that nobody has to
//! write one. Stands on `check` and on the primitives and thread API above it.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::check::{check, list_watcher, unlist_watcher};
use super::error::{DeadlockError, DeadlockKind};
use crate::sync::Event;
use crate::thread::{JoinHandle, Thread};

/// A daemon thread that runs [`check`] every so often and hands each deadlock it finds
/// to a handler, once: the global stalls and the cycles that lock-time detection cannot
/// see (waits on `Condition`, `Event`, `join`, … that close a cycle), without a polling
/// thread of your own. Lock cycles need no watchdog: they are caught as they form.
///
/// The watchdog is a daemon thread that only watches: it never holds up the program's
/// exit, and a stall never waits for it to act. It stops when
/// [`stop`](Watchdog::stop)ped or dropped.
///
/// ```rust,standalone_crate
/// use std::sync::{Arc, mpsc};
/// use std::time::Duration;
/// use spindle::deadlock::{DeadlockKind, Watchdog};
/// use spindle::sync::Event;
/// use spindle::thread::Thread;
///
/// let (found, reports) = mpsc::channel();
/// let watchdog = Watchdog::start(Duration::from_millis(20), move |report| {
///     let _ = found.send((report.kind(), report.thread_names()));
/// });
///
/// // Two threads, each waiting for an event only the other would set.
/// let (ping, pong) = (Arc::new(Event::named("ping")), Arc::new(Event::named("pong")));
/// let (p, q) = (Arc::clone(&ping), Arc::clone(&pong));
/// let a = Thread::new(move || { p.wait(); q.set() }).name("a").start().unwrap();
/// let (p, q) = (Arc::clone(&ping), Arc::clone(&pong));
/// let b = Thread::new(move || { q.wait(); p.set() }).name("b").start().unwrap();
///
/// let (kind, mut names) = reports.recv_timeout(Duration::from_secs(20)).unwrap();
/// names.sort();
/// assert_eq!((kind, names), (DeadlockKind::Stall, vec!["a".to_owned(), "b".to_owned()]));
/// watchdog.stop();
/// ping.set(); // let them go
/// a.join().unwrap();
/// b.join().unwrap();
/// ```
pub struct Watchdog {
    stop: Arc<Event>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts checking every `every`, calling `on_deadlock` (on the watchdog's thread)
    /// for each deadlock the first time it is found. A deadlock that ends and forms again
    /// is reported again.
    ///
    /// # Panics
    /// If `every` is zero, or the thread cannot be started.
    ///
    /// ```
    /// use std::time::Duration;
    /// let watchdog = spindle::deadlock::Watchdog::start(Duration::from_secs(1), |report| {
    ///     eprintln!("{report}");
    /// });
    /// drop(watchdog); // stops it
    /// ```
    pub fn start(
        every: Duration,
        on_deadlock: impl Fn(&DeadlockError) + Send + 'static,
    ) -> Watchdog {
        assert!(
            !every.is_zero(),
            "Watchdog::start: `every` must be longer than zero"
        );
        let stop = Arc::new(Event::named("deadlock watchdog stop"));
        let stopped = Arc::clone(&stop);
        let thread = Thread::new(move || watch(every, &stopped, on_deadlock))
            .name("spindle-deadlock-watchdog")
            .daemon(true)
            .start()
            .unwrap_or_else(|e| panic!("Watchdog::start: could not start its thread: {e}"));
        Watchdog {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the watchdog and waits for its thread to end (after the check it may be
    /// running). Dropping the watchdog does the same.
    ///
    /// ```
    /// use std::time::Duration;
    /// let watchdog = spindle::deadlock::Watchdog::start(Duration::from_millis(10), |_| {});
    /// watchdog.stop();
    /// ```
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.set();
        if let Some(thread) = self.thread.take() {
            // A panicking handler already reached the excepthook; nothing more to do.
            let _ = thread.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog")
            .field("running", &!self.stop.is_set())
            .finish()
    }
}

/// Lists the calling thread as one that only watches, for as long as it lives.
struct Listed(u64);

impl Listed {
    fn me() -> Listed {
        let me = crate::thread::current().id();
        list_watcher(me);
        Listed(me)
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        unlist_watcher(self.0);
    }
}

/// The watchdog's loop: check, report what is new, sleep until the next round or a stop.
fn watch(every: Duration, stop: &Event, on_deadlock: impl Fn(&DeadlockError)) {
    let _listed = Listed::me();
    let mut known: HashSet<(DeadlockKind, Vec<u64>)> = HashSet::new();
    while !stop.wait_timeout(every) {
        let found = check();
        let keys: HashSet<_> = found.iter().map(identity).collect();
        for report in &found {
            if !known.contains(&identity(report)) {
                on_deadlock(report);
            }
        }
        known = keys;
    }
}

/// What makes two reports the same deadlock: their kind and their threads.
fn identity(report: &DeadlockError) -> (DeadlockKind, Vec<u64>) {
    let mut ids: Vec<u64> = report.threads().iter().map(|t| t.id()).collect();
    ids.sort_unstable();
    (report.kind(), ids)
}
