// Layer 10 (process): worker processes, over the futures layer.
//! One supervisor thread per worker slot: it starts the worker, reads its replies,
//! completes the futures, and when the worker ends (exit, signal, garbage on the pipe,
//! killed by the timer or by the pool) fails only the task it was running, sends the
//! ones it never started to other workers, reaps the process and starts a
//! replacement.
//!
//! It learns that its worker ended from the process itself (see
//! [`channel`](super::channel)), not only from its pipe, which a forked child may
//! hold open. Which requests the worker never started, its claim page says.
//!
//! A worker that dies before it is ready (killed by a signal while it starts: the OOM
//! killer, an operator) is replaced, up to [`START_ATTEMPTS`] times in a row; one that
//! exits on its own before it is ready ran the program's `main` instead of serving
//! (`init()` is missing), or could not set itself up: the pool is broken, with a hint.
//!
//! It is the thread the trace hook hears a process task's `TaskStarted` and
//! `TaskFinished` on (its worker runs the task; its supervisor answers for it), so a
//! recording shows each worker's tasks as spans on its supervisor's track.
//!
//! The supervisor is also the thread that forks its workers, and it outlives each of
//! them: Linux delivers the parent-death signal when the forking *thread* ends.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::channel::{ExitWatch, Replies, Requests};
use super::claims::{Claims, Phase};
use super::completion;
use super::dispatch::{self, Fill};
use super::limits::{self, Part};
use super::spawn::{self, SpawnConfig, WorkerProcess};
use super::state::{self, InFlight, Live, Shared, State, Stop, Writes};
use super::wire::{self, FrameError, Reply};
use crate::futures::TaskError;
use crate::sync::ConditionGuard;
use crate::thread::Panicked;
use crate::trace::{self, EventKind};

/// Workers killed by a signal before they were ready, in a row, before the pool
/// gives up.
pub(crate) const START_ATTEMPTS: u32 = 5;

/// How a worker's reply stream ended.
enum End {
    /// The pipe ended, or the worker exited and all it wrote was read.
    Closed,
    /// The worker broke the protocol: a bad frame, or a result that does not decode
    /// (that task has already failed, saying so).
    Protocol(String),
    /// The worker's initializer failed: the pool is broken.
    InitFailed(String),
}

/// A worker that is up, ready for requests.
struct Ready {
    child: Child,
    replies: ReplyStream,
    frame: Vec<u8>,
}

/// Why a worker never became ready.
struct StartFailed {
    /// How it ended: "killed by signal 9".
    status: String,
    /// What the pool saw on its pipe.
    why: FrameError,
    /// It was killed by a signal (rather than exiting on its own).
    signalled: bool,
}

/// The body of supervisor thread `slot`.
pub(crate) fn run(shared: Arc<Shared>, slot: usize, spawn_config: SpawnConfig) {
    shared.state.lock().runners[slot] = crate::thread::registry::current_id();
    let mut failed_starts = 0;
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
        match start(&shared, slot, worker) {
            Ok(ready) => {
                failed_starts = 0;
                serve(&shared, slot, ready);
            }
            Err(failed) if failed.signalled && failed_starts + 1 < START_ATTEMPTS => {
                // A crash while starting: replace the worker, a little later each time.
                failed_starts += 1;
                std::thread::sleep(Duration::from_millis(10 << failed_starts));
            }
            Err(failed) => {
                if shared.state.lock().stopping.is_some() {
                    continue;
                }
                let hint = if failed.signalled {
                    format!("{START_ATTEMPTS} workers in a row were killed while starting")
                } else {
                    "does the program's main call spindle::process::init() first?".to_owned()
                };
                let why = format!(
                    "the worker process {} before it was ready ({}): {hint}",
                    failed.status, failed.why
                );
                let jobs = shared.break_pool(&mut shared.state.lock(), why.clone());
                state::fail_all(jobs, &why);
            }
        }
    }
}

/// Waits for a new worker to be ready and puts it in the pool (with the initializer
/// as its first request); or reaps it and says why it never got there.
fn start(shared: &Shared, slot: usize, worker: WorkerProcess) -> Result<Ready, StartFailed> {
    let WorkerProcess {
        mut child,
        requests,
        replies,
        claims,
    } = worker;
    let pid = child.id();
    let claims = Arc::new(claims);
    let why = match await_ready(shared, slot, pid, requests, replies, Arc::clone(&claims)) {
        Ok((requests, replies, frame)) => {
            let st = shared.state.lock();
            if st.stopping.is_none() {
                install(shared, st, slot, pid, requests, claims);
                return Ok(Ready {
                    child,
                    replies,
                    frame,
                });
            }
            FrameError::Closed
        }
        Err(why) => why,
    };
    // Out of `starting` and not in a slot, so no one else signals it: the pid is still
    // its own.
    spawn::kill(pid);
    let (status, signalled) = reap(&mut child);
    Err(StartFailed {
        status,
        why,
        signalled,
    })
}

