//! Layer 4: the one waiting path. Uses the registry (layer 2), the wait-for graph and
//! detection settings (layer 3) and the trace hook; every primitive (layer 5 and up)
//! parks and wakes through it.
//!
//! Every blocking call in the crate parks through [`park`], over `parking_lot_core`. It,
//! and only it, sets the caller's [`ThreadState`], publishes what the caller waits on (the
//! wait-for edge that `waiting_on` shows and deadlock detection follows), and, for a lock
//! acquisition, a join or a `Future`'s result without timeout, checks whether parking
//! would close a cycle of waits. Every wake-up goes through [`unpark_filter`] (or its
//! two shorthands), which marks each woken thread's wait as over before the waker's
//! callback changes anything: a published wait never outlives the moment it ends.
//! Primitives never touch thread state or the wait-for graph themselves; their fast
//! paths never come here at all.

use std::cell::RefCell;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use parking_lot_core::{FilterOp, ParkResult, ParkToken, UnparkResult, UnparkToken};

use crate::deadlock::error::DeadlockError;
use crate::deadlock::mode;
use crate::graph::edge::WaitEdge;
pub(crate) use crate::graph::edge::{Holder, Waitable};
use crate::graph::{self, GRAPH, reads};
use crate::loom::parking;
use crate::thread::registry::{self, ThreadRecord};
use crate::thread::state::ThreadState;
use crate::trace::event::EventKind;
use crate::trace::hook as trace;

/// One blocking call, as the waiting path needs to know it.
#[derive(Clone, Copy)]
pub(crate) struct Wait<'a> {
    pub(crate) on: &'a dyn Waitable,
    /// `Blocked` for a lock acquisition without timeout, else `Waiting` or `TimedWaiting`.
    pub(crate) state: ThreadState,
    /// Where the blocking call was made.
    pub(crate) at: &'static Location<'static>,
    /// Check for a cycle before parking (a lock acquisition, join or `Future` wait without
    /// timeout, unless it is a primitive's internal re-lock, which cannot be in a cycle).
    pub(crate) check: bool,
}

impl<'a> Wait<'a> {
    /// A wait that is not a lock acquisition: `Waiting`, or `TimedWaiting` with a
    /// deadline. Checked for a cycle when it begins if it names holders (a join, a
    /// `Future`'s result) and has no deadline.
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
            check: deadline.is_none() && on.holds_up_a_chain(),
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

    /// Searches may follow this wait: no timeout.
    fn untimed(&self) -> bool {
        matches!(self.state, ThreadState::Blocked | ThreadState::Waiting)
    }
}

/// Parks the calling thread on `key` (see `parking_lot_core::park` for the callbacks),
/// publishing `wait` while it is parked. `bits` is the primitive's own part of the park
/// token, two bits (`ParkToken(0)` to `ParkToken(3)`), which its wakers read with
/// [`Queued::bits`].
///
/// Returns `Err` without parking when `wait` is checked and would complete a cycle of
/// waits (and detection is on).
pub(crate) fn park(
    wait: &Wait<'_>,
    key: usize,
    validate: impl FnOnce() -> bool,
    before_sleep: impl FnOnce(),
    timed_out: impl FnOnce(usize, bool),
    bits: ParkToken,
    deadline: Option<Instant>,
) -> Result<ParkResult, DeadlockError> {
    let scope = WaitScope::begin(wait)?;
    Ok(scope.park(key, validate, before_sleep, timed_out, bits, deadline))
}

