//! Layer 3 (the wait-for graph): a found cycle of waits, told thread by thread. Strings
//! are made here only, once a cycle is found, never while searching.

use std::sync::Arc;

use super::edge::Holder;
use crate::deadlock::error::{BlockedBy, DeadlockError, DeadlockKind, DeadlockedThread};
use crate::thread::registry::ThreadRecord;
use crate::thread::state::ThreadState;

/// One step of a cycle: `thread` waits, and `holder` must act before that wait ends.
pub(crate) struct Hop {
    pub(crate) thread: Arc<ThreadRecord>,
    pub(crate) holder: Holder,
}

/// The report of a closed cycle: the holder of hop `i` is the thread of hop `i + 1`
/// (and the last one's is the first's).
pub(crate) fn cycle_report(hops: &[Hop]) -> DeadlockError {
    let n = hops.len();
    // What each thread waits on, read from its edge: the threads of a real cycle stay
    // parked, so their edges are the ones the search followed.
    let waits: Vec<(ThreadState, String, &'static std::panic::Location<'static>)> = hops
        .iter()
        .map(|hop| match hop.thread.wait.lock().as_ref() {
            Some(edge) => (edge.state, edge.on().describe(), edge.at),
            None => (
                ThreadState::Runnable,
                "(no longer waiting)".to_owned(),
                std::panic::Location::caller(),
            ),
        })
        .collect();
    let threads = (0..n)
        .map(|i| {
            let hop = &hops[i];
            let prev = (i + n - 1) % n;
            let next = &hops[(i + 1) % n];
            let (state, wants, at) = waits[i].clone();
            DeadlockedThread {
                id: hop.thread.id,
                name: hop.thread.name().to_string(),
                state,
                wants,
                waiting_at: at,
                // What the previous thread wants is this one's only if it owns it (a
                // lock); a joined thread or a task's runner just has to finish.
                holds: hops[prev]
                    .holder
                    .owns
                    .then(|| (waits[prev].1.clone(), hops[prev].holder.since)),
                blocked_by: Some(if hop.holder.owns {
                    BlockedBy::Holder(next.thread.name().to_string())
                } else {
                    BlockedBy::Actor(next.thread.name().to_string())
                }),
            }
        })
        .collect();
    DeadlockError::new(DeadlockKind::Cycle, threads)
}
