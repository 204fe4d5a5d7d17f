// Layer 10 (process): worker processes, over the futures layer.
//! The pool's shared state: queued jobs, one slot per worker, and what each worker
//! holds. [`dispatch`](super::dispatch) moves jobs from the queue into workers' pipes.
//!
//! Everything here lives under the pool's one lock (a [`Condition`] whose only waiter
//! is the timer thread). Writing to a pipe never happens under it: a slot has an outbox
//! and at most one writer at a time, the thread that found the outbox idle
//! ([`Writes`]), so frames reach the pipe in the order they were numbered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::channel::Requests;
use super::claims::{Claims, Phase};
use super::completion::Completion;
use super::spawn;
use crate::futures::TaskError;
use crate::sync::Condition;

/// An encoded request, shared by the queue, the outbox and the in-flight list.
pub(crate) type Frame = Arc<Vec<u8>>;

/// A task: waiting for a worker, or sent to one.
pub(crate) struct Job {
    /// The whole request frame, length prefix included.
    pub(crate) frame: Frame,
    pub(crate) timeout: Option<Duration>,
    pub(crate) completion: Box<dyn Completion>,
    /// Already marked running: it was sent to a worker before (which died before
    /// starting it, or from which it was taken back).
    pub(crate) started: bool,
    /// The request asks its worker to reply `Started` first (the task is traced), and
    /// that reply has not been heard.
    pub(crate) announce: bool,
}

/// A request in a worker's pipe, in the order the worker runs them; `seq` is its
/// number on that pipe (see [`claims`](super::claims)).
pub(crate) enum InFlight {
    /// The pool's initializer, sent first to every worker.
    Init { seq: u64 },
    Task {
        seq: u64,
        job: Job,
        /// The timer killed the worker because this task ran past its deadline.
        timed_out: bool,
    },
}

impl InFlight {
    pub(crate) fn seq(&self) -> u64 {
        match self {
            InFlight::Init { seq } | InFlight::Task { seq, .. } => *seq,
        }
    }
}

/// Why the pool stopped a worker.
#[derive(Debug, Clone)]
pub(crate) enum Stop {
    /// Its running task was past its deadline.
    Timeout,
    /// A write to it failed: it died, or closed its end of the request socket (a
    /// task did). It finishes the task it runs, and is killed once idle.
    StoppedReading,
    /// `terminate_workers()` or `kill_workers()`, named.
    Terminated(&'static str),
}

/// A live worker as the pool sees it.
pub(crate) struct Live {
    pub(crate) pid: u32,
    /// Tells this worker from a later one in the same slot.
    pub(crate) generation: u64,
    slot: usize,
    /// The request socket; `None` once closed (the worker then finishes and exits).
    pub(crate) requests: Option<Arc<Requests>>,
    pub(crate) claims: Arc<Claims>,
    pub(crate) in_flight: VecDeque<InFlight>,
    /// The number the next frame on the pipe gets.
    next_seq: u64,
    /// Tasks sent to this worker, for `max_tasks_per_child`.
    pub(crate) sent: usize,
    /// When the task at the head of `in_flight` must be done.
    pub(crate) deadline: Option<Instant>,
    /// Set once the pool has stopped this worker: it gets nothing more.
    pub(crate) stopped: Option<Stop>,
    /// A request was taken back from this worker's pipe: nothing is queued behind its
    /// running task until it has run dry (which bounds the skipped frames in its pipe).
    pub(crate) took_back: bool,
    /// When the request at the head of `in_flight` became the one the worker runs (or
    /// next runs).
    pub(crate) head_since: Option<Instant>,
    /// Its tasks have been taking less than a millisecond each: it may hold more
    /// requests (see [`dispatch`](super::dispatch)).
    pub(crate) quick: bool,
    outbox: Vec<Frame>,
    writing: bool,
}

impl Live {
    pub(crate) fn new(slot: usize, pid: u32, requests: Arc<Requests>, claims: Arc<Claims>) -> Live {
        static GENERATIONS: AtomicU64 = AtomicU64::new(0);
        Live {
            pid,
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            slot,
            requests: Some(requests),
            claims,
            in_flight: VecDeque::new(),
            next_seq: 1,
            sent: 0,
            deadline: None,
            stopped: None,
            took_back: false,
            head_since: None,
            quick: false,
            outbox: Vec::new(),
            writing: false,
        }
    }

