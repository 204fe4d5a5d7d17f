// Layer 10 (process): worker processes, over the futures layer.
//! The timer thread: kills a worker whose running task is past its deadline. Its
//! supervisor then sees the pipe end and fails that task with `TaskError::Timeout`.
//!
//! The timer sleeps on the pool's condition until the earliest deadline; whoever sets
//! an earlier one (a task becoming the one a worker runs) wakes it. It ends once every
//! supervisor has.

use std::sync::Arc;
use std::time::Instant;

use super::spawn;
use super::state::{InFlight, Shared};

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
            if let Some(InFlight::Task { timed_out, .. }) = live.in_flight.front_mut() {
                *timed_out = true;
                live.killed = true;
                live.deadline = None;
                // The worker is in the pool, so not yet reaped: its pid is still its own.
                spawn::kill(live.pid);
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
