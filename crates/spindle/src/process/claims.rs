// Layer 10 (process): worker processes, over the futures layer.
//! The claim ring: one shared page per worker on which the pool and the worker agree,
//! without a message, whether a request the pool sent has started.
//!
//! Both sides number the frames on the request pipe 1, 2, 3, ... (the pipe keeps their
//! order, so the numbers agree), and request `seq` has the entry `seq % RING`. Each
//! entry is one atomic word, `seq << 3 | phase`, moved only by compare-and-swap:
//!
//! | from      | to        | by         | when                                          |
//! |-----------|-----------|------------|-----------------------------------------------|
//! | (any)     | `Queued`  | the pool   | before the frame is written to the pipe       |
//! | `Queued`  | `Started` | the worker | as it starts the request                      |
//! | `Queued`  | `Revoked` | the pool   | it takes a request back (an idle worker takes it, or the pool stops) |
//! | `Started` | `Finished`| the worker | the task returned; its reply follows          |
//! | `Started` | `Killed`  | the timer  | the task is past its deadline; SIGKILL follows |
//!
//! So a request is either started by the worker or taken back by the pool, never
//! both: a worker skips a revoked request without a word, and a worker that finds its
//! running task `Killed` starts nothing more and waits for the signal. When a worker
//! dies, every request of its still `Queued` (or `Revoked`) provably never started and
//! runs again elsewhere; and a task that returned just as the timer fired is either
//! `Finished` (the timer leaves the worker alone) or `Killed` (the reply is never
//! sent, the task is `Timeout`, and the request behind it never started).
//!
//! Beside each word, the worker writes when it started the request
//! (`CLOCK_MONOTONIC`, the clock `Instant` reads), so a timeout runs from the real
//! start. Two counters say what is on its way in each pipe (the last request queued,
//! the replies written), so that a reader waiting for a frame looks at memory, not
//! at its pipe, while it spins. The page is a `memfd` shared with the worker as fd 5. A task can scribble on
//! it (it runs in the worker): the pool then misjudges only that worker's requests,
//! and never trusts the page for anything but "was it started".

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

/// Entries in the ring: at least as many as the frames in a worker's pipe not yet read
/// past (the requests it holds, and those taken back before it ran dry; see
/// `dispatch.rs`, which checks this at compile time).
pub(crate) const RING: u64 = 64;
/// The size of the shared page.
const PAGE: usize = 4096;

/// Where a request stands, as the ring says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// In the pipe, not started.
    Queued,
    /// The worker started it, at the given time.
    Started(Instant),
    /// The task returned; the reply follows on the pipe.
    Finished,
    /// The pool took it back before it started.
    Revoked,
    /// The timer stopped it.
    Killed,
    /// The entry holds another request or garbage (a task scribbled on the page).
    Unknown,
}

const QUEUED: u64 = 0;
const STARTED: u64 = 1;
const FINISHED: u64 = 2;
const REVOKED: u64 = 3;
const KILLED: u64 = 4;

fn word(seq: u64, phase: u64) -> u64 {
    seq << 3 | phase
}

#[repr(C)]
struct Page {
    entries: [Entry; RING as usize],
    /// The number of the last request the pool queued (written before its frame).
    requests_queued: CachePadded<AtomicU64>,
    /// The frames the worker has written or is about to write (counted before each).
    replies_written: CachePadded<AtomicU64>,
}

#[repr(C)]
struct Entry {
    state: AtomicU64,
    /// `CLOCK_MONOTONIC` nanoseconds when the worker started the request; valid once
    /// `state` says `Started` (written before it, published by its release).
    started_ns: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Page>() <= PAGE);

/// A mapping of a worker's claim page, in the pool or in the worker.
pub(crate) struct Claims {
    /// Invariant: points to a `PAGE`-byte shared mapping, page-aligned, that lives as
    /// long as `self` and is only ever accessed through atomics.
    page: NonNull<Page>,
}

// SAFETY: the page is only accessed through atomics, from any thread.
unsafe impl Send for Claims {}
// SAFETY: as above.
unsafe impl Sync for Claims {}

