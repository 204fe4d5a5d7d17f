// Layer 9 (futures): executors and futures, over everything below.
//! The future's state machine, shared by the [`Future`](super::Future) its caller holds
//! and the [`Promise`](super::future::Promise) its executor holds.
//!
//! As CPython's `Future`, it is driven by methods named for what the executor does:
//!
//! | state         | phase     | entered by                                                |
//! |---------------|-----------|-----------------------------------------------------------|
//! | `Pending`     | `WORKING` | creation (`submit`)                                       |
//! | `Running`     | `WORKING` | `set_running_or_notify_cancel`: a worker took the task    |
//! | `Delivering`  | `DONE`    | `set_result` with done callbacks waiting: the completing  |
//! |               |           | thread holds the outcome while it runs them, unlocked     |
//! | `Finished(r)` | `SETTLED` | `set_result` with no callbacks, or `Delivering` once the  |
//! |               |           | callbacks ran                                             |
//! | `Cancelled`   | `SETTLED` | `cancel` while `Pending`                                  |
//! | `Taken`       | `SETTLED` | `poll` took the outcome, or the `Future` was dropped      |
//! |               | `TAKEN`   | `result` took the outcome                                 |
//!
//! Waiters (`as_completed`, `wait`) and threads in `wait_timeout` hear of a future when it
//! becomes done; `result` waits for `SETTLED` (the outcome must be back from the callbacks).
//! The phase mirrors the state in an atomic, so `done()` and parked threads' checks need
//! no lock.

use std::mem;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Poll, Waker};
use std::time::Instant;

use crossbeam_utils::Backoff;
use parking_lot::{Mutex as InternalMutex, MutexGuard as InternalGuard};
use parking_lot_core::{DEFAULT_PARK_TOKEN, ParkResult};

use super::error::TaskError;
use super::task::TaskInfo;
use super::waiter::Waiter;
use crate::thread::{self, Panicked};
use crate::wait::{self, Wait};

/// A done callback: sees the outcome once, by reference.
pub(crate) type Callback<T> = Box<dyn FnOnce(&Result<T, TaskError>) + Send>;

/// An outcome at rest: the (large, rare) error boxed, so that a future stays small.
type Stored<T> = Result<T, Box<TaskError>>;

enum State<T> {
    Pending,
    Running,
    Delivering,
    Finished(Stored<T>),
    Cancelled,
    Taken,
}

struct Inner<T> {
    state: State<T>,
    /// Callbacks, waiters and waker: made the first time one is added (most futures
    /// never need any), taken whole when the future becomes done.
    hooks: Option<Box<Hooks<T>>>,
    /// Someone saw the outcome: `result`, `poll`, or a done callback.
    observed: bool,
    /// The `Future` handle is gone: nobody can read the outcome any more.
    abandoned: bool,
}

/// Who must hear when the future is done.
struct Hooks<T> {
    /// Done callbacks not yet run, in the order they were added.
    callbacks: Vec<Callback<T>>,
    /// `as_completed`/`wait` calls watching this future, with its index in their list.
    waiters: Vec<(Arc<Waiter>, usize)>,
    /// The async task awaiting this future, if any.
    waker: Option<Waker>,
}

impl<T> Inner<T> {
    fn hooks(&mut self) -> &mut Hooks<T> {
        self.hooks.get_or_insert_with(|| {
            Box::new(Hooks {
                callbacks: Vec::new(),
                waiters: Vec::new(),
                waker: None,
            })
        })
    }

    fn has_callbacks(&self) -> bool {
        self.hooks.as_ref().is_some_and(|h| !h.callbacks.is_empty())
    }
}

/// Not done yet (`Pending` or `Running`).
const WORKING: u8 = 0;
/// Done: `Delivering` or later.
const DONE: u8 = 1;
/// The outcome is in place (or gone for good): `result` can return.
const SETTLED: u8 = 2;
/// `result` took the outcome: the handle is being consumed and its drop has nothing to do.
const TAKEN: u8 = 3;
/// Or-ed into the phase by a thread about to park: completion must wake it.
const PARKED: u8 = 0x80;
/// Or-ed into the phase when the future finishes with an error (what
/// `ReturnWhen::FirstException` looks for).
const FAILED: u8 = 0x40;
/// The phase itself, without the flags.
const PHASE: u8 = !(PARKED | FAILED);

pub(crate) struct Core<T> {
    /// Held for a few instructions at a time, never across user code or a wait, like the
    /// thread registry's internal locks.
    inner: InternalMutex<Inner<T>>,
    /// One of `WORKING`, `DONE`, `SETTLED`, `TAKEN`, or-ed with the flags `FAILED` and
    /// `PARKED`. The phase and `FAILED` change only under `inner`; `PARKED` is set by
    /// parking threads. Its address is the key that threads in `result` and
    /// `wait_timeout` park on.
    phase: AtomicU8,
    pub(crate) task: TaskInfo,
}

