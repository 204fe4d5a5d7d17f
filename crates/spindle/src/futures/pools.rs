// Layer 9 (futures): executors and futures, over everything below.
//! Every live thread pool, by a small index: how a future names the pool it came from
//! (its core keeps the index, four bytes, rather than a pointer), and how the exit
//! (`thread::join_non_daemon`) reaches every pool's idle workers.

use std::sync::{Arc, Once, Weak};

use parking_lot::RwLock;

use super::pool::Pool;
use crate::thread;

struct Table {
    /// Index `i` is `entries[i - 1]`; 0 names no pool.
    entries: Vec<Option<Weak<Pool>>>,
    /// Indices of pools that are gone, for reuse.
    free: Vec<u32>,
}

static TABLE: RwLock<Table> = RwLock::new(Table {
    entries: Vec::new(),
    free: Vec::new(),
});

/// Enters `pool`; its index, never 0 (or 0 if the table is full: four billion live pools).
pub(crate) fn register(pool: Weak<Pool>) -> u32 {
    static EXIT_HOOK: Once = Once::new();
    EXIT_HOOK.call_once(|| thread::at_exit(let_idle_workers_leave));
    let mut t = TABLE.write();
    if let Some(index) = t.free.pop() {
        t.entries[index as usize - 1] = Some(pool);
        return index;
    }
    match u32::try_from(t.entries.len() + 1) {
        Ok(index) => {
            t.entries.push(Some(pool));
            index
        }
        Err(_) => 0,
    }
}

/// Takes the pool at `index` out (it is being dropped).
pub(crate) fn unregister(index: u32) {
    if index == 0 {
        return;
    }
    let mut t = TABLE.write();
    t.entries[index as usize - 1] = None;
    t.free.push(index);
}

/// How the pool at `index` is named (`ThreadPoolExecutor "io"`), while it lives.
pub(crate) fn origin(index: u32) -> Option<Arc<str>> {
    let t = TABLE.read();
    let pool = t
        .entries
        .get(index.checked_sub(1)? as usize)?
        .as_ref()?
        .upgrade()?;
    Some(Arc::clone(&pool.origin))
}

/// The exit hook: every live pool's idle workers leave once the queued work has run, as
/// CPython's `concurrent.futures.thread._python_exit` tells them at interpreter exit.
fn let_idle_workers_leave() {
    let pools: Vec<Arc<Pool>> = TABLE
        .read()
        .entries
        .iter()
        .flatten()
        .filter_map(Weak::upgrade)
        .collect();
    for pool in pools {
        pool.wake_idle_workers();
    }
}
