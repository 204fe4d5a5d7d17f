//! Layer 4 (detection): [`check`], every deadlock that exists right now.
//!
//! One pass reads every thread's current wait, one thread at a time, without any global
//! lock; one depth-first traversal of that picture finds the candidate cycles; each is
//! then confirmed under the graph lock by reading its chain again, which, as for the
//! lock-time search, proves it real (see `graph/README.md`). A stall is confirmed by a
//! second look at every parked thread's parking word: unchanged words mean each thread
//! slept the whole time between the two looks, so at one instant all of them did.

use std::sync::Arc;

use parking_lot::Mutex as InternalMutex;
use rustc_hash::{FxHashMap, FxHashSet};

use super::error::{DeadlockError, DeadlockKind, DeadlockedThread};
use crate::graph::edge::Holder;
use crate::graph::{self, GRAPH, Hop};
use crate::thread::registry::{self, Parking, ThreadRecord};
use crate::thread::state::ThreadState;

/// Every deadlock that exists right now, as Java's `findDeadlockedThreads`.
///
/// Finds each cycle of waits without timeout (on any spindle primitive whose waiters
/// depend on particular threads: locks, `join`, a `Future`'s result), and a global
/// stall: every non-daemon thread parked without a timeout, so that none can ever wake
/// another (two threads each waiting on an `Event` only the other would set). Each
/// report lists only the threads involved, by name, with what each holds and waits on.
/// Runs whatever [`detection`](super::detection) is. It reads one thread at a time and
/// holds no lock that blocking calls need while it scans: a contended `lock()` elsewhere
/// does not wait for it.
///
/// # Where to call it from
/// Cycles are found from any thread. A stall is found only when nothing that could still
/// act is left: a non-daemon thread that runs (such as the caller, if it is one) or
/// waits with a timeout rules it out, and so does a daemon thread that does, except the
/// caller itself. So look for stalls from a daemon thread: a [`Watchdog`](super::Watchdog) calls `check()`
/// every so often and reports what it finds. Threads spindle has never seen (a `std::thread` that
/// never used it, a main thread that never did) are invisible to it.
///
/// ```
/// use spindle::deadlock;
/// // Nothing is blocked here:
/// assert!(deadlock::check().is_empty());
/// ```
pub fn check() -> Vec<DeadlockError> {
    let (threads, births) = registry::snapshot_and_births();
    let scan = Scan::read(threads);
    let mut found: Vec<DeadlockError> = scan
        .candidate_cycles()
        .into_iter()
        .filter_map(|cycle| confirm(&cycle))
        .collect();
    if let Some(stall) = scan.stall(births) {
        found.push(stall);
    }
    found
}

/// One thread as the scan read it.
struct Node {
    record: Arc<ThreadRecord>,
    /// Its parking word, read after its wait.
    parking: Parking,
    /// What it waits on: the wait's state, whether searches follow it.
    waits: Option<(ThreadState, bool)>,
    /// Who must act before its wait ends; empty unless the wait is current and followed.
    holders: Vec<Holder>,
    /// Its wait is for work, not for another thread (see `Waitable::idle`).
    idle: bool,
}

/// Every live thread's wait, read one thread at a time.
struct Scan {
    nodes: Vec<Node>,
    by_id: FxHashMap<u64, usize>,
}

impl Scan {
    fn read(threads: Vec<Arc<ThreadRecord>>) -> Scan {
        let mut nodes = Vec::with_capacity(threads.len());
        let mut by_id = FxHashMap::default();
        for record in threads {
            let mut holders = Vec::new();
            let mut idle = false;
            let waits = {
                let edge = record.wait.lock();
                edge.as_ref().map(|edge| {
                    idle = edge.on().idle();
                    let followed = edge.followed();
                    if followed {
                        edge.on().holders(record.id, &mut holders);
                    }
                    (edge.state, followed)
                })
            };
            // Read after the holders (see `graph::current_holders`).
            let parking = record.parking();
            if !parking.current() {
                holders.clear();
            }
            by_id.insert(record.id, nodes.len());
            nodes.push(Node {
                record,
                parking,
                waits,
                holders,
                idle,
            });
        }
        Scan { nodes, by_id }
    }

