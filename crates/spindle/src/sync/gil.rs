// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! `Gil`: CPython's global interpreter lock, emulated.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::condvar::Condvar;
use super::label::Label;
use super::mutex::{Mutex, MutexGuard};
use crate::deadlock::error::DeadlockError;
use crate::deadlock::lock_order::{self, ClassSlot};
use crate::deadlock::raise::raise;
use crate::thread::registry;
use crate::thread::state::ThreadState;
use crate::wait::{self, Holder, Wait, WaitScope, Waitable};

struct State {
    /// Threads waiting for the GIL, served first come, first served (threads coming back
    /// from `allow_threads` go to the front).
    queue: VecDeque<u64>,
    /// Counts hand-overs, so a waiter can tell whether one happened while it slept.
    switches: u64,
}

/// An emulated global interpreter lock, with CPython's scheduling (the "new GIL" of 3.2):
/// one thread runs at a time; a thread that has waited one switch interval asks for the
/// GIL, and the holder hands it over at its next [`tick`](GilGuard::tick) (CPython checks
/// between bytecodes; call `tick` in your loop). `allow_threads` releases it around
/// blocking work, as C extensions do around I/O.
///
/// Rust threads need no GIL: this exists to show what CPython's lock does to threads
/// (`spindle lab gil`), and to serialise access to a library that is not thread-safe.
///
/// # Fairness
/// Waiters are served in order of arrival, so no thread starves. A thread coming back
/// from [`allow_threads`](GilGuard::allow_threads) goes to the front of the queue and
/// asks for the GIL at once instead of after a full interval: it gets it back at the
/// holder's next `tick`. That avoids CPython's convoy effect (bpo-7946), where an I/O
/// thread loses a whole switch interval behind CPU-bound threads after every I/O call.
///
/// Waiting to acquire reads `Blocked` and takes part in deadlock detection.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Gil;
/// use spindle::thread;
///
/// let gil = Arc::new(Gil::new());
/// let handles: Vec<_> = (0..2)
///     .map(|_| {
///         let gil = Arc::clone(&gil);
///         thread::spawn(move || {
///             let mut g = gil.acquire();
///             let mut sum = 0u64;
///             for i in 0..100_000u64 {
///                 sum = sum.wrapping_add(i);
///                 g.tick(); // lets the other thread in when it has waited long enough
///             }
///             sum
///         })
///     })
///     .collect();
/// for h in handles {
///     assert_eq!(h.join().unwrap(), 4_999_950_000);
/// }
/// ```
pub struct Gil {
    state: Mutex<State>,
    /// The holder's thread id (0: free) and where it took the GIL. Changed only with the
    /// state lock held; atomics so that deadlock detection can read them without it.
    holder: AtomicU64,
    holder_at: AtomicPtr<Location<'static>>,
    cv: Condvar,
    /// Set by a waiter; read by `tick` with one relaxed load.
    drop_request: AtomicBool,
    forced: AtomicU64,
    interval: Duration,
    label: Label,
    /// Its lock class, for `Detection::LockOrder`.
    class: ClassSlot,
}

impl Gil {
    /// A GIL with CPython's default switch interval, 5 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(spindle::sync::Gil::new().switch_interval(), Duration::from_millis(5));
    /// ```
    #[track_caller]
    pub fn new() -> Gil {
        Gil::with_switch_interval(Duration::from_millis(5))
    }

    /// A GIL with the given switch interval (Python's `sys.setswitchinterval`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let gil = spindle::sync::Gil::with_switch_interval(Duration::from_millis(1));
    /// assert_eq!(gil.switch_interval(), Duration::from_millis(1));
    /// ```
    #[track_caller]
    pub fn with_switch_interval(interval: Duration) -> Gil {
        Gil {
            state: Mutex::internal(
                "Gil state lock",
                State {
                    queue: VecDeque::new(),
                    switches: 0,
                },
            ),
            holder: AtomicU64::new(0),
            holder_at: AtomicPtr::new(std::ptr::null_mut()),
            cv: Condvar::new(),
            drop_request: AtomicBool::new(false),
            forced: AtomicU64::new(0),
            interval,
            label: Label::here(),
            class: ClassSlot::new(),
        }
    }

