// Layer 9 (futures): executors and futures, over everything below.
//! The future's state machine: one small allocation shared by the [`Future`] its caller
//! holds and the [`Promise`] its executor holds, freed by whichever lets go last.
//!
//! As CPython's `Future`, it is driven by methods named for what the executor does
//! (`set_running_or_notify_cancel`, `set_result`, `cancel`). The stage and its flags are
//! one atomic word, so `done()` and parked threads' checks need no lock:
//!
//! | stage       | the slot holds                    | entered by                               |
//! |-------------|-----------------------------------|------------------------------------------|
//! | `PENDING`   | link: hooks, or nothing           | creation (`submit`)                      |
//! | `RUNNING`   | link: the runner's id, or hooks   | `set_running_or_notify_cancel`           |
//! | `VALUE`     | the value (`DELIVERING`: the link; | `set_result(Ok)`                        |
//! |             | the value is in the hooks)        |                                          |
//! | `FAILED`    | the error, boxed                  | `set_result(Err)`                        |
//! | `CANCELLED` | nothing                           | `cancel` while `PENDING`                 |
//! | `TAKEN`     | nothing                           | `result`/`poll` took the outcome, or it  |
//! |             |                                   | was dropped (nobody could read it)       |
//!
//! `VALUE` through `TAKEN` are *done*: waiters (`wait`, `as_completed`, `wait_timeout`)
//! hear of the future then, and at once. As in CPython the done callbacks added before
//! completion run after that, on the completing thread, and a callback added to a done
//! future runs at once on the thread adding it. Each sees the outcome by reference:
//!
//! * an error is cloned for them, so `result` takes the error at once;
//! * a value (neither `Clone` nor `Sync`) is lent to one callback at a time (`LENT`): moved
//!   out for the call and back after it. Until every callback added before completion has
//!   seen it (`DELIVERING`, the value waiting in the hooks meanwhile), `result` waits:
//!   it cannot move the value out from under a callback that is still to see it.
//!
//! The word also counts the two owners (`HANDLE`, `JOB`). Size matters: a pool keeps one
//! per pending task and a caller often holds a million, so the core is the state word, the
//! task id and one slot that holds, in turn, the link (while not done) and the outcome:
//! 24 bytes for a `u64` result.

use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Poll, Waker};
use std::time::Instant;

use crossbeam_utils::Backoff;
use parking_lot::RawMutex;
use parking_lot::lock_api::RawMutex as _;
use parking_lot_core::{DEFAULT_PARK_TOKEN, ParkResult};

use super::error::TaskError;
use super::hooks::{Callback, Hooks, Listeners};
use super::pools;
use super::waitable::{FutureWait, Need};
use super::waiter::Waiter;
use crate::thread::registry;
use crate::thread::{self, Panicked};
use crate::wait::{self, Holder, Wait};

mod lend;

/// The stage, in the low bits.
const STAGE: u16 = 0b111;
const PENDING: u16 = 0;
const RUNNING: u16 = 1;
const VALUE: u16 = 2;
const FAILED: u16 = 3;
const CANCELLED: u16 = 4;
const TAKEN: u16 = 5;
/// `VALUE`: callbacks added before completion still have to see the value.
const DELIVERING: u16 = 1 << 3;
/// `VALUE`: the value is out on loan to a callback.
const LENT: u16 = 1 << 4;
/// A thread parks until the loan ends (on `lend_key`).
const LEND_PARKED: u16 = 1 << 5;
/// A thread parks until the future is done (on `done_key`).
const PARKED: u16 = 1 << 6;
/// Finished with an error (what `ReturnWhen::FirstException` looks for); kept once taken.
const ERRED: u16 = 1 << 7;
/// Someone saw the outcome (`result`, `poll`, a callback): a panic in it was read.
const OBSERVED: u16 = 1 << 8;
/// The `Future` handle is going: nobody can read the outcome any more.
const ABANDONED: u16 = 1 << 9;
/// The two owners: the `Future` handle and the executor's `Promise`.
pub(crate) const HANDLE: u16 = 1 << 10;
pub(crate) const JOB: u16 = 1 << 11;
/// A thread parks until the future is settled (on `settle_key`): apart from `PARKED`,
/// so that becoming done does not wake a `result` that still waits for the callbacks.
const SETTLE_PARKED: u16 = 1 << 12;

