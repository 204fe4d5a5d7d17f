// Layer 10 (process): worker processes, over the futures layer.
//! The pool's ends of a worker's two pipes, and how the pool learns that a worker died.
//!
//! A worker's death is learned from the process itself, through a pidfd (or, on a
//! kernel without one, `waitid` every 50 ms), never only from the end of its pipe: a
//! task that forked a child (no exec) leaves that child holding the pipes, so they
//! may never end. Every wait on a pipe here also waits on the process.
//!
//! Requests travel over a socket, written with `MSG_NOSIGNAL`: a worker that died or
//! closed its end makes a write fail with `EPIPE`, and never raises SIGPIPE in the
//! program (which may have restored SIGPIPE's default action, death).
//!
//! The reader of replies looks again for a few microseconds before it sleeps (see
//! [`spin`](super::spin)).

use std::fs::File;
use std::io::{self, IoSlice, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::claims::Claims;
use super::spin::Spinner;
use super::state::Frame;

/// How long the pool's reader of a worker's replies looks again before it sleeps.
/// The longest the pool's reader of a worker's replies looks again before it sleeps.
const REPLY_SPIN: Duration = Duration::from_micros(50);
/// How often the fallback without a pidfd asks whether the worker has exited.
const EXIT_POLL: Duration = Duration::from_millis(50);

/// Tells when a worker process has exited, without reaping it.
pub(crate) struct ExitWatch {
    pid: libc::pid_t,
    /// Readable once the process has exited; `None` on a kernel without pidfds.
    pidfd: Option<OwnedFd>,
}

/// What a wait on a descriptor ended with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ready {
    /// The descriptor is ready.
    Fd,
    /// The worker process has exited (the descriptor may be ready too).
    Exited,
}

impl ExitWatch {
    pub(crate) fn new(pid: u32) -> ExitWatch {
        let pid = pid as libc::pid_t;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: pidfd_open returned a descriptor owned by nobody else.
            unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
        });
        ExitWatch { pid, pidfd }
    }

    /// Waits until `fd` has `events` or the worker has exited.
    pub(crate) fn wait(&self, fd: RawFd, events: libc::c_short) -> io::Result<Ready> {
        loop {
            let mut fds = [
                libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let timeout = match self.pidfd {
                Some(_) => -1,
                None => EXIT_POLL.as_millis() as libc::c_int,
            };
            // SAFETY: poll reads and writes the array we pass, of the length we pass; a
            // negative fd is ignored.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
            if n == -1 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if fds[1].revents != 0 || (self.pidfd.is_none() && self.exited()) {
                return Ok(Ready::Exited);
            }
            if fds[0].revents != 0 {
                return Ok(Ready::Fd);
            }
        }
    }

    /// True once the process has exited (it stays a zombie until reaped).
    fn exited(&self) -> bool {
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes `info`; WNOWAIT leaves the child to be reaped later.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled `info` (or left it zeroed: no child has changed state).
        r == -1 || unsafe { info.si_pid() } != 0
    }
}

/// The pool's end of a worker's request socket.
pub(crate) struct Requests {
    socket: OwnedFd,
    watch: Arc<ExitWatch>,
}

impl Requests {
    /// `socket` is made non-blocking: a write that must wait waits on the worker too.
    pub(crate) fn new(socket: OwnedFd, watch: Arc<ExitWatch>) -> io::Result<Requests> {
        set_nonblocking(socket.as_raw_fd())?;
        Ok(Requests { socket, watch })
    }