    /// Numbers `frame`, marks it queued on the claim page and queues it for the pipe:
    /// its number, and true if the caller must now write the outbox.
    pub(crate) fn enqueue(&mut self, frame: Frame) -> (u64, bool) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.claims.queue(seq);
        self.outbox.push(frame);
        (seq, !std::mem::replace(&mut self.writing, true))
    }

    /// The outbox, for the thread that just became this pipe's writer.
    pub(crate) fn take_outbox(&mut self) -> Option<PipeWrite> {
        Some(PipeWrite {
            slot: self.slot,
            generation: self.generation,
            requests: Arc::clone(self.requests.as_ref()?),
            frames: std::mem::take(&mut self.outbox),
        })
    }

    /// Starts the head task's clock (it has just become the one the worker runs): from
    /// when the worker started it, if it has.
    pub(crate) fn start_head(&mut self, now: Instant) {
        self.head_since = Some(now);
        self.deadline = match self.in_flight.front() {
            Some(InFlight::Task { seq, job, .. }) => {
                job.timeout.map(|t| match self.claims.phase(*seq) {
                    Phase::Started(at) => at + t,
                    _ => now + t,
                })
            }
            _ => None,
        };
    }

    /// True if the worker can be sent a task.
    pub(crate) fn accepts(&self, max_tasks: usize) -> bool {
        self.requests.is_some() && self.stopped.is_none() && self.sent < max_tasks
    }

    /// Stops the worker with `signal`, for `why` (the first reason given stays). The
    /// caller holds the pool's lock, under which the worker is in the pool and so not
    /// yet reaped: its pid is still its own.
    pub(crate) fn stop(&mut self, why: Stop, signal: libc::c_int) {
        self.stopped.get_or_insert(why);
        self.outbox.clear();
        spawn::signal(self.pid, signal);
    }

    /// Closes the request socket: the worker finishes what it holds and exits.
    fn close(&mut self) {
        if let Some(requests) = self.requests.take() {
            requests.close();
        }
    }
}

/// Configuration every part of the pool reads.
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) workers: usize,
    pub(crate) max_tasks_per_child: Option<usize>,
    pub(crate) max_frame: usize,
}

impl Limits {
    pub(crate) fn max_tasks(&self) -> usize {
        self.max_tasks_per_child.unwrap_or(usize::MAX)
    }
}

/// The state behind the pool's lock.
pub(crate) struct State {
    pub(crate) pending: VecDeque<Job>,
    pub(crate) slots: Vec<Option<Live>>,
    /// The pid of each slot's worker while it starts (spawned, not yet ready).
    pub(crate) starting: Vec<Option<u32>>,
    /// Each slot's supervisor thread (its registry id): the thread answerable for the
    /// tasks its worker runs.
    pub(crate) runners: Vec<u64>,
    /// Slots whose supervisor thread is still running.
    pub(crate) supervisors: usize,
    pub(crate) shutdown: bool,
    /// Set by `terminate_workers()` / `kill_workers()`: the method and its signal.
    /// Requests that never started are then cancelled, not sent again.
    pub(crate) stopping: Option<(&'static str, libc::c_int)>,
    /// Why the pool can run nothing more (its initializer failed, no worker starts).
    pub(crate) broken: Option<String>,
    /// The timer's next planned wake-up, to know when a new deadline needs it sooner.
    pub(crate) timer_wake: Option<Instant>,
}

/// What the timer and supervisors share with the executor.
pub(crate) struct Shared {
    /// How futures of this pool describe it: `ProcessPoolExecutor of 2 workers`.
    pub(crate) origin: Arc<str>,
    pub(crate) state: Condition<State>,
    pub(crate) limits: Limits,
    /// The initializer's request frame, sent first to every new worker.
    pub(crate) init_frame: Option<Frame>,
}

/// Pipes the current thread became the writer of, written after the lock is released.
#[must_use = "the frames must be written"]
pub(crate) struct Writes(pub(crate) Vec<PipeWrite>);

impl Writes {
    /// The writes of one pipe (none if the caller did not become its writer).
    pub(crate) fn one(write: Option<PipeWrite>) -> Writes {
        Writes(write.into_iter().collect())
    }