fn stage(s: u16) -> u16 {
    s & STAGE
}

fn is_done(s: u16) -> bool {
    stage(s) >= VALUE
}

/// Done, and the outcome is where `result` can take it.
fn is_settled(s: u16) -> bool {
    is_done(s) && s & DELIVERING == 0
}

/// Whether a wait for `need` would be over in state `s`.
pub(crate) fn reached(need: Need, s: u16) -> bool {
    match need {
        Need::Done => is_done(s),
        Need::Settled => is_settled(s),
        Need::Lend => stage(s) != VALUE || s & LENT == 0,
    }
}

/// A future's one slot: the link while it is not done, then its outcome. Which of its
/// fields is live is told by the stage (see the table above).
union Slot<T> {
    /// 0; a hooks pointer (even, non-zero); or `runner << 1 | 1`.
    link: usize,
    value: ManuallyDrop<T>,
    error: ManuallyDrop<Box<TaskError>>,
}

/// What a link word says.
enum Link<T> {
    Nothing,
    Runner(u64),
    Hooks(*mut Hooks<T>),
}

fn decode<T>(link: usize) -> Link<T> {
    if link == 0 {
        Link::Nothing
    } else if link & 1 == 1 {
        Link::Runner((link >> 1) as u64)
    } else {
        Link::Hooks(link as *mut Hooks<T>)
    }
}

pub(crate) struct Core<T> {
    /// Guards the slot while the future is not done or is delivering, the hooks behind
    /// it, and every change of stage. Held for a few instructions at a time, never across
    /// user code or a wait.
    lock: RawMutex,
    /// The stage and flags above. The stage and `DELIVERING`, `LENT`, `OBSERVED`,
    /// `ABANDONED` change under `lock`; `PARKED`, `SETTLE_PARKED` and `LEND_PARKED` are
    /// set by parking threads; `HANDLE` and `JOB` are cleared by their owners, the last one freeing.
    state: AtomicU16,
    /// The pool it came from (its index in `pools`), for descriptions; 0: none.
    pool: u32,
    pub(crate) id: u64,
    slot: UnsafeCell<Slot<T>>,
}

// SAFETY: the slot is reached under `lock`, or by the one thread a state transition made
// its owner (the caller of `result`, a thread holding the loan); the value moves between
// threads (hence `T: Send`) but is never shared by two at once (so `T: Sync` is not needed).
unsafe impl<T: Send> Send for Core<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Core<T> {}

/// Holds a core's lock; releases it when dropped.
struct Locked<'a, T> {
    core: &'a Core<T>,
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        // SAFETY: a `Locked` exists only while its thread holds the lock.
        unsafe { self.core.lock.unlock() }
    }
}

