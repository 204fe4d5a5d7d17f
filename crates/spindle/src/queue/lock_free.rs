// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! A first-in, first-out queue with CPython's semantics over lock-free [`Storage`]: a
//! [`Ring`](super::ring::Ring) for `Queue::bounded(n)` when its slots are few enough to
//! allocate up front, a [`List`](super::list::List) of blocks for `Queue::new()` (see
//! `super::fifo`).
//!
//! Per item, `put` and `get` do what crossbeam-channel's channels do and no more: one
//! CAS to reserve a slot, the item, one store to publish it, and one load of the count
//! of threads parked on the other side (the wake-up is skipped when it is 0). Python's
//! extras cost nothing per item:
//! * the unfinished-task count is not kept but derived: the tail tallies every push,
//!   and `done` counts `task_done` calls (and the items `shutdown(immediate)` dropped),
//!   so unfinished = pushes - done, computed only by `task_done`, `join` and readers;
//! * `shutdown` is a mark in the tail that the CAS of every push already reads;
//! * thread states and wait-for edges are published by the waiting path, only when a
//!   thread parks.
//!
//! A call that finds the queue empty or full backs off (spins, then yields) re-trying,
//! then parks on one of three [`Sleepers`] through the crate's waiting path.

use std::fmt;
use std::panic::Location;

use crossbeam_utils::CachePadded;

use super::channel::{Block, passed};
use super::error::{GetError, PutError, TaskDoneError};
use super::sleepers::Sleepers;
use super::storage::{PopError, PushError, Storage, created};
use crate::loom::Backoff;
use crate::loom::atomic::{AtomicU64, Ordering};
use crate::sync::label::{Label, Labelled};
use crate::wait::Wait;

/// How reports name the type.
const KIND: &str = "Queue";

pub(crate) struct LockFree<S> {
    items: S,
    /// `task_done` calls so far, plus the items `shutdown(immediate)` dropped, as a tally
    /// comparable to the storage's tally of pushes. Never more than the pushes:
    /// unfinished = pushes - done.
    done: CachePadded<AtomicU64>,
    /// Getters waiting for an item; woken by `put`.
    not_empty: CachePadded<Sleepers>,
    /// Putters waiting for room; woken by `get`.
    not_full: CachePadded<Sleepers>,
    /// Joiners waiting for unfinished tasks to reach 0; woken by `task_done`.
    all_done: Sleepers,
    label: Label,
}

impl<S: Storage> LockFree<S> {
    pub(crate) fn new(items: S, label: Label) -> Self {
        LockFree {
            items,
            done: CachePadded::new(created!(AtomicU64::new(0))),
            not_empty: CachePadded::new(Sleepers::new()),
            not_full: CachePadded::new(Sleepers::new()),
            all_done: Sleepers::new(),
            label,
        }
    }

    #[inline]
    #[track_caller]
    pub(crate) fn put(&self, item: S::Item, block: Block) -> Result<(), PutError<S::Item>> {
        match self.items.try_push(item) {
            Ok(()) => {
                self.not_empty.wake_one();
                Ok(())
            }
            Err(PushError::Shut(item)) => Err(PutError::ShutDown(item)),
            Err(PushError::Full(item)) => self.put_slow(item, block),
        }
    }

    /// `put` on a full queue: backs off, then parks, until there is room, the queue is
    /// shut down, or `block` runs out.
    #[cold]
    #[track_caller]
    fn put_slow(&self, mut item: S::Item, block: Block) -> Result<(), PutError<S::Item>> {
        let deadline = match block {
            Block::No => return Err(PutError::Full(item)),
            Block::Forever => None,
            Block::Until(deadline) => Some(deadline),
        };
        let at = Location::caller();
        let backoff = Backoff::new();
        loop {
            if passed(deadline) {
                return Err(PutError::Full(item));
            }
            if backoff.is_completed() {
                let on = self.described();
                let wait = Wait::waiting(&on, deadline, at);
                self.not_full
                    .park(&wait, || self.items.waits_for_room(), deadline);
            } else {
                backoff.snooze();
            }
            match self.items.try_push(item) {
                Ok(()) => {
                    self.not_empty.wake_one();
                    return Ok(());
                }
                Err(PushError::Shut(back)) => return Err(PutError::ShutDown(back)),
                Err(PushError::Full(back)) => item = back,
            }
        }
    }

    #[inline]
    #[track_caller]
    pub(crate) fn get(&self, block: Block) -> Result<S::Item, GetError> {
        match self.items.try_pop() {
            Ok(item) => {
                self.not_full.wake_one();
                Ok(item)
            }
            Err(PopError::Shut) => Err(GetError::ShutDown),
            Err(PopError::Empty) => self.get_slow(block),
        }
    }

