//! Layer 1: one record per thread, and the table of the live ones.
//!
//! Threads spindle starts are registered by `Thread::start`; any other thread (the main
//! thread, a `std::thread`, a test harness thread) registers lazily the first time it
//! touches spindle. A record outlives its thread for as long as a `ThreadInfo` holds it.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::panic::Location;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex as InternalMutex, RwLock};

use super::ThreadState;
use crate::loom::thread_id;
use crate::wait::WaitEdge;

/// Everything spindle knows about one thread.
pub(crate) struct ThreadRecord {
    pub(crate) id: u64,
    /// Settable until the thread starts (`Thread::name`), read by every report.
    name: RwLock<Arc<str>>,
    daemon: AtomicBool,
    /// Started by spindle (`join_non_daemon` waits only for these).
    pub(crate) spawned: bool,
    state: AtomicU8,
    /// What the thread is parked on. Written only by the thread itself, through the
    /// waiting path; read by anyone (`waiting_on`, deadlock detection).
    pub(crate) wait: InternalMutex<Option<WaitEdge>>,
    /// The read locks this thread held when it last began to wait, so that a writer's
    /// deadlock check can name them (a running reader cannot be part of a cycle, so the
    /// list is copied here only by the waiting path). Empty while the thread runs.
    pub(crate) reads: ReadSlots,
    /// The thread has bound this record as its own (so spindle sees what it does).
    bound: AtomicBool,
    /// The OS thread id, noted when the thread binds the record; 0 until then.
    pub(crate) native_id: AtomicU64,
}

impl ThreadRecord {
    fn new(id: u64, name: String, daemon: bool, spawned: bool, state: ThreadState) -> Self {
        ThreadRecord {
            id,
            name: RwLock::new(name.into()),
            daemon: AtomicBool::new(daemon),
            spawned,
            state: AtomicU8::new(state.to_u8()),
            wait: InternalMutex::new(None),
            reads: ReadSlots::new(),
            bound: AtomicBool::new(false),
            native_id: AtomicU64::new(0),
        }
    }

    pub(crate) fn name(&self) -> Arc<str> {
        Arc::clone(&self.name.read())
    }

    pub(crate) fn set_name(&self, name: String) {
        *self.name.write() = name.into();
    }

    pub(crate) fn daemon(&self) -> bool {
        self.daemon.load(Ordering::Relaxed)
    }

    pub(crate) fn set_daemon(&self, daemon: bool) {
        self.daemon.store(daemon, Ordering::Relaxed);
    }

    pub(crate) fn is_bound(&self) -> bool {
        self.bound.load(Ordering::Relaxed)
    }

    pub(crate) fn state(&self) -> ThreadState {
        ThreadState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, state: ThreadState) {
        self.state.store(state.to_u8(), Ordering::Release);
    }

    /// The key joiners park on.
    pub(crate) fn park_key(&self) -> usize {
        self as *const ThreadRecord as usize
    }

    /// Marks the thread finished, removes it from the live table and wakes its joiners.
    pub(crate) fn terminate(&self) {
        self.set_state(ThreadState::Terminated);
        ALIVE.lock().remove(&self.id);
        crate::wait::unpark_all(self.park_key());
    }
}

/// The live threads, by id (ordered, so `enumerate` lists them in start order).
static ALIVE: InternalMutex<BTreeMap<u64, Arc<ThreadRecord>>> = InternalMutex::new(BTreeMap::new());

/// Ids count from 2: 1 is the main thread's.
static NEXT_ID: AtomicU64 = AtomicU64::new(2);
const MAIN_ID: u64 = 1;
/// `Thread-N` numbering, as Python's `_counter`.
static NEXT_THREAD_N: AtomicUsize = AtomicUsize::new(1);
/// `Dummy-N` numbering for threads spindle did not start, as Python's `_DummyThread`.
static NEXT_DUMMY_N: AtomicUsize = AtomicUsize::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A record for a thread spindle will start: named `Thread-N`, state `New`, not yet live.
pub(crate) fn new_spawned() -> Arc<ThreadRecord> {
    let name = format!("Thread-{}", NEXT_THREAD_N.fetch_add(1, Ordering::Relaxed));
    new_spawned_named(name)
}

/// As [`new_spawned`], named `name` from the start: it takes no `Thread-N` number.
pub(crate) fn new_spawned_named(name: String) -> Arc<ThreadRecord> {
    Arc::new(ThreadRecord::new(
        next_id(),
        name,
        false,
        true,
        ThreadState::New,
    ))
}