impl<T> Locked<'_, T> {
    fn state(&self) -> u16 {
        self.core.state.load(Ordering::Relaxed)
    }

    /// Changes the state to `f(state)` and returns the state before (see `transition`).
    fn update(&self, f: impl Fn(u16) -> u16) -> u16 {
        self.change(f).0
    }

    /// Changes the stage to `f(state)`; returns the parked flags the change cleared, for
    /// the caller to wake those waits (`Core::wake_parked`).
    fn transition(&self, f: impl Fn(u16) -> u16) -> u16 {
        self.change(f).1
    }

    /// Changes the state to `f(state)`. A change that ends the waits parked until done
    /// (or until settled) also clears `PARKED` (or `SETTLE_PARKED`). Returns the state
    /// before and the flags cleared.
    fn change(&self, f: impl Fn(u16) -> u16) -> (u16, u16) {
        let mut cleared = 0;
        let prev = self
            .core
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |s| {
                let next = f(s);
                let mut ends = 0;
                if is_done(next) && !is_done(s) {
                    ends |= PARKED;
                }
                if is_settled(next) && !is_settled(s) {
                    ends |= SETTLE_PARKED;
                }
                cleared = s & ends;
                Some(next & !ends)
            });
        (prev.unwrap_or_else(|s| s), cleared)
    }

    fn link(&self) -> usize {
        // SAFETY: called only while the stage says the slot holds the link.
        unsafe { (*self.core.slot.get()).link }
    }

    fn set_link(&self, link: usize) {
        // SAFETY: as `link`; writing a `usize` over a `usize` drops nothing.
        unsafe { (*self.core.slot.get()).link = link }
    }

    /// The hooks, made now if there are none (keeping a runner written in the link).
    fn hooks(&mut self) -> &mut Hooks<T> {
        let ptr = match decode::<T>(self.link()) {
            Link::Hooks(p) => p,
            Link::Nothing => Box::into_raw(Box::new(Hooks::new(0))),
            Link::Runner(r) => Box::into_raw(Box::new(Hooks::new(r))),
        };
        self.set_link(ptr as usize);
        // SAFETY: the link owns the hooks; we hold the lock that guards them.
        unsafe { &mut *ptr }
    }

    fn hooks_if_any(&mut self) -> Option<&mut Hooks<T>> {
        match decode::<T>(self.link()) {
            // SAFETY: as `hooks`.
            Link::Hooks(p) => Some(unsafe { &mut *p }),
            _ => None,
        }
    }

    fn hooks_ref(&self) -> Option<&Hooks<T>> {
        match decode::<T>(self.link()) {
            // SAFETY: as `hooks`.
            Link::Hooks(p) => Some(unsafe { &*p }),
            _ => None,
        }
    }

    /// Takes the hooks out of the link (which becomes empty).
    fn take_hooks(&self) -> Option<Box<Hooks<T>>> {
        let hooks = match decode::<T>(self.link()) {
            // SAFETY: the link owned this box; it is cleared below, so it is taken once.
            Link::Hooks(p) => Some(unsafe { Box::from_raw(p) }),
            _ => None,
        };
        self.set_link(0);
        hooks
    }

    /// Names `thread` as the one answering for the task (stage `PENDING`/`RUNNING`).
    fn set_runner(&mut self, thread: u64) {
        match decode::<T>(self.link()) {
            Link::Hooks(_) => self.hooks().runner = thread,
            _ if thread <= (usize::MAX >> 1) as u64 => self.set_link((thread as usize) << 1 | 1),
            _ => self.hooks().runner = thread,
        }
    }

    fn runner(&self) -> u64 {
        match decode::<T>(self.link()) {
            Link::Nothing => 0,
            Link::Runner(r) => r,
            // SAFETY: as `hooks`.
            Link::Hooks(p) => unsafe { (*p).runner },
        }
    }
}

/// Reading and writing the outcome in the slot.
///
/// # Safety (each)
/// The caller holds the lock, or a state transition made it the slot's only user; and
/// the stage says (or is about to say) that the slot holds what is read or written. A
/// read moves the outcome out: the caller moves the stage on, so that it is read once.
impl<T> Core<T> {
    unsafe fn write_value(&self, value: T) {
        // SAFETY: see the impl; the link was taken first, so this drops nothing.
        unsafe { (*self.slot.get()).value = ManuallyDrop::new(value) }
    }

    unsafe fn write_error(&self, error: Box<TaskError>) {
        // SAFETY: as `write_value`.
        unsafe { (*self.slot.get()).error = ManuallyDrop::new(error) }
    }

    unsafe fn read_value(&self) -> T {
        // SAFETY: see the impl.
        unsafe { ManuallyDrop::take(&mut (*self.slot.get()).value) }
    }

    unsafe fn read_error(&self) -> Box<TaskError> {
        // SAFETY: see the impl.
        unsafe { ManuallyDrop::take(&mut (*self.slot.get()).error) }
    }

    unsafe fn error(&self) -> &TaskError {
        // SAFETY: see the impl.
        unsafe { &(*self.slot.get()).error }
    }
}

impl<T> Core<T> {
    /// A pending future's core, owned by a handle and a job (both bits set), for the
    /// pool at `pool` in the pool table (0: none), with `hooks` made up front if given.
    pub(crate) fn allocate(id: u64, pool: u32, hooks: Option<Box<Hooks<T>>>) -> NonNull<Core<T>> {
        let link = hooks.map_or(0, |h| Box::into_raw(h) as usize);
        NonNull::from(Box::leak(Box::new(Core {
            lock: RawMutex::INIT,
            state: AtomicU16::new(PENDING | HANDLE | JOB),
            pool,
            id,
            slot: UnsafeCell::new(Slot { link }),
        })))
    }

