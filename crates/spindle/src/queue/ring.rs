// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! The storage under a small bounded `Queue`: a ring of `maxsize` slots that producers
//! and consumers claim with one compare-and-swap each, never a lock (Dmitry Vyukov's
//! bounded MPMC queue, as in crossbeam-channel's array flavor), plus what Python's
//! `shutdown` needs: a mark that fails every later push, and, for `shutdown(immediate)`,
//! a way to take every item out as one step that no push or pop can interleave with.
//!
//! # Positions and stamps
//! `head` and `tail` are positions: a lap count in the high bits, three flag bits, and
//! an index into `slots` in the low bits. Each slot has a stamp saying whose turn it is:
//!
//! | slot's stamp  | meaning                                                        |
//! |---------------|----------------------------------------------------------------|
//! | `p`           | empty, for the push at position `p`                            |
//! | `p + 1`       | holds the item pushed at `p`, for the pop at `p`               |
//!
//! A push reads `tail`, checks that the slot's stamp is `tail`, moves `tail` on with a
//! CAS (which reserves the slot), writes the item and stores `tail + 1`. A pop does the
//! same on `head` and stores the position one lap on, freeing the slot for the next lap.
//! Producers write `tail` and consumers `head`, each on its own cache line; the two sides
//! meet only in the slots, and only a pop that finds no item, or a push that finds no
//! room, reads the other side's word.
//!
//! A slot is reserved only once its previous turn has ended: a pop that finds `tail`
//! past `head` while the push there is still writing, or a push that finds `head` past
//! the slot's last item while its pop is still reading, backs off and looks again
//! without reserving anything (as crossbeam's array flavor does). Reserving early and
//! then waiting for the stamp chains every thread, in reservation order, behind
//! whichever of them is off the CPU: with one slot, 4 producers and 4 consumers beside
//! busy threads then moved a few thousand items a second (`tests/queue_under_load.rs`).
//!
//! # Flags
//!
//! | word   | flag       | set by                     | means                              |
//! |--------|------------|----------------------------|------------------------------------|
//! | `tail` | `SHUT`     | `close`, `close_and_drain` | pushes fail from now on            |
//! | `tail` | `DRAINING` | `close_and_drain`          | the items are being taken out      |
//! | `tail` | `DRAINED`  | `end_drain` (for good)     | they were, and the caller settled  |
//! | `head` | `CLAIMED`  | `close_and_drain`          | pops leave the items to the drain  |
//!
//! `close_and_drain` sets `CLAIMED`, then `SHUT | DRAINING` in one step (the moment the
//! shutdown takes effect: a push before it succeeded and its item is drained, a push
//! after it fails), then takes the items out, waiting for pushes that had reserved a
//! slot to finish writing. A pop that meets `CLAIMED` waits for `SHUT` (a moment) and
//! reports the ring shut; readers of the length count it empty from `SHUT | DRAINING` on.
//! The caller settles what depends on the items (the count of unfinished tasks), then
//! `end_drain` turns `DRAINING` into `DRAINED`. Only one drain ever runs, so `tail` never
//! takes the same value twice across one: a reader that reads `tail` on both sides of
//! another reading and finds it unchanged knows no drain settled anything in between.

use std::fmt;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::storage::{PopError, PushError, Storage, Tally, created};
use crate::loom::Backoff;
use crate::loom::atomic::{AtomicU64, Ordering};
use crate::loom::cell::UnsafeCell;

/// The most bytes of slots a queue keeps in a ring; a larger bounded queue keeps its
/// items in a growable buffer instead (see `super::fifo`), so that a large `maxsize`
/// costs memory only while the items are there.
pub(crate) const MAX_RING_BYTES: usize = 256 * 1024;

/// Whether a bounded FIFO of `maxsize` items of `T` fits in a ring.
pub(crate) fn fits<T>(maxsize: usize) -> bool {
    maxsize
        .checked_mul(size_of::<Slot<T>>())
        .is_some_and(|bytes| bytes <= MAX_RING_BYTES)
}

struct Slot<T> {
    /// Whose turn the slot is (see the module docs). Release-stored by whoever just
    /// wrote or read the item, acquire-loaded before the next one touches it.
    stamp: AtomicU64,
    /// Initialised exactly when the stamp is `p + 1` for the position `p` that the slot's
    /// last push wrote.
    item: UnsafeCell<MaybeUninit<T>>,
}

