// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! The storage under an unbounded `Queue`: a linked list of blocks of slots, which
//! producers and consumers claim with one CAS each, never a lock (the scheme of
//! crossbeam-channel's list flavor), with Python's `shutdown` kept as marks as in
//! `super::ring`. A block is freed as soon as its items have been read, so the memory
//! follows the items: a drained queue keeps one block.
//!
//! # Positions
//! `head` and `tail` are words: a position shifted left by `SHIFT`, flags below it. Each
//! block covers `LAP` positions: `BLOCK_CAP` slots, then one that no item takes, which
//! stands for "the next block is being installed" (whoever moves a word there installs
//! or finds the next block, then moves it on; others wait the moment out).
//!
//! A push moves `tail` on with a CAS (which reserves the slot), writes the item and sets
//! the slot's `WRITTEN`. A pop moves `head` on with a CAS, but only once it knows the
//! position holds an item, written or about to be: it reads `tail` unless `head` carries
//! `NOT_LAST` (its block is not the last, so every slot in it is taken); then it waits
//! for `WRITTEN`, reads the item and sets `READ`.
//!
//! # Freeing blocks
//! The pop of a block's last slot frees the block once every slot is `READ`. A slot still
//! being read gets `DESTROY` instead, and its reader, finding it, frees the block itself
//! after checking the slots that follow. No thread reads a block's memory before its CAS
//! reserved a slot in it, so a block is never read after it is freed.
//!
//! # Flags
//!
//! | word   | flag       | set by                     | means                              |
//! |--------|------------|----------------------------|------------------------------------|
//! | `tail` | `SHUT`     | `close`, `close_and_drain` | pushes fail from now on            |
//! | `tail` | `DRAINING` | `close_and_drain`          | the items are being taken out      |
//! | `tail` | `DRAINED`  | `end_drain` (for good)     | they were, and the caller settled  |
//! | `head` | `NOT_LAST` | a pop                      | the head's block is not the last   |
//! | `head` | `CLAIMED`  | `close_and_drain`          | pops leave the items to the drain  |
//!
//! The drain claims `head` (waiting out a pop that is moving it to the next block, since
//! that pop stores the word), then marks `tail` (the moment the shutdown takes effect),
//! then reads the items as a pop would, freeing the blocks it finishes.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::panic::UnwindSafe;
use std::ptr;

use crossbeam_utils::CachePadded;

use super::storage::{PopError, PushError, Storage, Tally, created};
use crate::loom::Backoff;
use crate::loom::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::loom::cell::UnsafeCell;

/// Slots per block (as crossbeam's: 31 slots and a link make 512 bytes for `u64`
/// items). Under loom, 3, so that a model reaches a block's end in a few steps.
const BLOCK_CAP: usize = if crate::loom::MODELLED { 3 } else { 31 };
/// Positions per block: the slots and the one where the next block is installed.
const LAP: u64 = BLOCK_CAP as u64 + 1;
/// Bits below the position in `head` and `tail`.
const SHIFT: u32 = 3;
/// One position on, in a word.
const STEP: u64 = 1 << SHIFT;

const SHUT: u64 = 1;
const DRAINING: u64 = 2;
const DRAINED: u64 = 4;
const NOT_LAST: u64 = 1;
const CLAIMED: u64 = 2;

/// A slot's state bits.
const WRITTEN: usize = 1;
const READ: usize = 2;
const DESTROY: usize = 4;

/// The position in a word.
const fn pos(word: u64) -> u64 {
    word >> SHIFT
}

/// The slot of a word's position in its block; `BLOCK_CAP` for the installation spot.
const fn offset(word: u64) -> usize {
    (pos(word) % LAP) as usize
}

/// The pushes that a tail word stands for (or the pops, for a head word): positions
/// less the installation spots passed. Wraps with the positions, at 2^56 blocks.
const fn count(word: u64) -> u64 {
    let pos = pos(word);
    (pos / LAP) * BLOCK_CAP as u64 + pos % LAP
}

const TALLY: Tally = Tally {
    modulus: (1 << (u64::BITS - SHIFT)) / LAP * BLOCK_CAP as u64,
};

struct Slot<T> {
    /// Initialised once `WRITTEN` is set, until the item is read.
    item: UnsafeCell<MaybeUninit<T>>,
    state: AtomicUsize,
}

