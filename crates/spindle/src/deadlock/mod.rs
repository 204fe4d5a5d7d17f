//! Deadlock detection: how much of it runs when a thread blocks, and an on-demand check.
//!
//! By default ([`Detection::WaitFor`]) every lock acquisition that is about to park checks
//! the wait-for graph (thread → lock → owning thread → …). If parking would close a cycle,
//! the acquisition fails at once: `lock()` panics with a [`DeadlockError`] that names every
//! thread of the cycle, the lock it holds, the lock it wants and where each was taken, and
//! `lock_checked()` returns the error instead. The panic unwinds that thread, releasing its
//! guards, so the other threads of the cycle go on. The check runs only on the slow path:
//! an uncontended acquire is one atomic operation, whatever the mode.
//!
//! What never reports: plain contention, a reentrant lock taken again by its owner,
//! readers sharing an `RwLock`, and any wait with a timeout (it ends by itself).
//!
//! ```rust,standalone_crate
//! use spindle::deadlock::{self, Detection};
//!
//! deadlock::set_detection(Detection::WaitFor); // the default
//! assert_eq!(deadlock::detection(), Detection::WaitFor);
//! assert!(deadlock::check().is_empty());
//! ```

mod cycle;
mod error;
pub(crate) mod lock_order;
mod watchdog;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

pub use error::{DeadlockError, DeadlockKind, DeadlockedThread};
pub use lock_order::set_lock_order_handler;
pub use watchdog::Watchdog;

use crate::thread::ThreadState;
use crate::thread::registry::{self, ThreadRecord};
use cycle::Graph;

/// How much deadlock detection runs when a thread is about to block.
///
/// ```
/// use spindle::deadlock::Detection;
///
/// assert_eq!(Detection::default(), Detection::WaitFor);
/// assert_ne!(Detection::Off, Detection::LockOrder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detection {
    /// No check at lock time. [`check`] still finds cycles and stalls on demand.
    Off,
    /// Check the wait-for graph whenever a lock acquisition is about to park (the default).
    #[default]
    WaitFor,
    /// `WaitFor`, plus lock-order checking as Linux's lockdep: every acquisition made while
    /// holding other locks records their order, and the first inversion (A then B in one
    /// place, B then A in another) is reported once through
    /// [`set_lock_order_handler`]'s handler (default: stderr), even if the timing never
    /// deadlocked. Costs a little on every acquisition while on.
    LockOrder,
}

static MODE: AtomicU8 = AtomicU8::new(1);

/// Sets the detection mode for the whole process.
///
/// ```rust,standalone_crate
/// use spindle::deadlock::{self, Detection};
/// deadlock::set_detection(Detection::Off);
/// assert_eq!(deadlock::detection(), Detection::Off);
/// deadlock::set_detection(Detection::WaitFor);
/// ```
pub fn set_detection(mode: Detection) {
    let v = match mode {
        Detection::Off => 0,
        Detection::WaitFor => 1,
        Detection::LockOrder => 2,
    };
    MODE.store(v, Ordering::Relaxed);
    lock_order::set_enabled(mode == Detection::LockOrder);
}

/// The detection mode in force.
///
/// ```
/// use spindle::deadlock::{self, Detection};
/// assert_ne!(deadlock::detection(), Detection::Off);
/// ```
pub fn detection() -> Detection {
    match MODE.load(Ordering::Relaxed) {
        0 => Detection::Off,
        1 => Detection::WaitFor,
        _ => Detection::LockOrder,
    }
}

/// Serialises the publication and checking of lock waits (see the waiting path).
pub(crate) static GRAPH: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

pub(crate) fn checks_on_lock() -> bool {
    MODE.load(Ordering::Relaxed) != 0
}

/// The cycle that `me`'s just-published lock wait would close, if any. Call with `GRAPH` held.
pub(crate) fn find_lock_cycle(me: &Arc<ThreadRecord>) -> Option<DeadlockError> {
    Graph::snapshot().cycle_through(me)
}

/// Every deadlock that exists right now, as Java's `findDeadlockedThreads`.
///
/// Finds each cycle of waits without timeout (on any spindle primitive whose waiters
/// depend on particular threads: locks, `join`, a `Future`'s result), and a global
/// stall: every non-daemon thread parked without a timeout, so that none can ever wake
/// another (two threads each waiting on an `Event` only the other would set). Each
/// report lists only the threads involved, by name, with what each holds and waits on.
/// Runs whatever [`detection`] is.
///
/// # Where to call it from
/// Cycles are found from any thread. A stall is found only when nothing that could still
/// act is left: a non-daemon thread that runs (such as the caller, if it is one) or
/// waits with a timeout rules it out, and so does a daemon thread that does, except the
/// caller itself. So look for stalls from a daemon thread: a [`Watchdog`] calls `check()`
/// every so often and reports what it finds. Threads spindle has never seen (a `std::thread` that
/// never used it, a main thread that never did) are invisible to it.
///
/// ```
/// use spindle::deadlock;
/// // Nothing is blocked here:
/// assert!(deadlock::check().is_empty());
/// ```
pub fn check() -> Vec<DeadlockError> {
    let first = scan();
    if first.is_empty() {
        return first;
    }
    // A deadlock lasts; a lock just handed to a parked thread looks like one for the few
    // microseconds until that thread wakes (it owns the lock and still waits for it).
    // Report only what a second look, a moment later, finds again.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = scan();
    first
        .into_iter()
        .filter(|d| second.iter().any(|e| same_threads(d, e)))
        .collect()
}