impl Claims {
    /// A new zeroed page (every entry `Queued` for request 0, which never exists) and
    /// the descriptor a worker maps it from.
    pub(crate) fn create() -> io::Result<(Claims, OwnedFd)> {
        // SAFETY: memfd_create reads a NUL-terminated name and returns a new descriptor.
        let fd = unsafe { libc::memfd_create(c"spindle-claims".as_ptr(), libc::MFD_CLOEXEC) };
        if fd == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create returned a descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ftruncate on the descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), PAGE as libc::off_t) } == -1 {
            return Err(io::Error::last_os_error());
        }
        let claims = Claims::map(fd.as_raw_fd())?;
        Ok((claims, fd))
    }

    /// Maps the page behind `fd` (the worker's fd 5).
    pub(crate) fn map(fd: i32) -> io::Result<Claims> {
        // SAFETY: a fresh shared mapping of PAGE bytes of `fd`; the kernel checks `fd`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let page = NonNull::new(ptr.cast::<Page>()).expect("mmap never maps page 0");
        Ok(Claims { page })
    }

    fn page(&self) -> &Page {
        // SAFETY: a `Page` fits in the mapping (checked at compile time), which lives as
        // long as `self`, is page-aligned, and is zero-initialised (a valid `Page`:
        // atomics only).
        unsafe { self.page.as_ref() }
    }

    fn entry(&self, seq: u64) -> &Entry {
        &self.page().entries[(seq % RING) as usize]
    }

    // ---- the pool's side ----

    /// Marks request `seq` queued, before its frame is written. Requests are queued in
    /// the order of their numbers.
    pub(crate) fn queue(&self, seq: u64) {
        self.entry(seq)
            .state
            .store(word(seq, QUEUED), Ordering::Release);
        self.page().requests_queued.store(seq, Ordering::Release);
    }

    /// The frames the worker has written or is about to write.
    pub(crate) fn replies_written(&self) -> u64 {
        self.page().replies_written.load(Ordering::Acquire)
    }

    /// Takes request `seq` back if the worker has not started it; true if it will not.
    pub(crate) fn revoke(&self, seq: u64) -> bool {
        self.entry(seq)
            .state
            .compare_exchange(
                word(seq, QUEUED),
                word(seq, REVOKED),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Marks running request `seq` killed, so that the worker sends no reply and starts
    /// nothing more; false if it is not running (it finished, or never started).
    pub(crate) fn kill_running(&self, seq: u64) -> bool {
        self.entry(seq)
            .state
            .compare_exchange(
                word(seq, STARTED),
                word(seq, KILLED),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Where request `seq` stands.
    pub(crate) fn phase(&self, seq: u64) -> Phase {
        let entry = self.entry(seq);
        let state = entry.state.load(Ordering::Acquire);
        if state >> 3 != seq {
            return Phase::Unknown;
        }
        match state & 7 {
            QUEUED => Phase::Queued,
            STARTED => {
                let started = entry.started_ns.load(Ordering::Relaxed);
                let ago = monotonic_ns().saturating_sub(started);
                let now = Instant::now();
                Phase::Started(now.checked_sub(Duration::from_nanos(ago)).unwrap_or(now))
            }
            FINISHED => Phase::Finished,
            REVOKED => Phase::Revoked,
            KILLED => Phase::Killed,
            _ => Phase::Unknown,
        }
    }

    // ---- the worker's side ----

    /// The number of the last request the pool queued: its frame is in the pipe, or
    /// about to be.
    pub(crate) fn requests_queued(&self) -> u64 {
        self.page().requests_queued.load(Ordering::Acquire)
    }

    /// Counts a frame the worker is about to write.
    pub(crate) fn reply_coming(&self) {
        self.page().replies_written.fetch_add(1, Ordering::Release);
    }

    /// Starts request `seq`: false if the pool took it back (skip it then).
    pub(crate) fn start(&self, seq: u64) -> bool {
        let entry = self.entry(seq);
        entry.started_ns.store(monotonic_ns(), Ordering::Relaxed);
        entry
            .state
            .compare_exchange(
                word(seq, QUEUED),
                word(seq, STARTED),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Finishes request `seq`: false if the timer killed it (send nothing more then).
    pub(crate) fn finish(&self, seq: u64) -> bool {
        self.entry(seq)
            .state
            .compare_exchange(
                word(seq, STARTED),
                word(seq, FINISHED),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping this value owns; nothing borrows it any more.
        unsafe { libc::munmap(self.page.as_ptr().cast(), PAGE) };
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process of the machine.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_started_or_revoked_never_both() {
        let (pool, fd) = Claims::create().unwrap();
        let worker = Claims::map(fd.as_raw_fd()).unwrap();
        pool.queue(1);
        pool.queue(2);
        assert!(worker.start(1));
        assert!(!pool.revoke(1), "a started request cannot be taken back");
        assert!(matches!(pool.phase(1), Phase::Started(_)));
        assert!(pool.revoke(2));
        assert!(!worker.start(2), "a revoked request is skipped");
        assert_eq!(pool.phase(2), Phase::Revoked);
        assert!(worker.finish(1));
        assert_eq!(pool.phase(1), Phase::Finished);
        assert!(!pool.kill_running(1), "a finished task is not killed");
    }

    #[test]
    fn a_killed_task_cannot_finish() {
        let (pool, fd) = Claims::create().unwrap();
        let worker = Claims::map(fd.as_raw_fd()).unwrap();
        pool.queue(7);
        assert!(worker.start(7));
        assert!(pool.kill_running(7));
        assert!(!worker.finish(7));
        assert_eq!(pool.phase(7), Phase::Killed);
        // An entry reused by a later request says nothing about the earlier one.
        pool.queue(7 + RING);
        assert_eq!(pool.phase(7), Phase::Unknown);
        assert_eq!(pool.phase(7 + RING), Phase::Queued);
    }

    #[test]
    fn the_start_time_is_read_back() {
        let (pool, fd) = Claims::create().unwrap();
        let worker = Claims::map(fd.as_raw_fd()).unwrap();
        let before = Instant::now();
        pool.queue(3);
        assert!(worker.start(3));
        let Phase::Started(at) = pool.phase(3) else {
            panic!("not started")
        };
        // Within a millisecond of the truth (two clocks read at slightly different times).
        assert!(at + Duration::from_millis(1) >= before && at <= Instant::now());
    }
}
