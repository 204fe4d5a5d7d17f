// Layer 10 (process): worker processes, over the futures layer.
//! The worker side: what [`init`](super::init) turns a re-executed copy of the program
//! into. It reads requests from fd 3, runs each task under `catch_unwind`, and writes
//! replies to fd 4, until the pool closes fd 3. A request the parent traces gets a
//! `Started` reply as the worker starts it, before its result.
//!
//! Before it starts a request, the worker claims it on its claim page (fd 5, see
//! [`claims`](super::claims)); a request the pool took back meanwhile is skipped
//! without a word. Once a task returns, the worker marks it finished before it sends
//! the reply; if the timer got there first (the task ran past its deadline), it sends
//! nothing and starts nothing more: SIGKILL is on its way.
//!
//! Between tasks the worker looks for the next request for a few microseconds before
//! it sleeps: a request that follows at once costs no wake-up.
//!
//! The protocol has its own descriptors so that nothing a task prints can corrupt it: a
//! task's stdout and stderr are the pool's own. The protocol descriptors are
//! close-on-exec, so a process a task starts does not hold the pool's pipes open.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::FromRawFd;
use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::claims::Claims;
use super::registry::{self, RunError};
use super::spin::Spinner;
use super::wire::{self, FrameBuf, FrameError, Reply, Request};

/// Set in a worker's environment: the presence marks a worker.
pub(crate) const WORKER_ENV: &str = "SPINDLE_PROCESS_WORKER";
/// The largest frame, in bytes, the worker reads or writes.
pub(crate) const MAX_FRAME_ENV: &str = "SPINDLE_PROCESS_MAX_FRAME";
/// The address-space limit, in bytes, the worker sets on itself (`RLIMIT_AS`).
pub(crate) const MEMORY_LIMIT_ENV: &str = "SPINDLE_PROCESS_MEMORY_LIMIT";

/// The worker reads requests from this descriptor.
pub(crate) const REQUEST_FD: i32 = 3;
/// The worker writes replies to this descriptor.
pub(crate) const REPLY_FD: i32 = 4;
/// The worker maps its claim page from this descriptor.
pub(crate) const CLAIMS_FD: i32 = 5;

/// The longest a worker looks for its next request before it sleeps.
const REQUEST_SPIN: Duration = Duration::from_micros(50);
/// A reply buffer larger than this is not kept for the next task.
const KEEP_BUFFER: usize = 1 << 20;

/// The exit status of a worker that could not set itself up or read its pipe.
const BROKEN_WORKER: i32 = 70;

/// True while a task runs: its panics are reported through the reply, not on stderr.
static IN_TASK: AtomicBool = AtomicBool::new(false);

/// True if this process was started as a pool worker.
pub(crate) fn is_worker() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// Serves tasks until the pool closes the request pipe; returns the exit status.
pub(crate) fn serve() -> i32 {
    let max_frame = env_number(MAX_FRAME_ENV).unwrap_or(wire::DEFAULT_MAX_FRAME as u64) as usize;
    let memory_limit = env_number(MEMORY_LIMIT_ENV);
    for var in [WORKER_ENV, MAX_FRAME_ENV, MEMORY_LIMIT_ENV] {
        // SAFETY: `init` runs first thing in `main` and the worker starts no thread
        // before this point, so nothing reads the environment concurrently.
        unsafe { std::env::remove_var(var) };
    }
    if let Some(bytes) = memory_limit
        && let Err(e) = limit_address_space(bytes)
    {
        eprintln!(
            "spindle worker {}: cannot set its memory limit: {e}",
            std::process::id()
        );
        return BROKEN_WORKER;
    }
    for fd in [REQUEST_FD, REPLY_FD, CLAIMS_FD] {
        // SAFETY: F_SETFD on a descriptor only changes its flags; a bad fd gives EBADF.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            eprintln!(
                "spindle worker {}: no pipe on fd {fd}: was it started by a pool?",
                std::process::id()
            );
            return BROKEN_WORKER;
        }
    }
    let claims = match Claims::map(CLAIMS_FD) {
        Ok(claims) => claims,
        Err(e) => {
            eprintln!("spindle worker {}: {e}", std::process::id());
            return BROKEN_WORKER;
        }
    };
    // The mapping outlives its descriptor: a process the task forks need not hold it.
    // SAFETY: closes a descriptor this process owns and nothing else uses.
    unsafe { libc::close(CLAIMS_FD) };
    quiet_task_panics();
    // SAFETY: the pool's spawner put the request socket on fd 3 and the reply pipe on
    // fd 4 for this process alone; nothing else in the worker owns them.
    let (requests, mut replies) =
        unsafe { (File::from_raw_fd(REQUEST_FD), File::from_raw_fd(REPLY_FD)) };
    let ready = FrameBuf::new(&Reply::Ready)
        .finish(max_frame)
        .expect("a tiny frame");
    claims.reply_coming();
    if replies.write_all(&ready).is_err() {
        return 0; // the pool is already gone
    }
    let started = FrameBuf::new(&Reply::Started)
        .finish(max_frame)
        .expect("a tiny frame");
    let mut requests = BufReader::with_capacity(
        64 * 1024,
        IncomingRequests {
            socket: requests,
            spinner: Spinner::new(REQUEST_SPIN),
            claims: &claims,
            next: 1,
        },
    );
    let mut frame = Vec::new();
    let mut out = Vec::new();
    // Requests are numbered as the pool numbers them: in the order of the pipe.
    let mut seq = 0u64;
    loop {
        requests.get_mut().next = seq + 1;
        match wire::read_frame(&mut requests, &mut frame, max_frame) {
            Ok(()) => {}
            Err(FrameError::Closed) => return 0,
            Err(e) => {
                eprintln!(
                    "spindle worker {}: bad request from the pool: {e}",
                    std::process::id()
                );
                return BROKEN_WORKER;
            }
        }
        seq += 1;
        let (request, arg) = match wire::split::<Request<'_>>(&frame) {
            Ok(parts) => parts,
            Err(e) => {
                eprintln!("spindle worker {}: {e}", std::process::id());
                return BROKEN_WORKER;
            }
        };
        if !claims.start(seq) {
            continue; // taken back by the pool: another worker runs it
        }
        // The parent traces this task: tell it when it starts.
        if request.announce {
            claims.reply_coming();
            if replies.write_all(&started).is_err() {
                return 0;
            }
        }
        let returned;
        (out, returned) = run(&request, arg, out, max_frame);
        if !claims.finish(seq) {
            // The timer killed this task past its deadline: its SIGKILL follows.
            loop {
                // SAFETY: pause only waits for a signal.
                unsafe { libc::pause() };
            }
        }
        claims.reply_coming();
        if replies.write_all(&out).is_err() {
            // The pool is gone: nobody wants the result.
            return 0;
        }
        if request.initializer && !returned {
            // The initializer failed: the pool is broken, and this worker runs nothing.
            return BROKEN_WORKER;
        }
        if out.capacity() > KEEP_BUFFER {
            out = Vec::new();
        }
    }
}

