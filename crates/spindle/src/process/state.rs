// Layer 10 (process): worker processes, over the futures layer.
//! The pool's shared state: queued jobs, one slot per worker, and the dispatching that
//! moves jobs from the queue into workers' pipes.
//!
//! Everything here runs under the pool's one lock (a [`Condition`] whose only waiter is
//! the timer thread). Writing to a pipe never happens under it: a slot has an outbox and
//! at most one writer at a time, the thread that found the outbox idle ([`Writes`]), so
//! frames reach the pipe in the order they were assigned.
//!
//! A worker holds at most [`PIPELINE_DEPTH`] requests: the one it runs and the next, so
//! it never waits for the parent between two tasks. A request is queued behind another
//! only when every worker is up and busy (as Python's one extra queued call, the price
//! is that it may wait for a long task while another worker frees up), and only if its
//! frame is at most [`PIPELINED_FRAME_MAX`]: a queued frame must fit in the pipe's
//! buffer, or its writer would block until the task before it finished.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{IoSlice, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::completion::Completion;
use crate::futures::TaskError;
use crate::sync::Condition;

/// Requests a worker holds at once: the running one and the next.
pub(crate) const PIPELINE_DEPTH: usize = 2;
/// The largest frame sent to a worker that is busy (a pipe holds at least 4 KiB).
pub(crate) const PIPELINED_FRAME_MAX: usize = 2048;

/// An encoded request, shared by the queue, the outbox and the in-flight list.
pub(crate) type Frame = Arc<Vec<u8>>;

/// A task waiting for a worker.
pub(crate) struct Job {
    /// The whole request frame, length prefix included.
    pub(crate) frame: Frame,
    pub(crate) timeout: Option<Duration>,
    pub(crate) completion: Box<dyn Completion>,
    /// Already marked running: sent to a worker that died before starting it.
    pub(crate) started: bool,
    /// The request asks its worker to reply `Started` first (the task is traced).
    pub(crate) announce: bool,
}

/// A request in a worker's pipe, in the order the worker runs them.
pub(crate) enum InFlight {
    /// The pool's initializer, sent first to every worker.
    Init,
    Task {
        completion: Box<dyn Completion>,
        frame: Frame,
        timeout: Option<Duration>,
        /// The timer killed the worker because this task ran past its deadline.
        timed_out: bool,
        /// The worker is to reply `Started` when it starts this task, and has not yet.
        announce: bool,
    },
}

/// A live worker as the pool sees it.
pub(crate) struct Live {
    pub(crate) pid: u32,
    /// Tells this worker from a later one in the same slot.
    pub(crate) generation: u64,
    slot: usize,
    /// The request pipe; `None` once closed (the worker then finishes and exits).
    pub(crate) requests: Option<Arc<File>>,
    pub(crate) in_flight: VecDeque<InFlight>,
    /// Tasks sent to this worker, for `max_tasks_per_child`.
    pub(crate) sent: usize,
    /// When the task at the head of `in_flight` must be done.
    pub(crate) deadline: Option<Instant>,
    /// Set once the timer has killed this worker.
    pub(crate) killed: bool,
    outbox: Vec<Frame>,
    writing: bool,
}

impl Live {
    pub(crate) fn new(slot: usize, pid: u32, requests: Arc<File>) -> Live {
        static GENERATIONS: AtomicU64 = AtomicU64::new(0);
        Live {
            pid,
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            slot,
            requests: Some(requests),
            in_flight: VecDeque::new(),
            sent: 0,
            deadline: None,
            killed: false,
            outbox: Vec::new(),
            writing: false,
        }
    }

    /// Queues `frame` for the pipe; true if the caller must now write the outbox.
    pub(crate) fn enqueue(&mut self, frame: Frame) -> bool {
        self.outbox.push(frame);
        !std::mem::replace(&mut self.writing, true)
    }

    /// The outbox, for the thread that just became this pipe's writer.
    pub(crate) fn take_outbox(&mut self) -> Option<PipeWrite> {
        Some(PipeWrite {
            slot: self.slot,
            generation: self.generation,
            pipe: Arc::clone(self.requests.as_ref()?),
            frames: std::mem::take(&mut self.outbox),
        })
    }

    /// Starts the head task's clock (it has just become the one the worker runs).
    pub(crate) fn start_head(&mut self, now: Instant) {
        self.deadline = match self.in_flight.front() {
            Some(InFlight::Task { timeout, .. }) => timeout.map(|t| now + t),
            _ => None,
        };
    }
}

/// Configuration every part of the pool reads.
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) workers: usize,
    pub(crate) max_tasks_per_child: Option<usize>,
    pub(crate) max_frame: usize,
}

