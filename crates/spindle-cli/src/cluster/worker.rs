//! The hidden `__cluster-worker` role: this program as a cluster worker, for the
//! demonstration (its tasks are registered in this program).

use std::process::ExitCode;
use std::time::Duration;

/// Serves `pool` at `url` until SIGTERM; exit status 0 when `run` returned `Ok`.
pub fn run(url: &str, pool: &str, processes: usize, lease: Duration) -> ExitCode {
    let worker = spindle::cluster::Worker::builder(url)
        .pool(pool)
        .processes(processes)
        .lease(lease)
        .build();
    match worker.and_then(spindle::cluster::Worker::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spindle cluster worker: {e}");
            ExitCode::FAILURE
        }
    }
}