    /// Lets go of the owner `bit` (`HANDLE` or `JOB`); the last owner frees the core.
    ///
    /// # Safety
    /// The caller owns `bit`'s reference and does not touch the core afterwards.
    pub(crate) unsafe fn release(this: NonNull<Core<T>>, bit: u16) {
        // SAFETY: the caller's reference keeps the core alive until this returns.
        let prev = unsafe { this.as_ref() }
            .state
            .fetch_and(!bit, Ordering::AcqRel);
        if prev & (HANDLE | JOB) == bit {
            // SAFETY: that was the last reference.
            unsafe { Core::free(this, prev) }
        }
    }

    /// Drops what the slot holds and the allocation.
    ///
    /// # Safety
    /// Nobody references the core any more; `state` is its last state.
    unsafe fn free(this: NonNull<Core<T>>, state: u16) {
        // SAFETY: made by `Box::leak` in `allocate`, and this is the last reference.
        let core = unsafe { Box::from_raw(this.as_ptr()) };
        let mut slot = core.slot.into_inner();
        // SAFETY: the stage says which field is live.
        unsafe {
            match stage(state) {
                VALUE if state & DELIVERING == 0 => ManuallyDrop::drop(&mut slot.value),
                FAILED => ManuallyDrop::drop(&mut slot.error),
                PENDING | RUNNING | VALUE => {
                    if let Link::Hooks(p) = decode::<T>(slot.link) {
                        drop(Box::from_raw(p));
                    }
                }
                _ => {}
            }
        }
    }

