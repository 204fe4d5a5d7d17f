//! Layer 3 (the wait-for graph): which read locks each thread holds, as deadlock
//! detection needs them. Uses layer 1 (`graph::edge`) only.
//!
//! A writer waiting for the readers of an `RwLock` to leave is held up by every thread
//! with a read lock on it. The read fast path must stay a compare-and-swap and a few
//! plain stores, so a reader notes its read locks in its own thread-local list, and
//! publishes that list to the shared index below only when it begins a wait that
//! searches follow: a running reader cannot be part of a cycle, a waiting one can.
//!
//! Locks are named by an id of their own that is never reused (not their address): a
//! guard forgotten with `mem::forget` leaves a note behind that can never be mistaken for
//! a read lock on some later `RwLock` that happens to sit at the same address. The list
//! has no fixed size: a thread holding a hundred read locks is seen holding each.

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex as InternalMutex;
use rustc_hash::FxHashMap;

use super::edge::Holder;

/// Ids for read-lockable locks count from 1 (0: not given yet).
static NEXT_LOCK_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh lock id, never used before in this process.
pub(crate) fn new_lock_id() -> u64 {
    NEXT_LOCK_ID.fetch_add(1, Ordering::Relaxed)
}

/// One read lock held: the lock's id and where it was taken.
#[derive(Clone, Copy)]
struct ReadHeld {
    lock: u64,
    at: *const Location<'static>,
}

const NONE: ReadHeld = ReadHeld {
    lock: 0,
    at: ptr::null(),
};

/// How many read locks a thread notes without touching the heap.
const INLINE: usize = 8;

/// The calling thread's read locks, newest last: the first `INLINE` here, any more in
/// `MORE_READS`. No destructor, so reaching it costs no lazy-initialisation check.
struct HeldReads {
    inline: [Cell<ReadHeld>; INLINE],
    /// How many read locks are noted in all (`inline` first, then `MORE_READS`).
    len: Cell<usize>,
}

thread_local! {
    static HELD_READS: HeldReads = const {
        HeldReads {
            inline: [const { Cell::new(NONE) }; INLINE],
            len: Cell::new(0),
        }
    };
    /// Read locks past the first `INLINE`, oldest first.
    static MORE_READS: RefCell<Vec<ReadHeld>> = const { RefCell::new(Vec::new()) };
}

/// Notes that the calling thread took a read lock on the lock `lock` at `at`.
#[inline]
pub(crate) fn note_read(lock: u64, at: &'static Location<'static>) {
    // Under loom, model threads share one OS thread's thread-locals: nothing to note.
    if cfg!(loom) {
        return;
    }
    let _ = HELD_READS.try_with(|held| {
        let n = held.len.get();
        let entry = ReadHeld { lock, at };
        if n < INLINE {
            held.inline[n].set(entry);
        } else {
            push_more(entry);
        }
        held.len.set(n + 1);
    });
}

#[cold]
fn push_more(entry: ReadHeld) {
    let _ = MORE_READS.try_with(|more| more.borrow_mut().push(entry));
}

/// Notes that the calling thread released one read lock on the lock `lock`.
#[inline]
pub(crate) fn note_unread(lock: u64) {
    if cfg!(loom) {
        return;
    }
    let _ = HELD_READS.try_with(|held| {
        let n = held.len.get();
        if n > 0 && n <= INLINE && held.inline[n - 1].get().lock == lock {
            held.len.set(n - 1);
        } else {
            remove_out_of_order(held, lock);
        }
    });
}

/// Removes the newest note of `lock` wherever it is (guards dropped out of order, or
/// past the inline ones). A lock never noted (taken before the thread-locals existed)
/// is left alone.
#[cold]
fn remove_out_of_order(held: &HeldReads, lock: u64) {
    let mut all = collect(held);
    let Some(i) = all.iter().rposition(|r| r.lock == lock) else {
        return;
    };
    all.remove(i);
    store(held, &all);
}

/// Every read lock noted, oldest first.
fn collect(held: &HeldReads) -> Vec<ReadHeld> {
    let n = held.len.get();
    let mut all: Vec<ReadHeld> = held.inline[..n.min(INLINE)].iter().map(Cell::get).collect();
    if n > INLINE {
        let _ = MORE_READS.try_with(|more| all.extend(more.borrow().iter().copied()));
    }
    all
}

fn store(held: &HeldReads, all: &[ReadHeld]) {
    for (slot, entry) in held.inline.iter().zip(all) {
        slot.set(*entry);
    }
    let _ = MORE_READS.try_with(|more| {
        let mut more = more.borrow_mut();
        more.clear();
        more.extend(all.iter().skip(INLINE).copied());
    });
    held.len.set(all.len());
}

/// Whether the calling thread holds any read lock.
pub(crate) fn holds_reads() -> bool {
    !cfg!(loom) && HELD_READS.try_with(|h| h.len.get() > 0).unwrap_or(false)
}

/// The published read locks of waiting threads: lock id → (thread, where it took it).
#[derive(Default)]
struct Index {
    by_lock: FxHashMap<u64, Vec<(u64, *const Location<'static>)>>,
    by_thread: FxHashMap<u64, Vec<u64>>,
}

// SAFETY: the raw pointers are `&'static Location`s (or null), shareable by any thread.
unsafe impl Send for Index {}

/// Taken after the graph lock and a record's wait lock, never before them.
static INDEX: InternalMutex<Option<Index>> = InternalMutex::new(None);

/// Publishes the calling thread's read locks as held by `thread` (it is about to begin a
/// wait searches follow). Call with the graph lock held, before the wait's edge appears.
pub(crate) fn publish(thread: u64) {
    let Ok(all) = HELD_READS.try_with(collect) else {
        return;
    };
    let mut index = INDEX.lock();
    let index = index.get_or_insert_with(Index::default);
    let mine = index.by_thread.entry(thread).or_default();
    for r in &all {
        index
            .by_lock
            .entry(r.lock)
            .or_default()
            .push((thread, r.at));
        mine.push(r.lock);
    }
}

/// Withdraws what `publish` published for `thread` (its wait is over).
pub(crate) fn unpublish(thread: u64) {
    let mut index = INDEX.lock();
    let Some(index) = index.as_mut() else {
        return;
    };
    let Some(locks) = index.by_thread.remove(&thread) else {
        return;
    };
    for lock in locks {
        if let Some(readers) = index.by_lock.get_mut(&lock) {
            if let Some(i) = readers.iter().position(|&(t, _)| t == thread) {
                readers.swap_remove(i);
            }
            if readers.is_empty() {
                index.by_lock.remove(&lock);
            }
        }
    }
}

/// The waiting threads that hold a read lock on the lock `lock`, as its holders.
pub(crate) fn readers_of(lock: u64, out: &mut Vec<Holder>) {
    let index = INDEX.lock();
    let Some(readers) = index.as_ref().and_then(|i| i.by_lock.get(&lock)) else {
        return;
    };
    for &(thread, at) in readers {
        // SAFETY: only null or `&'static Location`s are stored.
        out.push(Holder::owner(thread, unsafe { at.as_ref() }));
    }
}
