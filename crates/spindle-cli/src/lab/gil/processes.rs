//! The CPU-bound sums on a process pool: Python's way around the GIL, each worker a
//! process with an interpreter (and a GIL) of its own. Here the workers are the
//! `spindle` program itself, started again by `spindle::process`.

use std::sync::Arc;
use std::time::Duration;

use spindle::futures::TaskError;
use spindle::process::ProcessPoolExecutor;
use spindle::thread::Thread;

use super::super::Unmeasured;
use super::super::measure::{failed, joined, thread_cpu_time};
use super::runs::{Spent, check_sum, sum_to};

/// Worker processes in the pool.
pub const WORKERS: usize = 2;

spindle::task! {
    /// The gil experiment's CPU-bound sum of `0..n`, run in a worker process; returns
    /// the sum and the CPU time it took, in nanoseconds.
    const SUM_BELOW = fn sum_below(n: u64) -> (u64, u64) {
        let start = thread_cpu_time();
        let sum = sum_to(n, || {});
        (sum, u64::try_from((thread_cpu_time() - start).as_nanos()).unwrap_or(u64::MAX))
    }
}

/// A started, warmed-up pool of `WORKERS` processes.
pub struct Pool {
    executor: Arc<ProcessPoolExecutor>,
    limit: Duration,
}

impl Pool {
    /// Starts the pool and runs a task on each worker, so that starting them is not
    /// timed; any run may take up to `limit` before it counts as hung.
    pub fn start(limit: Duration) -> Result<Pool, Unmeasured> {
        let pool = Pool {
            executor: Arc::new(ProcessPoolExecutor::new(WORKERS)),
            limit,
        };
        // A failure here says which task failed how; the pool did not start.
        pool.map(vec![1; WORKERS])?;
        Ok(pool)
    }

    /// `sums` sums of `0..n` on the pool; the CPU time its workers spent on them.
    pub fn sums(&self, n: u64, sums: usize) -> Result<Spent, Unmeasured> {
        let results = self.map(vec![n; sums])?;
        let mut cpu = Duration::ZERO;
        for (sum, nanos) in results {
            check_sum(n, sum);
            cpu += Duration::from_nanos(nanos);
        }
        Ok(Spent {
            total: cpu,
            in_workers: cpu,
        })
    }

    /// Maps `sum_below` over `items` from a thread of its own, so that a hang is reported
    /// rather than waited out.
    fn map(&self, items: Vec<u64>) -> Result<Vec<(u64, u64)>, Unmeasured> {
        let executor = Arc::clone(&self.executor);
        let handle = Thread::new(move || -> Result<Vec<(u64, u64)>, TaskError> {
            executor.map(SUM_BELOW, items).collect()
        })
        .name("submits to the process pool")
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))?;
        joined(handle, self.limit)?.map_err(|e| failed(format!("a sum in a worker failed: {e}")))
    }
}