    /// Adds `other`'s writes.
    pub(crate) fn and(mut self, other: Writes) -> Writes {
        self.0.extend(other.0);
        self
    }
}

pub(crate) struct PipeWrite {
    pub(crate) slot: usize,
    pub(crate) generation: u64,
    pub(crate) requests: Arc<Requests>,
    pub(crate) frames: Vec<Frame>,
}

impl Shared {
    pub(crate) fn new(workers: usize, limits: Limits, init_frame: Option<Frame>) -> Shared {
        Shared {
            origin: format!("ProcessPoolExecutor of {workers} workers").into(),
            state: Condition::named(
                "ProcessPoolExecutor",
                State {
                    pending: VecDeque::new(),
                    slots: (0..workers).map(|_| None).collect(),
                    starting: vec![None; workers],
                    runners: vec![0; workers],
                    supervisors: workers,
                    shutdown: false,
                    stopping: None,
                    broken: None,
                    timer_wake: None,
                },
            ),
            limits,
            init_frame,
        }
    }

    /// Closes a worker's request socket once it has nothing in flight and will get
    /// nothing more: the pool shuts down with an empty queue, or the worker has run
    /// its `max_tasks_per_child`, or was stopped. The worker then exits and its
    /// supervisor starts a replacement if one is needed.
    pub(crate) fn close_if_done(&self, st: &mut State, index: usize) {
        let finishing = st.shutdown && st.pending.is_empty();
        let max_tasks = self.limits.max_tasks();
        if let Some(live) = st.slots[index].as_mut()
            && live.requests.is_some()
            && live.in_flight.is_empty()
            && !live.writing
            && (finishing || live.sent >= max_tasks || live.stopped.is_some())
        {
            live.close();
            if matches!(live.stopped, Some(Stop::StoppedReading)) {
                // It does not read its requests: closing them would not end it. Still
                // in the pool, so not yet reaped: the pid is its own.
                spawn::kill(live.pid);
            }
        }
    }

    /// Fails every queued job and refuses new ones: the pool cannot run anything.
    pub(crate) fn break_pool(&self, st: &mut State, why: String) -> Vec<Job> {
        st.broken.get_or_insert(why);
        st.pending.drain(..).collect()
    }
}

/// Fails jobs taken out of a broken pool (outside the lock: completing runs callbacks).
pub(crate) fn fail_all(jobs: Vec<Job>, why: &str) {
    for job in jobs {
        job.completion.fail(TaskError::BrokenPool(why.to_owned()));
    }
}

/// True if `deadline` comes before the timer's planned wake-up.
pub(crate) fn needs_timer(deadline: Option<Instant>, timer_wake: Option<Instant>) -> bool {
    match (deadline, timer_wake) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(d), Some(w)) => d < w,
    }
}

// The outbox's bookkeeping, for the writer in `dispatch`.
impl Live {
    pub(crate) fn outbox_drained(&mut self) -> Option<Vec<Frame>> {
        if self.outbox.is_empty() {
            self.writing = false;
            None
        } else {
            Some(std::mem::take(&mut self.outbox))
        }
    }

    /// After a failed write: the worker gets nothing more, and the requests it never
    /// started (it may never read them) are taken back.
    pub(crate) fn write_failed(&mut self) -> Vec<Job> {
        self.writing = false;
        self.outbox.clear();
        self.stopped.get_or_insert(Stop::StoppedReading);
        let claims = Arc::clone(&self.claims);
        let (kept, taken): (VecDeque<InFlight>, VecDeque<InFlight>) = self
            .in_flight
            .drain(..)
            .partition(|r| !claims.revoke(r.seq()));
        self.in_flight = kept;
        taken
            .into_iter()
            .filter_map(|r| match r {
                InFlight::Task { job, .. } => {
                    self.sent -= 1;
                    Some(job)
                }
                InFlight::Init { .. } => None,
            })
            .collect()
    }
}
