// Layer 10 (process): worker processes, over the futures layer.
//! One supervisor thread per worker slot: it starts the worker, reads its replies,
//! completes the futures, and when the worker ends (exit, signal, garbage on the pipe,
//! killed by the timer) fails only the task it was running, re-queues the ones behind
//! it, reaps the process and starts a replacement.
//!
//! It is the thread the trace hook hears a process task's `TaskStarted` and
//! `TaskFinished` on (its worker runs the task; its supervisor answers for it), so a
//! recording shows each worker's tasks as spans on its supervisor's track.
//!
//! The supervisor is also the thread that forks its workers, and it outlives each of
//! them: Linux delivers the parent-death signal when the forking *thread* ends.

use std::io::BufReader;
use std::sync::Arc;
use std::time::Instant;

use super::completion;
use super::spawn::{self, SpawnConfig, WorkerProcess};
use super::state::{self, InFlight, Job, Live, Shared, Writes};
use super::wire::{self, FrameError, Reply};
use crate::futures::TaskError;
use crate::thread::Panicked;
use crate::trace::{self, EventKind};

/// How a worker's reply stream ended.
enum End {
    /// The pipe ended or failed between frames: the worker exited or was killed.
    Closed,
    /// The worker broke the protocol: a bad frame, or a result that does not decode.
    /// `blamed` says whether the task at fault has already been failed.
    Protocol { why: String, blamed: bool },
    /// The worker's initializer failed: the pool is broken.
    InitFailed(String),
}

/// The body of supervisor thread `slot`.
pub(crate) fn run(shared: Arc<Shared>, slot: usize, spawn_config: SpawnConfig) {
    shared.state.lock().runners[slot] = crate::thread::registry::current_id();
    loop {
        {
            let mut st = shared.state.lock();
            if st.broken.is_some() || (st.shutdown && st.pending.is_empty()) {
                st.supervisors -= 1;
                drop(st);
                shared.state.notify_all();
                return;
            }
        }
        let worker = match spawn::spawn_worker(&spawn_config) {
            Ok(worker) => worker,
            Err(e) => {
                let why = format!("cannot start a worker process: {e}");
                let jobs = shared.break_pool(&mut shared.state.lock(), why.clone());
                state::fail_all(jobs, &why);
                continue; // the loop head sees the pool broken and ends the thread
            }
        };
        serve(&shared, slot, worker);
    }
}

/// Runs one worker from start to reaping.
fn serve(shared: &Shared, slot: usize, worker: WorkerProcess) {
    let WorkerProcess {
        mut child,
        requests,
        replies,
    } = worker;
    let pid = child.id();
    let mut replies = BufReader::with_capacity(64 * 1024, replies);
    let mut frame = Vec::new();
    // Nothing goes to a worker before it is ready, so that no task's clock runs while
    // the program starts, and a worker that cannot start is told from one that crashed.
    if let Err(why) = await_ready(shared, &mut replies, &mut frame) {
        spawn::kill(pid);
        let status = match child.wait() {
            Ok(status) => spawn::describe_exit(status),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let why = format!(
            "the worker process {status} before it was ready ({why}): does the program's \
             main call spindle::process::init() first?"
        );
        let jobs = shared.break_pool(&mut shared.state.lock(), why.clone());
        state::fail_all(jobs, &why);
        return;
    }
    let writes = {
        let mut st = shared.state.lock();
        let mut live = Live::new(slot, pid, Arc::new(requests));
        let mut writes = Writes::one(None);
        if let Some(init) = &shared.init_frame {
            live.in_flight.push_back(InFlight::Init);
            if live.enqueue(Arc::clone(init)) {
                writes = Writes::one(live.take_outbox());
            }
        }
        st.slots[slot] = Some(live);
        let (more, wake_timer) = shared.dispatch(&mut st);
        drop(st);
        if wake_timer {
            shared.state.notify_all();
        }
        writes.and(more)
    };
    shared.write(writes);

    let end = read_replies(shared, slot, pid, replies, frame);

    // Take the worker out of the pool before reaping it: from here on no one else
    // (the timer) may signal its pid, which the kernel may reuse once it is reaped.
    let (live, expected) = {
        let mut st = shared.state.lock();
        let live = st.slots[slot].take().expect("a supervisor's own slot");
        let expected =
            matches!(end, End::Closed) && live.requests.is_none() && live.in_flight.is_empty();
        (live, expected)
    };
    if !expected {
        spawn::kill(pid);
    }
    let status = match child.wait() {
        Ok(status) => spawn::describe_exit(status),
        Err(e) => format!("could not be waited for: {e}"),
    };
    if !expected {
        settle(shared, live, end, &status);
    }
}

/// Reads the worker's first frame, which must be `Ready`.
fn await_ready(
    shared: &Shared,
    replies: &mut Replies,
    frame: &mut Vec<u8>,
) -> Result<(), FrameError> {
    wire::read_frame(replies, frame, shared.limits.max_frame)?;
    match wire::split::<Reply<'_>>(frame)? {
        (Reply::Ready, _) => Ok(()),
        _ => Err(FrameError::Garbage("the first frame is not Ready".into())),
    }
}