/// A record for a thread that can no longer register (its thread-locals are gone).
pub(crate) fn unregistered() -> Arc<ThreadRecord> {
    let name = std::thread::current()
        .name()
        .unwrap_or("<exiting>")
        .to_owned();
    Arc::new(ThreadRecord::new(
        current_id(),
        name,
        true,
        false,
        ThreadState::Runnable,
    ))
}

/// Adds a record to the live table (called by `Thread::start` before the OS thread runs).
pub(crate) fn make_alive(record: &Arc<ThreadRecord>) {
    record.set_state(ThreadState::Runnable);
    ALIVE.lock().insert(record.id, Arc::clone(record));
}

/// Takes a record out of the live table again (the OS refused to start its thread), and
/// wakes whoever already waits for it to end (`join_non_daemon` saw it alive): the state
/// reads `New` before the wake, so a waiter either sees it or is parked to be woken.
pub(crate) fn forget(record: &ThreadRecord) {
    record.set_state(ThreadState::New);
    ALIVE.lock().remove(&record.id);
    crate::wait::unpark_all(record.park_key());
}

/// The main thread's record, made (and registered) on first use from any thread.
pub(crate) fn main_record() -> &'static Arc<ThreadRecord> {
    static MAIN: OnceLock<Arc<ThreadRecord>> = OnceLock::new();
    MAIN.get_or_init(|| {
        let rec = Arc::new(ThreadRecord::new(
            MAIN_ID,
            "MainThread".to_owned(),
            false,
            false,
            ThreadState::Runnable,
        ));
        ALIVE.lock().insert(MAIN_ID, Arc::clone(&rec));
        rec
    })
}

/// Every live thread, main included, in id order.
pub(crate) fn snapshot() -> Vec<Arc<ThreadRecord>> {
    main_record();
    ALIVE.lock().values().cloned().collect()
}

/// Holds the calling thread's record in its thread-local storage; a thread spindle did
/// not start leaves the live table when its thread-locals are destroyed.
struct CurrentRecord(Arc<ThreadRecord>);

impl Drop for CurrentRecord {
    fn drop(&mut self) {
        let rec = &self.0;
        if !rec.spawned && rec.id != MAIN_ID {
            rec.terminate();
        }
    }
}

thread_local! {
    static CURRENT: OnceCell<CurrentRecord> = const { OnceCell::new() };
}

fn is_os_main_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: both calls only read the caller's ids and cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t == libc::getpid() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::thread::current().name() == Some("main")
    }
}

/// Makes `record` the calling thread's own (a thread spindle starts calls this first).
pub(crate) fn bind_current(record: Arc<ThreadRecord>) {
    record.bound.store(true, Ordering::Relaxed);
    let native = super::os::current_native_id().unwrap_or(0);
    record.native_id.store(native, Ordering::Relaxed);
    thread_id::set(record.id);
    CURRENT.with(|cell| {
        let _ = cell.set(CurrentRecord(record));
    });
}

#[cold]
fn register_foreign() -> Arc<ThreadRecord> {
    let record = if is_os_main_thread() {
        Arc::clone(main_record())
    } else {
        let name = match std::thread::current().name() {
            Some(n) => n.to_owned(),
            None => format!("Dummy-{}", NEXT_DUMMY_N.fetch_add(1, Ordering::Relaxed)),
        };
        // Python's rule: threads it did not start are daemons (they never hold up exit).
        let rec = Arc::new(ThreadRecord::new(
            next_id(),
            name,
            true,
            false,
            ThreadState::Runnable,
        ));
        ALIVE.lock().insert(rec.id, Arc::clone(&rec));
        rec
    };
    bind_current(Arc::clone(&record));
    record
}

/// The calling thread's record, registering the thread on first use. `None` only while
/// the thread's thread-locals are being destroyed.
pub(crate) fn try_current() -> Option<Arc<ThreadRecord>> {
    CURRENT
        .try_with(|cell| cell.get().map(|c| Arc::clone(&c.0)))
        .ok()
        .map(|found| found.unwrap_or_else(register_foreign))
}

/// The calling thread's id: one thread-local read once the thread is registered.
#[inline]
pub(crate) fn current_id() -> u64 {
    let id = thread_id::get();
    if id != 0 { id } else { current_id_slow() }
}

#[cold]
fn current_id_slow() -> u64 {
    match try_current() {
        Some(rec) => rec.id,
        None => {
            // Thread-locals are going away and this thread never registered: give it an
            // id of its own so that locks still know their owner.
            let id = next_id();
            thread_id::set(id);
            id
        }
    }
}