fn same_threads(a: &DeadlockError, b: &DeadlockError) -> bool {
    let ids = |d: &DeadlockError| {
        let mut v: Vec<u64> = d.threads().iter().map(|t| t.id).collect();
        v.sort_unstable();
        v
    };
    a.kind() == b.kind() && ids(a) == ids(b)
}

/// One look at the wait-for graph: every cycle and stall in it right now.
fn scan() -> Vec<DeadlockError> {
    let _graph = GRAPH.lock();
    let graph = Graph::snapshot();
    let mut found: Vec<DeadlockError> = Vec::new();
    let mut seen: Vec<Vec<u64>> = Vec::new();
    for thread in graph.threads() {
        if let Some(cycle) = graph.cycle_through(thread) {
            let mut ids: Vec<u64> = cycle.threads().iter().map(|t| t.id).collect();
            ids.sort_unstable();
            if !seen.contains(&ids) {
                seen.push(ids);
                found.push(cycle);
            }
        }
    }
    if let Some(stall) = stall(&graph) {
        found.push(stall);
    }
    found
}

/// A global stall: every non-daemon thread parked without a timeout, and nothing left
/// that could wake one of them.
///
/// Seen from the threads spindle can see (the ones it started, and any other that has
/// used it; a main thread that never did is invisible). Not a stall, so never reported:
/// - a non-daemon thread that runs or waits with a timeout (it may still act);
/// - a daemon thread that does, other than the caller and any [`Watchdog`], which only
///   watch (a daemon is not required to be parked, but while it runs it may set the
///   event the others want);
/// - a parked thread whose wait a running thread will end (joining the watcher itself).
fn stall(graph: &Graph) -> Option<DeadlockError> {
    let watcher = registry::current_id();
    let mut parked: Vec<(&Arc<ThreadRecord>, bool)> = Vec::new();
    for t in graph.threads() {
        if !(t.spawned || t.is_bound()) {
            continue;
        }
        let counted = !t.daemon();
        let for_good = t.wait.lock().as_ref().is_some_and(|edge| {
            matches!(edge.state, ThreadState::Blocked | ThreadState::Waiting)
                && !edge.on().transient()
        });
        match (for_good, counted) {
            (true, _) => parked.push((t, counted)),
            (false, true) => return None,
            (false, false) if t.id == watcher || watchdog::is_watchdog(t.id) => {}
            (false, false) => return None,
        }
    }
    let parked_ids: HashSet<u64> = parked.iter().map(|(t, _)| t.id).collect();
    let mut threads = Vec::new();
    let mut holders = Vec::new();
    for (t, counted) in parked {
        if !counted {
            continue; // a parked daemon holds nobody up, whatever it waits for
        }
        let edge = t.wait.lock();
        // Parked a moment ago; if it has woken since, it is running: no stall.
        let edge = edge.as_ref()?;
        holders.clear();
        edge.on().holders(graph.threads(), &mut holders);
        if holders.iter().any(|h| !parked_ids.contains(&h.thread)) {
            return None;
        }
        threads.push(DeadlockedThread {
            id: t.id,
            name: t.name().to_string(),
            state: edge.state,
            wants: edge.on().describe(),
            waiting_at: edge.at,
            holds: None,
            blocked_by: None,
        });
    }
    if threads.is_empty() {
        None
    } else {
        Some(DeadlockError::new(DeadlockKind::Stall, threads))
    }
}

/// Panics with `err` as the payload (so `catch_unwind` callers can downcast it to
/// `DeadlockError`), after making sure the panic message shows the report.
#[track_caller]
pub(crate) fn raise(err: DeadlockError) -> ! {
    show_reports_in_panic_messages();
    std::panic::panic_any(err)
}

/// Installs spindle's panic hook (once), which prints a `DeadlockError` payload's report
/// (the standard hook prints only `Box<dyn Any>` for payloads that are not strings) and
/// leaves a spindle thread's panic to the excepthook, so that it is reported once.
fn show_reports_in_panic_messages() {
    crate::thread::install_panic_hook();
}