type Replies = BufReader<std::fs::File>;

/// Reads replies until the pipe ends or the worker breaks the protocol.
fn read_replies(
    shared: &Shared,
    slot: usize,
    pid: u32,
    mut replies: Replies,
    mut frame: Vec<u8>,
) -> End {
    let thread_name = format!("process worker {slot} (pid {pid})");
    loop {
        match wire::read_frame(&mut replies, &mut frame, shared.limits.max_frame) {
            Ok(()) => {}
            Err(FrameError::Closed | FrameError::Io(_)) => return End::Closed,
            Err(e) => return protocol(e, false),
        }
        let (reply, body) = match wire::split::<Reply<'_>>(&frame) {
            Ok(parts) => parts,
            Err(e) => return protocol(e, false),
        };
        match reply {
            Reply::Ready => return protocol(FrameError::Garbage("a second Ready".into()), false),
            Reply::Started => match announced(shared, slot) {
                Some(task) => {
                    trace::emit(|| EventKind::TaskStarted { task });
                    continue;
                }
                None => {
                    let why = "a Started reply to no task that asked for one";
                    return protocol(FrameError::Garbage(why.into()), false);
                }
            },
            _ => {}
        }
        let (head, writes, wake_timer) = {
            let mut st = shared.state.lock();
            let live = st.slots[slot].as_mut().expect("a supervisor's own slot");
            let Some(head) = live.in_flight.pop_front() else {
                drop(st);
                return protocol(FrameError::Garbage("a reply to no request".into()), true);
            };
            live.start_head(Instant::now());
            let wake = state::needs_timer(live.deadline, st.timer_wake);
            let (writes, more_wake) = shared.dispatch(&mut st);
            (head, writes, wake || more_wake)
        };
        if wake_timer {
            shared.state.notify_all();
        }
        shared.write(writes);
        match (head, reply) {
            (InFlight::Init, Reply::Done) => {}
            (InFlight::Init, Reply::Panicked { message } | Reply::Failed { message }) => {
                return End::InitFailed(format!("the worker initializer failed: {message}"));
            }
            (InFlight::Task { completion, .. }, Reply::Done) => {
                if let Err(why) = completion.deliver(body) {
                    return End::Protocol { why, blamed: true };
                }
            }
            (InFlight::Task { completion, .. }, Reply::Panicked { message }) => {
                let panicked = Panicked::new(message.to_owned(), thread_name.clone());
                completion.fail_running(TaskError::Panicked(panicked));
            }
            (InFlight::Task { completion, .. }, Reply::Failed { message }) => {
                completion.fail_running(completion::worker_refused(message));
            }
            (_, Reply::Ready | Reply::Started) => unreachable!("handled before taking the head"),
        }
    }
}

/// The task the worker in `slot` has just started, if it is one whose `Started` reply
/// was asked for and not yet heard (a worker never sends one unasked).
fn announced(shared: &Shared, slot: usize) -> Option<u64> {
    let mut st = shared.state.lock();
    let live = st.slots[slot].as_mut().expect("a supervisor's own slot");
    match live.in_flight.front_mut() {
        Some(InFlight::Task {
            completion,
            announce,
            ..
        }) if *announce => {
            *announce = false;
            Some(completion.task())
        }
        _ => None,
    }
}

fn protocol(e: FrameError, blamed: bool) -> End {
    End::Protocol {
        why: e.to_string(),
        blamed,
    }
}

/// After an unexpected end: fails the task the worker was running, with the reason,
/// and puts the requests queued behind it back at the front of the queue.
fn settle(shared: &Shared, live: Live, end: End, status: &str) {
    let mut in_flight = live.in_flight;
    let mut failed = None;
    let mut broken = None;
    match &end {
        End::InitFailed(why) => broken = Some(why.clone()),
        End::Protocol { blamed: true, .. } => {}
        _ => match in_flight.pop_front() {
            Some(InFlight::Init) => {
                broken = Some(format!(
                    "the worker initializer failed: the worker {status}"
                ));
            }
            Some(InFlight::Task {
                completion,
                timed_out,
                ..
            }) => {
                let error = match &end {
                    _ if timed_out => TaskError::Timeout,
                    End::Protocol { why, .. } => {
                        TaskError::WorkerDied(format!("{why}; the worker was stopped ({status})"))
                    }
                    _ => TaskError::WorkerDied(status.to_owned()),
                };
                failed = Some((completion, error));
            }
            None => {}
        },
    }
    let jobs = {
        let mut st = shared.state.lock();
        for request in in_flight.into_iter().rev() {
            if let InFlight::Task {
                completion,
                frame,
                timeout,
                announce,
                ..
            } = request
            {
                st.pending.push_front(Job {
                    frame,
                    timeout,
                    completion,
                    started: true,
                    announce,
                });
            }
        }
        broken
            .as_ref()
            .map(|why| shared.break_pool(&mut st, why.clone()))
    };
    if let (Some(jobs), Some(why)) = (jobs, &broken) {
        state::fail_all(jobs, why);
    }
    if let Some((completion, error)) = failed {
        completion.fail_running(error);
    }
    // Other workers may have room for the re-queued requests now.
    shared.dispatch_and_write();
}
