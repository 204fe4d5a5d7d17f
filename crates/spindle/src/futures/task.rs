// Layer 9 (futures): executors and futures, over everything below.
//! Who a future belongs to: its task's id, its executor, and the thread running it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::wait::{Holder, Waitable};

/// Task ids count from 1, process-wide (the trace's task spans use them too).
static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh task id, unique in the process.
pub(crate) fn next_task_id() -> u64 {
    NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed)
}

/// What a thread blocked on a future is waiting for, as states and deadlock reports
/// show it: `Future of task 3 (ThreadPoolExecutor "io")`.
pub(crate) struct TaskInfo {
    pub(crate) id: u64,
    /// The executor, for people: `ThreadPoolExecutor "io"`.
    origin: Arc<str>,
    /// The id of the thread running the task; 0 while nobody runs it. Read by deadlock
    /// detection, which must not take locks, hence an atomic.
    runner: AtomicU64,
}

impl TaskInfo {
    pub(crate) fn new(id: u64, origin: Arc<str>) -> TaskInfo {
        TaskInfo {
            id,
            origin,
            runner: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_runner(&self, thread: u64) {
        self.runner.store(thread, Ordering::Relaxed);
    }
}

impl Waitable for TaskInfo {
    fn holds_up_a_chain(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("Future of task {} ({})", self.id, self.origin)
    }

    /// The thread running the task is the one that must act before the wait ends, so a
    /// task waiting for a lock its caller holds shows up as a cycle in `deadlock::check`.
    fn holders(&self, _waiter: u64, out: &mut Vec<Holder>) {
        let thread = self.runner.load(Ordering::Relaxed);
        if thread != 0 {
            out.push(Holder::actor(thread));
        }
    }
}