    /// Takes the GIL, waiting in line while another thread holds it.
    ///
    /// # Panics
    /// With a [`DeadlockError`](crate::sync::DeadlockError) payload if waiting would deadlock
    /// (this thread holds the GIL already, or its holder waits for something this thread holds).
    ///
    /// ```
    /// let gil = spindle::sync::Gil::new();
    /// let g = gil.acquire();
    /// drop(g);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> GilGuard<'_> {
        match self.acquire_at(Location::caller()) {
            Ok(guard) => guard,
            Err(e) => raise(e),
        }
    }

    /// As [`acquire`](Gil::acquire), but a deadlock comes back as `Err` instead of a panic.
    ///
    /// ```
    /// let gil = spindle::sync::Gil::new();
    /// let held = gil.acquire_checked().expect("nobody holds it");
    /// assert!(gil.acquire_checked().is_err()); // this thread holds it already
    /// drop(held);
    /// ```
    #[track_caller]
    pub fn acquire_checked(&self) -> Result<GilGuard<'_>, DeadlockError> {
        self.acquire_at(Location::caller())
    }

    fn acquire_at(&self, at: &'static Location<'static>) -> Result<GilGuard<'_>, DeadlockError> {
        let mut st = self.state.lock();
        self.take(&mut st, false, at)?;
        drop(st);
        self.note_acquired(at);
        Ok(GilGuard {
            gil: self,
            at,
            held: true,
            _not_send: PhantomData,
        })
    }

    fn key(&self) -> usize {
        self as *const Gil as usize
    }

    /// For `Detection::LockOrder`, with the state lock released (a report runs a handler).
    fn note_acquired(&self, at: &'static Location<'static>) {
        if lock_order::enabled() {
            lock_order::acquired(self.key(), "Gil", &self.label, &self.class, true, at);
        }
    }

    fn note_released(&self) {
        if lock_order::enabled() {
            lock_order::released(self.key());
        }
    }

    /// The switch interval.
    ///
    /// ```
    /// assert!(spindle::sync::Gil::new().switch_interval().as_millis() == 5);
    /// ```
    pub fn switch_interval(&self) -> Duration {
        self.interval
    }

    /// How many times a holder gave the GIL up at a `tick` because another thread asked.
    ///
    /// ```
    /// assert_eq!(spindle::sync::Gil::new().forced_switches(), 0);
    /// ```
    pub fn forced_switches(&self) -> u64 {
        self.forced.load(Ordering::Relaxed)
    }

    /// Takes the GIL for the calling thread, with the state lock held.
    fn take(
        &self,
        st: &mut MutexGuard<'_, State>,
        priority: bool,
        at: &'static Location<'static>,
    ) -> Result<(), DeadlockError> {
        let me = registry::current_id();
        if !self.is_held() && st.queue.is_empty() {
            self.become_holder(st, me, at);
            return Ok(());
        }
        if priority {
            st.queue.push_front(me);
            if self.is_held() {
                self.drop_request.store(true, Ordering::Relaxed);
            }
        } else {
            st.queue.push_back(me);
        }
        let on = GilWait(self);
        let wait = Wait {
            on: &on,
            state: ThreadState::Blocked,
            at,
            check: true,
        };
        // One published wait for the whole time in line, so the thread reads `Blocked`
        // throughout, though it wakes every switch interval to see whether to ask.
        let scope = match WaitScope::begin(&wait) {
            Ok(scope) => scope,
            Err(e) => {
                st.queue.retain(|&t| t != me);
                return Err(e);
            }
        };
        let raw = self.state.raw();
        let started = wait::contention_started();
        loop {
            if !self.is_held() && st.queue.front() == Some(&me) {
                st.queue.pop_front();
                self.take_in_wait(&scope, st, me, at);
                wait::contended_acquire(&on, started);
                return Ok(());
            }
            // Woken, or back from re-taking the state lock: the wait is current again,
            // and checked again, before the next sleep.
            if let Err(e) = scope.renew() {
                st.queue.retain(|&t| t != me);
                return Err(e);
            }
            let seen = st.switches;
            let deadline = Instant::now() + self.interval;
            let notified = self.cv.park_in(&scope, raw, Some(deadline));
            raw.lock_internal(at);
            if !notified && st.switches == seen && self.is_held() {
                // A whole interval without a switch: ask the holder to give way.
                self.drop_request.store(true, Ordering::Relaxed);
            }
        }
    }

    fn is_held(&self) -> bool {
        self.holder.load(Ordering::Relaxed) != 0
    }

    /// Becomes the holder from inside the wait `scope` (the GIL found free by the
    /// thread itself, say after a timed sleep, not handed over by a waker): the wait is
    /// retired first (see `WaitScope::satisfied`), so no search reads this thread waiting
    /// for a GIL it holds.
    fn take_in_wait(
        &self,
        scope: &WaitScope<'_>,
        st: &mut State,
        me: u64,
        at: &'static Location<'static>,
    ) {
        scope.satisfied();
        self.become_holder(st, me, at);
    }

    fn become_holder(&self, st: &mut State, me: u64, at: &'static Location<'static>) {
        self.holder_at
            .store(at as *const Location<'static> as *mut _, Ordering::Relaxed);
        self.holder.store(me, Ordering::Release);
        st.switches += 1;
        self.drop_request.store(false, Ordering::Relaxed);
    }

    fn release(&self, st: &mut State) {
        self.holder.store(0, Ordering::Relaxed);
        if !st.queue.is_empty() {
            self.cv.notify_all();
        }
    }
}

