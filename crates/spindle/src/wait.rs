//! Layer 2: the one waiting path.
//!
//! Every blocking call in the crate parks through [`park`], over `parking_lot_core`. It,
//! and only it, sets the caller's [`ThreadState`], publishes what the caller waits on (the
//! wait-for edge that `waiting_on` shows and deadlock detection follows), and, for a lock
//! acquisition without timeout, checks whether parking would close a cycle of waits.
//! Primitives never touch thread state or the wait-for graph themselves; their fast paths
//! never come here at all.

use std::panic::Location;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Instant;

use parking_lot_core::{FilterOp, ParkResult, ParkToken, UnparkResult, UnparkToken};

use crate::deadlock::{self, DeadlockError};
use crate::loom::parking;
use crate::thread::ThreadState;
use crate::thread::registry::{self, ThreadRecord};
use crate::trace::{self, EventKind};

/// Something a thread can wait on, as reports and deadlock detection see it.
pub(crate) trait Waitable: Sync {
    /// What is waited on, for people: `Mutex "accounts"`, `Event created at src/main.rs:4:13`.
    fn describe(&self) -> String;

    /// [`describe`](Waitable::describe), for the trace hook: made once and shared where
    /// the waitable can name itself for `crate::description`'s cache (every primitive
    /// does), formatted anew otherwise.
    fn description(&self) -> Arc<str> {
        self.describe().into()
    }

    /// The threads that must act before this wait can end (a lock's owners), each with
    /// where it acquired what it holds. Empty for waits nobody in particular ends.
    /// `threads` is a snapshot of the live threads, for waits that must search them.
    fn holders(&self, _threads: &[Arc<ThreadRecord>], _out: &mut Vec<Holder>) {}

    /// Whether a wait on this, not being a lock acquisition, still names holders
    /// (`join`, a `Future`'s result). A lock-time search follows such waits, so they are
    /// published under `deadlock::GRAPH` as lock waits are: a search must never see one
    /// appear half-way through (it could pair it with a holder read before a release).
    fn holds_up_a_chain(&self) -> bool {
        false
    }

    /// A wait that always ends in a moment, by construction: one on a primitive's internal
    /// state lock, held only for a few instructions and never across a wait. Searches for
    /// cycles and stalls do not follow it (its holder may, for instance, be about to park
    /// on a condition variable, which releases the lock).
    fn transient(&self) -> bool {
        false
    }
}

/// A thread that must act before a wait can end.
#[derive(Clone, Copy)]
pub(crate) struct Holder {
    pub(crate) thread: u64,
    /// Whether it holds the resource waited for (a lock's owner), rather than having to
    /// finish something (a joined thread, the runner of an awaited task).
    pub(crate) owns: bool,
    /// Where it acquired the resource, when known.
    pub(crate) since: Option<&'static Location<'static>>,
}

impl Holder {
    /// The owner of what is waited for, which it took at `since`.
    pub(crate) fn owner(thread: u64, since: Option<&'static Location<'static>>) -> Holder {
        Holder {
            thread,
            owns: true,
            since,
        }
    }

    /// A thread that holds nothing waited for but must finish before the wait ends.
    pub(crate) fn actor(thread: u64) -> Holder {
        Holder {
            thread,
            owns: false,
            since: None,
        }
    }
}

/// One blocking call, as the waiting path needs to know it.
pub(crate) struct Wait<'a> {
    pub(crate) on: &'a dyn Waitable,
    /// `Blocked` for a lock acquisition without timeout, else `Waiting` or `TimedWaiting`.
    pub(crate) state: ThreadState,
    /// Where the blocking call was made.
    pub(crate) at: &'static Location<'static>,
    /// Check for a cycle before parking (a lock acquisition without timeout, unless it
    /// is a primitive's internal re-lock, which cannot be part of a cycle).
    pub(crate) check: bool,
}

impl<'a> Wait<'a> {
    /// A wait that is not a lock acquisition: `Waiting`, or `TimedWaiting` with a deadline.
    pub(crate) fn waiting(
        on: &'a dyn Waitable,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> Wait<'a> {
        Wait {
            on,
            state: if deadline.is_some() {
                ThreadState::TimedWaiting
            } else {
                ThreadState::Waiting
            },
            at,
            check: false,
        }
    }

    /// A lock acquisition: `Blocked` and checked for cycles, or `TimedWaiting` (never
    /// checked: it ends by itself) with a deadline. `check` false for internal re-locks.
    pub(crate) fn lock(
        on: &'a dyn Waitable,
        deadline: Option<Instant>,
        check: bool,
        at: &'static Location<'static>,
    ) -> Wait<'a> {
        Wait {
            on,
            state: if deadline.is_some() {
                ThreadState::TimedWaiting
            } else {
                ThreadState::Blocked
            },
            at,
            check: check && deadline.is_none(),
        }
    }
}