impl<T> Slot<T> {
    fn wait_written(&self) {
        let backoff = Backoff::new();
        while self.state.load(Ordering::Acquire) & WRITTEN == 0 {
            backoff.snooze();
        }
    }
}

struct Block<T> {
    /// The next block, once installed.
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
}

impl<T> Block<T> {
    /// A new empty block, built in place (a block of large items would not fit on a
    /// small thread's stack).
    fn new() -> Box<Block<T>> {
        let mut block = Box::<Block<T>>::new_uninit();
        let p = block.as_mut_ptr();
        // SAFETY: `p` points at the fresh allocation; each field is written once, in
        // place, after which every field is initialised.
        unsafe {
            (&raw mut (*p).next).write(AtomicPtr::new(ptr::null_mut()));
            for i in 0..BLOCK_CAP {
                (&raw mut (*p).slots[i]).write(Slot {
                    item: UnsafeCell::new(MaybeUninit::uninit()),
                    state: created!(AtomicUsize::new(0)),
                });
            }
            block.assume_init()
        }
    }

    /// Waits until the next block is installed.
    fn wait_next(&self) -> *mut Block<T> {
        let backoff = Backoff::new();
        loop {
            let next = self.next.load(Ordering::Acquire);
            if !next.is_null() {
                return next;
            }
            backoff.snooze();
        }
    }

    /// Marks slot `offset` read, after its item was taken: frees the block if this was
    /// its last slot (once the others are read), or if the freeing was handed to this
    /// slot by a reader of the last one that found it still being read.
    ///
    /// # Safety
    /// `this` is a live block, and the caller has just taken the item of slot `offset`,
    /// which it reserved; it must not touch the block afterwards.
    unsafe fn read_done(this: *mut Block<T>, offset: usize) {
        if offset + 1 == BLOCK_CAP {
            // SAFETY: we read the last slot; `destroy` checks the others.
            unsafe { Block::destroy(this, 0) };
        } else {
            // SAFETY: the block is live until our slot is marked read (caller's contract).
            let state = unsafe { &(*this).slots[offset].state };
            if state.fetch_or(READ, Ordering::AcqRel) & DESTROY != 0 {
                // SAFETY: the freeing was handed to us, from the next slot on.
                unsafe { Block::destroy(this, offset + 1) };
            }
        }
    }

    /// Frees the block once the slots from `start` on (its last slot excepted: its reader
    /// is the one that started this) have all been read; if one is still being read,
    /// marks it `DESTROY` and leaves the rest to its reader.
    ///
    /// # Safety
    /// `this` is a live block whose last slot has been read, and the slots before
    /// `start` are read or have handed the freeing on (as above).
    unsafe fn destroy(this: *mut Block<T>, start: usize) {
        for i in start..BLOCK_CAP - 1 {
            // SAFETY: the block is live until this function frees it (caller's contract).
            let slot = unsafe { &(*this).slots[i] };
            if slot.state.load(Ordering::Acquire) & READ == 0
                && slot.state.fetch_or(DESTROY, Ordering::AcqRel) & READ == 0
            {
                return;
            }
        }
        // SAFETY: every slot has been read and nothing else refers to the block: it was
        // made by `Box` and leaves the list before its last slot is read.
        drop(unsafe { Box::from_raw(this) });
    }
}

/// One end of the list: a word and the block its position is in.
struct End<T> {
    word: AtomicU64,
    block: AtomicPtr<Block<T>>,
}

/// An unbounded first-in, first-out list of `T` that threads push to and pop from
/// without a lock. It never blocks: a caller that must wait parks elsewhere (see
/// `super::lock_free`).
pub(crate) struct List<T> {
    /// Written by consumers: the next position to pop, `NOT_LAST` and `CLAIMED`.
    head: CachePadded<End<T>>,
    /// Written by producers: the next position to push, `SHUT`, `DRAINING`, `DRAINED`.
    tail: CachePadded<End<T>>,
    /// The list owns its items.
    _items: PhantomData<T>,
}

// SAFETY: items move between threads through the slots (hence `T: Send`); each slot's
// item is accessed by one thread at a time: its pusher, then its popper.
unsafe impl<T: Send> Send for List<T> {}
// SAFETY: as for `Send`; shared access never hands out a `&T`.
unsafe impl<T: Send> Sync for List<T> {}

/// The blocks are the list's own, reached through raw pointers only so that no reference
/// to a freed block can exist: unwinding through a `List` is as safe as through the
/// boxes of items it stands for (and a `Queue` stays `UnwindSafe`, as it was on a lock).
impl<T: UnwindSafe> UnwindSafe for List<T> {}

