// Layer 9 (futures): executors and futures, over everything below.
//! Who a future belongs to: its task's id and its executor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Task ids count from 1, process-wide (the trace's task spans use them too).
static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh task id, unique in the process.
pub(crate) fn next_task_id() -> u64 {
    NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed)
}

/// A task as an executor outside this module (the process pool) introduces it: its id,
/// and the executor, for people (`ProcessPoolExecutor "jobs"`), as states and deadlock
/// reports name the future: `Future of task 3 (ProcessPoolExecutor "jobs")`.
pub(crate) struct TaskInfo {
    pub(crate) id: u64,
    pub(crate) origin: Arc<str>,
}

impl TaskInfo {
    pub(crate) fn new(id: u64, origin: Arc<str>) -> TaskInfo {
        TaskInfo { id, origin }
    }
}
