// Layer 10 (process): worker processes, over the futures layer.
//! The timer thread: kills a worker whose running task is past its deadline. Its
//! supervisor then sees the worker exit and fails that task with `TaskError::Timeout`.
//!
//! A task's clock starts when its worker starts it (the claim page says when). Before
//! it kills, the timer marks the task killed on the claim page: if the task has just
//! finished, that fails and the worker is left alone (its reply is on the way); if it
//! succeeds, the worker sends no reply and starts nothing more, so the request queued
//! behind the task provably never started, and runs on another worker.
//!
//! The timer sleeps on the pool's condition until the earliest deadline; whoever sets
//! an earlier one (a task becoming the one a worker runs) wakes it. It ends once every
//! supervisor has.

use std::sync::Arc;
use std::time::Instant;

use super::claims::Phase;
use super::state::{InFlight, Shared, Stop};

/// The body of the timer thread.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut st = shared.state.lock();
    loop {
        if st.supervisors == 0 {
            return;
        }
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for live in st.slots.iter_mut().flatten() {
            let Some(deadline) = live.deadline else {
                continue;
            };
            if deadline > now {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
                continue;
            }
            let Some(InFlight::Task {
                seq,
                job,
                timed_out,
            }) = live.in_flight.front_mut()
            else {
                live.deadline = None;
                continue;
            };
            let Some(timeout) = job.timeout else {
                live.deadline = None;
                continue;
            };
            live.deadline = match live.claims.phase(*seq) {
                // Started later than the pool guessed: its real deadline is later.
                Phase::Started(at) if at + timeout > now => Some(at + timeout),
                // Not started yet: give it its whole time once it is.
                Phase::Queued => Some(now + timeout),
                Phase::Started(_) | Phase::Unknown => {
                    // A page a task scribbled on cannot say: the pool's clock decides.
                    if live.claims.kill_running(*seq) || live.claims.phase(*seq) == Phase::Unknown {
                        *timed_out = true;
                        // The worker is in the pool, so not yet reaped: its pid is its own.
                        live.stop(Stop::Timeout, libc::SIGKILL);
                    }
                    None
                }
                Phase::Finished | Phase::Revoked | Phase::Killed => None,
            };
            if let Some(d) = live.deadline {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        st.timer_wake = next;
        match next {
            Some(at) => {
                st.wait_timeout(at.saturating_duration_since(now));
            }
            None => st.wait(),
        }
    }
}