/// How a position word is laid out, for a ring of `cap` slots:
/// `lap | DRAINED | DRAINING | SHUT or CLAIMED | index`, the index taking `shift` bits.
#[derive(Clone, Copy)]
struct Layout {
    cap: u64,
    shift: u32,
}

impl Layout {
    fn new(cap: usize) -> Layout {
        let cap = cap as u64;
        // The index and `index + 1` (a full slot's stamp) both fit below the flags.
        let shift = u64::BITS - cap.leading_zeros();
        Layout { cap, shift }
    }

    /// `SHUT` in `tail`, `CLAIMED` in `head`.
    const fn mark(self) -> u64 {
        1 << self.shift
    }

    /// `DRAINING` in `tail`.
    const fn draining(self) -> u64 {
        1 << (self.shift + 1)
    }

    /// `DRAINED` in `tail`.
    const fn drained(self) -> u64 {
        1 << (self.shift + 2)
    }

    const fn one_lap(self) -> u64 {
        1 << (self.shift + 3)
    }

    const fn index(self, word: u64) -> u64 {
        word & (self.mark() - 1)
    }

    /// The word without its flags.
    const fn pos(self, word: u64) -> u64 {
        word & !(self.mark() | self.draining() | self.drained())
    }

    /// The position after `pos`: the next index, or index 0 of the next lap.
    fn next(self, pos: u64) -> u64 {
        if self.index(pos) + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap() - 1)).wrapping_add(self.one_lap())
        }
    }

    /// Items between two flagless positions, `head` no later than `tail`.
    fn distance(self, head: u64, tail: u64) -> u64 {
        let (h, t) = (self.index(head), self.index(tail));
        if h < t {
            t - h
        } else if h > t {
            self.cap - h + t
        } else if head == tail {
            0
        } else {
            self.cap
        }
    }

    /// How many pushes a flagless tail position stands for, counted modulo
    /// [`tally`](Layout::tally)'s modulus (laps wrap around).
    fn count(self, pos: u64) -> u64 {
        (pos >> (self.shift + 3)) * self.cap + self.index(pos)
    }

    /// Counts wrap with the laps: laps times slots, at least 2^56 (the index of a ring
    /// that fits in `MAX_RING_BYTES` takes fewer than 16 bits).
    const fn tally(self) -> Tally {
        Tally {
            modulus: (1 << (u64::BITS - 3 - self.shift)) * self.cap,
        }
    }
}

/// A bounded first-in, first-out buffer of `T` that threads push to and pop from without
/// a lock. It never blocks: a caller that must wait parks elsewhere (see `super::sleepers`).
pub(crate) struct Ring<T> {
    /// Written by consumers: the next position to pop, and `CLAIMED`.
    head: CachePadded<AtomicU64>,
    /// Written by producers: the next position to push, `SHUT` and `DRAINING`.
    tail: CachePadded<AtomicU64>,
    slots: Box<[Slot<T>]>,
    layout: Layout,
}

// SAFETY: items move between threads through the slots (hence `T: Send`); each slot's
// item is accessed by one thread at a time, the one whose turn its stamp says.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`; shared access never hands out a `&T`.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `cap` slots, `cap` at least 1.
    pub(crate) fn new(cap: usize) -> Ring<T> {
        debug_assert!(cap >= 1);
        let slots = (0..cap as u64)
            .map(|i| Slot {
                stamp: created!(AtomicU64::new(i)),
                item: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: CachePadded::new(created!(AtomicU64::new(0))),
            tail: CachePadded::new(created!(AtomicU64::new(0))),
            slots,
            layout: Layout::new(cap),
        }
    }

    fn slot(&self, pos: u64) -> &Slot<T> {
        &self.slots[self.layout.index(pos) as usize]
    }

    /// A pop met `CLAIMED`: once the claiming shutdown has marked `tail` (it does so
    /// right after claiming), the ring is shut and, for everyone but the drain, empty.
    #[cold]
    fn wait_for_drain_to_take_effect(&self) -> PopError {
        let backoff = Backoff::new();
        while self.tail.load(Ordering::SeqCst) & self.layout.mark() == 0 {
            backoff.snooze();
        }
        PopError::Shut
    }
}