    fn lock(&self) -> Locked<'_, T> {
        self.lock.lock();
        Locked { core: self }
    }

    pub(crate) fn state(&self) -> u16 {
        self.state.load(Ordering::Acquire)
    }

    fn done_key(&self) -> usize {
        &self.state as *const AtomicU16 as usize
    }

    fn lend_key(&self) -> usize {
        &self.id as *const u64 as usize
    }

    fn settle_key(&self) -> usize {
        &self.pool as *const u32 as usize
    }

    // ---- The executor's side ----

    /// A worker is about to run the task: `PENDING` becomes `RUNNING`, with the calling
    /// thread as its runner (`true`). `false` if the future was cancelled meanwhile (its
    /// waiters and callbacks already heard).
    pub(crate) fn set_running_or_notify_cancel(&self) -> bool {
        // Read before the lock: never call out of this module while holding it.
        let me = registry::current_id();
        let mut g = self.lock();
        match stage(g.state()) {
            PENDING => {
                g.set_runner(me);
                g.update(|s| s & !STAGE | RUNNING);
                true
            }
            CANCELLED => false,
            _ => {
                drop(g);
                panic!(
                    "spindle: task {} was started twice (an executor bug)",
                    self.id
                )
            }
        }
    }

    /// Names `thread` as the one answering for the task while it is not done.
    pub(crate) fn set_runner(&self, thread: u64) {
        let mut g = self.lock();
        if stage(g.state()) <= RUNNING {
            g.set_runner(thread);
        }
    }

    /// The task ended with `outcome` (or failed before it could run): the future is done.
    /// Wakes its waiters, then runs the callbacks added before now on this thread.
    /// `false` (and `outcome` is dropped) if the future was already done.
    pub(crate) fn set_result(&self, outcome: Result<T, TaskError>) -> bool {
        match outcome {
            Ok(value) => self.set_value(value),
            Err(error) => self.set_error(error),
        }
    }

    fn set_value(&self, value: T) -> bool {
        let me = registry::current_id();
        let g = self.lock();
        let s = g.state();
        if is_done(s) {
            return false;
        }
        let mut hooks = g.take_hooks();
        let mut listeners = hooks
            .as_mut()
            .map_or_else(Listeners::none, |h| h.take_listeners());
        if s & ABANDONED != 0 {
            // Nobody can read it: the callbacks see it, then it goes.
            let cleared = g.transition(|s| s & !STAGE | TAKEN | OBSERVED);
            drop(g);
            self.wake_parked(cleared);
            listeners.notify(false);
            let outcome = Ok(value);
            for callback in listeners.callbacks.drain(..) {
                self.run_callback(callback, &outcome);
            }
            return true;
        }
        if listeners.callbacks.is_empty() {
            // SAFETY: locked; the link was taken, the stage says `VALUE` next.
            unsafe { self.write_value(value) };
            let cleared = g.transition(|s| s & !STAGE | VALUE);
            drop(g);
            self.wake_parked(cleared);
            listeners.notify(false);
            return true;
        }
        // Deliver: the value waits in the hooks, lent to one callback at a time, until
        // every callback added before now has seen it.
        let mut hooks = hooks.expect("callbacks live in the hooks");
        hooks.runner = me;
        let more = hooks.more();
        more.delivered = Some(Ok(value));
        more.completer_done = false;
        g.set_link(Box::into_raw(hooks) as usize);
        let cleared = g.transition(|s| s & !STAGE | VALUE | DELIVERING | OBSERVED);
        drop(g);
        self.wake_parked(cleared);
        listeners.notify(false);
        for callback in listeners.callbacks.drain(..) {
            self.lend(Location::caller(), |outcome| {
                self.run_callback(callback, outcome);
            });
        }
        let mut g = self.lock();
        if let Some(h) = g.hooks_if_any() {
            h.more().completer_done = true;
        }
        if g.state() & LENT == 0 {
            self.settle(g);
        }
        true
    }

    fn set_error(&self, error: TaskError) -> bool {
        let boxed = Box::new(error);
        let g = self.lock();
        let s = g.state();
        if is_done(s) {
            return false;
        }
        let mut hooks = g.take_hooks();
        let mut listeners = hooks
            .as_mut()
            .map_or_else(Listeners::none, |h| h.take_listeners());
        let seen = !listeners.callbacks.is_empty();
        // The callbacks see a copy, so that `result` may take the error meanwhile.
        let lent: Result<T, TaskError> = Err((*boxed).clone());
        let observed = if seen { OBSERVED } else { 0 };
        let mut unread = None;
        let cleared = if s & ABANDONED != 0 {
            if !seen {
                unread = unread_panic(&boxed);
            }
            g.transition(|s| s & !STAGE | TAKEN | ERRED | observed)
        } else {
            // SAFETY: locked; the link was taken, the stage says `FAILED` next.
            unsafe { self.write_error(boxed) };
            g.transition(|s| s & !STAGE | FAILED | ERRED | observed)
        };
        drop(g);
        self.wake_parked(cleared);
        listeners.notify(true);
        for callback in listeners.callbacks.drain(..) {
            self.run_callback(callback, &lent);
        }
        if let Some(p) = unread {
            thread::report_panic(&p);
        }
        // Dropped here, outside the lock: an abandoned error (`boxed`, if not stored).
        true
    }

    /// Cancels the task if it has not started: `true` if the future is (now) cancelled.
    /// Wakes its waiters and runs its callbacks on this thread.
    pub(crate) fn cancel(&self) -> bool {
        let g = self.lock();
        match stage(g.state()) {
            PENDING => {}
            CANCELLED => return true,
            _ => return false,
        }
        let mut hooks = g.take_hooks();
        let cleared = g.transition(|s| s & !STAGE | CANCELLED);
        drop(g);
        self.wake_parked(cleared);
        if let Some(h) = hooks.as_mut() {
            let mut listeners = h.take_listeners();
            listeners.notify(false);
            let cancelled = Err(TaskError::Cancelled);
            for callback in listeners.callbacks.drain(..) {
                self.run_callback(callback, &cancelled);
            }
        }
        true
    }

    /// Ends a delivery (the lock is held, and released here): the value goes to its
    /// place in the slot (or is dropped, if nobody can read it), and `result` may take it.
    fn settle(&self, g: Locked<'_, T>) {
        let mut hooks = g.take_hooks().expect("a delivery keeps its hooks");
        let more = hooks.more();
        let delivered = more.delivered.take();
        let waker = more.waker.take();
        let mut dropped = None;
        let cleared = if g.state() & ABANDONED != 0 {
            dropped = delivered;
            g.transition(|s| s & !(STAGE | DELIVERING) | TAKEN)
        } else {
            match delivered {
                // SAFETY: locked; the link was taken, the stage stays `VALUE`.
                Some(Ok(value)) => unsafe { self.write_value(value) },
                _ => unreachable!("a delivered value is in place when no loan is out"),
            }
            g.transition(|s| s & !DELIVERING)
        };
        drop(g);
        self.wake_parked(cleared);
        if let Some(waker) = waker {
            waker.wake();
        }
        drop(hooks);
        drop(dropped);
    }

    /// Runs one callback; a panic in it goes to the excepthook and stops nothing else.
    fn run_callback(&self, callback: Callback<T>, outcome: &Result<T, TaskError>) {
        let ran = panic::catch_unwind(AssertUnwindSafe(|| callback(outcome)));
        if let Err(payload) = ran {
            let message = format!(
                "a done callback of task {} panicked: {}",
                self.id,
                thread::payload_message(&*payload)
            );
            thread::report_panic(&Panicked::new(message, thread::current().name()));
            // A payload whose own `Drop` panics must not take this thread down either.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
        }
    }

    /// Wakes the threads parked until done, or until settled, whose flags a change
    /// `cleared` (as `Locked::update` returned them).
    fn wake_parked(&self, cleared: u16) {
        if cleared & PARKED != 0 {
            wait::unpark_all(self.done_key());
        }
        if cleared & SETTLE_PARKED != 0 {
            wait::unpark_all(self.settle_key());
        }
    }

    // ---- The caller's side ----

    pub(crate) fn is_done(&self) -> bool {
        is_done(self.state())
    }

    pub(crate) fn is_running(&self) -> bool {
        stage(self.state()) == RUNNING
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        stage(self.state()) == CANCELLED
    }

    /// One word for `Debug`.
    pub(crate) fn state_name(&self) -> &'static str {
        match stage(self.state()) {
            PENDING => "pending",
            RUNNING => "running",
            CANCELLED => "cancelled",
            _ => "finished",
        }
    }

    /// Runs `callback` when the future is done: at once, on this thread, if it is (CPython's
    /// `add_done_callback`), else on the thread that completes it.
    pub(crate) fn add_done_callback(&self, callback: Callback<T>, at: &'static Location<'static>) {
        let mut g = self.lock();
        if !is_done(g.state()) {
            g.hooks().more().callbacks.push(callback);
            return;
        }
        drop(g);
        self.lend(at, |outcome| self.run_callback(callback, outcome));
    }

    /// Parks until the wait for `need` is over or `deadline` passes; `true` if it is.
    pub(crate) fn park_until(
        &self,
        need: Need,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> bool {
        if reached(need, self.state()) {
            return true;
        }
        let on = FutureWait { core: self, need };
        let wait = Wait::waiting(&on, deadline, at);
        let (flag, key) = match need {
            Need::Lend => (LEND_PARKED, self.lend_key()),
            Need::Done => (PARKED, self.done_key()),
            Need::Settled => (SETTLE_PARKED, self.settle_key()),
        };
        while !reached(need, self.state()) {
            let validate = || !reached(need, self.state.fetch_or(flag, Ordering::SeqCst));
            let parked = wait::park(
                &wait,
                key,
                validate,
                || {},
                |_, _| {},
                DEFAULT_PARK_TOKEN,
                deadline,
            );
            match parked {
                Ok(ParkResult::TimedOut) => return reached(need, self.state()),
                Ok(_) => {}
                // The wait would close a cycle: fail it with the report, as a lock does.
                Err(cycle) => crate::deadlock::raise::raise(cycle),
            }
        }
        true
    }

    /// Parks until the outcome is in place, and takes it; lets go of the handle's
    /// reference (the handle is being consumed).
    ///
    /// # Safety
    /// The caller owns the handle's reference to `this` and does not use it afterwards.
    pub(crate) unsafe fn take_outcome(
        this: NonNull<Core<T>>,
        at: &'static Location<'static>,
    ) -> Result<T, TaskError> {
        // SAFETY: the handle keeps the core alive until it is released below.
        let core = unsafe { this.as_ref() };
        // A tiny task is often a few microseconds from done: cheaper to look again than
        // to park and be woken.
        let backoff = Backoff::new();
        while !is_settled(core.state()) && !backoff.is_completed() {
            backoff.snooze();
        }
        core.park_until(Need::Settled, None, at);
        let mut s = core.state();
        loop {
            // If the executor has let go already (`JOB` never comes back), this thread
            // is the core's last owner: the outcome changes hands and the handle lets go
            // in one step. Else the handle stays until the outcome is read.
            let sole = s & JOB == 0;
            let taken = match stage(s) {
                VALUE | FAILED if sole => (s & !(STAGE | HANDLE)) | TAKEN | OBSERVED,
                VALUE | FAILED => (s & !STAGE) | TAKEN | OBSERVED,
                CANCELLED => {
                    // SAFETY: the handle's reference, not used again.
                    unsafe { Core::release(this, HANDLE) };
                    return Err(TaskError::Cancelled);
                }
                TAKEN => {
                    // SAFETY: the handle's reference, given up before the panic.
                    unsafe { Core::release(this, HANDLE) };
                    panic!("result: the outcome of the task was already taken by `.await`")
                }
                _ => unreachable!("settled"),
            };
            match core
                .state
                .compare_exchange_weak(s, taken, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // SAFETY: stage `VALUE` (settled) or `FAILED` before the exchange, which moved it
        // to `TAKEN` and made this thread the slot's only user: it is read once, here.
        let outcome = unsafe {
            match stage(s) {
                VALUE => Ok(core.read_value()),
                _ => Err(*core.read_error()),
            }
        };
        if s & JOB == 0 {
            // SAFETY: the exchange cleared the last reference; the slot was emptied.
            unsafe { Core::free(this, TAKEN) };
        } else {
            // SAFETY: the handle's reference, not used again.
            unsafe { Core::release(this, HANDLE) };
        }
        outcome
    }

    /// `std::future::Future::poll`: the outcome if it is in place, else remember `waker`.
    pub(crate) fn poll(&self, waker: &Waker) -> Poll<Result<T, TaskError>> {
        let mut g = self.lock();
        let s = g.state();
        let outcome = match stage(s) {
            VALUE if s & DELIVERING == 0 => {
                // SAFETY: settled `VALUE`; the stage moves to `TAKEN` below.
                Ok(unsafe { self.read_value() })
            }
            // SAFETY: `FAILED`; the stage moves to `TAKEN` below.
            FAILED => Err(*unsafe { self.read_error() }),
            CANCELLED => return Poll::Ready(Err(TaskError::Cancelled)),
            TAKEN => {
                drop(g);
                panic!(
                    "the Future of task {} was polled after it completed",
                    self.id
                )
            }
            _ => {
                let more = g.hooks().more();
                match &mut more.waker {
                    Some(w) if w.will_wake(waker) => {}
                    slot => *slot = Some(waker.clone()),
                }
                return Poll::Pending;
            }
        };
        g.update(|s| s & !STAGE | TAKEN | OBSERVED);
        Poll::Ready(outcome)
    }

    /// The `Future` handle is being dropped. An outcome already in place is dropped now;
    /// a panic nobody read goes to the excepthook (now, or when the task ends). Then the
    /// handle's reference goes.
    ///
    /// # Safety
    /// The caller owns the handle's reference to `this` and does not use it afterwards.
    pub(crate) unsafe fn abandon(this: NonNull<Core<T>>) {
        // SAFETY: the handle keeps the core alive until it is released below.
        let core = unsafe { this.as_ref() };
        let mut g = core.lock();
        let s = g.state();
        let mut value = None;
        let mut error = None;
        let mut waker = None;
        match stage(s) {
            VALUE if s & DELIVERING == 0 => {
                // SAFETY: settled `VALUE`; the stage moves to `TAKEN` below.
                value = Some(unsafe { core.read_value() });
                g.update(|s| s & !STAGE | TAKEN);
            }
            FAILED => {
                // SAFETY: `FAILED`; the stage moves to `TAKEN` below.
                error = Some(unsafe { core.read_error() });
                g.update(|s| s & !STAGE | TAKEN);
            }
            PENDING | RUNNING | VALUE => {
                if let Some(h) = g.hooks_if_any() {
                    waker = h.more.as_mut().and_then(|m| m.waker.take());
                }
                g.update(|s| s | ABANDONED);
            }
            _ => {}
        }
        drop(g);
        let unread = error
            .as_ref()
            .filter(|_| s & OBSERVED == 0)
            .and_then(|e| unread_panic(e));
        // SAFETY: the handle's reference, not used again.
        unsafe { Core::release(this, HANDLE) };
        if let Some(p) = unread {
            thread::report_panic(&p);
        }
        // User code last: the outcome's and the waker's `Drop`.
        drop(waker);
        drop(error);
        drop(value);
    }

    /// Starts reporting to `waiter` as future `index`. If the future is already done,
    /// reports nothing and returns whether it failed: the caller reports it itself.
    pub(crate) fn watch(&self, waiter: &Arc<Waiter>, index: usize) -> Option<bool> {
        let s = self.state();
        if is_done(s) {
            return Some(s & ERRED != 0);
        }
        let mut g = self.lock();
        let s = g.state();
        if is_done(s) {
            return Some(s & ERRED != 0);
        }
        g.hooks().watch((Arc::clone(waiter), index));
        None
    }

    /// Stops reporting to `waiter` (a no-op once the future is done: it reported).
    pub(crate) fn unwatch(&self, waiter: &Arc<Waiter>) {
        if self.is_done() {
            return;
        }
        let mut g = self.lock();
        if !is_done(g.state()) {
            if let Some(h) = g.hooks_if_any() {
                h.unwatch(waiter);
            }
        }
    }

    // ---- For the waits' descriptions and deadlock detection ----

    /// Adds the thread that must act before a wait for `need` can end, if it has not.
    pub(crate) fn holders(&self, need: Need, out: &mut Vec<Holder>) {
        // Read first without the lock: the instant the state moves past what the wait
        // needs, the wait names nobody.
        if reached(need, self.state()) {
            return;
        }
        let g = self.lock();
        let s = g.state();
        if reached(need, s) {
            return;
        }
        let thread = if stage(s) <= RUNNING {
            g.runner()
        } else if s & DELIVERING == 0 {
            // A settled value out on loan to a callback added after completion: the slot
            // holds no link, and the borrower is not recorded (the wait names nobody).
            0
        } else {
            // Delivering: the borrower, else the completing thread.
            g.hooks_ref().map_or(0, |h| {
                let lender = h.more.as_ref().map_or(0, |m| m.lender);
                match need {
                    Need::Lend => lender,
                    _ if lender != 0 => lender,
                    _ => h.runner,
                }
            })
        };
        if thread != 0 {
            out.push(Holder::actor(thread));
        }
    }

    /// The executor's own way to cancel, while the task has not started (see
    /// `More::remote_cancel`).
    pub(crate) fn remote_cancel(&self) -> Option<super::hooks::RemoteCancel> {
        let g = self.lock();
        if stage(g.state()) != PENDING {
            return None;
        }
        g.hooks_ref()
            .and_then(|h| h.more.as_ref())
            .and_then(|m| m.remote_cancel.clone())
    }

    /// Makes `cancel` the way `Future::cancel` asks while the task has not started.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))] // the cluster executor's
    pub(crate) fn set_remote_cancel(&self, cancel: super::hooks::RemoteCancel) {
        let mut g = self.lock();
        if stage(g.state()) == PENDING {
            g.hooks().more().remote_cancel = Some(cancel);
        }
    }

    /// Which executor the future belongs to, for people: `ThreadPoolExecutor "io"`.
    pub(crate) fn origin(&self) -> Option<Arc<str>> {
        if self.pool != 0 {
            return pools::origin(self.pool);
        }
        let g = self.lock();
        if stage(g.state()) <= RUNNING || g.state() & DELIVERING != 0 {
            return g.hooks_ref().and_then(|h| h.origin().cloned());
        }
        None
    }
}

/// The panic in `error`, for the excepthook, if it is one.
fn unread_panic(error: &TaskError) -> Option<Panicked> {
    match error {
        TaskError::Panicked(p) => Some(p.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