/// A wait published for as long as the scope lives, across any number of parks: for a
/// primitive that wakes up now and then while still waiting (the `Gil` asking for a
/// switch), so that other threads see it waiting the whole time.
///
/// Scopes nest: ending one restores what the thread was publishing before it began (a
/// primitive re-taking its internal lock inside a longer wait shows that briefly, then
/// the longer wait again). A restored wait is not current while the thread runs: call
/// [`renew`](WaitScope::renew) before parking in it again.
pub(crate) struct WaitScope<'a> {
    me: Option<Arc<ThreadRecord>>,
    wait: Wait<'a>,
    before: Option<WaitEdge>,
    before_state: ThreadState,
    /// This scope published the thread's read locks (it is the thread's outermost wait).
    reads: bool,
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
        let mut scope = WaitScope {
            me,
            wait: *wait,
            before: None,
            before_state: ThreadState::Runnable,
            reads: false,
        };
        if let Some(me) = &scope.me {
            scope.before_state = me.state();
            let outermost = me.wait.lock().is_none();
            let (before, reads) = publish(me, wait, outermost, None)?;
            scope.before = before;
            scope.reads = reads;
            me.set_state(wait.state);
        }
        Ok(scope)
    }

    /// Makes the scope's wait current again after the thread ran (it was woken, or an
    /// inner wait ended), checking for a cycle as [`begin`](WaitScope::begin) does.
    pub(crate) fn renew(&self) -> Result<(), DeadlockError> {
        let Some(me) = &self.me else {
            return Ok(());
        };
        if me.parking().current() {
            return Ok(());
        }
        publish(me, &self.wait, false, Some(self.reads)).map(|_| ())
    }

    /// The scope's wait is over, ended by the thread itself while it runs (it took the
    /// resource in its own loop, not through a waker's hand-off): call this *before* the
    /// primitive records the thread as the holder, so that no search reads the thread
    /// waiting for what it holds.
    pub(crate) fn satisfied(&self) {
        if let Some(me) = &self.me {
            me.wait_not_current();
        }
    }

    /// Parks once (see `parking_lot_core::park` for the callbacks; [`park`] for `bits`).
    pub(crate) fn park(
        &self,
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        bits: ParkToken,
        deadline: Option<Instant>,
    ) -> ParkResult {
        let me = self.me.as_deref();
        let token = token_for(me, bits);
        let validate = || {
            let valid = validate();
            if let (true, Some(me)) = (valid, me) {
                me.wait_queued();
            }
            valid
        };
        // SAFETY: `key` is the address of a primitive of this crate (or of the thread record),
        // which uses it only with this module's functions; callers' `validate` and `timed_out`
        // only touch atomics, never panic and never call into parking_lot. The token points
        // at our record, which `self.me` keeps alive while we are queued.
        let result =
            unsafe { parking::park(key, validate, before_sleep, timed_out, token, deadline) };
        if let Some(me) = me {
            me.wait_unqueued();
        }
        result
    }

    /// The waiting thread's id, as [`Queued::thread`] reads it from its park token.
    pub(crate) fn thread(&self) -> u64 {
        self.me
            .as_ref()
            .map_or_else(registry::current_id, |me| me.id)
    }
}

impl Drop for WaitScope<'_> {
    fn drop(&mut self) {
        if let Some(me) = &self.me {
            let restored = self.before.take();
            let waiting_on = restored.as_ref().map(|e| e.on().description());
            {
                let mut slot = me.wait.lock();
                *slot = restored;
                // Whatever is restored is not current while the thread runs.
                me.wait_not_current();
            }
            if self.reads {
                reads::unpublish(me.id);
            }
            me.set_state(self.before_state);
            trace::emit(|| EventKind::State {
                state: self.before_state,
                waiting_on,
            });
        }
    }
}

/// Publishes `wait` as what `me` waits on (checking it if asked), and its read locks
/// when `reads` says so (`None`: decide, for a new outermost wait). Returns what it
/// replaced, and whether the read locks are published.
fn publish(
    me: &Arc<ThreadRecord>,
    wait: &Wait<'_>,
    outermost: bool,
    reads: Option<bool>,
) -> Result<(Option<WaitEdge>, bool), DeadlockError> {
    let renewing = reads.is_some();
    let reads = reads.unwrap_or_else(|| {
        outermost && wait.untimed() && !wait.on.transient() && reads::holds_reads()
    });
    let checked = wait.check && mode::checks_on_lock();
    // Every edge a search may follow appears under the graph lock (see `graph/README.md`).
    let followable = wait.untimed() && (checked || wait.on.holds_up_a_chain() || reads);
    let graph = followable.then(|| GRAPH.lock());
    if reads && !renewing {
        reads::publish(me.id);
    }
    // SAFETY: the scope that publishes this edge outlives it: `WaitScope::drop` replaces
    // it under the record's lock before `wait.on`'s borrow (`'a` of the scope) ends.
    let edge = unsafe { WaitEdge::new(wait.on, wait.state, wait.at) };
    let before = {
        let mut slot = me.wait.lock();
        me.wait_published();
        slot.replace(edge)
    };
    let cycle = if checked { graph::find_cycle(me) } else { None };
    if let Some(cycle) = cycle {
        {
            let mut slot = me.wait.lock();
            *slot = before;
            me.wait_not_current();
        }
        if reads && !renewing {
            reads::unpublish(me.id);
        }
        return Err(cycle);
    }
    drop(graph);
    trace::emit(|| EventKind::State {
        state: wait.state,
        waiting_on: Some(wait.on.description()),
    });
    // A renewal replaced the scope's own, older edge: the scope keeps its original
    // `before` to restore.
    Ok((if renewing { None } else { before }, reads))
}

// ---- Park tokens and wake-ups ----

/// Park tokens carry the parked thread's record (so that a waker can mark its wait
/// over) and the primitive's two bits. A thread without a record (under loom, or one
/// whose thread-locals are being destroyed) carries its id instead, flagged.
const TOKEN_BITS: usize = 0b11;
const TOKEN_NO_RECORD: usize = 0b100;