/// Waits until `slot`'s stamp is `stamp`: the push that reserved the slot before a
/// shutdown has finished writing it (a moment, unless that thread was preempted).
fn wait_for<T>(slot: &Slot<T>, stamp: u64) {
    let backoff = Backoff::new();
    while slot.stamp.load(Ordering::Acquire) != stamp {
        backoff.snooze();
    }
}

impl<T> Storage for Ring<T> {
    type Item = T;
    #[inline]
    fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let l = self.layout;
        let backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & l.mark() != 0 {
                return Err(PushError::Shut(item));
            }
            let slot = self.slot(tail);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // SeqCst: a getter about to park reads `tail` after counting itself in; of
                // the two, one sees the other (see `super::sleepers`).
                match self.tail.compare_exchange_weak(
                    tail,
                    l.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS reserved this slot for us, and its stamp (acquired
                        // above) says the last lap's pop is done with it.
                        slot.item.with_mut(|p| unsafe { (*p).write(item) });
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => {
                        tail = now;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(l.one_lap()) == tail + 1 {
                // The slot still holds the item pushed a lap ago: full, unless its pop is
                // under way (then wait for that pop, without reserving the slot).
                let head = l.pos(self.head.load(Ordering::SeqCst));
                if head.wrapping_add(l.one_lap()) == tail {
                    return Err(PushError::Full(item));
                }
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // `tail` is stale: another push has been here since.
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    #[inline]
    fn try_pop(&self) -> Result<T, PopError> {
        let l = self.layout;
        let backoff = Backoff::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head & l.mark() != 0 {
                return Err(self.wait_for_drain_to_take_effect());
            }
            let slot = self.slot(head);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head + 1 {
                match self.head.compare_exchange_weak(
                    head,
                    l.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS reserved this slot for us, and its stamp (acquired
                        // above) says the push at `head` initialised it.
                        let item = slot.item.with(|p| unsafe { (*p).assume_init_read() });
                        slot.stamp
                            .store(head.wrapping_add(l.one_lap()), Ordering::Release);
                        return Ok(item);
                    }
                    Err(now) => {
                        head = now;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                // Nothing written here yet: empty, unless a push has reserved the slot
                // (then wait for that push to finish writing, without reserving the slot).
                let tail = self.tail.load(Ordering::SeqCst);
                if l.pos(tail) == head {
                    return Err(if tail & l.mark() != 0 {
                        PopError::Shut
                    } else {
                        PopError::Empty
                    });
                }
                backoff.snooze();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // `head` is stale: another pop has been here since.
                backoff.spin();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    fn waits_for_items(&self) -> bool {
        let l = self.layout;
        let tail = self.tail.load(Ordering::SeqCst);
        let head = self.head.load(Ordering::SeqCst);
        tail & l.mark() == 0 && l.pos(tail) == l.pos(head)
    }

    fn waits_for_room(&self) -> bool {
        let l = self.layout;
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst);
        tail & l.mark() == 0 && l.pos(head).wrapping_add(l.one_lap()) == l.pos(tail)
    }

    fn len(&self) -> usize {
        let l = self.layout;
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) != tail {
                continue;
            }
            if tail & l.draining() != 0 {
                return 0;
            }
            return l.distance(l.pos(head), l.pos(tail)) as usize;
        }
    }

    fn maxsize(&self) -> Option<usize> {
        Some(self.layout.cap as usize)
    }

    fn is_shut(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & self.layout.mark() != 0
    }

    fn tail(&self) -> u64 {
        self.tail.load(Ordering::SeqCst)
    }

    fn is_draining(&self, tail: u64) -> bool {
        tail & self.layout.draining() != 0
    }

    fn pushes(&self, tail: u64) -> u64 {
        self.layout.count(self.layout.pos(tail))
    }

    fn tally(&self) -> Tally {
        self.layout.tally()
    }

    fn close(&self) {
        self.tail.fetch_or(self.layout.mark(), Ordering::SeqCst);
    }

    /// See the module docs for the steps.
    fn close_and_drain(&self) -> Option<(Vec<T>, u64)> {
        let l = self.layout;
        let head = self.head.fetch_or(l.mark(), Ordering::SeqCst);
        if head & l.mark() != 0 {
            // Another drain claimed the items: wait until it has taken them out.
            self.wait_for_drain_to_take_effect();
            self.settled_tail();
            return None;
        }
        let tail = l.pos(
            self.tail
                .fetch_or(l.mark() | l.draining(), Ordering::SeqCst),
        );
        let mut items = Vec::with_capacity(l.distance(head, tail) as usize);
        let mut pos = head;
        while pos != tail {
            let slot = self.slot(pos);
            // A push that reserved this slot before `SHUT` may still be writing it.
            wait_for(slot, pos + 1);
            // SAFETY: the stamp says the push at `pos` initialised the item, and no pop can
            // take it: `head` is claimed.
            items.push(slot.item.with(|p| unsafe { (*p).assume_init_read() }));
            slot.stamp
                .store(pos.wrapping_add(l.one_lap()), Ordering::Release);
            pos = l.next(pos);
        }
        self.head.store(tail | l.mark(), Ordering::SeqCst);
        Some((items, l.count(tail)))
    }

    /// `DRAINING` becomes `DRAINED`.
    fn end_drain(&self) {
        let l = self.layout;
        // `DRAINING` is set and `DRAINED`, the next bit up, is clear: adding the one
        // carries into the other.
        let before = self.tail.fetch_add(l.draining(), Ordering::SeqCst);
        debug_assert_eq!(before & (l.draining() | l.drained()), l.draining());
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let l = self.layout;
        let mut pos = l.pos(self.head.load(Ordering::Relaxed));
        let tail = l.pos(self.tail.load(Ordering::Relaxed));
        while pos != tail {
            // SAFETY: with `&mut self` no push or pop is under way, so every position from
            // `head` to `tail` holds an initialised item that nothing else will read.
            self.slot(pos)
                .item
                .with_mut(|p| unsafe { (*p).assume_init_drop() });
            pos = l.next(pos);
        }
    }
}

impl<T> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("len", &self.len())
            .field("maxsize", &self.maxsize())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn positions_wrap_within_a_lap_and_count_pushes() {
        let l = Layout::new(3);
        let mut pos = 0;
        for pushes in 0..10 {
            assert_eq!(l.count(pos), pushes);
            pos = l.next(pos);
        }
        assert_eq!(l.distance(0, l.next(l.next(l.next(0)))), 3, "a full lap");
        let t = l.tally();
        assert_eq!(t.sub(1, t.modulus - 2), 3, "across the wrap");
        assert_eq!(t.add(t.modulus - 1, 2), 1);
        // The last lap before the wrap counts up to the modulus, then 0 again.
        let last_lap = 0u64.wrapping_sub(l.one_lap());
        assert_eq!(l.count(last_lap + 2), t.modulus - 1);
        assert_eq!(l.count(l.next(last_lap + 2)), 0);
    }

    #[test]
    fn a_ring_keeps_order_fills_and_drains() {
        let ring = Ring::new(2);
        assert_eq!(ring.try_pop(), Err(PopError::Empty));
        assert!(ring.try_push(1).is_ok());
        assert!(ring.try_push(2).is_ok());
        assert!(matches!(ring.try_push(3), Err(PushError::Full(3))));
        assert!(ring.waits_for_room() && !ring.waits_for_items());
        assert_eq!(ring.try_pop(), Ok(1));
        assert!(ring.try_push(3).is_ok());
        assert_eq!(ring.len(), 2);
        let (items, pushes) = ring.close_and_drain().unwrap();
        assert_eq!((items, pushes), (vec![2, 3], 3));
        assert_eq!(ring.len(), 0);
        ring.end_drain();
        assert!(matches!(ring.try_push(4), Err(PushError::Shut(4))));
        assert_eq!(ring.try_pop(), Err(PopError::Shut));
        assert!(ring.close_and_drain().is_none());
    }

    #[test]
    fn dropping_a_ring_drops_the_items_left() {
        let item = std::sync::Arc::new(());
        let ring = Ring::new(4);
        for _ in 0..3 {
            assert!(ring.try_push(std::sync::Arc::clone(&item)).is_ok());
        }
        drop(ring.try_pop());
        drop(ring);
        assert_eq!(std::sync::Arc::strong_count(&item), 1);
    }

    #[test]
    fn two_producers_two_consumers_lose_nothing() {
        super::super::storage::threaded::two_by_two(&Ring::new(3));
    }

    #[test]
    fn a_drain_racing_a_push_and_a_pop_takes_each_item_once() {
        super::super::storage::threaded::drain_races_push_and_pop(&Ring::new(3));
    }
}