    /// `get` on an empty queue: backs off, then parks, until there is an item, the queue
    /// is shut down, or `block` runs out.
    #[cold]
    #[track_caller]
    fn get_slow(&self, block: Block) -> Result<S::Item, GetError> {
        let deadline = match block {
            Block::No => return Err(GetError::Empty),
            Block::Forever => None,
            Block::Until(deadline) => Some(deadline),
        };
        let at = Location::caller();
        let backoff = Backoff::new();
        loop {
            if passed(deadline) {
                return Err(GetError::Empty);
            }
            if backoff.is_completed() {
                let on = self.described();
                let wait = Wait::waiting(&on, deadline, at);
                self.not_empty
                    .park(&wait, || self.items.waits_for_items(), deadline);
            } else {
                backoff.snooze();
            }
            match self.items.try_pop() {
                Ok(item) => {
                    self.not_full.wake_one();
                    return Ok(item);
                }
                Err(PopError::Shut) => return Err(GetError::ShutDown),
                Err(PopError::Empty) => {}
            }
        }
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let l = self.items.tally();
        loop {
            let (pushes, done) = self.tasks();
            let unfinished = l.sub(pushes, done);
            if unfinished == 0 {
                return Err(TaskDoneError);
            }
            // Pushes only grow, so if `done` has not moved, `unfinished` is at least what
            // was read (a drain that settled in between moved `done`, failing the CAS).
            let next = l.add(done, 1);
            if self
                .done
                .compare_exchange(done, next, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                if unfinished == 1 {
                    self.all_done.wake_all();
                }
                return Ok(());
            }
        }
    }

    /// Waits until every item put has been marked done; `false` if `block` ran out first.
    #[track_caller]
    pub(crate) fn join(&self, block: Block) -> bool {
        if self.all_tasks_done_now() {
            return true;
        }
        let deadline = match block {
            Block::No => return false,
            Block::Forever => None,
            Block::Until(deadline) => Some(deadline),
        };
        let on = self.described();
        let wait = Wait::waiting(&on, deadline, Location::caller());
        loop {
            if passed(deadline) {
                return false;
            }
            self.all_done
                .park(&wait, || !self.all_tasks_done_now(), deadline);
            if self.all_tasks_done_now() {
                return true;
            }
        }
    }

    /// Whether one consistent reading shows no unfinished task; `false` when the reading
    /// is not consistent (a wait then parks, and whatever moved will wake it).
    fn all_tasks_done_now(&self) -> bool {
        let tail = self.items.tail();
        let done = self.done.load(Ordering::SeqCst);
        !self.items.is_draining(tail)
            && self.items.tail() == tail
            && self.items.pushes(tail) == done
    }

    /// The tallies of pushes and of tasks done, read together: `tail` on both sides of
    /// `done`, unchanged, and no drain under way.
    fn tasks(&self) -> (u64, u64) {
        loop {
            let tail = self.items.settled_tail();
            let done = self.done.load(Ordering::SeqCst);
            if self.items.tail() == tail {
                return (self.items.pushes(tail), done);
            }
        }
    }

    pub(crate) fn shutdown(&self, immediate: bool) {
        let mut dropped = None;
        if immediate {
            if let Some((items, pushes)) = self.items.close_and_drain() {
                let l = self.items.tally();
                let n = items.len() as u64;
                // As in CPython, each item dropped counts as done, but the count of
                // unfinished tasks never goes below 0 (a task may be marked done while its
                // item is still queued).
                let settle = |done| Some(l.add(done, n.min(l.sub(pushes, done))));
                let _ = self
                    .done
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, settle);
                self.items.end_drain();
                dropped = Some(items);
            }
            self.all_done.wake_all();
        } else {
            self.items.close();
        }
        self.not_empty.wake_all();
        self.not_full.wake_all();
        // Last: an item's `Drop` may block or use this queue.
        drop(dropped);
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.items.is_shut()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_full_now(&self) -> bool {
        self.items.maxsize() == Some(self.items.len())
    }

    pub(crate) fn unfinished_tasks(&self) -> usize {
        let (pushes, done) = self.tasks();
        self.items.tally().sub(pushes, done) as usize
    }

    pub(crate) fn maxsize(&self) -> Option<usize> {
        self.items.maxsize()
    }

    fn described(&self) -> Labelled<'_> {
        Labelled {
            kind: KIND,
            label: &self.label,
        }
    }
}

impl<S: Storage> fmt::Debug for LockFree<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(KIND)
            .field("name", &self.label)
            .field("len", &self.len())
            .field("maxsize", &self.maxsize())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}
