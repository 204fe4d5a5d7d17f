// Layer 10 (process): worker processes, over the futures layer.
//! Starting a worker: the current executable again, with the request socket on fd 3,
//! the reply pipe on fd 4, its claim page on fd 5, stdin from `/dev/null`, and a
//! parent-death signal; and saying how one ended.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};

use super::claims::Claims;
use super::worker::{CLAIMS_FD, MAX_FRAME_ENV, MEMORY_LIMIT_ENV, REPLY_FD, REQUEST_FD, WORKER_ENV};

/// How to start workers.
#[derive(Debug, Clone)]
pub(crate) struct SpawnConfig {
    pub(crate) max_frame: usize,
    pub(crate) memory_limit: Option<u64>,
}

/// A running worker and the parent's ends of its pipes.
pub(crate) struct WorkerProcess {
    pub(crate) child: Child,
    /// Requests go in here (a socket; the worker's fd 3).
    pub(crate) requests: OwnedFd,
    /// Replies come out here (a pipe; the worker's fd 4).
    pub(crate) replies: OwnedFd,
    /// The claim page the worker maps from its fd 5.
    pub(crate) claims: Claims,
}

/// Starts a worker.
///
/// Call it from a thread that outlives the worker: Linux sends the parent-death signal
/// when the *thread* that forked the child ends, not only the process.
pub(crate) fn spawn_worker(config: &SpawnConfig) -> io::Result<WorkerProcess> {
    let (request_write, request_read) = socket_pair()?;
    let (reply_read, reply_write) = pipe()?;
    let (claims, claims_fd) = Claims::create()?;
    let exe = std::env::current_exe()?;
    let parent = std::process::id() as libc::pid_t;
    let (child_in, child_out) = (request_read.as_raw_fd(), reply_write.as_raw_fd());
    let child_claims = claims_fd.as_raw_fd();
    let mut command = Command::new(exe);
    command
        .env(WORKER_ENV, parent.to_string())
        .env(MAX_FRAME_ENV, config.max_frame.to_string())
        .stdin(Stdio::null());
    match config.memory_limit {
        Some(bytes) => command.env(MEMORY_LIMIT_ENV, bytes.to_string()),
        None => command.env_remove(MEMORY_LIMIT_ENV),
    };
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (fcntl, dup2, prctl, getppid); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            // Move the three out of the way first: one of them may sit on fd 3, 4 or 5.
            let inp = cvt(libc::fcntl(child_in, libc::F_DUPFD_CLOEXEC, 10))?;
            let out = cvt(libc::fcntl(child_out, libc::F_DUPFD_CLOEXEC, 10))?;
            let page = cvt(libc::fcntl(child_claims, libc::F_DUPFD_CLOEXEC, 10))?;
            // dup2 clears close-on-exec on the copy: these three survive the exec.
            cvt(libc::dup2(inp, REQUEST_FD))?;
            cvt(libc::dup2(out, REPLY_FD))?;
            cvt(libc::dup2(page, CLAIMS_FD))?;
            cvt(libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
            ))?;
            // The parent may have died before the signal was armed.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    // The child's ends close here: only the worker (and whatever it forks) holds them.
    drop((request_read, reply_write, claims_fd));
    Ok(WorkerProcess {
        child,
        requests: request_write,
        replies: reply_read,
        claims,
    })
}

/// A close-on-exec pair of connected stream sockets.
fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into the array we pass.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded: both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A close-on-exec pipe: (read end, write end). Close-on-exec keeps the parent's ends
/// out of every other child, so each worker sees EOF when the pool closes its pipe.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded: both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// How a worker ended, as a task's `WorkerDied` message: "killed by signal 9",
/// "exited with status 3".
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(signal), _) => format!("killed by signal {signal}"),
        (None, Some(code)) => format!("exited with status {code}"),
        (None, None) => status.to_string(),
    }
}

/// Sends SIGKILL to `pid`. The caller guarantees `pid` is a worker not yet reaped, so
/// the pid cannot have been reused.
pub(crate) fn kill(pid: u32) {
    signal(pid, libc::SIGKILL);
}

/// Sends `signal` to `pid`, under the same guarantee as [`kill`].
pub(crate) fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill only sends a signal; `pid` is our unreaped child (see above).
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_as_the_issue_says() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(describe_exit(ExitStatus::from_raw(9)), "killed by signal 9");
        assert_eq!(
            describe_exit(ExitStatus::from_raw(6 | 0x80)),
            "killed by signal 6"
        );
    }
}
