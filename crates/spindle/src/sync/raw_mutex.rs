// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! The raw mutual-exclusion lock under `Mutex`, `ReentrantMutex` and every internal lock.
//!
//! One `AtomicU64` holds both the owner and whether anyone is parked:
//!
//! | state                 | meaning                                              |
//! |-----------------------|------------------------------------------------------|
//! | `0`                   | free, nobody parked                                  |
//! | `PARKED`              | free, threads parked (an unlock is waking one)       |
//! | `id << 1`             | held by thread `id`, nobody parked                   |
//! | `id << 1 \| PARKED`   | held by thread `id`, threads parked                  |
//!
//! Keeping the owner in the lock word is what lets deadlock detection find who holds a
//! lock without the fast path doing anything but its one compare-and-swap. The protocol
//! is parking_lot's `RawMutex`: spin a little, set `PARKED`, park; an unlock that sees
//! `PARKED` wakes one thread, and hands the lock over directly when `parking_lot_core`
//! says it is time to be fair (about every 0.5 ms), so no waiter starves.

use std::cell::Cell;
use std::panic::Location;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::AtomicPtr;
use std::time::Instant;

use parking_lot_core::{DEFAULT_PARK_TOKEN, FilterOp, ParkResult, UnparkToken};

use super::label::Label;
use crate::deadlock::error::DeadlockError;
use crate::deadlock::lock_order::{self, ClassSlot};
use crate::loom::SpinWait;
use crate::loom::atomic::{AtomicU64, Ordering};
use crate::thread::registry;
use crate::wait::{self, Holder, Queued, Wait, Waitable};

const PARKED: u64 = 1;
const TOKEN_NORMAL: UnparkToken = UnparkToken(0);
/// The unlocker made the woken thread the owner.
const TOKEN_HANDOFF: UnparkToken = UnparkToken(1);

pub(crate) struct RawMutex {
    /// Owner id shifted left once, or-ed with `PARKED`: see the table above.
    state: AtomicU64,
    /// Where the owner acquired the lock; meaningful only while the lock is held.
    acquired_at: AtomicPtr<Location<'static>>,
    pub(crate) label: Label,
    /// `"Mutex"`, `"ReentrantMutex"`, …: how reports call this lock.
    kind: &'static str,
    /// Its lock class, for `Detection::LockOrder`.
    class: ClassSlot,
    /// A primitive's own state lock (see `Waitable::transient`): never checked for cycles.
    internal: bool,
}

impl RawMutex {
    pub(crate) const fn new(kind: &'static str, label: Label) -> RawMutex {
        RawMutex {
            state: AtomicU64::new(0),
            acquired_at: AtomicPtr::new(ptr::null_mut()),
            label,
            kind,
            class: ClassSlot::new(),
            internal: false,
        }
    }

    /// A primitive's own state lock: held only briefly and never while waiting.
    pub(crate) const fn new_internal(kind: &'static str, label: Label) -> RawMutex {
        let mut raw = RawMutex::new(kind, label);
        raw.internal = true;
        raw
    }

    fn key(&self) -> usize {
        self as *const RawMutex as usize
    }

    /// The owner's thread id, or 0 when free.
    #[inline]
    pub(crate) fn owner(&self) -> u64 {
        self.state.load(Ordering::Relaxed) >> 1
    }

    /// Whether this is a primitive's own state lock (see `new_internal`).
    pub(crate) fn is_internal(&self) -> bool {
        self.internal
    }