const _: () = assert!(std::mem::align_of::<ThreadRecord>() >= 8);

fn token_for(me: Option<&ThreadRecord>, bits: ParkToken) -> ParkToken {
    debug_assert!(
        bits.0 <= TOKEN_BITS,
        "a primitive's park token has two bits"
    );
    match me {
        Some(me) => ParkToken(me as *const ThreadRecord as usize | bits.0),
        None => ParkToken((registry::current_id() as usize) << 3 | TOKEN_NO_RECORD | bits.0),
    }
}

/// A thread in a parking queue, as a waker's filter sees it.
#[derive(Clone, Copy)]
pub(crate) struct Queued<'a> {
    token: ParkToken,
    _queued: std::marker::PhantomData<&'a ()>,
}

impl Queued<'_> {
    /// The record behind the token, if it carries one.
    fn record(&self) -> Option<&ThreadRecord> {
        if self.token.0 & TOKEN_NO_RECORD != 0 {
            return None;
        }
        // SAFETY: the token was made by `token_for` from a record that its thread keeps
        // alive (`WaitScope::me`) while it is queued, and a `Queued` exists only inside a
        // filter call, while the thread is in the queue.
        Some(unsafe { &*((self.token.0 & !(TOKEN_BITS | TOKEN_NO_RECORD)) as *const ThreadRecord) })
    }

    /// The queued thread's id.
    pub(crate) fn thread(&self) -> u64 {
        match self.record() {
            Some(record) => record.id,
            None => (self.token.0 >> 3) as u64,
        }
    }

    /// The primitive's two bits, as it parked with them.
    pub(crate) fn bits(&self) -> usize {
        self.token.0 & TOKEN_BITS
    }
}

/// The threads a wake-up takes out of a queue, to be marked woken before the waker's
/// callback runs (a few inline: most wake-ups wake one thread).
struct Woken {
    inline: [ParkToken; 4],
    len: usize,
    more: Vec<ParkToken>,
}

impl Woken {
    fn new() -> Woken {
        Woken {
            inline: [ParkToken(0); 4],
            len: 0,
            more: Vec::new(),
        }
    }

    fn push(&mut self, token: ParkToken) {
        if self.len < self.inline.len() {
            self.inline[self.len] = token;
            self.len += 1;
        } else {
            self.more.push(token);
        }
    }

    /// Marks every woken thread's wait as over.
    fn mark(&self) {
        for &token in self.inline[..self.len].iter().chain(&self.more) {
            let queued = Queued {
                token,
                _queued: std::marker::PhantomData,
            };
            if let Some(record) = queued.record() {
                record.mark_woken();
            }
        }
    }
}

/// Wakes the threads on `key` that `filter` picks; `callback` runs with the queue locked,
/// after every woken thread's wait has been marked over.
pub(crate) fn unpark_filter(
    key: usize,
    mut filter: impl FnMut(Queued<'_>) -> FilterOp,
    callback: impl FnOnce(UnparkResult) -> UnparkToken,
) -> UnparkResult {
    let woken = RefCell::new(Woken::new());
    let filter = |token: ParkToken| {
        let op = filter(Queued {
            token,
            _queued: std::marker::PhantomData,
        });
        if op == FilterOp::Unpark {
            woken.borrow_mut().push(token);
        }
        op
    };
    let callback = |result: UnparkResult| {
        woken.borrow().mark();
        callback(result)
    };
    // SAFETY: see `park`; filters and callbacks given here only touch atomics and locals.
    unsafe { parking::unpark_filter(key, filter, callback) }
}

/// Wakes one thread parked on `key`; `callback` runs with the queue locked.
pub(crate) fn unpark_one(
    key: usize,
    callback: impl FnOnce(UnparkResult) -> UnparkToken,
) -> UnparkResult {
    let mut picked = false;
    unpark_filter(
        key,
        |_| {
            if picked {
                FilterOp::Stop
            } else {
                picked = true;
                FilterOp::Unpark
            }
        },
        callback,
    )
}

/// Wakes every thread parked on `key`; how many.
pub(crate) fn unpark_all(key: usize) -> usize {
    unpark_filter(
        key,
        |_| FilterOp::Unpark,
        |_| parking_lot_core::DEFAULT_UNPARK_TOKEN,
    )
    .unparked_threads
}

/// Looks at the threads parked on `key`, in queue order, without waking any: `look`
/// returns `false` to stop.
pub(crate) fn peek(key: usize, mut look: impl FnMut(Queued<'_>) -> bool) {
    unpark_filter(
        key,
        |queued| {
            if look(queued) {
                FilterOp::Skip
            } else {
                FilterOp::Stop
            }
        },
        |_| parking_lot_core::DEFAULT_UNPARK_TOKEN,
    );
}

// ---- Small helpers every primitive uses ----

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