/// Opens the pool's ends of a new worker's pipes and reads its first frame, which must
/// be `Ready`. Nothing goes to a worker before it is ready, so that no task's clock
/// runs while the program starts.
fn await_ready(
    shared: &Shared,
    slot: usize,
    pid: u32,
    requests: OwnedFd,
    replies: OwnedFd,
    claims: Arc<Claims>,
) -> Result<(Requests, ReplyStream, Vec<u8>), FrameError> {
    let watch = Arc::new(ExitWatch::new(pid));
    let requests = Requests::new(requests, Arc::clone(&watch)).map_err(FrameError::Io)?;
    let replies = Replies::new(replies, watch, claims).map_err(FrameError::Io)?;
    let mut replies = BufReader::with_capacity(64 * 1024, replies);
    let mut frame = Vec::new();
    {
        let mut st = shared.state.lock();
        if let Some((_, signal)) = st.stopping {
            spawn::signal(pid, signal); // not yet reaped: its pid is its own
        }
        st.starting[slot] = Some(pid);
    }
    let ready =
        wire::read_frame(&mut replies, &mut frame, shared.limits.max_frame).and_then(|()| {
            replies.get_mut().frame_read();
            match wire::split::<Reply<'_>>(&frame)? {
                (Reply::Ready, _) => Ok(()),
                _ => Err(FrameError::Garbage("the first frame is not Ready".into())),
            }
        });
    shared.state.lock().starting[slot] = None;
    ready.map(|()| (requests, replies, frame))
}

/// Puts a ready worker in its slot, sends it the initializer and whatever is queued.
fn install(
    shared: &Shared,
    mut st: ConditionGuard<'_, State>,
    slot: usize,
    pid: u32,
    requests: Requests,
    claims: Arc<Claims>,
) {
    let mut live = Live::new(slot, pid, Arc::new(requests), claims);
    let mut writes = Writes::one(None);
    if let Some(init) = &shared.init_frame {
        let (seq, writer) = live.enqueue(Arc::clone(init));
        live.in_flight.push_back(InFlight::Init { seq });
        if writer {
            writes = Writes::one(live.take_outbox());
        }
    }
    st.slots[slot] = Some(live);
    let (more, wake_timer) = shared.dispatch(&mut st, Fill::ToPace);
    drop(st);
    if wake_timer {
        shared.state.notify_all();
    }
    shared.write(writes.and(more));
}

/// Runs one ready worker until it ends, then reaps it and settles its requests.
fn serve(shared: &Shared, slot: usize, ready: Ready) {
    let Ready {
        mut child,
        replies,
        frame,
    } = ready;
    let pid = child.id();
    let end = read_replies(shared, slot, pid, replies, frame);

    // Take the worker out of the pool before reaping it: from here on no one else
    // (the timer, a writer, `kill_workers`) may signal its pid, which the kernel may
    // reuse once it is reaped.
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
    let (status, _) = reap(&mut child);
    if !expected {
        settle(shared, live, end, &status);
    }
}

/// Waits for `child` to exit; how it ended, and whether a signal ended it.
fn reap(child: &mut Child) -> (String, bool) {
    use std::os::unix::process::ExitStatusExt;
    match child.wait() {
        Ok(status) => (spawn::describe_exit(status), status.signal().is_some()),
        Err(e) => (format!("could not be waited for: {e}"), false),
    }
}

type ReplyStream = BufReader<Replies>;

