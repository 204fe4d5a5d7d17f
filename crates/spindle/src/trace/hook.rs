// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! The process-wide trace hook, and the cheap check that comes before every emission.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::RwLock;

use super::event::{EventKind, TraceEvent};
use crate::thread::registry;

pub(crate) type Hook = Arc<dyn Fn(&TraceEvent) + Send + Sync>;

static ON: AtomicBool = AtomicBool::new(false);
static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Calls `hook` for every trace event of every thread from now on (Python's
/// `threading.settrace`, for spindle's own events): thread start and end, each state
/// change with what is waited on, each lock acquired after waiting (with the wait), and
/// each task submitted, started and finished. Replaces any hook set before.
///
/// The hook runs on the thread the event happened on, so it must be quick and must not
/// block on spindle primitives itself (its own events would recurse; they are dropped).
///
/// ```rust,standalone_crate
/// use std::sync::{Arc, Mutex};
/// use spindle::trace::{self, EventKind};
///
/// let starts = Arc::new(Mutex::new(0));
/// let count = Arc::clone(&starts);
/// trace::set_hook(move |e| {
///     if e.kind == EventKind::ThreadStart {
///         *count.lock().unwrap() += 1;
///     }
/// });
/// spindle::thread::spawn(|| ()).join().unwrap();
/// trace::clear_hook();
/// assert!(*starts.lock().unwrap() >= 1);
/// ```
pub fn set_hook(hook: impl Fn(&TraceEvent) + Send + Sync + 'static) {
    set_shared_hook(Arc::new(hook));
}

/// Removes the trace hook: events cost one relaxed load again.
///
/// ```rust,standalone_crate
/// spindle::trace::set_hook(|_| ());
/// spindle::trace::clear_hook();
/// ```
pub fn clear_hook() {
    ON.store(false, Ordering::Release);
    *HOOK.write() = None;
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Installs a hook its owner keeps a handle on, for [`clear_hook_if`] (the `Recorder`).
pub(crate) fn set_shared_hook(hook: Hook) {
    *HOOK.write() = Some(hook);
    GENERATION.fetch_add(1, Ordering::Release);
    ON.store(true, Ordering::Release);
}

/// Removes `hook` if it is still the one installed; a hook set since then stays.
pub(crate) fn clear_hook_if(hook: &Hook) {
    let mut current = HOOK.write();
    if current.as_ref().is_some_and(|h| Arc::ptr_eq(h, hook)) {
        ON.store(false, Ordering::Release);
        *current = None;
        GENERATION.fetch_add(1, Ordering::Release);
    }
}

/// Whether a hook is listening (one relaxed load).
#[inline]
pub(crate) fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Counts hook changes, so each thread knows when its cached copy is stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// What a thread keeps so that an event costs no shared write: its own copy of the hook
/// (cloning the shared `Arc` per event would bounce one cache line between all threads)
/// and its own id and name.
struct Emitter {
    generation: u64,
    hook: Option<Hook>,
    thread: Option<(u64, Arc<str>)>,
}

thread_local! {
    /// Borrowed while this thread runs the hook: events the hook itself causes find it
    /// busy and are dropped.
    static EMITTER: RefCell<Emitter> = const {
        RefCell::new(Emitter { generation: u64::MAX, hook: None, thread: None })
    };
}

/// Sends an event about the calling thread to the hook, if one is set.
#[inline]
pub(crate) fn emit(kind: impl FnOnce() -> EventKind) {
    if enabled() {
        emit_slow(kind());
    }
}

#[cold]
fn emit_slow(kind: EventKind) {
    let _ = EMITTER.try_with(|cell| {
        let Ok(mut emitter) = cell.try_borrow_mut() else {
            return; // an event caused by the hook itself
        };
        let generation = GENERATION.load(Ordering::Acquire);
        if emitter.generation != generation {
            emitter.hook = HOOK.read().clone();
            emitter.generation = generation;
        }
        if emitter.thread.is_none() {
            emitter.thread = registry::try_current().map(|me| (me.id, me.name()));
        }
        if let (Some(hook), Some((thread_id, name))) = (&emitter.hook, &emitter.thread) {
            let event = TraceEvent {
                time: Instant::now(),
                thread_id: *thread_id,
                thread_name: Arc::clone(name),
                kind,
            };
            hook(&event);
        }
    });
}