/// The read locks one thread holds, written only by that thread.
///
/// A small stack: read guards are usually dropped in reverse order. A thread holding
/// more than `SLOTS` read locks at once keeps working; the extra ones are just not named
/// in deadlock reports.
pub(crate) struct ReadSlots {
    locks: [AtomicUsize; SLOTS],
    at: [AtomicPtr<Location<'static>>; SLOTS],
    len: AtomicUsize,
}

const SLOTS: usize = 8;

thread_local! {
    /// The read locks the calling thread holds: plain thread-local stores on the read
    /// fast path; published to the thread's record only when it waits.
    static HELD_READS: ReadSlots = const { ReadSlots::new() };
}

/// Notes that the calling thread took a read lock on `lock` at `at`.
#[inline]
pub(crate) fn note_read(lock: usize, at: &'static Location<'static>) {
    // Under loom, model threads share one OS thread's thread-locals: nothing to note.
    if cfg!(loom) {
        return;
    }
    let _ = HELD_READS.try_with(|r| r.push(lock, at));
}

/// Notes that the calling thread released one read lock on `lock`.
#[inline]
pub(crate) fn note_unread(lock: usize) {
    if cfg!(loom) {
        return;
    }
    let _ = HELD_READS.try_with(|r| r.pop(lock));
}

/// Copies the calling thread's read locks into its record (it is about to wait).
pub(crate) fn publish_reads(me: &ThreadRecord) {
    let _ = HELD_READS.try_with(|held| {
        let len = held.len.load(Ordering::Relaxed).min(SLOTS);
        for i in 0..len {
            let lock = held.locks[i].load(Ordering::Relaxed);
            let at = held.at[i].load(Ordering::Relaxed);
            me.reads.locks[i].store(lock, Ordering::Relaxed);
            me.reads.at[i].store(at, Ordering::Relaxed);
        }
        me.reads.len.store(len, Ordering::Release);
    });
}

/// Empties the calling thread's published read locks (its wait is over).
pub(crate) fn unpublish_reads(me: &ThreadRecord) {
    me.reads.len.store(0, Ordering::Release);
}

impl ReadSlots {
    const fn new() -> Self {
        ReadSlots {
            locks: [const { AtomicUsize::new(0) }; SLOTS],
            at: [const { AtomicPtr::new(ptr::null_mut()) }; SLOTS],
            len: AtomicUsize::new(0),
        }
    }

    /// Notes that the owning thread took a read lock on `lock` at `at`.
    #[inline]
    pub(crate) fn push(&self, lock: usize, at: &'static Location<'static>) {
        let len = self.len.load(Ordering::Relaxed);
        if len < SLOTS {
            self.locks[len].store(lock, Ordering::Relaxed);
            self.at[len].store(at as *const _ as *mut _, Ordering::Relaxed);
            self.len.store(len + 1, Ordering::Release);
        }
    }

    /// Notes that the owning thread released one read lock on `lock`.
    #[inline]
    pub(crate) fn pop(&self, lock: usize) {
        let len = self.len.load(Ordering::Relaxed);
        if len > 0 && self.locks[len - 1].load(Ordering::Relaxed) == lock {
            // Slots at or past `len` are never read: no need to clear this one.
            self.len.store(len - 1, Ordering::Release);
        } else {
            self.pop_out_of_order(lock, len);
        }
    }

    #[cold]
    fn pop_out_of_order(&self, lock: usize, len: usize) {
        let Some(i) = (0..len)
            .rev()
            .find(|&i| self.locks[i].load(Ordering::Relaxed) == lock)
        else {
            return; // one of the untracked overflow guards
        };
        let last = len - 1;
        let last_lock = self.locks[last].load(Ordering::Relaxed);
        let last_at = self.at[last].load(Ordering::Relaxed);
        self.locks[i].store(last_lock, Ordering::Relaxed);
        self.at[i].store(last_at, Ordering::Relaxed);
        self.len.store(last, Ordering::Release);
    }

    /// Where the owning thread took its read lock on `lock`, if it holds one.
    pub(crate) fn find(&self, lock: usize) -> Option<&'static Location<'static>> {
        let len = self.len.load(Ordering::Acquire).min(SLOTS);
        (0..len)
            .filter(|&i| self.locks[i].load(Ordering::Relaxed) == lock)
            .find_map(|i| {
                let at = self.at[i].load(Ordering::Relaxed);
                // SAFETY: slots only ever hold null or a `&'static Location` stored by `push`.
                unsafe { at.as_ref() }
            })
    }
}