/// Reads replies until the worker ends or breaks the protocol.
///
/// Replies are taken in batches: one read (which waits), then every whole frame
/// already buffered behind it. A batch is settled under one lock, where it frees as
/// many places in the worker's pipe, and the new requests that fill them go out in one
/// write before the batch's futures complete (the worker runs on meanwhile).
fn read_replies(
    shared: &Shared,
    slot: usize,
    pid: u32,
    mut replies: ReplyStream,
    first: Vec<u8>,
) -> End {
    let thread_name = format!("process worker {slot} (pid {pid})");
    let mut batch = Batch::new(first);
    let mut heard = Vec::new();
    loop {
        match batch.read(&mut replies, shared.limits.max_frame) {
            Ok(()) => {}
            Err(FrameError::Closed | FrameError::Io(_)) => return End::Closed,
            Err(e) => return protocol(e),
        }
        let (writes, wake_timer, broken) = {
            let mut st = shared.state.lock();
            let live = st.slots[slot].as_mut().expect("a supervisor's own slot");
            let broken = match_replies(live, &batch, &mut heard);
            let popped = (heard.iter())
                .filter(|h| matches!(h, Heard::Reply { .. }))
                .count();
            if popped == 0 || broken.is_some() {
                // No new requests for a worker that broke the protocol: it is about
                // to be stopped, and what it holds and never started goes to others.
                (Writes::one(None), false, broken)
            } else {
                if live.in_flight.is_empty() {
                    live.took_back = false;
                }
                let now = Instant::now();
                live.paced(popped, now);
                live.start_head(now);
                let wake = state::needs_timer(live.deadline, st.timer_wake);
                let (writes, more_wake) = shared.dispatch(&mut st, Fill::ToPace);
                (writes, wake || more_wake, broken)
            }
        };
        if wake_timer {
            shared.state.notify_all();
        }
        shared.write(writes);
        let mut end = None;
        for h in heard.drain(..) {
            let outcome = match h {
                Heard::Started(task) => {
                    trace::emit(|| EventKind::TaskStarted { task });
                    continue;
                }
                Heard::Reply { frame, head } => {
                    let (reply, body) = wire::split::<Reply<'_>>(batch.frame(frame))
                        .expect("split before, under the lock");
                    answer(shared, &thread_name, head, reply, body)
                }
            };
            if let Err(why) = outcome {
                end.get_or_insert(why);
            }
        }
        if let Some(end) = end.or(broken) {
            return end;
        }
        batch.trim();
    }
}

/// Replies read at once, at most.
const BATCH_MAX: usize = 64;
/// A frame buffer larger than this is not kept for the next batch.
const KEEP_FRAME: usize = 1 << 20;

/// Whole reply frames read at once, without their length prefix.
struct Batch {
    /// The buffers, kept from batch to batch; the first `len` hold this batch.
    frames: Vec<Vec<u8>>,
    len: usize,
}

impl Batch {
    /// A batch holding `first` (the worker's `Ready`, already handled), so that its
    /// buffer is reused.
    fn new(first: Vec<u8>) -> Batch {
        Batch {
            frames: vec![first],
            len: 0,
        }
    }

    fn frame(&self, index: usize) -> &[u8] {
        &self.frames[index]
    }

    /// Reads the next frame (waiting for it), then every whole frame already buffered.
    fn read(&mut self, replies: &mut ReplyStream, max_frame: usize) -> Result<(), FrameError> {
        self.len = 0;
        wire::read_frame(replies, self.next_buffer(), max_frame)?;
        replies.get_mut().frame_read();
        self.len = 1;
        while self.len < BATCH_MAX {
            let buffered = replies.buffer();
            let Some(len) = wire::whole_frame(buffered, max_frame) else {
                break;
            };
            let frame = &buffered[wire::PREFIX..wire::PREFIX + len];
            let buffer = self.next_buffer();
            buffer.clear();
            buffer.extend_from_slice(frame);
            replies.consume(wire::PREFIX + len);
            replies.get_mut().frame_read();
            self.len += 1;
        }
        Ok(())
    }

    fn next_buffer(&mut self) -> &mut Vec<u8> {
        if self.frames.len() == self.len {
            self.frames.push(Vec::new());
        }
        &mut self.frames[self.len]
    }

    /// Lets go of buffers a large frame left large.
    fn trim(&mut self) {
        for frame in &mut self.frames {
            if frame.capacity() > KEEP_FRAME {
                *frame = Vec::new();
            }
        }
    }
}

/// What one reply of a batch says, matched with the request it answers under the lock.
enum Heard {
    /// The worker started this traced task.
    Started(u64),
    /// Frame `frame` of the batch answers `head`, taken out of the worker's in-flight
    /// list.
    Reply { frame: usize, head: InFlight },
}

/// Matches the batch's replies, in order, with the requests they answer (into
/// `heard`); the end, if a frame breaks the protocol (the frames before it are
/// matched, none after).
fn match_replies(live: &mut Live, batch: &Batch, heard: &mut Vec<Heard>) -> Option<End> {
    for frame in 0..batch.len {
        let reply = match wire::split::<Reply<'_>>(batch.frame(frame)) {
            Ok((reply, _)) => reply,
            Err(e) => return Some(protocol(e)),
        };
        match reply {
            Reply::Ready => return Some(protocol(FrameError::Garbage("a second Ready".into()))),
            Reply::Started => match announced(live) {
                Some(task) => heard.push(Heard::Started(task)),
                None => {
                    let why = "a Started reply to no task that asked for one";
                    return Some(protocol(FrameError::Garbage(why.into())));
                }
            },
            _ => match live.in_flight.pop_front() {
                Some(head) => heard.push(Heard::Reply { frame, head }),
                None => {
                    let why = "a reply to no request";
                    return Some(protocol(FrameError::Garbage(why.into())));
                }
            },
        }
    }
    None
}

