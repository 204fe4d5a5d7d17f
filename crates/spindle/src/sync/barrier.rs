// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! `Barrier`: a meeting point for a fixed number of threads, reusable cycle after cycle.

use std::fmt;
use std::panic::{self, AssertUnwindSafe, Location};
use std::time::{Duration, Instant};

use super::condvar::Condvar;
use super::error::BrokenBarrier;
use super::label::{Label, Labelled};
use super::mutex::{Mutex, MutexGuard};
use crate::wait::{self, Wait};

/// CPython's four barrier states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Threads are arriving.
    Filling,
    /// All arrived; the last one runs the action, without the state lock (so the action
    /// may use the barrier, and the locks it takes take part in deadlock detection).
    Acting,
    /// All arrived: the waiters are leaving; newcomers wait for the next cycle.
    Draining,
    /// `reset` ran while threads waited: they leave with `BrokenBarrier`.
    Resetting,
    /// A timeout, `abort`, or panicking action broke it; `reset` mends it.
    Broken,
}

struct State {
    phase: Phase,
    /// Threads inside `wait` in this cycle.
    count: usize,
}

type Action = Box<dyn Fn() + Send + Sync>;

/// Makes `parties` threads wait for each other, then lets them all go on: Python's
/// `Barrier`, built (as in CPython) on a lock and a condition variable.
///
/// Each [`wait`](Barrier::wait) returns a distinct index in `0..parties`. An action given
/// to [`with_action`](Barrier::with_action) runs once per cycle, on one of the threads,
/// before any of them goes on. A timeout, [`abort`](Barrier::abort), or an action that
/// panics breaks the barrier: every waiter, and every later one until
/// [`reset`](Barrier::reset), gets `Err(BrokenBarrier)` (the thread whose action panicked
/// gets the panic). Waiters read `Waiting` (`TimedWaiting` with a timeout).
///
/// The action runs without the barrier's internal lock: it may call the barrier's own
/// methods (`n_waiting`, `abort`, …), and a lock it waits for takes part in deadlock
/// detection like any other. An `abort` or `reset` while it runs fails the cycle for
/// every thread of it.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Barrier;
/// use spindle::thread;
///
/// let start = Arc::new(Barrier::new(3));
/// let handles: Vec<_> = (0..3)
///     .map(|_| {
///         let b = Arc::clone(&start);
///         thread::spawn(move || b.wait().unwrap())
///     })
///     .collect();
/// let mut indices: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]);
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Action>,
    state: Mutex<State>,
    cv: Condvar,
    label: Label,
}

impl Barrier {
    /// A barrier for `parties` threads.
    ///
    /// # Panics
    /// If `parties` is 0: no group of threads could ever pass it.
    ///
    /// ```
    /// assert_eq!(spindle::sync::Barrier::new(4).parties(), 4);
    /// ```
    #[track_caller]
    pub fn new(parties: usize) -> Barrier {
        Barrier::build(parties, None)
    }

    /// A barrier whose `action` runs once per cycle, on one thread, when all have arrived.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use spindle::sync::Barrier;
    ///
    /// let cycles = Arc::new(AtomicUsize::new(0));
    /// let c = Arc::clone(&cycles);
    /// let b = Barrier::with_action(1, move || { c.fetch_add(1, Ordering::SeqCst); });
    /// b.wait().unwrap();
    /// b.wait().unwrap();
    /// assert_eq!(cycles.load(Ordering::SeqCst), 2);
    /// ```
    #[track_caller]
    pub fn with_action(parties: usize, action: impl Fn() + Send + Sync + 'static) -> Barrier {
        Barrier::build(parties, Some(Box::new(action)))
    }

    #[track_caller]
    fn build(parties: usize, action: Option<Action>) -> Barrier {
        assert!(
            parties >= 1,
            "Barrier::new: parties must be at least 1 (got 0); no group of threads could ever pass it"
        );
        Barrier {
            parties,
            action,
            state: Mutex::internal(
                "Barrier state lock",
                State {
                    phase: Phase::Filling,
                    count: 0,
                },
            ),
            cv: Condvar::new(),
            label: Label::here(),
        }
    }

    /// Waits until `parties` threads have called `wait`; returns this thread's index.
    ///
    /// ```
    /// let b = spindle::sync::Barrier::new(1);
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    #[track_caller]
    pub fn wait(&self) -> Result<usize, BrokenBarrier> {
        self.wait_for(None, Location::caller())
    }

    /// As [`wait`](Barrier::wait), but gives up, breaking the barrier, if the other parties
    /// have not all arrived within `timeout`.
    ///
    /// As in CPython, the timeout covers only the wait for the other parties of this
    /// cycle. It starts once the caller has joined a cycle (a thread arriving while the
    /// previous cycle is still leaving or running its action first waits for it to
    /// clear), and it stops once the last party has arrived: a slow action does not
    /// break a barrier that filled in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = spindle::sync::Barrier::new(2);
    /// assert!(b.wait_timeout(Duration::from_millis(5)).is_err());
    /// assert!(b.is_broken());
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrier> {
        self.wait_for(Some(timeout), Location::caller())
    }