/// The state behind the pool's lock.
pub(crate) struct State {
    pub(crate) pending: VecDeque<Job>,
    pub(crate) slots: Vec<Option<Live>>,
    /// Each slot's supervisor thread (its registry id): the thread answerable for the
    /// tasks its worker runs.
    pub(crate) runners: Vec<u64>,
    /// Slots whose supervisor thread is still running.
    pub(crate) supervisors: usize,
    pub(crate) shutdown: bool,
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
pub(crate) struct Writes(Vec<PipeWrite>);

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
    slot: usize,
    generation: u64,
    pipe: Arc<File>,
    frames: Vec<Frame>,
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
                    runners: vec![0; workers],
                    supervisors: workers,
                    shutdown: false,
                    broken: None,
                    timer_wake: None,
                },
            ),
            limits,
            init_frame,
        }
    }

    /// Moves queued jobs into workers with room, and closes the pipes of workers that
    /// are done (shutdown, `max_tasks_per_child`). Returns what to write and whether the
    /// timer must re-plan.
    pub(crate) fn dispatch(&self, st: &mut State) -> (Writes, bool) {
        let now = Instant::now();
        let mut writes = Writes(Vec::new());
        let mut claimed = Vec::new();
        let mut wake_timer = false;
        while let Some(job) = st.pending.front() {
            let Some(index) = self.pick_slot(st, job.frame.len()) else {
                break;
            };
            let mut job = st.pending.pop_front().expect("just seen");
            if !job.started && !job.completion.start(st.runners[index]) {
                continue; // cancelled while queued
            }
            let live = st.slots[index].as_mut().expect("picked a live slot");
            live.sent += 1;
            let frame = Arc::clone(&job.frame);
            live.in_flight.push_back(InFlight::Task {
                completion: job.completion,
                frame: job.frame,
                timeout: job.timeout,
                timed_out: false,
                announce: job.announce,
            });
            if live.in_flight.len() == 1 {
                live.start_head(now);
                wake_timer |= needs_timer(live.deadline, st.timer_wake);
            }
            let live = st.slots[index].as_mut().expect("picked a live slot");
            if live.enqueue(frame) {
                claimed.push(index);
            }
        }
        for index in 0..st.slots.len() {
            self.close_if_done(st, index);
        }
        for index in claimed {
            writes
                .0
                .extend(st.slots[index].as_mut().and_then(Live::take_outbox));
        }
        (writes, wake_timer)
    }

    /// The live worker with the fewest requests in flight that can take a frame of
    /// `len` bytes.
    fn pick_slot(&self, st: &State, len: usize) -> Option<usize> {
        let max_tasks = self.limits.max_tasks_per_child.unwrap_or(usize::MAX);
        // Queue behind a running task only when every worker is up and busy: a worker
        // starting now would otherwise sit idle while the task waits in another's pipe.
        let may_queue = st.slots.iter().all(Option::is_some);
        st.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((i, slot.as_ref()?)))
            .filter(|(_, live)| {
                live.requests.is_some()
                    && !live.killed
                    && live.sent < max_tasks
                    && (live.in_flight.is_empty()
                        || (may_queue
                            && live.in_flight.len() < PIPELINE_DEPTH
                            && len <= PIPELINED_FRAME_MAX))
            })
            .min_by_key(|(_, live)| live.in_flight.len())
            .map(|(i, _)| i)
    }

    /// Closes a worker's request pipe once it has nothing in flight and will get
    /// nothing more: the pool shuts down with an empty queue, or the worker has run
    /// its `max_tasks_per_child`. The worker then exits and its supervisor starts a
    /// replacement if one is needed.
    pub(crate) fn close_if_done(&self, st: &mut State, index: usize) {
        let max_tasks = self.limits.max_tasks_per_child.unwrap_or(usize::MAX);
        let finishing = st.shutdown && st.pending.is_empty();
        if let Some(live) = st.slots[index].as_mut()
            && live.in_flight.is_empty()
            && (finishing || live.sent >= max_tasks)
            && !live.writing
        {
            live.requests = None;
        }
    }

    /// Writes frames this thread became the writer of, then keeps writing what others
    /// queued meanwhile, until the outbox is empty. A failed write means the worker
    /// died: its supervisor sees the pipe end and deals with its tasks.
    pub(crate) fn write(&self, writes: Writes) {
        for mut w in writes.0 {
            loop {
                write_frames(&w.pipe, &w.frames);
                let mut st = self.state.lock();
                let Some(live) = st.slots[w.slot].as_mut() else {
                    break; // the worker is gone, and its outbox with it
                };
                if live.generation != w.generation {
                    break;
                }
                if live.outbox.is_empty() {
                    live.writing = false;
                    self.close_if_done(&mut st, w.slot);
                    break;
                }
                w.frames = std::mem::take(&mut live.outbox);
            }
        }
    }

    /// Runs [`Shared::dispatch`] and its writes: for when the queue or the workers
    /// changed.
    pub(crate) fn dispatch_and_write(&self) {
        let (writes, wake_timer) = {
            let mut st = self.state.lock();
            self.dispatch(&mut st)
        };
        if wake_timer {
            self.state.notify_all();
        }
        self.write(writes);
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

fn write_frames(mut pipe: &File, frames: &[Frame]) {
    let mut slices: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match pipe.write_vectored(slices) {
            Ok(0) => return,
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