    /// Records where the lock was taken; `ordered` says whether the acquisition sets a
    /// lock order (not for try-locks, timed or internal re-locks). A primitive's own
    /// state lock takes no part in lock-order checking: it is never held across a wait.
    #[inline]
    fn note_acquired(&self, at: &'static Location<'static>, ordered: bool) {
        self.acquired_at
            .store(at as *const Location<'static> as *mut _, Ordering::Relaxed);
        if lock_order::enabled() && !self.internal {
            lock_order::acquired(self.key(), self.kind, &self.label, &self.class, ordered, at);
        }
    }

    #[inline]
    fn note_released(&self) {
        if lock_order::enabled() && !self.internal {
            lock_order::released(self.key());
        }
    }

    /// Acquires the lock; `Err` (without acquiring) if waiting would close a cycle.
    #[inline]
    pub(crate) fn lock(&self, at: &'static Location<'static>) -> Result<(), DeadlockError> {
        let me = registry::current_id();
        if self
            .state
            .compare_exchange_weak(0, me << 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.note_acquired(at, true);
            return Ok(());
        }
        self.lock_slow(me, None, !self.internal, at).map(|_| ())
    }

    /// Acquires the lock without a deadlock check: for a primitive re-taking its own
    /// internal lock, which is never held while its holder waits on anything.
    pub(crate) fn lock_internal(&self, at: &'static Location<'static>) {
        let me = registry::current_id();
        if self
            .state
            .compare_exchange_weak(0, me << 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.note_acquired(at, false);
            return;
        }
        let _ = self.lock_slow(me, None, false, at);
    }

    /// Acquires the lock if it is free right now.
    #[inline]
    pub(crate) fn try_lock(&self, at: &'static Location<'static>) -> bool {
        let me = registry::current_id();
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s >> 1 != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | me << 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.note_acquired(at, false);
                    return true;
                }
                Err(x) => s = x,
            }
        }
    }

    /// Acquires the lock unless `deadline` passes first (no deadlock check: it ends by itself).
    pub(crate) fn try_lock_until(&self, deadline: Instant, at: &'static Location<'static>) -> bool {
        if self.try_lock(at) {
            return true;
        }
        let me = registry::current_id();
        matches!(self.lock_slow(me, Some(deadline), false, at), Ok(true))
    }

    #[cold]
    fn lock_slow(
        &self,
        me: u64,
        deadline: Option<Instant>,
        check: bool,
        at: &'static Location<'static>,
    ) -> Result<bool, DeadlockError> {
        let wait = Wait::lock(self, deadline, check, at);
        let started = wait::contention_started();
        let mut spin = SpinWait::new();
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s >> 1 == 0 {
                match self.state.compare_exchange_weak(
                    s,
                    s | me << 1,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        self.note_acquired(at, check);
                        wait::contended_acquire(self, started);
                        return Ok(true);
                    }
                    Err(x) => s = x,
                }
                continue;
            }
            // Held: spin a little while nobody is parked, then announce that we park.
            if s & PARKED == 0 && spin.spin() {
                s = self.state.load(Ordering::Relaxed);
                continue;
            }
            if s & PARKED == 0 {
                if let Err(x) = self.state.compare_exchange_weak(
                    s,
                    s | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    s = x;
                    continue;
                }
            }
            let validate = || {
                let s = self.state.load(Ordering::Relaxed);
                s >> 1 != 0 && s & PARKED != 0
            };
            let timed_out = |_, was_last: bool| {
                if was_last {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            };
            match wait::park(
                &wait,
                self.key(),
                validate,
                || {},
                timed_out,
                DEFAULT_PARK_TOKEN,
                deadline,
            )? {
                ParkResult::Unparked(TOKEN_HANDOFF) => {
                    self.note_acquired(at, check);
                    wait::contended_acquire(self, started);
                    return Ok(true);
                }
                ParkResult::TimedOut => return Ok(false),
                _ => {}
            }
            spin.reset();
            s = self.state.load(Ordering::Relaxed);
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The calling thread must hold the lock.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        self.note_released();
        let s = self.state.load(Ordering::Relaxed);
        if s & PARKED == 0
            && self
                .state
                .compare_exchange(s, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        self.unlock_slow(false);
    }

    /// Releases the lock, handing it to the longest waiter if there is one.
    ///
    /// # Safety
    /// The calling thread must hold the lock.
    pub(crate) unsafe fn unlock_fair(&self) {
        self.note_released();
        let s = self.state.load(Ordering::Relaxed);
        if s & PARKED == 0
            && self
                .state
                .compare_exchange(s, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        self.unlock_slow(true);
    }

    #[cold]
    fn unlock_slow(&self, force_fair: bool) {
        // The woken thread's id comes with its park token, so a hand-off can name the new
        // owner. The waiting path marks its wait over before the callback below hands it
        // the lock, so no search reads it as waiting for a lock it owns.
        let woken = Cell::new(None);
        let filter = |queued: Queued<'_>| {
            if woken.get().is_none() {
                woken.set(Some(queued.thread()));
                FilterOp::Unpark
            } else {
                FilterOp::Stop
            }
        };
        let callback = |result: parking_lot_core::UnparkResult| {
            let more = if result.have_more_threads { PARKED } else { 0 };
            match woken.get() {
                Some(next) if result.unparked_threads != 0 && (force_fair || result.be_fair) => {
                    // Where the new owner took it is unknown until it wakes and says:
                    // never the previous owner's site.
                    self.acquired_at.store(ptr::null_mut(), Ordering::Relaxed);
                    self.state.store(next << 1 | more, Ordering::Release);
                    TOKEN_HANDOFF
                }
                _ => {
                    self.state.store(more, Ordering::Release);
                    TOKEN_NORMAL
                }
            }
        };
        wait::unpark_filter(self.key(), filter, callback);
    }
}

impl Drop for RawMutex {
    fn drop(&mut self) {
        // Held while dropped: a guard was forgotten, and its lock-order entry must go.
        if self.owner() != 0 && !self.internal {
            lock_order::forgotten(&self.class);
        }
    }
}

impl Waitable for RawMutex {
    fn describe(&self) -> String {
        self.label.describe(self.kind)
    }

    fn description(&self) -> Arc<str> {
        self.label.description(self.kind)
    }

    fn transient(&self) -> bool {
        self.internal
    }

    fn holders(&self, _waiter: u64, out: &mut Vec<Holder>) {
        // Acquire: pairs with a hand-off's store, made after the waker marked the new
        // owner's wait over (see `graph::current_holders`).
        let owner = self.state.load(Ordering::Acquire) >> 1;
        if owner != 0 {
            let at = self.acquired_at.load(Ordering::Relaxed);
            out.push(Holder::owner(
                owner,
                // SAFETY: only null or `&'static Location`s are ever stored.
                unsafe { at.as_ref() },
            ));
        }
    }
}
