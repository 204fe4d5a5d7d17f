//! Finding cycles in the wait-for graph: thread -> what it waits on -> the threads
//! holding that -> what they wait on -> ...
//!
//! Edges live in the thread records (published by the waiting path); holders come from
//! the waited-on resources. Callers hold `GRAPH`, so no edge of a lock acquisition
//! appears or is checked concurrently.

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::Arc;

use super::error::{BlockedBy, DeadlockError, DeadlockKind, DeadlockedThread};
use crate::thread::ThreadState;
use crate::thread::registry::{self, ThreadRecord};
use crate::wait::Holder;

/// Whether a search follows a wait in `state`: every wait without a timeout (one with
/// a timeout ends by itself). Only waits with holders lead anywhere: locks, `join`, a
/// `Future`'s result; a `Condition` or `Event` wait has none (anyone may end it).
fn followed(state: ThreadState) -> bool {
    matches!(state, ThreadState::Blocked | ThreadState::Waiting)
}

/// One hop: `thread` wants `wants`, which `holder` holds.
struct Step {
    thread: Arc<ThreadRecord>,
    state: ThreadState,
    wants: String,
    at: &'static Location<'static>,
    holder: Holder,
}

/// The live threads, indexed, for one search.
pub(crate) struct Graph {
    threads: Vec<Arc<ThreadRecord>>,
    by_id: HashMap<u64, usize>,
}

impl Graph {
    pub(crate) fn snapshot() -> Graph {
        let threads = registry::snapshot();
        let by_id = threads.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        Graph { threads, by_id }
    }

    pub(crate) fn threads(&self) -> &[Arc<ThreadRecord>] {
        &self.threads
    }

    /// A cycle of waits through `start`, if there is one.
    pub(crate) fn cycle_through(&self, start: &Arc<ThreadRecord>) -> Option<DeadlockError> {
        let mut path = Vec::new();
        let mut visited = HashSet::new();
        visited.insert(start.id);
        if self.search(start, start.id, &mut path, &mut visited) {
            Some(report(path))
        } else {
            None
        }
    }

    fn search(
        &self,
        thread: &Arc<ThreadRecord>,
        target: u64,
        path: &mut Vec<Step>,
        visited: &mut HashSet<u64>,
    ) -> bool {
        let (state, wants, at, holders) = {
            let edge = thread.wait.lock();
            let Some(edge) = edge.as_ref() else {
                return false;
            };
            if !followed(edge.state) || edge.on().transient() {
                return false;
            }
            let mut holders = Vec::new();
            edge.on().holders(&self.threads, &mut holders);
            (edge.state, edge.on().describe(), edge.at, holders)
        };
        for holder in holders {
            let step = Step {
                thread: Arc::clone(thread),
                state,
                wants: wants.clone(),
                at,
                holder,
            };
            if holder.thread == target {
                path.push(step);
                return true;
            }
            if !visited.insert(holder.thread) {
                continue;
            }
            let Some(&next) = self.by_id.get(&holder.thread) else {
                continue;
            };
            path.push(step);
            if self.search(&self.threads[next], target, path, visited) {
                return true;
            }
            path.pop();
        }
        false
    }
}

/// Turns a closed path of hops into the report: the thread of hop `i` holds what hop `i-1` wants.
fn report(path: Vec<Step>) -> DeadlockError {
    let n = path.len();
    let threads = (0..n)
        .map(|i| {
            let step = &path[i];
            let prev = &path[(i + n - 1) % n];
            let next = &path[(i + 1) % n];
            DeadlockedThread {
                id: step.thread.id,
                name: step.thread.name().to_string(),
                state: step.state,
                wants: step.wants.clone(),
                waiting_at: step.at,
                // What the previous thread wants is this one's only if it owns it (a
                // lock); a joined thread or a task's runner just has to finish.
                holds: (prev.holder.owns).then(|| (prev.wants.clone(), prev.holder.since)),
                blocked_by: Some(if step.holder.owns {
                    BlockedBy::Holder(next.thread.name().to_string())
                } else {
                    BlockedBy::Actor(next.thread.name().to_string())
                }),
            }
        })
        .collect();
    DeadlockError::new(DeadlockKind::Cycle, threads)
}
