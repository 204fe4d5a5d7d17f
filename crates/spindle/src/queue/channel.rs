// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! The one implementation under `Queue`, `LifoQueue` and `PriorityQueue`: CPython's
//! `queue.Queue` (a lock, three conditions sharing it, a count of unfinished tasks and a
//! shutdown flag), generic over where the items are kept (`Order`).
//!
//! `Queue` uses it when its `maxsize` is too large for a ring (see `super::fifo`);
//! `LifoQueue` and `PriorityQueue` always.
//!
//! Two things make it fast without leaving the crate's one waiting path:
//! * a thread about to park first backs off briefly, lock released, and looks again:
//!   between a producer and a consumer running at the same pace the queue is seldom
//!   empty or full for long, and a spin costs far less than a park and a wake-up;
//! * `put` and `get` wake the other side only if some thread is parked there, counted
//!   under the lock, so the common case never touches the parking table.
//!
//! Its buffer grows as items come, and `get` gives memory back once the items fall to a
//! quarter of the room (see `give_back`), so a queue that once held millions of items
//! does not keep their memory once drained.

use std::fmt;
use std::mem::size_of;
use std::panic::Location;
use std::time::Instant;

use crossbeam_utils::{Backoff, CachePadded};

use super::error::{GetError, PutError, TaskDoneError};
use super::order::Order;
use crate::sync::label::{Label, Labelled};
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::wait::Wait;

/// How long an operation may wait for the queue to be ready.
#[derive(Clone, Copy)]
pub(crate) enum Block {
    /// Not at all (`try_put`, `try_get`).
    No,
    Forever,
    Until(Instant),
}

/// Which of the queue's three waits a thread is in.
#[derive(Clone, Copy)]
enum Waiter {
    /// In `get`, for an item (or shutdown).
    Getter,
    /// In `put`, for room (or shutdown).
    Putter,
    /// In `join`, for every task to be done.
    Joiner,
}

struct State<O> {
    items: O,
    /// Items put and not yet marked done (Python's `unfinished_tasks`).
    unfinished: usize,
    shutdown: bool,
    /// Threads parked (or about to park) in `get` and in `put`: a `put` or `get` that
    /// finds none skips the wake-up.
    parked_getters: usize,
    parked_putters: usize,
}

type Guard<'a, O> = MutexGuard<'a, State<O>>;

/// A queue of `O::Item`s in the order `O` keeps.
pub(crate) struct Channel<O: Order> {
    /// On a cache line of its own: producers and consumers take turns writing it.
    state: CachePadded<Mutex<State<O>>>,
    not_empty: Condvar,
    not_full: Condvar,
    all_done: Condvar,
    maxsize: Option<usize>,
    label: Label,
}

impl<O: Order> Channel<O> {
    /// A queue holding at most `maxsize` items (`None`: unbounded).
    ///
    /// # Panics
    /// If `maxsize` is `Some(0)`: nothing could ever be put.
    #[track_caller]
    pub(crate) fn new(maxsize: Option<usize>, label: Label) -> Self {
        assert!(
            maxsize != Some(0),
            "{kind}::bounded: maxsize must be at least 1 (got 0); \
             {kind}::new() makes an unbounded queue",
            kind = O::KIND,
        );
        let state = State {
            items: O::default(),
            unfinished: 0,
            shutdown: false,
            parked_getters: 0,
            parked_putters: 0,
        };
        Channel {
            // Created here, the lock carries the queue's creation site (or its name).
            state: CachePadded::new(match &label {
                Label::Named(name) => Mutex::named(name.to_string(), state),
                Label::Created(_) => Mutex::new(state),
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            all_done: Condvar::new(),
            maxsize,
            label,
        }
    }

    #[track_caller]
    pub(crate) fn put(&self, item: O::Item, block: Block) -> Result<(), PutError<O::Item>> {
        let st = self.state.lock();
        let (mut st, room) = self.wait_while(st, Waiter::Putter, block, |s| {
            !s.shutdown && self.is_full(s)
        });
        if st.shutdown {
            return Err(PutError::ShutDown(item));
        }
        if !room {
            return Err(PutError::Full(item));
        }
        st.items.push(item);
        st.unfinished += 1;
        let wake = st.parked_getters > 0;
        drop(st);
        if wake {
            self.not_empty.notify(1);
        }
        Ok(())
    }

    #[track_caller]
    pub(crate) fn get(&self, block: Block) -> Result<O::Item, GetError> {
        let st = self.state.lock();
        let (mut st, _) = self.wait_while(st, Waiter::Getter, block, |s| {
            !s.shutdown && s.items.len() == 0
        });
        match st.items.pop() {
            Some(item) => {
                give_back(&mut st.items);
                let wake = st.parked_putters > 0;
                drop(st);
                if wake {
                    self.not_full.notify(1);
                }
                Ok(item)
            }
            None if st.shutdown => Err(GetError::ShutDown),
            None => Err(GetError::Empty),
        }
    }

    #[track_caller]
    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut st = self.state.lock();
        if st.unfinished == 0 {
            return Err(TaskDoneError);
        }
        st.unfinished -= 1;
        if st.unfinished == 0 {
            self.all_done.notify_all();
        }
        Ok(())
    }

    /// Waits until every item put has been marked done; `false` if `block` ran out first.
    #[track_caller]
    pub(crate) fn join(&self, block: Block) -> bool {
        let st = self.state.lock();
        self.wait_while(st, Waiter::Joiner, block, |s| s.unfinished > 0)
            .1
    }

    #[track_caller]
    pub(crate) fn shutdown(&self, immediate: bool) {
        let mut st = self.state.lock();
        st.shutdown = true;
        let dropped = immediate.then(|| {
            let dropped = std::mem::take(&mut st.items);
            st.unfinished = st.unfinished.saturating_sub(dropped.len());
            self.all_done.notify_all();
            dropped
        });
        self.not_empty.notify_all();
        self.not_full.notify_all();
        drop(st);
        // Outside the lock: an item's `Drop` may block or use this queue.
        drop(dropped);
    }

    #[track_caller]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.state.lock().shutdown
    }