/// Whatever allocation holds a future's `Core`: the core alone, or a thread pool task
/// whose closure shares the allocation (one allocation per task, freed by whichever of
/// the future and the worker lets go last).
pub(crate) trait HoldsCore<T>: Send + Sync {
    fn core(&self) -> &Core<T>;

    /// What [`Future::cancel`](super::Future::cancel) does: cancel the task here, if it has
    /// not started. An executor whose tasks start elsewhere (the cluster's, where the
    /// server decides) asks there first.
    fn cancel(&self) -> bool {
        self.core().cancel()
    }
}

impl<T: Send> HoldsCore<T> for Core<T> {
    fn core(&self) -> &Core<T> {
        self
    }
}

/// What is left to do, outside the lock, once the outcome is stored.
struct Settled<T> {
    waker: Option<Waker>,
    /// A panic nobody will ever read: for the excepthook.
    unread: Option<Panicked>,
    /// An outcome nobody can read any more, dropped last (its `Drop` is user code).
    discarded: Option<Result<T, TaskError>>,
}

impl<T> Settled<T> {
    fn finish(self) {
        if let Some(waker) = self.waker {
            waker.wake();
        }
        if let Some(p) = &self.unread {
            thread::report_panic(p);
        }
        drop(self.discarded);
    }
}

impl<T> Core<T> {
    pub(crate) fn new(task: TaskInfo) -> Core<T> {
        Core {
            inner: InternalMutex::new(Inner {
                state: State::Pending,
                hooks: None,
                observed: false,
                abandoned: false,
            }),
            phase: AtomicU8::new(WORKING),
            task,
        }
    }

    // ---- The executor's side ----

    /// A worker is about to run the task: `Pending` becomes `Running` (`true`). `false` if
    /// the future was cancelled meanwhile (its waiters and callbacks already heard).
    pub(crate) fn set_running_or_notify_cancel(&self) -> bool {
        let mut g = self.inner.lock();
        match g.state {
            State::Pending => {
                g.state = State::Running;
                self.task.set_runner(crate::thread::registry::current_id());
                true
            }
            State::Cancelled => false,
            _ => panic!(
                "spindle: task {} was started twice (an executor bug)",
                self.task.id
            ),
        }
    }

    /// The task ended with `outcome` (or failed before it could run): the future is done.
    /// Wakes its waiters, then runs its callbacks on this thread. `false` (and `outcome`
    /// is dropped) if the future was already done.
    pub(crate) fn set_result(&self, outcome: Result<T, TaskError>) -> bool {
        let mut g = self.inner.lock();
        if !matches!(g.state, State::Pending | State::Running) {
            return false;
        }
        let failed = outcome.is_err();
        if failed {
            self.phase.fetch_or(FAILED, Ordering::Relaxed);
        }
        // The waker stays: `store` wakes it once the outcome is in place.
        let (callbacks, waiters) = match g.hooks.as_mut() {
            Some(h) => (mem::take(&mut h.callbacks), mem::take(&mut h.waiters)),
            None => (Vec::new(), Vec::new()),
        };
        if callbacks.is_empty() {
            let settled = self.store(g, outcome);
            notify(waiters, failed);
            settled.finish();
        } else {
            g.state = State::Delivering;
            self.advance(g, DONE);
            notify(waiters, failed);
            self.deliver(outcome, callbacks);
        }
        true
    }

    /// Cancels the task if it has not started: `true` if the future is (now) cancelled.
    /// Wakes its waiters and runs its callbacks on this thread.
    pub(crate) fn cancel(&self) -> bool {
        let mut g = self.inner.lock();
        match g.state {
            State::Pending => {}
            State::Cancelled => return true,
            _ => return false,
        }
        g.state = State::Cancelled;
        let hooks = g.hooks.take();
        self.advance(g, SETTLED);
        if let Some(h) = hooks {
            let Hooks {
                callbacks,
                waiters,
                waker,
            } = *h;
            notify(waiters, false);
            if let Some(waker) = waker {
                waker.wake();
            }
            let cancelled = Err(TaskError::Cancelled);
            for callback in callbacks {
                self.run_callback(callback, &cancelled);
            }
        }
        true
    }

