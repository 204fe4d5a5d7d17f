// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! `Event`: a flag threads can wait for.

use std::fmt;
use std::panic::Location;
use std::time::{Duration, Instant};

use super::condvar::Condvar;
use super::label::{Label, Labelled};
use super::mutex::Mutex;
use crate::wait::{self, Wait};

struct Flag {
    set: bool,
    /// Counts `set` calls, so a waiter knows the event was set while it slept even if
    /// `clear` ran before it woke (CPython's behaviour).
    generation: u64,
}

/// A flag that threads wait for until another sets it: Python's `Event`, built (as in
/// CPython) on a lock and a condition variable.
///
/// Waiters read `Waiting` (`TimedWaiting` with a timeout), naming the event.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Event;
/// use spindle::thread;
///
/// let started = Arc::new(Event::new());
/// let s = Arc::clone(&started);
/// let h = thread::spawn(move || s.set());
/// started.wait();
/// assert!(started.is_set());
/// h.join().unwrap();
/// ```
pub struct Event {
    flag: Mutex<Flag>,
    cv: Condvar,
    label: Label,
}

impl Event {
    /// An event that is not set, named in reports by where it is created.
    ///
    /// ```
    /// assert!(!spindle::sync::Event::new().is_set());
    /// ```
    #[track_caller]
    pub fn new() -> Event {
        Event::with_label(Label::here())
    }

    /// An event that states and reports call `name`.
    ///
    /// ```
    /// let e = spindle::sync::Event::named("shutdown");
    /// assert!(format!("{e:?}").contains("shutdown"));
    /// ```
    pub fn named(name: impl Into<String>) -> Event {
        Event::with_label(Label::named(name))
    }

    #[track_caller]
    fn with_label(label: Label) -> Event {
        Event {
            flag: Mutex::internal(
                "Event state lock",
                Flag {
                    set: false,
                    generation: 0,
                },
            ),
            cv: Condvar::new(),
            label,
        }
    }

    /// Sets the flag and wakes every waiter.
    ///
    /// ```
    /// let e = spindle::sync::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        let mut f = self.flag.lock();
        if !f.set {
            f.set = true;
            f.generation += 1;
            self.cv.notify_all();
        }
    }

    /// Clears the flag; later waiters wait again.
    ///
    /// ```
    /// let e = spindle::sync::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.flag.lock().set = false;
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// assert!(!spindle::sync::Event::new().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.flag.lock().set
    }

    /// Waits until the flag is set (returns at once if it is).
    ///
    /// ```
    /// let e = spindle::sync::Event::new();
    /// e.set();
    /// e.wait();
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.wait_deadline(None, Location::caller());
    }

    /// Waits at most `timeout` for the flag; `true` if it was set meanwhile (even if
    /// cleared again before this thread woke), else whether it is set now.
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = spindle::sync::Event::new();
    /// assert!(!e.wait_timeout(Duration::from_millis(2)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(Some(wait::deadline_after(timeout)), Location::caller())
    }

    fn wait_deadline(&self, deadline: Option<Instant>, at: &'static Location<'static>) -> bool {
        let f = self.flag.lock();
        if f.set {
            return true;
        }
        let generation = f.generation;
        let on = Labelled {
            kind: "Event",
            label: &self.label,
        };
        let wait = Wait::waiting(&on, deadline, at);
        let raw = self.flag.raw();
        // `f` reads the flag afresh after each wait: `set` changes it under the lock.
        #[allow(clippy::while_immutable_condition)]
        while f.generation == generation {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return f.set;
            }
            // The guard stays alive; the condvar releases and re-takes the lock under it.
            let _ = self.cv.park(raw, &wait, deadline);
            raw.lock_internal(at);
        }
        true
    }
}

impl Default for Event {
    #[track_caller]
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.label)
            .field("set", &self.is_set())
            .finish()
    }
}