    fn wait_for(
        &self,
        timeout: Option<Duration>,
        at: &'static Location<'static>,
    ) -> Result<usize, BrokenBarrier> {
        let mut st = self.state.lock();
        // CPython's `_enter`: wait, without the caller's timeout, for the previous cycle
        // to drain (or a reset to finish); that wait ends by itself.
        self.park_while(
            &mut st,
            |s| matches!(s.phase, Phase::Acting | Phase::Draining | Phase::Resetting),
            None,
            at,
        );
        if st.phase != Phase::Filling {
            return Err(BrokenBarrier);
        }
        let index = st.count;
        st.count += 1;
        let outcome = if st.count == self.parties {
            let passed;
            (st, passed) = self.run_action(st);
            if passed {
                Ok(index)
            } else {
                Err(BrokenBarrier)
            }
        } else {
            // CPython's `_wait`: the timeout covers the filling only.
            let deadline = timeout.map(wait::deadline_after);
            self.park_while(&mut st, |s| s.phase == Phase::Filling, deadline, at);
            if st.phase == Phase::Filling {
                // Timed out: a barrier that cannot fill in time is broken for everyone.
                self.break_barrier(&mut st);
            }
            // Filled in time: the last party runs the action; wait for it without a timeout.
            self.park_while(&mut st, |s| s.phase == Phase::Acting, None, at);
            if st.phase == Phase::Draining {
                Ok(index)
            } else {
                Err(BrokenBarrier)
            }
        };
        self.leave(&mut st);
        outcome
    }

    /// Parks while `cond` holds, until `deadline`.
    fn park_while(
        &self,
        st: &mut MutexGuard<'_, State>,
        cond: impl Fn(&State) -> bool,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) {
        if !cond(st) {
            return;
        }
        let on = Labelled {
            kind: "Barrier",
            label: &self.label,
        };
        let wait = Wait::waiting(&on, deadline, at);
        let raw = self.state.raw();
        while cond(st) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            let _ = self.cv.park(raw, &wait, deadline);
            raw.lock_internal(at);
        }
    }

    /// The last thread to arrive: runs the action (with the state lock released), then
    /// lets everyone go. Returns the state lock, and whether the cycle passed: `abort`,
    /// `reset` or a waiter's timeout while the action ran fail it for everyone.
    fn run_action<'a>(&'a self, mut st: MutexGuard<'a, State>) -> (MutexGuard<'a, State>, bool) {
        if let Some(action) = &self.action {
            st.phase = Phase::Acting;
            drop(st);
            let outcome = panic::catch_unwind(AssertUnwindSafe(action));
            st = self.state.lock();
            if let Err(payload) = outcome {
                self.break_barrier(&mut st);
                self.leave(&mut st);
                drop(st);
                panic::resume_unwind(payload);
            }
            if st.phase != Phase::Acting {
                return (st, false);
            }
        }
        st.phase = Phase::Draining;
        self.cv.notify_all();
        (st, true)
    }

    /// One thread leaves `wait`; the last one out ends draining or resetting.
    fn leave(&self, st: &mut MutexGuard<'_, State>) {
        st.count -= 1;
        if st.count == 0 && matches!(st.phase, Phase::Draining | Phase::Resetting) {
            st.phase = Phase::Filling;
            self.cv.notify_all();
        }
    }

    fn break_barrier(&self, st: &mut MutexGuard<'_, State>) {
        st.phase = Phase::Broken;
        self.cv.notify_all();
    }

    /// Breaks the barrier: every waiter, and every later caller until `reset`, gets
    /// `Err(BrokenBarrier)`.
    ///
    /// ```
    /// let b = spindle::sync::Barrier::new(2);
    /// b.abort();
    /// assert!(b.is_broken());
    /// ```
    pub fn abort(&self) {
        let mut st = self.state.lock();
        self.break_barrier(&mut st);
    }

    /// Returns the barrier to its empty state; threads waiting now get `Err(BrokenBarrier)`.
    ///
    /// ```
    /// let b = spindle::sync::Barrier::new(1);
    /// b.abort();
    /// b.reset();
    /// assert!(!b.is_broken());
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    pub fn reset(&self) {
        let mut st = self.state.lock();
        if st.count > 0 {
            if matches!(st.phase, Phase::Filling | Phase::Acting | Phase::Broken) {
                st.phase = Phase::Resetting;
            }
        } else {
            st.phase = Phase::Filling;
        }
        self.cv.notify_all();
    }

    /// Whether the barrier is broken.
    ///
    /// ```
    /// assert!(!spindle::sync::Barrier::new(2).is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.state.lock().phase == Phase::Broken
    }

    /// How many threads must call `wait` to pass.
    ///
    /// ```
    /// assert_eq!(spindle::sync::Barrier::new(3).parties(), 3);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many threads are waiting in the current cycle.
    ///
    /// ```
    /// assert_eq!(spindle::sync::Barrier::new(3).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        let st = self.state.lock();
        if matches!(st.phase, Phase::Filling | Phase::Acting) {
            st.count
        } else {
            0
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Barrier")
            .field("name", &self.label)
            .field("parties", &self.parties)
            .field("phase", &st.phase)
            .field("count", &st.count)
            .finish()
    }
}