impl Drop for Gil {
    fn drop(&mut self) {
        // Held while dropped: a guard was forgotten, and its lock-order entry must go.
        if self.is_held() {
            lock_order::forgotten(&self.class);
        }
    }
}

impl Default for Gil {
    #[track_caller]
    fn default() -> Self {
        Gil::new()
    }
}

impl fmt::Debug for Gil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Gil")
            .field("name", &self.label)
            .field("holder", &self.holder.load(Ordering::Relaxed))
            .field("waiting", &st.queue.len())
            .field("switch_interval", &self.interval)
            .field("forced_switches", &self.forced_switches())
            .finish()
    }
}

/// Waiting for the GIL: its holder is the thread that must act.
struct GilWait<'a>(&'a Gil);

impl Waitable for GilWait<'_> {
    fn describe(&self) -> String {
        self.0.label.describe("Gil")
    }

    fn description(&self) -> Arc<str> {
        self.0.label.description("Gil")
    }

    fn holders(&self, _waiter: u64, out: &mut Vec<Holder>) {
        // Acquire: pairs with `become_holder`'s store, made after the new holder's wait
        // was retired (see `graph::current_holders`).
        let holder = self.0.holder.load(Ordering::Acquire);
        if holder != 0 {
            let at = self.0.holder_at.load(Ordering::Relaxed);
            out.push(Holder::owner(
                holder,
                // SAFETY: only null or `&'static Location`s are stored.
                unsafe { at.as_ref() },
            ));
        }
    }
}

/// The GIL, held. Released on drop.
///
/// ```
/// let gil = spindle::sync::Gil::new();
/// let mut g = gil.acquire();
/// g.tick();
/// let n = g.allow_threads(|| 40 + 2); // runs without the GIL
/// assert_eq!(n, 42);
/// ```
#[must_use = "the GIL is released as soon as the guard is dropped"]
pub struct GilGuard<'a> {
    gil: &'a Gil,
    at: &'static Location<'static>,
    /// False only while unwinding from a deadlock found when taking the GIL back.
    held: bool,
    _not_send: PhantomData<*const ()>,
}

