//! Starting threads and waiting for them to end.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex as InternalMutex;
use parking_lot_core::{DEFAULT_PARK_TOKEN, ParkResult};

use super::panicked::{self, Panicked};
use super::registry::{self, ThreadRecord};
use super::{ThreadInfo, ThreadState};
use crate::description;
use crate::trace::{self, EventKind};
use crate::wait::{self, Holder, Wait, Waitable};

/// A thread that has been created but not started (Python's `t = Thread(target=f)`).
///
/// Name it and make it a daemon before [`start`](Thread::start); its [`info`](Thread::info)
/// reads `New` until then, and follows the thread once it runs.
///
/// ```
/// use spindle::thread::{Thread, ThreadState};
///
/// let t = Thread::new(|| 6 * 7).name("answer").daemon(true);
/// let info = t.info();
/// assert_eq!(info.state(), ThreadState::New);
/// let h = t.start().expect("the OS started the thread");
/// assert_eq!(h.join().unwrap(), 42);
/// assert_eq!(info.state(), ThreadState::Terminated);
/// ```
pub struct Thread<T> {
    record: Arc<ThreadRecord>,
    f: Box<dyn FnOnce() -> T + Send + 'static>,
}

impl<T: Send + 'static> Thread<T> {
    /// A thread that will run `f`, named `Thread-N` (N counts from 1, as in Python).
    pub fn new<F>(f: F) -> Thread<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        Thread {
            record: registry::new_spawned(),
            f: Box::new(f),
        }
    }

    /// Gives the thread a name (shown in reports, `enumerate`, and the OS thread name).
    pub fn name(self, name: impl Into<String>) -> Thread<T> {
        self.record.set_name(name.into());
        self
    }

    /// Makes the thread a daemon: [`join_non_daemon`](crate::thread::join_non_daemon)
    /// does not wait for it. Default: `false`.
    pub fn daemon(self, daemon: bool) -> Thread<T> {
        self.record.set_daemon(daemon);
        self
    }

    /// A handle on the thread; `state()` is `New` until it starts.
    pub fn info(&self) -> ThreadInfo {
        ThreadInfo(Arc::clone(&self.record))
    }

    /// Starts the thread. Fails only when the OS refuses to create it; the error then
    /// names the thread.
    pub fn start(self) -> io::Result<JoinHandle<T>> {
        let Thread { record, f } = self;
        let packet: Arc<Packet<T>> = Arc::new(InternalMutex::new(None));
        let name = record.name();
        registry::make_alive(&record);
        let thread_record = Arc::clone(&record);
        let thread_packet = Arc::clone(&packet);
        let started = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || run(thread_record, thread_packet, f));
        match started {
            Ok(native) => Ok(JoinHandle {
                record,
                packet,
                native: Some(native),
            }),
            Err(e) => {
                registry::forget(&record);
                Err(io::Error::new(
                    e.kind(),
                    format!("could not start thread \"{name}\": {e}"),
                ))
            }
        }
    }
}

impl<T> fmt::Debug for Thread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.record.name())
            .field("daemon", &self.record.daemon())
            .finish_non_exhaustive()
    }
}

/// Where the thread's outcome waits for `join`.
type Packet<T> = InternalMutex<Option<Result<T, Panicked>>>;

/// The body of every thread spindle starts.
fn run<T>(record: Arc<ThreadRecord>, packet: Arc<Packet<T>>, f: Box<dyn FnOnce() -> T + Send>) {
    registry::bind_current(Arc::clone(&record));
    trace::emit(|| EventKind::ThreadStart);
    let outcome = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let p = Panicked::from_payload(&*payload, record.name().to_string());
        // Python's rule: the hook hears of every panic when the thread ends, joined or not.
        panicked::report(&p);
        p
    });
    *packet.lock() = Some(outcome);
    trace::emit(|| EventKind::ThreadEnd);
    record.terminate();
}

/// Starts a thread running `f`, named `Thread-N`; panics (naming the thread) if the OS
/// cannot start it. The same as `Thread::new(f).start()`.
///
/// ```
/// let h = spindle::thread::spawn(|| "done");
/// assert_eq!(h.join().unwrap(), "done");
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Thread::new(f).start() {
        Ok(h) => h,
        Err(e) => panic!("spindle::thread::spawn: {e}"),
    }
}

/// Owns a started thread: wait for it, read its outcome, observe it.
///
/// Dropping the handle detaches the thread; a panic in it still reaches the excepthook.
///
/// ```
/// use std::time::Duration;
/// use spindle::thread;
///
/// let h = thread::spawn(|| thread::sleep(Duration::from_millis(20)));
/// assert!(!h.wait_timeout(Duration::ZERO) || h.is_finished());
/// assert!(h.wait_timeout(Duration::from_secs(10)));
/// assert!(h.is_finished());
/// h.join().unwrap();
/// ```
pub struct JoinHandle<T> {
    record: Arc<ThreadRecord>,
    packet: Arc<Packet<T>>,
    native: Option<std::thread::JoinHandle<()>>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to end and gives what it returned, or `Err` with its panic
    /// message and name if it panicked. The caller reads `Waiting` meanwhile.
    #[track_caller]
    pub fn join(mut self) -> Result<T, Panicked> {
        wait_for_end(&self.record, None, Location::caller());
        if let Some(native) = self.native.take() {
            // The thread has stored its outcome and is returning: this is brief.
            let _ = native.join();
        }
        self.packet
            .lock()
            .take()
            .expect("a terminated thread always leaves its outcome")
    }

    /// Waits at most `timeout` for the thread to end; `true` once it has.
    /// The caller reads `TimedWaiting` meanwhile.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Some(wait::deadline_after(timeout));
        wait_for_end(&self.record, deadline, Location::caller())
    }

    /// Whether the thread has terminated.
    pub fn is_finished(&self) -> bool {
        self.record.state() == ThreadState::Terminated
    }

    /// A handle on the thread's name, state and waits.
    pub fn info(&self) -> ThreadInfo {
        ThreadInfo(Arc::clone(&self.record))
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.info())
            .finish_non_exhaustive()
    }
}

/// Waiting for a thread to end: the joined thread is the one that must act.
struct JoinWait<'a>(&'a ThreadRecord);

impl Waitable for JoinWait<'_> {
    fn describe(&self) -> String {
        format!("join of thread \"{}\"", self.0.name())
    }

    fn description(&self) -> Arc<str> {
        let name = self.0.name();
        let make = || format!("join of thread \"{name}\"");
        description::cached("join", name.as_ptr() as usize, Some(&name), make)
    }

    fn holders(&self, _threads: &[Arc<ThreadRecord>], out: &mut Vec<Holder>) {
        out.push(Holder {
            thread: self.0.id,
            since: None,
        });
    }
}

/// Parks until `target` terminates or `deadline` passes; `true` if it terminated.
pub(crate) fn wait_for_end(
    target: &ThreadRecord,
    deadline: Option<Instant>,
    at: &'static Location<'static>,
) -> bool {
    let on = JoinWait(target);
    let wait = Wait::waiting(&on, deadline, at);
    let terminated = || target.state() == ThreadState::Terminated;
    while !terminated() {
        let parked = wait::park(
            &wait,
            target.park_key(),
            || !terminated(),
            || {},
            |_, _| {},
            DEFAULT_PARK_TOKEN,
            deadline,
        );
        if let Ok(ParkResult::TimedOut) = parked {
            return terminated();
        }
    }
    true
}
