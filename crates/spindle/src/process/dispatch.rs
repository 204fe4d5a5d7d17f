// Layer 10 (process): worker processes, over the futures layer.
//! Moving jobs from the queue into workers' pipes, and writing them.
//!
//! # Any idle worker takes the next task
//!
//! A queued job goes to an idle worker first. When every worker is up and busy, a job
//! whose frame is small ([`PIPELINED_FRAME_MAX`]) is queued in the pipe of a worker
//! behind the task it runs, so that the worker never waits for the pool between two
//! tasks. How many a worker holds depends on its pace: one behind the running task,
//! and up to [`PIPELINE_DEPTH`] requests in all while its tasks take less than
//! [`QUICK_TASK`] each, so that tiny tasks run at the speed of the pipe (a worker
//! reads many requests in one read, and its supervisor, reading many replies at once,
//! sends as many new requests in one write), while longer tasks stay in the queue,
//! where they can still be cancelled (Python's pool, too, hands its workers only one
//! task more than they run: the futures in its call queue are running and cannot be
//! cancelled; the rest can). A job queued behind a running task can be
//! stranded behind a long task; so whenever a worker is idle and the queue is empty,
//! the pool takes the oldest such job back (revoking it on the busy worker's claim
//! page, which the worker checks before it starts a request) and gives it to the idle
//! worker. The revocation either wins, and the busy worker skips the request, or loses
//! because the busy worker has just started it: a task never runs twice, and never
//! waits while a worker is idle.
//!
//! A worker a request was taken back from is sent nothing more behind its running task
//! until it has run dry, which bounds the skipped frames left in its pipe: fewer than
//! `PIPELINE_DEPTH`, so that the frames in a pipe never outnumber the claim ring.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::claims;
use super::state::{self, InFlight, Job, Live, Shared, State, Writes};
use crate::futures::TaskError;

/// Requests a quick worker holds at once: the running one and those queued behind it.
const PIPELINE_DEPTH: usize = 16;
/// Requests any other worker holds at once: the running one and the next.
const PIPELINE_SHALLOW: usize = 2;
/// A worker whose last replies came this soon after each other (or after the request
/// became the one it runs) is quick.
const QUICK_TASK: Duration = Duration::from_millis(1);
/// The largest frame queued behind a running task (all a worker holds must fit in the
/// socket's buffer at once, or its writer would wait for the task before them).
const PIPELINED_FRAME_MAX: usize = 2048;

// Frames not yet read in a pipe: those a worker holds, and fewer than as many skipped
// ones left from before it ran dry. Each has its own entry in the claim ring.
const _: () = assert!(2 * PIPELINE_DEPTH as u64 <= claims::RING);

/// How far [`Shared::dispatch`] fills the pipes of busy workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    /// One request behind the running one: for a thread that submits a task, which
    /// would write it alone; the worker's supervisor fills the rest in batches.
    Shallow,
    /// As many as the worker's pace allows: for its supervisor, which has just read a
    /// batch of replies and writes the requests that replace them at once.
    ToPace,
}

impl Shared {
    /// Moves queued jobs into workers with room, takes stranded jobs back for idle
    /// workers, and closes the pipes of workers that are done (shutdown,
    /// `max_tasks_per_child`). Returns what to write and whether the timer must
    /// re-plan.
    pub(crate) fn dispatch(&self, st: &mut State, fill: Fill) -> (Writes, bool) {
        let now = Instant::now();
        let mut claimed = Vec::new();
        let mut wake_timer = false;
        loop {
            if st.pending.is_empty() && !self.take_back_for_idle(st) {
                break;
            }
            let len = st.pending.front().expect("not empty").frame.len();
            let Some(index) = self.pick_slot(st, len, fill) else {
                break;
            };
            let mut job = st.pending.pop_front().expect("just seen");
            if !job.started && !job.completion.start(st.runners[index]) {
                continue; // cancelled while queued
            }
            job.started = true;
            let live = st.slots[index].as_mut().expect("picked a live slot");
            live.sent += 1;
            let (seq, writer) = live.enqueue(Arc::clone(&job.frame));
            live.in_flight.push_back(InFlight::Task {
                seq,
                job,
                timed_out: false,
            });
            if live.in_flight.len() == 1 {
                live.start_head(now);
                wake_timer |= state::needs_timer(live.deadline, st.timer_wake);
            }
            if writer {
                claimed.push(index);
            }
        }
        for index in 0..st.slots.len() {
            self.close_if_done(st, index);
        }
        let writes = claimed
            .into_iter()
            .filter_map(|index| st.slots[index].as_mut()?.take_outbox())
            .collect();
        (Writes(writes), wake_timer)
    }

