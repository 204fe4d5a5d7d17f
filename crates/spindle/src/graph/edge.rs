//! Layer 1 (the wait-for graph's vocabulary): what a parked thread waits on, and who
//! must act before that wait can end. Uses only `thread::state`; everything that parks,
//! searches or reports builds on these three types.

use std::panic::Location;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::thread::state::ThreadState;

/// Something a thread can wait on, as reports and deadlock detection see it.
pub(crate) trait Waitable: Sync {
    /// What is waited on, for people: `Mutex "accounts"`, `Event created at src/main.rs:4:13`.
    fn describe(&self) -> String;

    /// [`describe`](Waitable::describe), for the trace hook: made once and shared where
    /// the waitable can name itself for `crate::description`'s cache (every primitive
    /// does), formatted anew otherwise.
    fn description(&self) -> Arc<str> {
        self.describe().into()
    }

    /// The threads that must act before `waiter`'s wait on this can end (a lock's
    /// owners), each with where it acquired what it holds. Empty for waits nobody in
    /// particular ends, and once the wait is satisfied (a future whose phase the waiter
    /// needs has been reached). Called with the waiter's edge locked; may take the
    /// reader index's lock or peek a parking queue, nothing else.
    fn holders(&self, _waiter: u64, _out: &mut Vec<Holder>) {}

    /// Whether a wait on this, not being a lock acquisition, still names holders
    /// (`join`, a `Future`'s result). Such a wait is published under the graph lock and
    /// checked for a cycle when it begins, as lock waits are: a search must never see a
    /// followable edge appear half-way through (it could pair it with a holder read
    /// before a release).
    fn holds_up_a_chain(&self) -> bool {
        false
    }

    /// A wait for work, not for another thread's progress: an idle pool worker waiting for
    /// the next task. Threads idle this way never make a stall by themselves (an idle
    /// pool is not a deadlock); a stall must have at least one thread stuck otherwise.
    fn idle(&self) -> bool {
        false
    }

    /// A wait that always ends in a moment, by construction: one on a primitive's internal
    /// state lock, held only for a few instructions and never across a wait. Searches for
    /// cycles and stalls do not follow it (its holder may, for instance, be about to park
    /// on a condition variable, which releases the lock).
    fn transient(&self) -> bool {
        false
    }
}

/// A thread that must act before a wait can end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) thread: u64,
    /// Whether it holds the resource waited for (a lock's owner), rather than having to
    /// finish something (a joined thread, the runner of an awaited task).
    pub(crate) owns: bool,
    /// Where it acquired the resource, when known.
    pub(crate) since: Option<&'static Location<'static>>,
}

impl Holder {
    /// The owner of what is waited for, which it took at `since`.
    pub(crate) fn owner(thread: u64, since: Option<&'static Location<'static>>) -> Holder {
        Holder {
            thread,
            owns: true,
            since,
        }
    }

    /// A thread that holds nothing waited for but must finish before the wait ends.
    pub(crate) fn actor(thread: u64) -> Holder {
        Holder {
            thread,
            owns: false,
            since: None,
        }
    }
}

/// What a waiting thread waits on: published in its record for as long as it waits.
pub(crate) struct WaitEdge {
    on: NonNull<dyn Waitable>,
    pub(crate) state: ThreadState,
    pub(crate) at: &'static Location<'static>,
}

// SAFETY: `on` points at a `Waitable` (which is `Sync`) borrowed by the waiting thread for
// the whole time the edge is published; the waiting thread removes the edge, under the
// record's lock, before that borrow ends. Anyone dereferencing it holds that same lock.
unsafe impl Send for WaitEdge {}

impl WaitEdge {
    /// An edge on `on`, whose borrow the caller promises outlives the publication.
    ///
    /// # Safety
    /// The edge must be unpublished (dropped or replaced, under the record's lock) before
    /// `on`'s borrow ends.
    pub(crate) unsafe fn new(
        on: &dyn Waitable,
        state: ThreadState,
        at: &'static Location<'static>,
    ) -> WaitEdge {
        let ptr: NonNull<dyn Waitable + '_> = NonNull::from(on);
        WaitEdge {
            // SAFETY: a fat pointer's layout does not depend on its lifetime bound; the
            // caller promises not to let the edge outlive the borrow.
            on: unsafe {
                std::mem::transmute::<NonNull<dyn Waitable + '_>, NonNull<dyn Waitable>>(ptr)
            },
            state,
            at,
        }
    }

    /// The waited-on resource.
    ///
    /// The returned reference is valid while the record lock that guards this edge is held.
    pub(crate) fn on(&self) -> &dyn Waitable {
        // SAFETY: see the `Send` impl: the edge is only reachable through the record's lock,
        // and the waiting thread keeps the resource borrowed until it has removed the edge.
        unsafe { self.on.as_ref() }
    }

    /// Whether searches for cycles and stalls follow this wait at all: one without a
    /// timeout (a timed one ends by itself) on something other than an internal lock.
    pub(crate) fn followed(&self) -> bool {
        matches!(self.state, ThreadState::Blocked | ThreadState::Waiting) && !self.on().transient()
    }
}
