// Layer 5 (sync): the primitives, each parking only through the waiting path (layer 4).
//! The raw reader-writer lock under `RwLock`.
//!
//! | bits of `state`   | meaning                                                          |
//! |-------------------|------------------------------------------------------------------|
//! | `PARKED`          | readers or writers are parked on the lock's key                  |
//! | `WRITER_PARKED`   | the writer holding `WRITER` is parked on key + 1, waiting for readers to leave |
//! | `WRITER`          | a writer holds the lock, or has claimed it and waits for readers |
//! | `n * ONE_READER`  | `n` readers hold the lock                                        |
//!
//! A writer first claims `WRITER` (from then on, new readers wait: writers never starve),
//! then waits for the readers already inside to leave. A releasing writer hands the lock
//! to every parked reader at once, and claims it for the longest-waiting writer, which
//! gets in when those readers leave: readers and writers alternate under contention, so
//! neither side starves.
//!
//! The writer's id is kept beside the state, and each reader notes its read locks (by
//! the lock's id, never reused) in a thread-local list that it publishes when it waits
//! (`graph::reads`): that is how deadlock detection finds who holds a `RwLock`.

use std::cell::Cell;
use std::panic::Location;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU64};
use std::time::Instant;

use parking_lot_core::{FilterOp, ParkResult, ParkToken, UnparkResult, UnparkToken};
use std::sync::atomic::AtomicU64 as PlainAtomicU64;

use super::label::Label;
use crate::deadlock::error::DeadlockError;
use crate::deadlock::lock_order::{self, ClassSlot};
use crate::graph::reads;
use crate::loom::SpinWait;
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::thread::registry;
use crate::wait::{self, Holder, Queued, Wait, Waitable};

const PARKED: usize = 0b001;
const WRITER_PARKED: usize = 0b010;
const WRITER: usize = 0b100;
const ONE_READER: usize = 0b1000;
const READERS: usize = !(ONE_READER - 1);

const TOKEN_NORMAL: UnparkToken = UnparkToken(0);
const TOKEN_HANDOFF: UnparkToken = UnparkToken(1);

/// A waiter's own bit of its park token: whether it wants to write.
fn token(writer: bool) -> ParkToken {
    ParkToken(writer as usize)
}
fn wants_to_write(q: Queued<'_>) -> bool {
    q.bits() & 1 == 1
}

pub(crate) struct RawRwLock {
    state: AtomicUsize,
    /// This lock's id for deadlock detection's reader index, given on first read (0:
    /// not yet). Never reused, unlike the lock's address.
    id: PlainAtomicU64,
    /// The id of the thread holding `WRITER`, 0 if none (written just after claiming it).
    writer: AtomicU64,
    writer_at: AtomicPtr<Location<'static>>,
    pub(crate) label: Label,
    /// Its lock class, for `Detection::LockOrder`.
    class: ClassSlot,
}

/// The three ways to wait on the lock, each held up by different threads.
#[derive(Clone, Copy)]
enum Phase {
    /// A reader, kept out by the writer holding `WRITER`.
    Read,
    /// A writer, kept out by the writer holding `WRITER`.
    Claim,
    /// A writer holding `WRITER`, waiting for the readers inside to leave.
    Drain,
}

struct PhaseWait<'a> {
    lock: &'a RawRwLock,
    phase: Phase,
}

impl Waitable for PhaseWait<'_> {
    fn describe(&self) -> String {
        self.lock.label.describe("RwLock")
    }

    fn description(&self) -> Arc<str> {
        self.lock.label.description("RwLock")
    }

    fn holders(&self, _waiter: u64, out: &mut Vec<Holder>) {
        match self.phase {
            Phase::Read | Phase::Claim => {
                // Acquire: pairs with a hand-off's store, made after the waker marked the
                // waits it ended (see `graph::current_holders`).
                let writer = self.lock.writer.load(Ordering::Acquire);
                if writer != 0 {
                    let at = self.lock.writer_at.load(Ordering::Relaxed);
                    out.push(Holder::owner(
                        writer,
                        // SAFETY: only null or `&'static Location`s are stored.
                        unsafe { at.as_ref() },
                    ));
                }
            }
            Phase::Drain => reads::readers_of(self.lock.id(), out),
        }
    }
}