    /// The worker that takes a frame of `len` bytes: an idle one, else (every worker
    /// being up) one whose pipe has room behind its running task.
    fn pick_slot(&self, st: &State, len: usize, fill: Fill) -> Option<usize> {
        let max_tasks = self.limits.max_tasks();
        // Queue behind a running task only when every worker is up and busy: a worker
        // starting now would otherwise sit idle while the task waits in another's pipe.
        let may_queue = st.slots.iter().all(Option::is_some);
        st.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((i, slot.as_ref()?)))
            .filter(|(_, live)| {
                live.accepts(max_tasks)
                    && (live.in_flight.is_empty()
                        || (may_queue
                            && !live.took_back
                            && live.in_flight.len() < live.holds_at_most(fill)
                            && len <= PIPELINED_FRAME_MAX))
            })
            .min_by_key(|(_, live)| live.in_flight.len())
            .map(|(i, _)| i)
    }

    /// If a worker is idle, takes back the oldest job queued behind another worker's
    /// running task (one that worker has not started) and puts it at the head of the
    /// queue; true if it did.
    fn take_back_for_idle(&self, st: &mut State) -> bool {
        let max_tasks = self.limits.max_tasks();
        let idle = st
            .slots
            .iter()
            .flatten()
            .any(|live| live.accepts(max_tasks) && live.in_flight.is_empty());
        if !idle {
            return false;
        }
        for live in st.slots.iter_mut().flatten() {
            // Behind the head: a request its worker started meanwhile cannot be
            // revoked, and the one after it is then the oldest not started.
            let claims = &live.claims;
            let Some(index) = (1..live.in_flight.len()).find(|&i| {
                matches!(&live.in_flight[i], InFlight::Task { seq, .. } if claims.revoke(*seq))
            }) else {
                continue;
            };
            let Some(InFlight::Task { job, .. }) = live.in_flight.remove(index) else {
                unreachable!("revoked just above");
            };
            live.sent -= 1;
            live.took_back = true;
            st.pending.push_front(job);
            return true;
        }
        false
    }

    /// Writes frames this thread became the writer of, then keeps writing what others
    /// queued meanwhile, until the outbox is empty. A write fails when the worker died
    /// or closed its end of the socket: the requests it never started then go to other
    /// workers, and it is killed once the task it runs (if any) is done.
    pub(crate) fn write(&self, writes: Writes) {
        for mut w in writes.0 {
            loop {
                let sent = w.requests.send(&w.frames);
                let mut st = self.state.lock();
                let Some(live) = st.slots[w.slot].as_mut() else {
                    break; // the worker is gone, and its outbox with it
                };
                if live.generation != w.generation {
                    break;
                }
                if sent.is_err() {
                    let taken = live.write_failed();
                    let cancelled = resend(&mut st, taken);
                    self.close_if_done(&mut st, w.slot);
                    let (more, wake_timer) = self.dispatch(&mut st, Fill::ToPace);
                    drop(st);
                    cancel_sent(cancelled);
                    if wake_timer {
                        self.state.notify_all();
                    }
                    self.write(more);
                    break;
                }
                match live.outbox_drained() {
                    Some(frames) => w.frames = frames,
                    None => {
                        self.close_if_done(&mut st, w.slot);
                        break;
                    }
                }
            }
        }
    }

    /// Runs [`Shared::dispatch`] and its writes: for when the queue or the workers
    /// changed.
    pub(crate) fn dispatch_and_write(&self) {
        let (writes, wake_timer) = {
            let mut st = self.state.lock();
            self.dispatch(&mut st, Fill::ToPace)
        };
        if wake_timer {
            self.state.notify_all();
        }
        self.write(writes);
    }
}

// A worker's pace, which sets how many requests it holds.
impl Live {
    /// Learns the worker's pace from `replies` replies that came at `now`, the first
    /// answering its head request: before the head changes.
    pub(crate) fn paced(&mut self, replies: usize, now: Instant) {
        if let Some(since) = self.head_since
            && replies > 0
        {
            self.quick = now.saturating_duration_since(since) < QUICK_TASK * replies as u32;
        }
    }

    /// How many requests the worker may hold: many while its tasks are quick.
    fn holds_at_most(&self, fill: Fill) -> usize {
        match fill {
            Fill::ToPace if self.quick => PIPELINE_DEPTH,
            _ => PIPELINE_SHALLOW,
        }
    }
}

/// Puts jobs sent to a worker that never started them back at the head of the queue,
/// to run elsewhere; unless the pool's workers are being stopped
/// (`terminate_workers`): then they are returned, to be cancelled.
#[must_use = "the jobs returned are to be cancelled"]
pub(crate) fn resend(st: &mut State, jobs: Vec<Job>) -> Vec<Job> {
    if st.stopping.is_some() {
        return jobs;
    }
    for job in jobs.into_iter().rev() {
        st.pending.push_front(job);
    }
    Vec::new()
}

/// Cancels jobs that were sent to a worker and will never run.
pub(crate) fn cancel_sent(jobs: Vec<Job>) {
    for job in jobs {
        job.completion.fail(TaskError::Cancelled);
    }
}