    /// Each cycle of the picture, once: one depth-first traversal with a shared visited
    /// set (a back edge closes a cycle), so the cost is threads plus waits.
    fn candidate_cycles(&self) -> Vec<Vec<Hop>> {
        const NEW: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let mut colour = vec![NEW; self.nodes.len()];
        let mut cycles = Vec::new();
        let mut seen: FxHashSet<Vec<u64>> = FxHashSet::default();
        for root in 0..self.nodes.len() {
            if colour[root] != NEW || self.nodes[root].holders.is_empty() {
                continue;
            }
            // (node, index of the next holder to follow)
            let mut path: Vec<(usize, usize)> = vec![(root, 0)];
            colour[root] = ON_PATH;
            while let Some(&mut (node, ref mut next)) = path.last_mut() {
                let Some(holder) = self.nodes[node].holders.get(*next) else {
                    colour[node] = DONE;
                    path.pop();
                    continue;
                };
                *next += 1;
                let Some(&to) = self.by_id.get(&holder.thread) else {
                    continue;
                };
                match colour[to] {
                    NEW => {
                        colour[to] = ON_PATH;
                        path.push((to, 0));
                    }
                    ON_PATH => {
                        let from = path.iter().position(|&(n, _)| n == to).unwrap_or(0);
                        let hops: Vec<Hop> = path[from..]
                            .iter()
                            .map(|&(n, next)| Hop {
                                thread: Arc::clone(&self.nodes[n].record),
                                holder: self.nodes[n].holders[next - 1],
                            })
                            .collect();
                        let mut ids: Vec<u64> = hops.iter().map(|h| h.thread.id).collect();
                        ids.sort_unstable();
                        if seen.insert(ids) {
                            cycles.push(hops);
                        }
                    }
                    _ => {}
                }
            }
        }
        cycles
    }

    /// A global stall: every non-daemon thread asleep in a queue without a timeout, at
    /// least one of them not merely an idle pool worker waiting for work, and nothing
    /// left that could wake one of them.
    ///
    /// Seen from the threads spindle can see (the ones it started, and any other that
    /// has used it; a main thread that never did is invisible). Not a stall, so never
    /// reported:
    /// - a non-daemon thread that runs, is about to park, or waits with a timeout (it
    ///   may still act);
    /// - a daemon thread that does, other than the caller and any watchdog, which only
    ///   watch (a daemon is not required to be parked, but while it runs it may set the
    ///   event the others want);
    /// - a parked thread whose wait a running thread will end (joining the watcher
    ///   itself);
    /// - a thread started since the scan began, or a parked one that moved meanwhile.
    fn stall(&self, births: u64) -> Option<DeadlockError> {
        let watcher = registry::current_id();
        let mut parked: Vec<(&Node, bool)> = Vec::new();
        for node in &self.nodes {
            let t = &node.record;
            if !(t.spawned || t.is_bound()) {
                continue;
            }
            let counted = !t.daemon();
            let for_good =
                node.waits.is_some_and(|(_, followed)| followed) && node.parking.asleep();
            match (for_good, counted) {
                (true, _) => parked.push((node, counted)),
                (false, true) => return None,
                (false, false) if t.id == watcher || is_watcher(t.id) => {}
                (false, false) => return None,
            }
        }
        let parked_ids: FxHashSet<u64> = parked.iter().map(|(n, _)| n.record.id).collect();
        let counted = || {
            parked
                .iter()
                .filter(|(_, counted)| *counted)
                .map(|(n, _)| *n)
        };
        // Idle pool workers waiting for work are not stuck: a stall needs a thread that is.
        if !counted().any(|n| !n.idle)
            || counted().any(|n| n.holders.iter().any(|h| !parked_ids.contains(&h.thread)))
        {
            return None;
        }
        // The second look: each still asleep in the same park, and nobody new.
        if parked.iter().any(|(n, _)| n.record.parking() != n.parking)
            || registry::births() != births
        {
            return None;
        }
        let mut threads = Vec::new();
        for node in counted() {
            let edge = node.record.wait.lock();
            let edge = edge.as_ref()?;
            threads.push(DeadlockedThread {
                id: node.record.id,
                name: node.record.name().to_string(),
                state: edge.state,
                wants: edge.on().describe(),
                waiting_at: edge.at,
                holds: None,
                blocked_by: None,
            });
        }
        Some(DeadlockError::new(DeadlockKind::Stall, threads))
    }
}

/// Reads a candidate cycle's chain again under the graph lock; the report if every wait
/// of it is still current and still held up by the next thread.
fn confirm(cycle: &[Hop]) -> Option<DeadlockError> {
    let _graph = GRAPH.lock();
    let mut hops = Vec::with_capacity(cycle.len());
    let mut holders = Vec::new();
    for (i, hop) in cycle.iter().enumerate() {
        let next = cycle[(i + 1) % cycle.len()].thread.id;
        holders.clear();
        graph::current_holders(&hop.thread, &mut holders);
        let holder = *holders.iter().find(|h| h.thread == next)?;
        hops.push(Hop {
            thread: Arc::clone(&hop.thread),
            holder,
        });
    }
    Some(graph::cycle_report(&hops))
}

/// Threads that only watch (watchdogs): a stall never waits for them to act.
static WATCHERS: InternalMutex<Vec<u64>> = InternalMutex::new(Vec::new());

/// Lists `thread` as one that only watches, until [`unlist_watcher`].
pub(crate) fn list_watcher(thread: u64) {
    WATCHERS.lock().push(thread);
}

/// Takes `thread` off the watchers' list.
pub(crate) fn unlist_watcher(thread: u64) {
    WATCHERS.lock().retain(|&t| t != thread);
}

fn is_watcher(thread: u64) -> bool {
    WATCHERS.lock().contains(&thread)
}