#[cold]
#[inline(never)]
fn too_many_readers() -> ! {
    panic!("RwLock: too many readers at once")
}

impl Drop for RawRwLock {
    fn drop(&mut self) {
        // Held while dropped: a guard was forgotten, and its lock-order entry must go.
        if self.is_locked() {
            lock_order::forgotten(&self.class);
        }
    }
}

impl RawRwLock {
    pub(crate) const fn new(label: Label) -> RawRwLock {
        RawRwLock {
            state: AtomicUsize::new(0),
            id: PlainAtomicU64::new(0),
            writer: AtomicU64::new(0),
            writer_at: AtomicPtr::new(ptr::null_mut()),
            label,
            class: ClassSlot::new(),
        }
    }

    fn key(&self) -> usize {
        self as *const RawRwLock as usize
    }

    fn drain_key(&self) -> usize {
        self.key() + 1
    }

    /// This lock's id in the reader index (see the `id` field).
    #[inline]
    fn id(&self) -> u64 {
        let id = self.id.load(std::sync::atomic::Ordering::Relaxed);
        if id != 0 { id } else { self.give_id() }
    }

    #[cold]
    fn give_id(&self) -> u64 {
        let fresh = reads::new_lock_id();
        match self.id.compare_exchange(
            0,
            fresh,
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        ) {
            Ok(_) => fresh,
            Err(given) => given,
        }
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (WRITER | READERS) != 0
    }

    #[inline]
    fn note_read(&self, at: &'static Location<'static>, ordered: bool) {
        if !cfg!(loom) {
            reads::note_read(self.id(), at);
        }
        self.note_order(at, ordered);
    }

