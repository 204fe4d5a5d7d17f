// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
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

/// Checks every storage runs under threads: natively with the rest of the suite, and
/// under Miri (`cargo +nightly miri test -p spindle --lib queue::`), which checks the
/// unsafe slot handling for races, use after free and leaks.
#[cfg(all(test, not(loom)))]
pub(crate) mod threaded {
    use std::sync::Barrier;
    use std::thread;

    use super::{PopError, PushError, Storage};

    const PER_PRODUCER: u64 = if cfg!(miri) { 40 } else { 20_000 };

    /// Pushes until the storage takes the item or is shut; whether it took it.
    fn push<S: Storage<Item = u64>>(s: &S, item: u64) -> bool {
        let mut item = item;
        loop {
            match s.try_push(item) {
                Ok(()) => return true,
                Err(PushError::Full(back)) => {
                    item = back;
                    thread::yield_now();
                }
                Err(PushError::Shut(_)) => return false,
            }
        }
    }

    /// Two producers and two consumers: every item arrives once, each producer's items
    /// in the order they were pushed.
    pub(crate) fn two_by_two<S: Storage<Item = u64> + Sync>(s: &S) {
        let total = 2 * PER_PRODUCER;
        let taken = std::sync::atomic::AtomicU64::new(0);
        let mut got: Vec<Vec<u64>> = thread::scope(|scope| {
            for p in 0..2 {
                scope.spawn(move || {
                    for i in 0..PER_PRODUCER {
                        assert!(push(s, p * PER_PRODUCER + i));
                    }
                });
            }
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let taken = &taken;
                    scope.spawn(move || {
                        let mut mine = Vec::new();
                        while taken.load(std::sync::atomic::Ordering::Relaxed) < total {
                            match s.try_pop() {
                                Ok(item) => {
                                    mine.push(item);
                                    taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                Err(PopError::Empty) => thread::yield_now(),
                                Err(PopError::Shut) => unreachable!("never shut"),
                            }
                        }
                        mine
                    })
                })
                .collect();
            consumers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        for mine in &got {
            for p in 0..2 {
                let from_p = mine.iter().filter(|&&item| item / PER_PRODUCER == p);
                assert!(from_p.is_sorted(), "producer {p}'s items out of order");
            }
        }
        let mut all = got.concat();
        got.clear();
        all.sort();
        assert_eq!(all, (0..total).collect::<Vec<_>>());
        assert_eq!(s.len(), 0);
    }

    /// A producer and a consumer run while another thread shuts the storage and drains
    /// it: each item pushed is popped or drained, exactly once.
    pub(crate) fn drain_races_push_and_pop<S: Storage<Item = u64> + Sync>(s: &S) {
        let start = Barrier::new(3);
        let (pushed, popped, drained) = thread::scope(|scope| {
            let producer = scope.spawn(|| {
                start.wait();
                (0..).take_while(|&i| push(s, i)).count() as u64
            });
            let consumer = scope.spawn(|| {
                start.wait();
                let mut got = Vec::new();
                loop {
                    match s.try_pop() {
                        Ok(item) => got.push(item),
                        Err(PopError::Empty) => thread::yield_now(),
                        Err(PopError::Shut) => return got,
                    }
                }
            });
            start.wait();
            for _ in 0..PER_PRODUCER / 4 {
                thread::yield_now();
            }
            let (drained, pushes) = s.close_and_drain().expect("the only drain");
            s.end_drain();
            let pushed = producer.join().unwrap();
            assert_eq!(s.pushes(s.tail()), pushed, "the tail tallies the pushes");
            assert_eq!(pushes, pushed, "no push succeeds after the drain");
            (pushed, consumer.join().unwrap(), drained)
        });
        let mut all = [popped.as_slice(), drained.as_slice()].concat();
        assert!(popped.is_sorted() && drained.is_sorted());
        all.sort();
        assert_eq!(all, (0..pushed).collect::<Vec<_>>(), "each item once");
        assert_eq!(s.len(), 0);
    }
}