/// What a parked thread waits on: published in its record for as long as it is parked.
pub(crate) struct WaitEdge {
    on: NonNull<dyn Waitable>,
    pub(crate) state: ThreadState,
    pub(crate) at: &'static Location<'static>,
}

// SAFETY: `on` points at a `Waitable` (which is `Sync`) borrowed by the parked thread for
// the whole time the edge is published; the parked thread removes the edge, under the
// record's lock, before that borrow ends. Anyone dereferencing it holds that same lock.
unsafe impl Send for WaitEdge {}

impl WaitEdge {
    /// The waited-on resource.
    ///
    /// The returned reference is valid while the record lock that guards this edge is held.
    pub(crate) fn on(&self) -> &dyn Waitable {
        // SAFETY: see the `Send` impl: the edge is only reachable through the record's lock,
        // and the waiting thread keeps the resource borrowed until it has removed the edge.
        unsafe { self.on.as_ref() }
    }
}

/// Parks the calling thread on `key` (see `parking_lot_core::park` for the callbacks),
/// publishing `wait` while it is parked.
///
/// Returns `Err` without parking when `wait` is a lock acquisition without timeout that
/// would complete a cycle of waits (and detection is on).
pub(crate) fn park(
    wait: &Wait<'_>,
    key: usize,
    validate: impl FnOnce() -> bool,
    before_sleep: impl FnOnce(),
    timed_out: impl FnOnce(usize, bool),
    token: ParkToken,
    deadline: Option<Instant>,
) -> Result<ParkResult, DeadlockError> {
    let scope = WaitScope::begin(wait)?;
    Ok(scope.park(key, validate, before_sleep, timed_out, token, deadline))
}

/// A wait published for as long as the scope lives, across any number of parks: for a
/// primitive that wakes up now and then while still waiting (the `Gil` asking for a
/// switch), so that other threads see it waiting the whole time.
///
/// Scopes nest: ending one restores what the thread was publishing before it began (a
/// primitive re-taking its internal lock inside a longer wait shows that briefly, then
/// the longer wait again).
pub(crate) struct WaitScope<'a> {
    me: Option<Arc<ThreadRecord>>,
    before: Option<WaitEdge>,
    before_state: ThreadState,
    /// The published edge borrows the waited-on resource for `'a`.
    _on: std::marker::PhantomData<&'a ()>,
}

impl<'a> WaitScope<'a> {
    /// Publishes `wait` (checking for a cycle first if `wait.check`).
    pub(crate) fn begin(wait: &Wait<'a>) -> Result<WaitScope<'a>, DeadlockError> {
        // Under loom, every model thread shares its OS thread's record: only park.
        let me = if cfg!(loom) {
            None
        } else {
            registry::try_current()
        };
        let mut before_state = ThreadState::Runnable;
        let mut before = None;
        if let Some(me) = &me {
            before_state = me.state();
            registry::publish_reads(me);
            before = match publish(me, wait) {
                Ok(before) => before,
                Err(e) => {
                    if me.wait.lock().is_none() {
                        registry::unpublish_reads(me);
                    }
                    return Err(e);
                }
            };
            me.set_state(wait.state);
        }
        Ok(WaitScope {
            me,
            before,
            before_state,
            _on: std::marker::PhantomData,
        })
    }

    /// Parks once (see `parking_lot_core::park` for the callbacks).
    pub(crate) fn park(
        &self,
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        token: ParkToken,
        deadline: Option<Instant>,
    ) -> ParkResult {
        // SAFETY: `key` is the address of a primitive of this crate (or of the thread record),
        // which uses it only with this module's functions; callers' `validate` and `timed_out`
        // only touch atomics, never panic and never call into parking_lot.
        unsafe { parking::park(key, validate, before_sleep, timed_out, token, deadline) }
    }
}

impl Drop for WaitScope<'_> {
    fn drop(&mut self) {
        if let Some(me) = &self.me {
            let restored = self.before.take();
            let waiting_on = restored.as_ref().map(|e| e.on().description());
            if restored.is_none() {
                registry::unpublish_reads(me);
            }
            *me.wait.lock() = restored;
            me.set_state(self.before_state);
            trace::emit(|| EventKind::State {
                state: self.before_state,
                waiting_on,
            });
        }
    }
}

