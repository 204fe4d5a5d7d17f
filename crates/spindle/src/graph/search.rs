//! Layer 3 (the wait-for graph): the search a thread makes, under [`GRAPH`](super::GRAPH),
//! before it parks: is there a path of current waits from what it waits for back to
//! itself? The search follows holders by id through the registry, so it costs what the
//! chain it walks costs, however many threads are alive.

use std::sync::Arc;

use rustc_hash::FxHashSet;

use super::edge::Holder;
use super::report::{Hop, cycle_report};
use crate::deadlock::error::DeadlockError;
use crate::thread::registry::{self, ThreadRecord};

/// The holders of `thread`'s current wait, appended to `out`: none if it waits on
/// nothing, waits with a timeout, on an internal lock, or if its wait is already over.
///
/// The holders are read before the "still current" flag, and a waker sets that flag
/// before it changes what the holders are read from: so if this returns a holder, the
/// wait was current when that holder was read (a lock handed to its parked waiter is
/// never read as the waiter waiting for itself).
pub(crate) fn current_holders(thread: &ThreadRecord, out: &mut Vec<Holder>) {
    let start = out.len();
    let edge = thread.wait.lock();
    let Some(edge) = edge.as_ref() else {
        return;
    };
    if !edge.followed() {
        return;
    }
    edge.on().holders(thread.id, out);
    if !thread.parking().current() {
        out.truncate(start);
    }
}

/// The cycle that `me`'s just-published wait closes, if any. Call with `GRAPH` held.
pub(crate) fn find_cycle(me: &Arc<ThreadRecord>) -> Option<DeadlockError> {
    // Depth-first over holders, iteratively: chains can be thousands of threads long.
    struct Frame {
        thread: Arc<ThreadRecord>,
        holders: Vec<Holder>,
        next: usize,
    }
    let mut visited: FxHashSet<u64> = FxHashSet::default();
    visited.insert(me.id);
    let mut first = Vec::new();
    current_holders(me, &mut first);
    let mut stack = vec![Frame {
        thread: Arc::clone(me),
        holders: first,
        next: 0,
    }];
    while let Some(top) = stack.last_mut() {
        let Some(&holder) = top.holders.get(top.next) else {
            stack.pop();
            continue;
        };
        top.next += 1;
        if holder.thread == me.id {
            let hops: Vec<Hop> = stack
                .iter()
                .map(|f| Hop {
                    thread: Arc::clone(&f.thread),
                    holder: f.holders[f.next - 1],
                })
                .collect();
            return Some(cycle_report(&hops));
        }
        if !visited.insert(holder.thread) {
            continue;
        }
        let Some(next) = registry::lookup(holder.thread) else {
            continue; // ended meanwhile: it holds nothing any more
        };
        let mut holders = Vec::new();
        current_holders(&next, &mut holders);
        if !holders.is_empty() {
            stack.push(Frame {
                thread: next,
                holders,
                next: 0,
            });
        }
    }
    None
}