    fn note_writer(&self, me: u64, at: &'static Location<'static>, ordered: bool) {
        self.writer_at
            .store(at as *const Location<'static> as *mut _, Ordering::Relaxed);
        self.writer.store(me, Ordering::Relaxed);
        self.note_order(at, ordered);
    }

    #[inline]
    fn note_order(&self, at: &'static Location<'static>, ordered: bool) {
        if lock_order::enabled() {
            lock_order::acquired(self.key(), "RwLock", &self.label, &self.class, ordered, at);
        }
    }

    #[inline]
    fn note_released(&self) {
        if lock_order::enabled() {
            lock_order::released(self.key());
        }
    }

    #[inline]
    fn add_reader(s: usize) -> usize {
        match s.checked_add(ONE_READER) {
            Some(s) => s,
            None => too_many_readers(),
        }
    }

    // ---- reading ----

    /// Takes a read lock if no writer holds or waits for the lock (no bookkeeping).
    #[inline]
    fn try_read_raw(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & WRITER == 0 {
            match self.state.compare_exchange_weak(
                s,
                Self::add_reader(s),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => s = x,
            }
        }
        false
    }

    #[inline]
    pub(crate) fn try_read(&self, at: &'static Location<'static>) -> bool {
        let got = self.try_read_raw();
        if got {
            self.note_read(at, false);
        }
        got
    }

    #[inline]
    pub(crate) fn read(
        &self,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> Result<bool, DeadlockError> {
        if self.try_read_raw() {
            self.note_read(at, deadline.is_none());
            return Ok(true);
        }
        self.read_slow(deadline, at)
    }

    #[cold]
    fn read_slow(
        &self,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> Result<bool, DeadlockError> {
        let on = PhaseWait {
            lock: self,
            phase: Phase::Read,
        };
        let wait = Wait::lock(&on, deadline, true, at);
        let started = wait::contention_started();
        let mut spin = SpinWait::new();
        loop {
            if self.try_read_raw() {
                self.note_read(at, deadline.is_none());
                wait::contended_acquire(&on, started);
                return Ok(true);
            }
            let s = self.state.load(Ordering::Relaxed);
            if s & WRITER == 0 {
                continue;
            }
            if s & PARKED == 0 && spin.spin() {
                continue;
            }
            if s & PARKED == 0
                && self
                    .state
                    .compare_exchange_weak(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let validate = || {
                let s = self.state.load(Ordering::Relaxed);
                s & WRITER != 0 && s & PARKED != 0
            };
            match self.park_on(&wait, self.key(), validate, PARKED, token(false), deadline)? {
                ParkResult::Unparked(TOKEN_HANDOFF) => {
                    // The releasing writer counted us in.
                    self.note_read(at, deadline.is_none());
                    wait::contended_acquire(&on, started);
                    return Ok(true);
                }
                ParkResult::TimedOut => return Ok(false),
                _ => spin.reset(),
            }
        }
    }

    /// Releases one read lock.
    ///
    /// # Safety
    /// The calling thread must hold a read lock.
    #[inline]
    pub(crate) unsafe fn unlock_read(&self) {
        self.note_released();
        if !cfg!(loom) {
            reads::note_unread(self.id());
        }
        let s = self.state.fetch_sub(ONE_READER, Ordering::Release);
        if s & READERS == ONE_READER && s & WRITER_PARKED != 0 {
            self.wake_drained_writer();
        }
    }

    #[cold]
    fn wake_drained_writer(&self) {
        wait::unpark_one(self.drain_key(), |_| {
            self.state.fetch_and(!WRITER_PARKED, Ordering::Relaxed);
            TOKEN_NORMAL
        });
    }

    // ---- writing ----

    #[inline]
    pub(crate) fn try_write(&self, at: &'static Location<'static>) -> bool {
        let me = registry::current_id();
        if self
            .state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.note_writer(me, at, false);
            true
        } else {
            false
        }
    }

    #[inline]
    pub(crate) fn write(
        &self,
        deadline: Option<Instant>,
        check: bool,
        at: &'static Location<'static>,
    ) -> Result<bool, DeadlockError> {
        let me = registry::current_id();
        if self
            .state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.note_writer(me, at, check && deadline.is_none());
            return Ok(true);
        }
        self.write_slow(deadline, check, at)
    }

    #[cold]
    fn write_slow(
        &self,
        deadline: Option<Instant>,
        check: bool,
        at: &'static Location<'static>,
    ) -> Result<bool, DeadlockError> {
        let me = registry::current_id();
        let started = wait::contention_started();
        if !self.claim(me, deadline, check, at)? {
            return Ok(false);
        }
        match self.drain(deadline, check, at) {
            Ok(true) => {
                let on = PhaseWait {
                    lock: self,
                    phase: Phase::Claim,
                };
                wait::contended_acquire(&on, started);
                Ok(true)
            }
            other => {
                // Timed out or deadlocked waiting for readers: give the claim back.
                self.note_released();
                self.release_writer();
                other
            }
        }
    }

    /// Phase 1: takes `WRITER`, after which no new reader gets in.
    fn claim(
        &self,
        me: u64,
        deadline: Option<Instant>,
        check: bool,
        at: &'static Location<'static>,
    ) -> Result<bool, DeadlockError> {
        let on = PhaseWait {
            lock: self,
            phase: Phase::Claim,
        };
        let wait = Wait::lock(&on, deadline, check, at);
        let mut spin = SpinWait::new();
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & WRITER == 0 {
                if self
                    .state
                    .compare_exchange_weak(s, s | WRITER, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.note_writer(me, at, wait.check);
                    return Ok(true);
                }
                continue;
            }
            if s & PARKED == 0 && spin.spin() {
                continue;
            }
            if s & PARKED == 0
                && self
                    .state
                    .compare_exchange_weak(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let validate = || {
                let s = self.state.load(Ordering::Relaxed);
                s & WRITER != 0 && s & PARKED != 0
            };
            match self.park_on(&wait, self.key(), validate, PARKED, token(true), deadline)? {
                ParkResult::Unparked(TOKEN_HANDOFF) => {
                    // The releasing writer gave us `WRITER` and recorded us as its holder.
                    self.note_writer(me, at, wait.check);
                    return Ok(true);
                }
                ParkResult::TimedOut => return Ok(false),
                _ => spin.reset(),
            }
        }
    }

    /// Phase 2: holding `WRITER`, waits for the readers inside to leave.
    fn drain(
        &self,
        deadline: Option<Instant>,
        check: bool,
        at: &'static Location<'static>,
    ) -> Result<bool, DeadlockError> {
        let on = PhaseWait {
            lock: self,
            phase: Phase::Drain,
        };
        let wait = Wait::lock(&on, deadline, check, at);
        let mut spin = SpinWait::new();
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s & READERS == 0 {
                return Ok(true);
            }
            if spin.spin() {
                continue;
            }
            if s & WRITER_PARKED == 0
                && self
                    .state
                    .compare_exchange_weak(
                        s,
                        s | WRITER_PARKED,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_err()
            {
                continue;
            }
            let validate = || {
                let s = self.state.load(Ordering::Relaxed);
                s & READERS != 0 && s & WRITER_PARKED != 0
            };
            let token = token(true);
            if let ParkResult::TimedOut = self.park_on(
                &wait,
                self.drain_key(),
                validate,
                WRITER_PARKED,
                token,
                deadline,
            )? {
                return Ok(self.state.load(Ordering::Acquire) & READERS == 0);
            }
        }
    }

    /// Releases the write lock (or a writer's claim given up before it got in).
    ///
    /// # Safety
    /// The calling thread must hold the write lock.
    #[inline]
    pub(crate) unsafe fn unlock_write(&self) {
        self.note_released();
        self.writer.store(0, Ordering::Relaxed);
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.release_writer();
        }
    }

    /// Clears `WRITER` and hands the lock on: to every parked reader at once, and then to
    /// the longest-waiting writer (which, if readers got in, waits for them to leave).
    ///
    /// Both hand-overs change `state` with a CAS loop, not a store: threads that are not
    /// parked may change it meanwhile (readers leaving after a writer gave up waiting for
    /// them; readers and writers getting in once `WRITER` is clear).
    #[cold]
    fn release_writer(&self) {
        self.writer.store(0, Ordering::Relaxed);
        wait::unpark_filter(
            self.key(),
            |t| {
                if wants_to_write(t) {
                    FilterOp::Skip
                } else {
                    FilterOp::Unpark
                }
            },
            |result: UnparkResult| {
                let more = if result.have_more_threads { PARKED } else { 0 };
                let readers = result.unparked_threads * ONE_READER;
                let _ = self
                    .state
                    .fetch_update(Ordering::Release, Ordering::Relaxed, |s| {
                        Some(((s & !(WRITER | PARKED)) | more) + readers)
                    });
                if result.unparked_threads > 0 {
                    TOKEN_HANDOFF
                } else {
                    TOKEN_NORMAL
                }
            },
        );
        // Even when readers were just let in: a writer parked here waits for `WRITER`
        // to clear, and nothing else would wake it (a leaving reader wakes only a writer
        // that already holds `WRITER` and waits for readers to drain).
        let next = Cell::new(None);
        wait::unpark_filter(
            self.key(),
            |t| {
                if next.get().is_none() && wants_to_write(t) {
                    next.set(Some(t.thread()));
                    FilterOp::Unpark
                } else if next.get().is_none() {
                    FilterOp::Skip
                } else {
                    FilterOp::Stop
                }
            },
            |result: UnparkResult| {
                let Some(id) = next.get().filter(|_| result.unparked_threads > 0) else {
                    if result.have_more_threads {
                        self.state.fetch_or(PARKED, Ordering::Release);
                    } else {
                        self.state.fetch_and(!PARKED, Ordering::Release);
                    }
                    return TOKEN_NORMAL;
                };
                let mut handoff = false;
                let _ = self
                    .state
                    .fetch_update(Ordering::Release, Ordering::Relaxed, |s| {
                        let s = if result.have_more_threads {
                            s | PARKED
                        } else {
                            s & !PARKED
                        };
                        // A writer that got in meanwhile keeps `WRITER`; ours then retries.
                        handoff = s & WRITER == 0;
                        Some(if handoff { s | WRITER } else { s })
                    });
                if handoff {
                    self.writer_at.store(ptr::null_mut(), Ordering::Relaxed);
                    self.writer.store(id, Ordering::Release);
                    TOKEN_HANDOFF
                } else {
                    TOKEN_NORMAL
                }
            },
        );
    }

    /// Parks through the waiting path; on timeout, clears `bit` if we were the last.
    fn park_on(
        &self,
        wait: &Wait<'_>,
        key: usize,
        validate: impl FnOnce() -> bool,
        bit: usize,
        token: ParkToken,
        deadline: Option<Instant>,
    ) -> Result<ParkResult, DeadlockError> {
        let timed_out = |_, was_last: bool| {
            if was_last {
                self.state.fetch_and(!bit, Ordering::Relaxed);
            }
        };
        wait::park(wait, key, validate, || {}, timed_out, token, deadline)
    }
}
