//! Layer 2 (the registry): one record per thread, and the table of the live ones.
//! Uses only layer 0 (`thread::state`, `loom`) and layer 1 (`graph::edge`, the type of
//! what a record says its thread waits on); it parks and wakes nobody.
//!
//! Threads spindle starts are registered by `Thread::start`; any other thread (the main
//! thread, a `std::thread`, a test harness thread) registers lazily the first time it
//! touches spindle. A record outlives its thread for as long as a `ThreadInfo` holds it.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex as InternalMutex, RwLock};

use super::state::ThreadState;
use crate::graph::edge::WaitEdge;
use crate::loom::thread_id;

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
    /// Whether the published wait is still current, and whether the thread sleeps in a
    /// parking queue: see [`Parking`].
    parking: AtomicU64,
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
            parking: AtomicU64::new(0),
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

    /// Marks the thread finished and removes it from the live table. Its joiners are
    /// woken by the caller (on `park_key`), which sits above the waiting path.
    pub(crate) fn terminate(&self) {
        self.set_state(ThreadState::Terminated);
        remove_alive(self.id);
    }

    // ---- The parking word (see `Parking`) ----

    /// The thread published a new wait: it is current, and not yet in a queue.
    pub(crate) fn wait_published(&self) {
        let word = self.parking.load(Ordering::Relaxed);
        self.parking
            .store((word & !Parking::FLAGS) + Parking::SEQ, Ordering::Release);
    }

    /// The thread's published wait is not current while it runs (an outer wait restored
    /// after an inner one, or no wait at all).
    pub(crate) fn wait_not_current(&self) {
        let word = self.parking.load(Ordering::Relaxed);
        self.parking.store(
            ((word & !Parking::FLAGS) + Parking::SEQ) | Parking::WOKEN,
            Ordering::Release,
        );
    }

    /// The thread is being put in a parking queue (called in `validate`, under the
    /// queue's lock, so no waker can see it there before this).
    pub(crate) fn wait_queued(&self) {
        self.parking.fetch_or(Parking::QUEUED, Ordering::Release);
    }

    /// The thread has left the parking queue and runs again.
    pub(crate) fn wait_unqueued(&self) {
        self.parking.fetch_and(!Parking::QUEUED, Ordering::Release);
    }

    /// A waker took the thread out of its queue: its wait is over, whatever it was (the
    /// thread may find it must wait again, and then publishes afresh). Called under the
    /// queue's lock before the waker changes the state the thread waited for, so a search
    /// that reads that change also reads this (see `graph/README.md`).
    pub(crate) fn mark_woken(&self) {
        let word = self.parking.load(Ordering::Relaxed);
        self.parking.store(
            ((word & !Parking::FLAGS) + Parking::SEQ) | Parking::WOKEN,
            Ordering::Release,
        );
    }

    /// The parking word now: compare two readings to tell whether the thread stayed
    /// parked in between (see `Parking`).
    pub(crate) fn parking(&self) -> Parking {
        Parking(self.parking.load(Ordering::Acquire))
    }
}

/// One reading of a thread's parking word: `seq << 2 | WOKEN | QUEUED`.
///
/// `seq` moves on whenever the thread publishes a wait, stops waiting, or is woken, so two
/// equal readings with `QUEUED` set mean the thread slept in a queue the whole time in
/// between. `WOKEN`: the published wait is not current (a waker ended it, or the thread
/// runs between waits); searches do not follow it. `QUEUED`: asleep in a parking queue,
/// not merely about to park.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Parking(u64);

impl Parking {
    const QUEUED: u64 = 1;
    const WOKEN: u64 = 2;
    const FLAGS: u64 = Parking::QUEUED | Parking::WOKEN;
    const SEQ: u64 = 4;

    /// The published wait is still current.
    pub(crate) fn current(self) -> bool {
        self.0 & Parking::WOKEN == 0
    }

    /// Asleep in a parking queue, its wait current.
    pub(crate) fn asleep(self) -> bool {
        self.0 & Parking::FLAGS == Parking::QUEUED
    }
}

/// The live threads, by id (ordered, so `enumerate` lists them in start order).
static ALIVE: InternalMutex<BTreeMap<u64, Arc<ThreadRecord>>> = InternalMutex::new(BTreeMap::new());
/// How many records `ALIVE` holds, readable without its lock.
static ALIVE_COUNT: AtomicUsize = AtomicUsize::new(0);
/// How many records have ever been added to `ALIVE` (changed under its lock).
static BIRTHS: AtomicU64 = AtomicU64::new(0);

fn insert_alive(record: &Arc<ThreadRecord>) {
    let mut alive = ALIVE.lock();
    if alive.insert(record.id, Arc::clone(record)).is_none() {
        ALIVE_COUNT.fetch_add(1, Ordering::Relaxed);
    }
    BIRTHS.fetch_add(1, Ordering::Relaxed);
}

fn remove_alive(id: u64) {
    if ALIVE.lock().remove(&id).is_some() {
        ALIVE_COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

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
    insert_alive(record);
}

/// Takes a record out of the live table again (the OS refused to start its thread). The
/// state reads `New` before the caller wakes whoever already waits for it to end
/// (`join_non_daemon` saw it alive), so a waiter either sees it or is parked to be woken.
pub(crate) fn forget(record: &ThreadRecord) {
    record.set_state(ThreadState::New);
    remove_alive(record.id);
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
        insert_alive(&rec);
        rec
    })
}

/// Every live thread, main included, in id order.
pub(crate) fn snapshot() -> Vec<Arc<ThreadRecord>> {
    main_record();
    ALIVE.lock().values().cloned().collect()
}

/// [`snapshot`], and how many threads had been added to the live table when it was taken
/// (compare with [`births`] later: a thread started meanwhile is not in the snapshot).
pub(crate) fn snapshot_and_births() -> (Vec<Arc<ThreadRecord>>, u64) {
    main_record();
    let alive = ALIVE.lock();
    (
        alive.values().cloned().collect(),
        BIRTHS.load(Ordering::Relaxed),
    )
}

/// How many threads have ever been added to the live table.
pub(crate) fn births() -> u64 {
    let _alive = ALIVE.lock();
    BIRTHS.load(Ordering::Relaxed)
}

/// How many threads are live, main included: one atomic read.
pub(crate) fn count() -> usize {
    main_record();
    ALIVE_COUNT.load(Ordering::Relaxed)
}

/// The live thread with id `id`, if there is one (how searches follow a holder).
pub(crate) fn lookup(id: u64) -> Option<Arc<ThreadRecord>> {
    ALIVE.lock().get(&id).cloned()
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
        insert_alive(&rec);
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