    #[track_caller]
    pub(crate) fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    #[track_caller]
    pub(crate) fn is_full_now(&self) -> bool {
        self.is_full(&self.state.lock())
    }

    #[track_caller]
    pub(crate) fn unfinished_tasks(&self) -> usize {
        self.state.lock().unfinished
    }

    pub(crate) fn maxsize(&self) -> Option<usize> {
        self.maxsize
    }

    fn is_full(&self, st: &State<O>) -> bool {
        self.maxsize.is_some_and(|max| st.items.len() >= max)
    }

    /// Waits, as `block` allows, while `waiting` holds: backs off briefly with the lock
    /// released, then parks on `who`'s condition variable. Returns the re-taken guard and
    /// whether `waiting` ended.
    #[track_caller]
    fn wait_while<'a>(
        &'a self,
        st: Guard<'a, O>,
        who: Waiter,
        block: Block,
        waiting: impl Fn(&State<O>) -> bool,
    ) -> (Guard<'a, O>, bool) {
        if !waiting(&st) {
            return (st, true);
        }
        let deadline = match block {
            Block::No => return (st, false),
            Block::Forever => None,
            Block::Until(deadline) => Some(deadline),
        };
        match self.back_off(st, deadline, &waiting) {
            Ok(done) => done,
            Err(st) => self.park_while(st, who, deadline, &waiting),
        }
    }

    /// Spins, then yields, a few times, re-taking the lock to look: `Ok` if `waiting`
    /// ended or the deadline passed meanwhile, `Err` if it is time to park.
    #[track_caller]
    fn back_off<'a>(
        &'a self,
        mut st: Guard<'a, O>,
        deadline: Option<Instant>,
        waiting: &impl Fn(&State<O>) -> bool,
    ) -> Result<(Guard<'a, O>, bool), Guard<'a, O>> {
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            drop(st);
            backoff.snooze();
            st = self.state.lock();
            if !waiting(&st) {
                return Ok((st, true));
            }
            if passed(deadline) {
                return Ok((st, false));
            }
        }
        Err(st)
    }

    /// Parks on `who`'s condition variable through the crate's waiting path while
    /// `waiting` holds, until `deadline`.
    #[track_caller]
    fn park_while<'a>(
        &'a self,
        mut st: Guard<'a, O>,
        who: Waiter,
        deadline: Option<Instant>,
        waiting: &impl Fn(&State<O>) -> bool,
    ) -> (Guard<'a, O>, bool) {
        let at = Location::caller();
        let on = Labelled {
            kind: O::KIND,
            label: &self.label,
        };
        let wait = Wait::waiting(&on, deadline, at);
        let cv = match who {
            Waiter::Getter => &self.not_empty,
            Waiter::Putter => &self.not_full,
            Waiter::Joiner => &self.all_done,
        };
        let raw = self.state.raw();
        while waiting(&st) {
            if passed(deadline) {
                return (st, false);
            }
            if let Some(parked) = st.parked(who) {
                *parked += 1;
            }
            // The guard stays alive; the condvar releases and re-takes the lock under it.
            let _ = cv.park(raw, &wait, deadline);
            raw.lock_internal(at);
            if let Some(parked) = st.parked(who) {
                *parked -= 1;
            }
        }
        (st, true)
    }
}

/// Whether `deadline` (if any) has passed.
pub(super) fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// A buffer this small (in bytes of items) is kept as it is: giving it back would save
/// little and cost an allocation each time the queue fills again.
const KEPT_BYTES: usize = 16 * 1024;

/// Halves (or more) the buffer's room once the items fill a quarter of it or less. Each
/// shrink copies at most a quarter of the room, after at least as many `get`s since the
/// room last changed, so the cost per item stays constant.
#[inline]
fn give_back<O: Order>(items: &mut O) {
    let room = items.capacity();
    let len = items.len();
    if len <= room / 4 && room.saturating_mul(size_of::<O::Item>()) > KEPT_BYTES {
        items.shrink_to((len * 2).max(KEPT_BYTES / size_of::<O::Item>()));
    }
}

impl<O> State<O> {
    /// The count of threads parked in `who`'s wait, if the queue keeps one (not for
    /// `join`: `task_done` wakes joiners only when the last task is done, which is rare).
    fn parked(&mut self, who: Waiter) -> Option<&mut usize> {
        match who {
            Waiter::Getter => Some(&mut self.parked_getters),
            Waiter::Putter => Some(&mut self.parked_putters),
            Waiter::Joiner => None,
        }
    }
}

impl<O: Order> fmt::Debug for Channel<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct(O::KIND)
            .field("name", &self.label)
            .field("len", &st.items.len())
            .field("maxsize", &self.maxsize)
            .field("unfinished_tasks", &st.unfinished)
            .field("shutdown", &st.shutdown)
            .finish()
    }
}