    /// Stores `outcome` (the lock is held, and released here) and wakes whoever waits
    /// for it.
    fn store(
        &self,
        mut g: InternalGuard<'_, Inner<T>>,
        outcome: Result<T, TaskError>,
    ) -> Settled<T> {
        // Until now the completing thread was the one to wait for (also while it ran
        // the callbacks); from here on nobody is.
        self.task.set_runner(0);
        let mut settled = Settled {
            waker: g.hooks.as_mut().and_then(|h| h.waker.take()),
            unread: None,
            discarded: None,
        };
        if g.abandoned {
            g.state = State::Taken;
            settled.unread = unread_panic(&outcome, g.observed);
            settled.discarded = Some(outcome);
        } else {
            g.state = State::Finished(outcome.map_err(Box::new));
        }
        self.advance(g, SETTLED);
        settled
    }

    /// Hands `outcome` to each callback of `batch` and of any added meanwhile, outside the
    /// lock (state `Delivering`), then stores it.
    fn deliver(&self, outcome: Result<T, TaskError>, mut batch: Vec<Callback<T>>) {
        loop {
            for callback in batch.drain(..) {
                self.run_callback(callback, &outcome);
            }
            let mut g = self.inner.lock();
            g.observed = true;
            if !g.has_callbacks() {
                self.store(g, outcome).finish();
                return;
            }
            mem::swap(&mut batch, &mut g.hooks().callbacks);
        }
    }

    /// Runs one callback; a panic in it goes to the excepthook and stops nothing else.
    fn run_callback(&self, callback: Callback<T>, outcome: &Result<T, TaskError>) {
        let ran = panic::catch_unwind(AssertUnwindSafe(|| callback(outcome)));
        if let Err(payload) = ran {
            let message = format!(
                "a done callback of task {} panicked: {}",
                self.task.id,
                thread::payload_message(&*payload)
            );
            thread::report_panic(&Panicked::new(message, thread::current().name()));
            // A payload whose own `Drop` panics must not take this thread down either.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
        }
    }