/// Publishes `wait` as what `me` waits on; returns what it published before.
fn publish(me: &Arc<ThreadRecord>, wait: &Wait<'_>) -> Result<Option<WaitEdge>, DeadlockError> {
    let edge = WaitEdge {
        // SAFETY: only the lifetime is erased; see `WaitEdge`'s `Send` impl for why the
        // pointer is never used after `wait.on`'s borrow ends (scopes end innermost first).
        on: unsafe { erase(wait.on) },
        state: wait.state,
        at: wait.at,
    };
    let checked = wait.check && deadlock::checks_on_lock();
    let before = if checked {
        // Publishing and checking under one lock: of two threads closing a cycle at the
        // same moment, the second to get here sees the first's edge, and only it reports.
        let _graph = deadlock::GRAPH.lock();
        let before = me.wait.lock().replace(edge);
        if let Some(cycle) = deadlock::find_lock_cycle(me) {
            *me.wait.lock() = before;
            return Err(cycle);
        }
        before
    } else {
        // Not checked; but a wait that others' searches follow is published under the
        // same lock (see `holds_up_a_chain`).
        let followed = wait.state == ThreadState::Waiting && wait.on.holds_up_a_chain();
        let _graph = followed.then(|| deadlock::GRAPH.lock());
        me.wait.lock().replace(edge)
    };
    trace::emit(|| EventKind::State {
        state: wait.state,
        waiting_on: Some(wait.on.description()),
    });
    Ok(before)
}

/// When a contended lock acquisition began, if a trace hook listens (else no clock read).
#[inline]
pub(crate) fn contention_started() -> Option<Instant> {
    trace::enabled().then(Instant::now)
}

/// Reports a lock acquired after waiting since `started` (see `contention_started`).
pub(crate) fn contended_acquire(on: &dyn Waitable, started: Option<Instant>) {
    if let Some(started) = started {
        trace::emit(|| EventKind::LockAcquired {
            lock: on.description(),
            waited: started.elapsed(),
        });
    }
}

/// Erases the lifetime of a waitable borrowed for the duration of a park.
///
/// # Safety
/// The pointer must not be dereferenced after the borrow ends.
unsafe fn erase<'a>(on: &'a (dyn Waitable + 'a)) -> NonNull<dyn Waitable> {
    let ptr: NonNull<dyn Waitable + 'a> = NonNull::from(on);
    // SAFETY: a fat pointer's layout does not depend on its lifetime bound; the caller
    // promises not to use it past `'a`.
    unsafe { std::mem::transmute::<NonNull<dyn Waitable + 'a>, NonNull<dyn Waitable>>(ptr) }
}

/// Wakes one thread parked on `key`; `callback` runs with the queue locked.
pub(crate) fn unpark_one(key: usize, callback: impl FnOnce(UnparkResult) -> UnparkToken) {
    // SAFETY: see `park`; callbacks given here only touch atomics and never panic.
    unsafe {
        parking::unpark_one(key, callback);
    }
}

/// Wakes the threads on `key` that `filter` picks; `callback` runs with the queue locked.
pub(crate) fn unpark_filter(
    key: usize,
    filter: impl FnMut(ParkToken) -> FilterOp,
    callback: impl FnOnce(UnparkResult) -> UnparkToken,
) -> UnparkResult {
    // SAFETY: see `park`; filters and callbacks given here only touch atomics and locals.
    unsafe { parking::unpark_filter(key, filter, callback) }
}

/// Wakes every thread parked on `key`.
pub(crate) fn unpark_all(key: usize) -> usize {
    // SAFETY: see `park`.
    unsafe { parking::unpark_all(key, parking_lot_core::DEFAULT_UNPARK_TOKEN) }
}

/// A wait that nobody in particular ends, described by a closure (a pool's shutdown).
pub(crate) struct Described<F: Fn() -> String + Sync>(pub(crate) F);

impl<F: Fn() -> String + Sync> Waitable for Described<F> {
    fn describe(&self) -> String {
        (self.0)()
    }
}

/// The deadline `timeout` from now; a timeout too long for the clock waits ~forever.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(60 * 60 * 24 * 365 * 30))
}
