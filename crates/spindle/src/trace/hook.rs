//! The process-wide trace hook, and the cheap check that comes before every emission.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::RwLock;

use super::event::{EventKind, TraceEvent};
use crate::thread::registry;

type Hook = Arc<dyn Fn(&TraceEvent) + Send + Sync>;

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
    *HOOK.write() = Some(Arc::new(hook));
    ON.store(true, Ordering::Release);
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
}

/// Whether a hook is listening (one relaxed load).
#[inline]
pub(crate) fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

thread_local! {
    /// Set while this thread runs the hook, so events the hook itself causes are dropped.
    static IN_HOOK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
    if IN_HOOK.try_with(|h| h.replace(true)).unwrap_or(true) {
        return;
    }
    let hook = HOOK.read().clone();
    if let (Some(hook), Some(me)) = (hook, registry::try_current()) {
        let event = TraceEvent {
            time: Instant::now(),
            thread_id: me.id,
            thread_name: me.name(),
            kind,
        };
        hook(&event);
    }
    let _ = IN_HOOK.try_with(|h| h.set(false));
}
