//! What the lock-free queue layer (`super::lock_free`) needs from where the items are
//! kept: pushes and pops that never block, the checks a waiter makes before parking,
//! Python's `shutdown` as marks (see `Ring` and `List` for how each keeps them), and a
//! tally of every push ever made, from which the count of unfinished tasks is derived.

/// Why an item could not be pushed; the item comes back.
pub(crate) enum PushError<T> {
    Full(T),
    Shut(T),
}

/// Why no item could be popped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PopError {
    /// Empty now; pushes may still come.
    Empty,
    /// Empty and shut: no item will ever come.
    Shut,
}

/// Lock-free storage of a first-in, first-out queue's items.
///
/// Every method may be called from any thread at any time. The SeqCst orderings named
/// below are what lets a waiter and the thread that ends its wait always see one
/// another (see `super::sleepers`).
pub(crate) trait Storage {
    type Item;

    /// Pushes `item` unless the storage is full or shut. The push takes effect with a
    /// SeqCst read-modify-write of the tail.
    fn try_push(&self, item: Self::Item) -> Result<(), PushError<Self::Item>>;

    /// Pops the oldest item unless the storage is empty (or shut and empty; while
    /// `close_and_drain` runs, it counts as both). The pop takes effect with a SeqCst
    /// read-modify-write of the head.
    fn try_pop(&self) -> Result<Self::Item, PopError>;

    /// Whether a getter should keep waiting: empty and not shut (SeqCst reads).
    fn waits_for_items(&self) -> bool;

    /// Whether a putter should keep waiting: full and not shut (SeqCst reads).
    fn waits_for_room(&self) -> bool;

    /// Items held now, from one consistent reading; 0 once a drain has taken effect.
    fn len(&self) -> usize;

    fn maxsize(&self) -> Option<usize>;

    fn is_shut(&self) -> bool;

    /// Fails every push from now on; pops still take the items left.
    fn close(&self);

    /// Shuts the storage and takes every item out, as one step for every other
    /// operation. Returns the items and the tally of all pushes ever made, or `None` if
    /// another call drained it (once that one has taken effect). The caller settles what
    /// depends on the items, then calls [`end_drain`](Storage::end_drain).
    fn close_and_drain(&self) -> Option<(Vec<Self::Item>, u64)>;

    /// Ends the drain begun by `close_and_drain`. The tail word never returns to a value
    /// it had before the drain, so a reader that reads the tail on both sides of another
    /// reading and finds it unchanged knows no drain settled anything in between.
    fn end_drain(&self);

    /// The tail word now, flags and all (SeqCst).
    fn tail(&self) -> u64;

    /// Whether a tail word says a drain is under way.
    fn is_draining(&self, tail: u64) -> bool;

    /// The tally of pushes that a tail word stands for.
    fn pushes(&self, tail: u64) -> u64;

    /// How tallies wrap around.
    fn tally(&self) -> Tally;

    /// [`tail`](Storage::tail), once no drain is under way.
    fn settled_tail(&self) -> u64 {
        let backoff = crate::loom::Backoff::new();
        loop {
            let tail = self.tail();
            if !self.is_draining(tail) {
                return tail;
            }
            backoff.snooze();
        }
    }
}

/// Counts of events (pushes, tasks done) kept modulo `modulus`, the number of distinct
/// positions a tail can take, so that a count derived from a wrapping tail and one kept
/// beside it stay comparable. The difference of two counts is what matters, and it is
/// always far below the modulus (at least 2^56).
#[derive(Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) modulus: u64,
}

impl Tally {
    /// `a - b`, `a` counting no fewer events than `b`.
    pub(crate) fn sub(self, a: u64, b: u64) -> u64 {
        if a >= b {
            a - b
        } else {
            a + (self.modulus - b)
        }
    }

    /// `a + n`.
    pub(crate) fn add(self, a: u64, n: u64) -> u64 {
        let sum = a + n;
        if sum >= self.modulus {
            sum - self.modulus
        } else {
            sum
        }
    }
}

/// `$atomic` (a `crate::loom` atomic), used once: under loom, that creates the modelled
/// atomic now, in the thread making the storage, so that it exists before any other
/// thread can reach it (see `crate::loom::atomic`). Natively, one relaxed load.
macro_rules! created {
    ($atomic:expr) => {{
        let atomic = $atomic;
        atomic.load($crate::loom::atomic::Ordering::Relaxed);
        atomic
    }};
}
pub(crate) use created;