/// Settles the request `head` with its `reply`: the end, if the reply ends the worker
/// (its initializer failed, or a result does not decode).
fn answer(
    shared: &Shared,
    thread_name: &str,
    head: InFlight,
    reply: Reply<'_>,
    body: &[u8],
) -> Result<(), End> {
    let completion = match head {
        InFlight::Init { .. } => {
            return match reply {
                Reply::Done => Ok(()),
                Reply::Panicked { message } | Reply::Failed { message } => Err(End::InitFailed(
                    format!("the worker initializer failed: {message}"),
                )),
                _ => {
                    let why = "the initializer's reply is not Done";
                    Err(End::InitFailed(format!(
                        "the worker initializer failed: {why}"
                    )))
                }
            };
        }
        InFlight::Task { job, .. } => job.completion,
    };
    match reply {
        Reply::Done => completion.deliver(body).map_err(End::Protocol)?,
        Reply::Panicked { message } => {
            let panicked = Panicked::new(message.to_owned(), thread_name.to_owned());
            completion.fail_running(TaskError::Panicked(panicked));
        }
        Reply::Failed { message } => {
            completion.fail_running(completion::worker_refused(message));
        }
        Reply::ResultTooLarge => {
            let limit = shared.limits.max_frame;
            completion.fail_running(limits::too_large(Part::Result, limit));
        }
        Reply::Ready | Reply::Started => unreachable!("not matched with a request"),
    }
    Ok(())
}

/// The task the worker has just started, if it is one whose `Started` reply was asked
/// for and not yet heard (a worker never sends one unasked).
fn announced(live: &mut Live) -> Option<u64> {
    match live.in_flight.front_mut() {
        Some(InFlight::Task { job, .. }) if job.announce => {
            job.announce = false;
            Some(job.completion.task())
        }
        _ => None,
    }
}

fn protocol(e: FrameError) -> End {
    End::Protocol(e.to_string())
}

/// After an unexpected end: fails the task the worker was running, with the reason;
/// sends the requests it never started (its claim page says which) to other workers,
/// or cancels them if the pool is being stopped.
fn settle(shared: &Shared, live: Live, end: End, status: &str) {
    let Live {
        in_flight,
        claims,
        stopped,
        ..
    } = live;
    let mut broken = match &end {
        End::InitFailed(why) => Some(why.clone()),
        _ => None,
    };
    let (mut never_started, mut failed) = (Vec::new(), Vec::new());
    for request in in_flight {
        let unstarted = matches!(claims.phase(request.seq()), Phase::Queued | Phase::Revoked);
        match request {
            InFlight::Init { .. } => {
                if !unstarted && broken.is_none() {
                    broken = Some(format!(
                        "the worker initializer failed: the worker {status}"
                    ));
                }
            }
            InFlight::Task { job, .. } if unstarted => never_started.push(job),
            InFlight::Task { job, timed_out, .. } => {
                let error = if timed_out {
                    TaskError::Timeout
                } else {
                    died(&stopped, &end, status)
                };
                failed.push((job, error));
            }
        }
    }
    let (cancelled, jobs) = {
        let mut st = shared.state.lock();
        let cancelled = dispatch::resend(&mut st, never_started);
        let jobs = broken
            .as_ref()
            .map(|why| shared.break_pool(&mut st, why.clone()));
        (cancelled, jobs)
    };
    if let (Some(jobs), Some(why)) = (jobs, &broken) {
        state::fail_all(jobs, why);
    }
    dispatch::cancel_sent(cancelled);
    for (job, error) in failed {
        job.completion.fail_running(error);
    }
    // Other workers may have room for the re-sent requests now.
    shared.dispatch_and_write();
}

/// The `WorkerDied` error of a task whose worker ended: why, then how it ended (the
/// last words, which `TaskError::worker_signal` reads).
fn died(stopped: &Option<Stop>, end: &End, status: &str) -> TaskError {
    TaskError::WorkerDied(match (stopped, end) {
        (Some(Stop::Terminated(by)), _) => format!("{by} stopped the worker: {status}"),
        (_, End::Protocol(why)) => format!("{why}; the worker was stopped: {status}"),
        _ => status.to_owned(),
    })
}