    /// Moves the phase on to `to` (the lock is held, and released here) and wakes the
    /// threads parked on it.
    fn advance(&self, g: InternalGuard<'_, Inner<T>>, to: u8) {
        // Only lock holders move the phase, so the current one is known; adding the
        // difference keeps the flags, and a `PARKED` set concurrently. SeqCst pairs with the parking
        // validation: a parking thread either sees the new phase, or is already queued
        // when we see its `PARKED`.
        let now = self.phase.load(Ordering::Relaxed) & PHASE;
        debug_assert!(to >= now, "the phase only moves forward");
        let before = self.phase.fetch_add(to - now, Ordering::SeqCst);
        drop(g);
        if before & PARKED != 0 {
            wait::unpark_all(self.key());
        }
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire) & PHASE
    }

    fn key(&self) -> usize {
        &self.phase as *const AtomicU8 as usize
    }

    /// Parks until the phase reaches `needed` or `deadline` passes; `true` if it did.
    fn park_until(
        &self,
        needed: u8,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> bool {
        let wait = Wait::waiting(&self.task, deadline, at);
        while self.phase() < needed {
            let validate = || {
                let phase = self.phase.fetch_or(PARKED, Ordering::SeqCst) & PHASE;
                phase < needed
            };
            let parked = wait::park(
                &wait,
                self.key(),
                validate,
                || {},
                |_, _| {},
                DEFAULT_PARK_TOKEN,
                deadline,
            );
            match parked {
                Ok(ParkResult::TimedOut) => return self.phase() >= needed,
                Ok(_) => {}
                Err(cycle) => crate::deadlock::raise::raise(cycle),
            }
        }
        true
    }

    // ---- The caller's side ----

    pub(crate) fn is_done(&self) -> bool {
        self.phase() >= DONE
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(self.inner.lock().state, State::Running)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(self.inner.lock().state, State::Cancelled)
    }

    /// One word for `Debug`.
    pub(crate) fn state_name(&self) -> &'static str {
        match self.inner.lock().state {
            State::Pending => "pending",
            State::Running => "running",
            State::Delivering | State::Finished(_) | State::Taken => "finished",
            State::Cancelled => "cancelled",
        }
    }

    /// Runs `callback` when the future is done: at once, on this thread, if it is.
    pub(crate) fn add_done_callback(&self, callback: Callback<T>) {
        let mut g = self.inner.lock();
        match g.state {
            State::Pending | State::Running | State::Delivering => {
                g.hooks().callbacks.push(callback);
            }
            State::Cancelled => {
                drop(g);
                self.run_callback(callback, &Err(TaskError::Cancelled));
            }
            State::Finished(_) => {
                // Lend the outcome to the callback outside the lock, as the executor
                // does. Nobody can take it meanwhile: that needs the handle, which the
                // caller is borrowing.
                let State::Finished(stored) = mem::replace(&mut g.state, State::Delivering) else {
                    unreachable!("matched Finished above")
                };
                drop(g);
                self.deliver(stored.map_err(|e| *e), vec![callback]);
            }
            State::Taken => panic!(
                "add_done_callback: the outcome of task {} was already taken by `.await`",
                self.task.id
            ),
        }
    }

    /// Parks until the future is done or `deadline` passes; `true` if done.
    pub(crate) fn wait_done(
        &self,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> bool {
        self.park_until(DONE, deadline, at)
    }

    /// Parks until the outcome is back, and takes it (the handle is being consumed).
    pub(crate) fn take_outcome(&self, at: &'static Location<'static>) -> Result<T, TaskError> {
        // A tiny task is often a few microseconds from done: cheaper to look again than
        // to park and be woken.
        let backoff = Backoff::new();
        while self.phase() < SETTLED && !backoff.is_completed() {
            backoff.snooze();
        }
        self.park_until(SETTLED, None, at);
        let mut g = self.inner.lock();
        let outcome = match mem::replace(&mut g.state, State::Taken) {
            State::Finished(stored) => {
                g.observed = true;
                stored.map_err(|e| *e)
            }
            State::Cancelled => {
                g.state = State::Cancelled;
                Err(TaskError::Cancelled)
            }
            State::Taken => panic!(
                "result: the outcome of task {} was already taken by `.await`",
                self.task.id
            ),
            State::Pending | State::Running | State::Delivering => {
                unreachable!("the phase is SETTLED only once the outcome is in place")
            }
        };
        g.abandoned = true;
        self.advance(g, TAKEN);
        outcome
    }

    /// `std::future::Future::poll`: the outcome if it is back, else remember `waker`.
    pub(crate) fn poll(&self, waker: &Waker) -> Poll<Result<T, TaskError>> {
        let mut g = self.inner.lock();
        match mem::replace(&mut g.state, State::Taken) {
            State::Finished(stored) => {
                g.observed = true;
                Poll::Ready(stored.map_err(|e| *e))
            }
            State::Cancelled => {
                g.state = State::Cancelled;
                Poll::Ready(Err(TaskError::Cancelled))
            }
            State::Taken => panic!(
                "the Future of task {} was polled after it completed",
                self.task.id
            ),
            other => {
                g.state = other;
                match &mut g.hooks().waker {
                    Some(w) if w.will_wake(waker) => {}
                    slot => *slot = Some(waker.clone()),
                }
                Poll::Pending
            }
        }
    }

    /// The `Future` handle is being dropped. An outcome already there is dropped now; a
    /// panic nobody read goes to the excepthook (now, or when the task ends).
    pub(crate) fn abandon(&self) {
        if self.phase() == TAKEN {
            return; // `result` took everything: nothing left to do
        }
        let mut g = self.inner.lock();
        g.abandoned = true;
        if let Some(h) = g.hooks.as_mut() {
            h.waker = None;
        }
        if !matches!(g.state, State::Finished(_)) {
            return;
        }
        let State::Finished(stored) = mem::replace(&mut g.state, State::Taken) else {
            unreachable!("checked above")
        };
        let outcome = stored.map_err(|e| *e);
        let unread = unread_panic(&outcome, g.observed);
        drop(g);
        Settled {
            waker: None,
            unread,
            discarded: Some(outcome),
        }
        .finish();
    }

    /// Starts reporting to `waiter` as future `index`. If the future is already done,
    /// reports nothing and returns whether it failed: the caller reports it itself.
    pub(crate) fn watch(&self, waiter: &Arc<Waiter>, index: usize) -> Option<bool> {
        if let Some(failed) = self.done_failed() {
            return Some(failed);
        }
        let mut g = self.inner.lock();
        if let Some(failed) = self.done_failed() {
            return Some(failed);
        }
        g.hooks().waiters.push((Arc::clone(waiter), index));
        None
    }

    /// `Some(failed)` once the future is done.
    fn done_failed(&self) -> Option<bool> {
        let phase = self.phase.load(Ordering::Acquire);
        (phase & PHASE >= DONE).then_some(phase & FAILED != 0)
    }

    /// Stops reporting to `waiter` (a no-op once the future is done: it reported).
    pub(crate) fn unwatch(&self, waiter: &Arc<Waiter>) {
        if self.is_done() {
            return;
        }
        let mut g = self.inner.lock();
        if let Some(h) = g.hooks.as_mut() {
            h.waiters.retain(|(w, _)| !Arc::ptr_eq(w, waiter));
        }
    }
}

/// Tells each waiter that its future is done.
fn notify(waiters: Vec<(Arc<Waiter>, usize)>, failed: bool) {
    for (waiter, index) in waiters {
        waiter.arrive(index, failed);
    }
}

/// The panic in `outcome`, if nobody has seen it.
fn unread_panic<T>(outcome: &Result<T, TaskError>, observed: bool) -> Option<Panicked> {
    match outcome {
        Err(TaskError::Panicked(p)) if !observed => Some(p.clone()),
        _ => None,
    }
}