    /// Writes `frames` in order. `Err` means the worker will not read them: it died,
    /// or closed its end of the socket.
    pub(crate) fn send(&self, frames: &[Frame]) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
        let mut slices = &mut slices[..];
        while !slices.is_empty() {
            let count = slices.len().min(1024);
            // SAFETY: an all-zero msghdr is valid (no name, no control data).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            // IoSlice is ABI-compatible with iovec on Unix.
            msg.msg_iov = slices.as_mut_ptr().cast();
            msg.msg_iovlen = count as _;
            // SAFETY: sendmsg reads the buffers the iovecs describe, which `frames`
            // keeps alive; MSG_NOSIGNAL keeps SIGPIPE away.
            let n = unsafe {
                libc::sendmsg(
                    self.socket.as_raw_fd(),
                    &msg,
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                IoSlice::advance_slices(&mut slices, n as usize);
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    if self.watch.wait(self.socket.as_raw_fd(), libc::POLLOUT)? == Ready::Exited {
                        return Err(io::Error::new(
                            io::ErrorKind::BrokenPipe,
                            "the worker exited",
                        ));
                    }
                }
                _ => return Err(e),
            }
        }
        Ok(())
    }

    /// Tells the worker no more requests come: it finishes the ones it has and exits.
    pub(crate) fn close(&self) {
        // SAFETY: shutdown on the socket this value owns.
        unsafe { libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_WR) };
    }
}

/// The pool's end of a worker's reply pipe: reads until the pipe ends or the worker
/// has exited and everything it wrote has been read. A read that finds nothing looks
/// again for a while before it sleeps, reading the pipe only once the claim page says
/// the worker is writing a frame the pool has not read.
pub(crate) struct Replies {
    pipe: File,
    watch: Arc<ExitWatch>,
    exited: bool,
    spinner: Spinner,
    claims: Arc<Claims>,
    /// Frames read so far, [`frame_read`](Replies::frame_read) says.
    frames_read: u64,
}

impl Replies {
    pub(crate) fn new(
        pipe: OwnedFd,
        watch: Arc<ExitWatch>,
        claims: Arc<Claims>,
    ) -> io::Result<Replies> {
        set_nonblocking(pipe.as_raw_fd())?;
        Ok(Replies {
            pipe: File::from(pipe),
            watch,
            exited: false,
            spinner: Spinner::new(REPLY_SPIN),
            claims,
            frames_read: 0,
        })
    }

    /// Counts a whole frame read (the caller parses frames).
    pub(crate) fn frame_read(&mut self) {
        self.frames_read += 1;
    }
}

impl Read for Replies {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut wait = None;
        // Read only when the page says a frame is coming, or after a sleep.
        let mut look = self.claims.replies_written() > self.frames_read;
        loop {
            if look {
                match self.pipe.read(buf) {
                    Ok(n) => {
                        if let Some(wait) = &wait {
                            self.spinner.arrived(wait);
                        }
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if self.exited {
                    // Dead, and all it wrote is read: whoever else holds the pipe (a
                    // child the task forked) is not the worker.
                    return Ok(0);
                }
            }
            let spinner = &self.spinner;
            if wait.get_or_insert_with(|| spinner.begin()).again() {
                look = self.claims.replies_written() > self.frames_read;
                continue;
            }
            if self.watch.wait(self.pipe.as_raw_fd(), libc::POLLIN)? == Ready::Exited {
                self.exited = true;
            }
            look = true;
        }
    }
}

pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL and F_SETFL only read and change the descriptor's status flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags == -1 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A pipe nobody writes to: its read end never becomes readable.
    fn silent_pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two new descriptors into the array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both are new descriptors owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn a_wait_on_a_silent_pipe_ends_when_the_process_exits() {
        for with_pidfd in [true, false] {
            let mut child = Command::new("sleep").arg("0.1").spawn().unwrap();
            let mut watch = ExitWatch::new(child.id());
            if !with_pidfd {
                watch.pidfd = None; // as on a kernel without pidfds
            }
            let (read, _write) = silent_pipe();
            assert_eq!(
                watch.wait(read.as_raw_fd(), libc::POLLIN).unwrap(),
                Ready::Exited
            );
            // Not reaped by the watch: the exit status is still there to take.
            assert!(child.wait().unwrap().success());
        }
    }

    #[test]
    fn a_write_to_a_socket_with_no_reader_fails() {
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two new descriptors into the array.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        assert_eq!(r, 0);
        // SAFETY: both are new descriptors owned by nobody else.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(theirs);
        let watch = Arc::new(ExitWatch::new(std::process::id()));
        let requests = Requests::new(ours, watch).unwrap();
        let err = requests.send(&[Arc::new(vec![1, 2, 3])]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