/// The worker's end of its request socket. A read waits for the claim page to say
/// that the next request is queued, looking at memory for a while (see
/// [`spin`](super::spin)), then reads: one system call per request, which sleeps
/// if the frame is not there yet.
struct IncomingRequests<'a> {
    socket: File,
    spinner: Spinner,
    claims: &'a Claims,
    /// The number of the next request.
    next: u64,
}

impl Read for IncomingRequests<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.claims.requests_queued() >= self.next {
            return self.socket.read(buf);
        }
        let mut wait = self.spinner.begin();
        while self.claims.requests_queued() < self.next && wait.again() {}
        let read = self.socket.read(buf);
        self.spinner.arrived(&wait);
        read
    }
}

/// Runs one task and returns the finished reply frame, reusing `out`'s allocation, and
/// whether the task returned.
fn run(request: &Request<'_>, arg: &[u8], out: Vec<u8>, max_frame: usize) -> (Vec<u8>, bool) {
    let Some((single, chunk)) = registry::lookup(request.task) else {
        let why = format!(
            "no task named `{}` is registered in this program",
            request.task
        );
        return (failed(&why, max_frame), false);
    };
    let erased = if request.chunked { chunk } else { single };
    let mut reply = FrameBuf::done(out);
    let max_len = wire::PREFIX + max_frame;
    IN_TASK.store(true, Ordering::Relaxed);
    // The panic is the task's outcome, sent back to the pool: spindle's hook keeps it
    // off this worker's stderr (the pool's caller, or the excepthook, hears of it).
    let outcome = crate::thread::panic_hook::catch_reported(
        || "process worker".to_owned(),
        || erased(arg, reply.bytes_mut(), max_len),
    );
    IN_TASK.store(false, Ordering::Relaxed);
    let frame = match outcome {
        Ok(Ok(())) => match reply.finish(max_frame) {
            Ok(frame) => return (frame, true),
            Err(_) => too_large(max_frame),
        },
        Ok(Err(RunError::ResultTooLarge)) => too_large(max_frame),
        Ok(Err(RunError::Failed(why))) => failed(&why, max_frame),
        Err(panicked) => {
            let message = panicked.message();
            let frame = FrameBuf::new(&Reply::Panicked { message }).finish(max_frame);
            frame.unwrap_or_else(|_| {
                failed(
                    "the task panicked with a message too long to send",
                    max_frame,
                )
            })
        }
    };
    (frame, false)
}

fn too_large(max_frame: usize) -> Vec<u8> {
    FrameBuf::new(&Reply::ResultTooLarge)
        .finish(max_frame)
        .expect("a tiny frame")
}

fn failed(message: &str, max_frame: usize) -> Vec<u8> {
    // A reply must fit in a frame: keep as much of an enormous message as fits.
    let mut end = message.len();
    loop {
        let message = &message[..end];
        if let Ok(frame) = FrameBuf::new(&Reply::Failed { message }).finish(max_frame) {
            return frame;
        }
        end /= 2;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
    }
}

/// A task's panic travels to the pool in its reply; printing it here too would report
/// it twice. Panics outside tasks still print.
fn quiet_task_panics() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !IN_TASK.load(Ordering::Relaxed) {
            default(info);
        }
    }));
}

fn limit_address_space(bytes: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}
