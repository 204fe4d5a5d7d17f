//! The CPU-bound sums on a process pool: Python's way around the GIL, each worker a
//! process with an interpreter (and a GIL) of its own. Here the workers are the
//! `spindle` program itself, started again by `spindle::process`.

use std::time::Duration;

use spindle::futures::TaskError;
use spindle::process::ProcessPoolExecutor;
use spindle::thread;

use super::super::Failed;
use super::super::measure::{joined, timed};
use super::{check_sum, sum_to};

/// Worker processes in the pool.
pub const WORKERS: usize = 2;

spindle::task! {
    /// The gil experiment's CPU-bound sum of `0..n`, run in a worker process.
    const SUM_BELOW = fn sum_below(n: u64) -> u64 {
        sum_to(n, || {})
    }
}

/// The best wall time of `runs` rounds of `sums` sums of `0..n` on a pool of `WORKERS`
/// processes, started (and warmed up) before the clock runs.
pub fn run(n: u64, sums: usize, runs: usize, limit: Duration) -> Result<Duration, Failed> {
    let handle = thread::spawn(move || -> Result<Duration, String> {
        let pool = ProcessPoolExecutor::new(WORKERS);
        let started: Result<Vec<u64>, TaskError> = pool.map(SUM_BELOW, [1; WORKERS]).collect();
        started.map_err(|e| format!("the process pool did not start: {e}"))?;
        let mut best = Duration::MAX;
        for _ in 0..runs.max(1) {
            let (results, took): (Result<Vec<u64>, TaskError>, _) =
                timed(|| pool.map(SUM_BELOW, vec![n; sums]).collect());
            let results = results.map_err(|e| format!("a sum in a worker failed: {e}"))?;
            for sum in results {
                check_sum(n, sum);
            }
            best = best.min(took);
        }
        Ok(best)
    });
    joined(handle, limit)?.map_err(Failed)
}