impl GilGuard<'_> {
    /// Gives the GIL to the next waiter if one has asked (it has waited a switch
    /// interval, or came back from `allow_threads`), then waits in line for it again.
    /// Otherwise one relaxed atomic load.
    #[inline]
    pub fn tick(&mut self) {
        if self.gil.drop_request.load(Ordering::Relaxed) {
            self.switch();
        }
    }

    #[cold]
    fn switch(&mut self) {
        let gil = self.gil;
        let mut st = gil.state.lock();
        if st.queue.is_empty() {
            gil.drop_request.store(false, Ordering::Relaxed);
            return;
        }
        gil.forced.fetch_add(1, Ordering::Relaxed);
        gil.release(&mut st);
        gil.note_released();
        self.retake(st, false);
    }

    /// Takes the GIL back after giving it up; a deadlock found meanwhile panics, and the
    /// guard then no longer holds the GIL. Taking it back while holding locks taken
    /// after it sets the order "those locks, then the GIL" for `Detection::LockOrder`:
    /// a real hazard (the next holder may want one of them).
    fn retake(&mut self, mut st: MutexGuard<'_, State>, priority: bool) {
        if let Err(e) = self.gil.take(&mut st, priority, self.at) {
            self.held = false;
            drop(st);
            raise(e);
        }
        drop(st);
        self.gil.note_acquired(self.at);
    }

    /// Runs `f` without the GIL (as CPython's `Py_BEGIN_ALLOW_THREADS`), then takes it
    /// back, ahead of threads that are only waiting their turn.
    ///
    /// ```
    /// use std::time::Duration;
    /// let gil = spindle::sync::Gil::new();
    /// let mut g = gil.acquire();
    /// g.allow_threads(|| spindle::thread::sleep(Duration::from_millis(1)));
    /// ```
    pub fn allow_threads<R>(&mut self, f: impl FnOnce() -> R) -> R {
        {
            let mut st = self.gil.state.lock();
            self.gil.release(&mut st);
        }
        self.gil.note_released();
        // Take the GIL back even if `f` panics, so that the guard's drop stays right.
        let outcome = panic::catch_unwind(AssertUnwindSafe(f));
        self.retake(self.gil.state.lock(), true);
        match outcome {
            Ok(r) => r,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl Drop for GilGuard<'_> {
    fn drop(&mut self) {
        if self.held {
            let mut st = self.gil.state.lock();
            self.gil.release(&mut st);
            drop(st);
            self.gil.note_released();
        }
    }
}

impl fmt::Debug for GilGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GilGuard")
            .field("gil", &self.gil.label)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11's rule, for the GIL's own loop: a thread that takes the GIL while its
    /// wait is published (found free after a timed sleep) must not be read by `check()`
    /// as waiting for the GIL it now holds. Seen once in 600 seeds of
    /// `tests/deadlock_random.rs`; here the moment is made to happen.
    #[test]
    fn taking_the_gil_inside_its_wait_retires_the_wait_first() {
        let gil = Gil::new();
        let at = Location::caller();
        let me = registry::current_id();
        let on = GilWait(&gil);
        let wait = Wait {
            on: &on,
            state: ThreadState::Blocked,
            at,
            check: true,
        };
        let scope = WaitScope::begin(&wait).expect("nobody holds it");
        {
            let mut st = gil.state.lock();
            gil.take_in_wait(&scope, &mut st, me, at);
        }
        // The moment between being named the holder and ending the scope.
        let found = crate::deadlock::check::check();
        assert!(found.is_empty(), "{found:#?}");
        drop(scope);
        let mut st = gil.state.lock();
        gil.release(&mut st);
    }
}