impl<T> List<T> {
    pub(crate) fn new() -> List<T> {
        let first = Box::into_raw(Block::new());
        let end = || End {
            word: created!(AtomicU64::new(0)),
            block: AtomicPtr::new(first),
        };
        List {
            head: CachePadded::new(end()),
            tail: CachePadded::new(end()),
            _items: PhantomData,
        }
    }

    /// A pop met `CLAIMED`: once the claiming shutdown has marked `tail` (it does so
    /// right after claiming), the list is shut and, for everyone but the drain, empty.
    #[cold]
    fn wait_for_drain_to_take_effect(&self) -> PopError {
        let backoff = Backoff::new();
        while self.tail.word.load(Ordering::SeqCst) & SHUT == 0 {
            backoff.snooze();
        }
        PopError::Shut
    }
}

impl<T> Storage for List<T> {
    type Item = T;

    #[inline]
    fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let backoff = Backoff::new();
        let mut tail = self.tail.word.load(Ordering::Acquire);
        let mut block = self.tail.block.load(Ordering::Acquire);
        let mut next_block = None;
        loop {
            if tail & SHUT != 0 {
                return Err(PushError::Shut(item));
            }
            let offset = offset(tail);
            if offset == BLOCK_CAP {
                // Another push is installing the next block.
                backoff.snooze();
                tail = self.tail.word.load(Ordering::Acquire);
                block = self.tail.block.load(Ordering::Acquire);
                continue;
            }
            if offset + 1 == BLOCK_CAP && next_block.is_none() {
                // Allocated before the CAS, so others wait as briefly as possible.
                next_block = Some(Block::new());
            }
            // SeqCst: a getter about to park reads `tail` after counting itself in; of
            // the two, one sees the other (see `super::sleepers`).
            match self.tail.word.compare_exchange_weak(
                tail,
                tail.wrapping_add(STEP),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if offset + 1 == BLOCK_CAP {
                        let next = Box::into_raw(next_block.take().unwrap_or_else(Block::new));
                        self.tail.block.store(next, Ordering::Release);
                        self.tail.word.fetch_add(STEP, Ordering::Release);
                        // SAFETY: `block` is the tail's block: `tail` was read before it,
                        // and the CAS proves `tail` has not moved since. No block is freed
                        // before its last slot is read, which needs this push.
                        unsafe { (*block).next.store(next, Ordering::Release) };
                    }
                    // SAFETY: as above, `block` is live, and the CAS reserved this slot.
                    let slot = unsafe { &(*block).slots[offset] };
                    // SAFETY: the slot is ours to write until we set `WRITTEN`.
                    slot.item.with_mut(|p| unsafe { (*p).write(item) });
                    slot.state.fetch_or(WRITTEN, Ordering::Release);
                    return Ok(());
                }
                Err(now) => {
                    tail = now;
                    block = self.tail.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    #[inline]
    fn try_pop(&self) -> Result<T, PopError> {
        let backoff = Backoff::new();
        let mut head = self.head.word.load(Ordering::Acquire);
        let mut block = self.head.block.load(Ordering::Acquire);
        loop {
            if head & CLAIMED != 0 {
                return Err(self.wait_for_drain_to_take_effect());
            }
            let offset = offset(head);
            if offset == BLOCK_CAP {
                // Another pop is moving `head` to the next block.
                backoff.snooze();
                head = self.head.word.load(Ordering::Acquire);
                block = self.head.block.load(Ordering::Acquire);
                continue;
            }
            let mut new_head = head.wrapping_add(STEP);
            if head & NOT_LAST == 0 {
                let tail = self.tail.word.load(Ordering::SeqCst);
                if pos(head) == pos(tail) {
                    return Err(if tail & SHUT != 0 {
                        PopError::Shut
                    } else {
                        PopError::Empty
                    });
                }
                if pos(head) / LAP != pos(tail) / LAP {
                    new_head |= NOT_LAST;
                }
            }
            match self.head.word.compare_exchange_weak(
                head,
                new_head,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: `block` is the head's block (read after `head`, which the CAS
                    // proves unmoved), and it is not freed before the slot we just
                    // reserved in it has been read.
                    let this = unsafe { &*block };
                    if offset + 1 == BLOCK_CAP {
                        let next = this.wait_next();
                        let mut next_head = (new_head & !NOT_LAST).wrapping_add(STEP);
                        // SAFETY: the next block is live: nothing in it has been read.
                        if !unsafe { &*next }.next.load(Ordering::Relaxed).is_null() {
                            next_head |= NOT_LAST;
                        }
                        self.head.block.store(next, Ordering::Release);
                        self.head.word.store(next_head, Ordering::Release);
                    }
                    let slot = &this.slots[offset];
                    slot.wait_written();
                    // SAFETY: `WRITTEN` says the item is initialised; the CAS made it ours.
                    let item = slot.item.with(|p| unsafe { (*p).assume_init_read() });
                    // SAFETY: we reserved and read this slot, and do not touch it again.
                    unsafe { Block::read_done(block, offset) };
                    return Ok(item);
                }
                Err(now) => {
                    head = now;
                    block = self.head.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    fn waits_for_items(&self) -> bool {
        let tail = self.tail.word.load(Ordering::SeqCst);
        let head = self.head.word.load(Ordering::SeqCst);
        tail & SHUT == 0 && pos(head) == pos(tail)
    }

    fn waits_for_room(&self) -> bool {
        false
    }

    fn len(&self) -> usize {
        loop {
            let tail = self.tail.word.load(Ordering::SeqCst);
            let head = self.head.word.load(Ordering::SeqCst);
            if self.tail.word.load(Ordering::SeqCst) != tail {
                continue;
            }
            if tail & DRAINING != 0 {
                return 0;
            }
            return TALLY.sub(count(tail), count(head)) as usize;
        }
    }

    fn maxsize(&self) -> Option<usize> {
        None
    }

    fn is_shut(&self) -> bool {
        self.tail.word.load(Ordering::SeqCst) & SHUT != 0
    }

    fn close(&self) {
        self.tail.word.fetch_or(SHUT, Ordering::SeqCst);
    }

    /// See the module docs for the steps.
    fn close_and_drain(&self) -> Option<(Vec<T>, u64)> {
        let backoff = Backoff::new();
        let head = loop {
            let head = self.head.word.load(Ordering::SeqCst);
            if head & CLAIMED != 0 {
                // Another drain claimed the items: wait until it has taken them out.
                self.wait_for_drain_to_take_effect();
                self.settled_tail();
                return None;
            }
            if offset(head) == BLOCK_CAP {
                // A pop is moving `head` to the next block, and will store it.
                backoff.snooze();
                continue;
            }
            if self
                .head
                .word
                .compare_exchange(head, head | CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                break head & !NOT_LAST;
            }
        };
        let mut tail = self.tail.word.fetch_or(SHUT | DRAINING, Ordering::SeqCst);
        while offset(tail) == BLOCK_CAP {
            // The push of a block's last slot is still moving `tail` past the installation.
            backoff.snooze();
            tail = self.tail.word.load(Ordering::SeqCst);
        }
        let end = tail & !(STEP - 1);
        let mut items = Vec::with_capacity(TALLY.sub(count(end), count(head)) as usize);
        let mut at = head;
        // Read after `head`'s word, which the pop that moved it there stored after it.
        let mut block = self.head.block.load(Ordering::Acquire);
        while pos(at) != pos(end) {
            let offset = offset(at);
            // SAFETY: `block` holds position `at`; no pop can free it (the head is claimed)
            // until its last slot is read, which only this drain can now do.
            let this = unsafe { &*block };
            let slot = &this.slots[offset];
            // A push that reserved this slot before `SHUT` may still be writing it.
            slot.wait_written();
            // SAFETY: `WRITTEN` says the item is initialised; the claim made it ours.
            items.push(slot.item.with(|p| unsafe { (*p).assume_init_read() }));
            // The last slot's reader frees the block (pops still reading earlier slots,
            // reserved before the claim, take that over); for any other slot, nobody has
            // begun freeing the block, since only this drain can read its last slot now.
            let next = (offset + 1 == BLOCK_CAP).then(|| this.wait_next());
            // SAFETY: we took this slot's item, and touch the block again only if this was
            // not its last slot (then it is not freed, as above).
            unsafe { Block::read_done(block, offset) };
            match next {
                Some(next) => {
                    block = next;
                    at = at.wrapping_add(2 * STEP);
                }
                None => at = at.wrapping_add(STEP),
            }
        }
        self.head.block.store(block, Ordering::Release);
        self.head.word.store(end | CLAIMED, Ordering::SeqCst);
        Some((items, count(end)))
    }

    /// `DRAINING` becomes `DRAINED`.
    fn end_drain(&self) {
        // `DRAINING` is set and `DRAINED`, the next bit up, is clear: adding the one
        // carries into the other.
        let before = self.tail.word.fetch_add(DRAINING, Ordering::SeqCst);
        debug_assert_eq!(before & (DRAINING | DRAINED), DRAINING);
    }

    fn tail(&self) -> u64 {
        self.tail.word.load(Ordering::SeqCst)
    }

    fn is_draining(&self, tail: u64) -> bool {
        tail & DRAINING != 0
    }

    fn pushes(&self, tail: u64) -> u64 {
        count(tail)
    }

    fn tally(&self) -> Tally {
        TALLY
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        let mut at = self.head.word.load(Ordering::Relaxed) & !(STEP - 1);
        let end = self.tail.word.load(Ordering::Relaxed) & !(STEP - 1);
        let mut block = self.head.block.load(Ordering::Relaxed);
        // SAFETY: with `&mut self` no push or pop is under way: every position from `head`
        // to `tail` is written and unread, the blocks from the head's on are live and
        // reachable only from here, and each is freed once, after its items.
        unsafe {
            while at != end {
                let offset = offset(at);
                if offset < BLOCK_CAP {
                    (*block).slots[offset]
                        .item
                        .with_mut(|p| (*p).assume_init_drop());
                } else {
                    let next = (*block).next.load(Ordering::Relaxed);
                    drop(Box::from_raw(block));
                    block = next;
                }
                at = at.wrapping_add(STEP);
            }
            drop(Box::from_raw(block));
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_list_keeps_order_across_blocks_and_drains() {
        let list = List::new();
        assert_eq!(list.try_pop(), Err(PopError::Empty));
        for n in 0..100 {
            assert!(list.try_push(n).is_ok());
        }
        assert_eq!(list.len(), 100);
        for n in 0..40 {
            assert_eq!(list.try_pop(), Ok(n));
        }
        assert_eq!(list.len(), 60);
        assert_eq!(list.pushes(list.tail()), 100);
        let (items, pushes) = list.close_and_drain().unwrap();
        assert_eq!((items, pushes), ((40..100).collect(), 100));
        assert_eq!(list.len(), 0);
        list.end_drain();
        assert!(matches!(list.try_push(1), Err(PushError::Shut(1))));
        assert_eq!(list.try_pop(), Err(PopError::Shut));
        assert!(list.close_and_drain().is_none());
    }

    #[test]
    fn dropping_a_list_drops_the_items_left() {
        let item = std::sync::Arc::new(());
        let list = List::new();
        for _ in 0..70 {
            assert!(list.try_push(std::sync::Arc::clone(&item)).is_ok());
        }
        for _ in 0..35 {
            drop(list.try_pop());
        }
        drop(list);
        assert_eq!(std::sync::Arc::strong_count(&item), 1);
    }

    #[test]
    fn a_block_is_freed_once_whichever_slot_is_read_last() {
        // The reader of the last slot finds the others still being read, and each of them
        // hands the freeing on to the next; Miri reports a leak or a double free if not.
        for last in 0..BLOCK_CAP - 1 {
            let block = Box::into_raw(Block::<u8>::new());
            // SAFETY: each slot is marked read once; the block is not touched after the
            // last `read_done`, which frees it.
            unsafe {
                Block::read_done(block, BLOCK_CAP - 1);
                for offset in (0..BLOCK_CAP - 1).filter(|&o| o != last) {
                    Block::read_done(block, offset);
                }
                Block::read_done(block, last);
            }
        }
    }

    #[test]
    fn counts_skip_the_installation_spot() {
        assert_eq!(count((LAP - 1) << SHIFT), BLOCK_CAP as u64);
        assert_eq!(count(LAP << SHIFT), BLOCK_CAP as u64);
        assert_eq!(count((LAP + 1) << SHIFT), BLOCK_CAP as u64 + 1);
    }

    #[test]
    fn two_producers_two_consumers_lose_nothing() {
        super::super::storage::threaded::two_by_two(&List::new());
    }

    #[test]
    fn a_drain_racing_a_push_and_a_pop_takes_each_item_once() {
        super::super::storage::threaded::drain_races_push_and_pop(&List::new());
    }
}
