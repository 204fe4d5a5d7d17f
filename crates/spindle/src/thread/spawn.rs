// Layer 6 (thread API): public threads over the primitives and the waiting path.
//! Starting threads and waiting for them to end.

use std::fmt;
use std::io;
use std::mem;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use parking_lot::Mutex as InternalMutex;
use parking_lot_core::{DEFAULT_PARK_TOKEN, ParkResult};

use super::os::{self, Placement};
use super::panic_hook;
use super::panicked::{self, Panicked};
use super::registry::{self, ThreadRecord};
use super::{ThreadInfo, ThreadState};
use crate::deadlock::error::DeadlockError;
use crate::deadlock::raise::raise;
use crate::description;
use crate::trace::event::EventKind;
use crate::trace::hook as trace;
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
    stack_size: Option<usize>,
    placement: Placement,
    /// Its panics are reported once, by the excepthook (see `panic_hook`). Not for a
    /// pool's workers, whose body catches each task's panic itself.
    report_panics: bool,
}

impl<T: Send + 'static> Thread<T> {
    /// A thread that will run `f`, named `Thread-N` (N counts from 1, as in Python).
    ///
    /// The number is taken here, when the thread is created, whether or not it is renamed
    /// later (as Python's `Thread.__init__`); nothing runs until [`start`](Thread::start).
    ///
    /// ```
    /// use spindle::thread::{Thread, ThreadState};
    ///
    /// let t = Thread::new(|| "ran");
    /// assert!(t.info().name().starts_with("Thread-"));
    /// assert_eq!(t.info().state(), ThreadState::New);
    /// assert_eq!(t.start().unwrap().join().unwrap(), "ran");
    /// ```
    pub fn new<F>(f: F) -> Thread<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        Thread {
            record: registry::new_spawned(),
            f: Box::new(f),
            stack_size: None,
            placement: Placement::default(),
            report_panics: true,
        }
    }

    /// A thread named `name` from the start: it takes no `Thread-N` number (as Python's
    /// `Thread(name=...)`). For threads spindle starts on its own (pool workers).
    pub(crate) fn with_name<F>(name: String, f: F) -> Thread<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        Thread {
            record: registry::new_spawned_named(name),
            f: Box::new(f),
            stack_size: None,
            placement: Placement::default(),
            report_panics: false,
        }
    }

    /// Gives the thread a name (shown in reports, `enumerate`, and the OS thread name).
    ///
    /// Any text is accepted here; a name with a NUL byte makes [`start`](Thread::start)
    /// fail, since the OS cannot take it.
    ///
    /// ```
    /// use spindle::thread::Thread;
    ///
    /// let t = Thread::new(|| spindle::thread::current().name()).name("loader");
    /// assert_eq!(t.info().name(), "loader");
    /// assert_eq!(t.start().unwrap().join().unwrap(), "loader");
    /// ```
    pub fn name(self, name: impl Into<String>) -> Thread<T> {
        self.record.set_name(name.into());
        self
    }

    /// Makes the thread a daemon: [`join_non_daemon`](crate::thread::join_non_daemon)
    /// does not wait for it. Default: `false`.
    ///
    /// ```
    /// use spindle::thread::Thread;
    ///
    /// let t = Thread::new(|| ()).daemon(true);
    /// assert!(t.info().is_daemon());
    /// assert!(!Thread::new(|| ()).info().is_daemon());
    /// t.start().unwrap().join().unwrap();
    /// ```
    pub fn daemon(self, daemon: bool) -> Thread<T> {
        self.record.set_daemon(daemon);
        self
    }

    /// The size of the thread's stack, in bytes (Python's `threading.stack_size`, set
    /// here for one thread). `0` means the platform's default, as in Python; otherwise
    /// at least 32 KiB (Python's minimum). The OS may round it up to a whole number of
    /// pages. Default: Rust's (2 MiB, or `RUST_MIN_STACK`).
    ///
    /// [`start`](Thread::start) fails with [`InvalidInput`](io::ErrorKind::InvalidInput)
    /// for a size below the minimum, and with the OS's error if it cannot give that much.
    ///
    /// ```
    /// use spindle::thread::Thread;
    ///
    /// fn depth(n: u64) -> u64 {
    ///     let frame = std::hint::black_box([n; 64]); // half a KiB per call
    ///     if n == 0 { 0 } else { 1 + depth(frame[0] - 1) }
    /// }
    /// // 40,000 calls of half a KiB: more than Rust's default 2 MiB.
    /// let deep = Thread::new(|| depth(40_000)).stack_size(64 << 20);
    /// assert_eq!(deep.start().unwrap().join().unwrap(), 40_000);
    ///
    /// let err = Thread::new(|| ()).stack_size(1024).start().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Thread<T> {
        self.stack_size = Some(bytes);
        self
    }

    /// Pins the thread to these CPU cores (numbered from 0): the OS runs it only there.
    /// Python offers no such thing; Linux's `sched_setaffinity` does. Applied by the new
    /// thread before it runs its body, so the body runs pinned from its first instruction.
    ///
    /// [`start`](Thread::start) fails, naming the thread, with
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) for an empty set or a core the
    /// machine does not have, and with the OS's error when it refuses (a core this
    /// process may not use); the thread then never runs. On platforms other than Linux it
    /// fails with [`Unsupported`](io::ErrorKind::Unsupported).
    ///
    /// Priority and affinity together, as a latency-sensitive thread might ask for them
    /// (`/proc` shows what the OS made of the request):
    ///
    /// ```
    /// use spindle::thread::{self, Thread};
    ///
    /// let t = Thread::new(|| {
    ///     let tid = thread::current().native_id().unwrap();
    ///     let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    ///     let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    ///     let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    ///     let nice: i32 = after_name.split(' ').nth(16).unwrap().parse().unwrap();
    ///     (status.contains("Cpus_allowed_list:\t0\n"), nice)
    /// })
    /// .name("pinned")
    /// .affinity([0])
    /// .priority(10); // nicer than the default 0: any thread may ask for that
    /// # if cfg!(target_os = "linux") {
    /// assert_eq!(t.start().unwrap().join().unwrap(), (true, 10));
    ///
    /// let err = Thread::new(|| ()).affinity([usize::MAX]).start().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("does not exist"));
    /// # }
    /// ```
    pub fn affinity(mut self, cores: impl IntoIterator<Item = usize>) -> Thread<T> {
        let mut cores: Vec<usize> = cores.into_iter().collect();
        cores.sort_unstable();
        cores.dedup();
        self.placement.cores = Some(cores);
        self
    }

    /// The thread's scheduling priority, as a Unix niceness: from -20 (most favoured)
    /// to 19 (least); threads start at their creator's, usually 0. Python offers no such
    /// thing; on Linux it is the thread's own niceness (`setpriority`), applied by the
    /// new thread before it runs its body.
    ///
    /// [`start`](Thread::start) fails, naming the thread, with
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) outside -20..=19, and with
    /// [`PermissionDenied`](io::ErrorKind::PermissionDenied) for a niceness below the
    /// current one without the privilege for it (`CAP_SYS_NICE`, or `RLIMIT_NICE`); the
    /// thread then never runs. On platforms other than Linux it fails with
    /// [`Unsupported`](io::ErrorKind::Unsupported). See [`affinity`](Thread::affinity)
    /// for an example of both.
    ///
    /// ```
    /// use spindle::thread::Thread;
    ///
    /// let err = Thread::new(|| ()).priority(25).start().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn priority(mut self, niceness: i32) -> Thread<T> {
        self.placement.niceness = Some(niceness);
        self
    }

    /// A handle on the thread; `state()` is `New` until it starts, and the same handle
    /// follows the thread once it runs.
    ///
    /// ```
    /// use spindle::thread::{Thread, ThreadState};
    ///
    /// let t = Thread::new(|| ()).name("later");
    /// let info = t.info();
    /// assert_eq!(info.state(), ThreadState::New);
    /// assert!(!info.is_alive());
    /// t.start().unwrap().join().unwrap();
    /// assert_eq!(info.state(), ThreadState::Terminated);
    /// ```
    pub fn info(&self) -> ThreadInfo {
        ThreadInfo(Arc::clone(&self.record))
    }

    /// Starts the thread.
    ///
    /// # Errors
    ///
    /// Fails, naming the thread, when its name contains a NUL byte, its
    /// [`stack_size`](Thread::stack_size) is below the minimum, or its
    /// [`affinity`](Thread::affinity) or [`priority`](Thread::priority) is out of range
    /// (kind [`InvalidInput`](io::ErrorKind::InvalidInput)); when the OS refuses to create
    /// it, or to place it as asked (the OS's error, e.g.
    /// [`PermissionDenied`](io::ErrorKind::PermissionDenied) for a priority that needs a
    /// privilege); and with [`Unsupported`](io::ErrorKind::Unsupported) for affinity or
    /// priority where spindle cannot set them. Its body then never runs, and the thread
    /// never became alive: its state reads `New`,
    /// [`enumerate`](crate::thread::enumerate) does not list it and
    /// [`join_non_daemon`](crate::thread::join_non_daemon) does not wait for it.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use spindle::thread::{Thread, ThreadState};
    ///
    /// let h = Thread::new(|| 2 + 2).name("adder").start().unwrap();
    /// assert_eq!(h.join().unwrap(), 4);
    ///
    /// let bad = Thread::new(|| ()).name("bad\0name");
    /// let info = bad.info();
    /// let err = bad.start().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains(r#""bad\0name""#));
    /// assert_eq!(info.state(), ThreadState::New);
    /// ```
    pub fn start(self) -> io::Result<JoinHandle<T>> {
        let Thread {
            record,
            f,
            stack_size,
            placement,
            report_panics,
        } = self;
        let name = record.name();
        // std panics (rather than failing) on such a name: refuse it before the record
        // is alive, so that nothing is left for `join_non_daemon` to wait on.
        if name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("thread name {:?} may not contain a NUL byte", &*name),
            ));
        }
        let stack_size = stack_size.filter(|&bytes| bytes != 0);
        if let Some(bytes) = stack_size.filter(|&bytes| bytes < os::MIN_STACK_SIZE) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "thread \"{name}\": a stack of {bytes} bytes is below the minimum of {} (32 KiB)",
                    os::MIN_STACK_SIZE
                ),
            ));
        }
        placement.validate(&name)?;
        let packet: Arc<Packet<T>> = Arc::new(InternalMutex::new(None));
        if report_panics {
            panic_hook::install();
        }
        registry::make_alive(&record);
        // Should std panic anyway, the record must not stay alive forever.
        let not_started = NotStarted(&record);
        let thread_record = Arc::clone(&record);
        let thread_packet = Arc::clone(&packet);
        // A thread that must place itself first says how that went before its body runs.
        let (placed_tx, placed_rx) = if placement.is_empty() {
            (None, None)
        } else {
            let (tx, rx) = mpsc::sync_channel(1);
            (Some(tx), Some(rx))
        };
        let thread_name = name.to_string();
        let mut builder = std::thread::Builder::new().name(name.to_string());
        if let Some(bytes) = stack_size {
            builder = builder.stack_size(bytes);
        }
        let started = builder.spawn(move || {
            if let Some(placed_tx) = placed_tx {
                let placed = placement.apply(&thread_name);
                let refused = placed.is_err();
                let _ = placed_tx.send(placed);
                if refused {
                    return; // the body never runs
                }
            }
            run(thread_record, thread_packet, f, report_panics);
        });
        let native = match started {
            Ok(native) => native,
            Err(e) => {
                drop(not_started);
                return Err(io::Error::new(
                    e.kind(),
                    format!("could not start thread \"{name}\": {e}"),
                ));
            }
        };
        if let Some(placed_rx) = placed_rx {
            let placed = placed_rx.recv().unwrap_or_else(|_| {
                Err(io::Error::other(format!(
                    "thread \"{name}\" ended before it could place itself"
                )))
            });
            if let Err(e) = placed {
                let _ = native.join();
                drop(not_started);
                return Err(e);
            }
        }
        mem::forget(not_started);
        Ok(JoinHandle {
            record,
            packet,
            native: Some(native),
        })
    }
}

/// Takes a record made alive by `start` out of the live table again unless defused
/// (`mem::forget`): the OS refused the thread, or std panicked.
struct NotStarted<'a>(&'a ThreadRecord);

impl Drop for NotStarted<'_> {
    fn drop(&mut self) {
        registry::forget(self.0);
        wait::unpark_all(self.0.park_key());
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
fn run<T>(
    record: Arc<ThreadRecord>,
    packet: Arc<Packet<T>>,
    f: Box<dyn FnOnce() -> T + Send>,
    report_panics: bool,
) {
    registry::bind_current(Arc::clone(&record));
    trace::emit(|| EventKind::ThreadStart);
    let name = || record.name().to_string();
    let outcome = if report_panics {
        panic_hook::catch_reported(name, f)
    } else {
        panic::catch_unwind(AssertUnwindSafe(f))
            .map_err(|payload| Panicked::from_payload(&*payload, name()))
    };
    if let Err(p) = &outcome {
        // Python's rule: the hook hears of every panic when the thread ends, joined or not.
        panicked::report(p);
    }
    *packet.lock() = Some(outcome);
    trace::emit(|| EventKind::ThreadEnd);
    record.terminate();
    wait::unpark_all(record.park_key());
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
    ///
    /// # Panics
    ///
    /// When called on the thread's own handle (from inside the thread): it would wait
    /// forever (Python raises `RuntimeError: cannot join current thread`). The message is
    /// `thread "NAME" cannot join itself`.
    ///
    /// When waiting would close a cycle of waits (the thread being joined waits, directly
    /// or through others, for a lock the caller holds): the panic's payload is the
    /// [`DeadlockError`](crate::sync::DeadlockError) report, as for a `Mutex::lock` that
    /// would deadlock, and unwinding releases the caller's guards so the others go on.
    ///
    /// ```
    /// use spindle::thread::{self, Thread};
    ///
    /// assert_eq!(thread::spawn(|| 7 * 6).join().unwrap(), 42);
    ///
    /// let h = Thread::new(|| -> () { panic!("disk full") }).name("writer").start().unwrap();
    /// let err = h.join().unwrap_err();
    /// assert_eq!((err.thread_name(), err.message()), ("writer", "disk full"));
    /// ```
    #[track_caller]
    pub fn join(mut self) -> Result<T, Panicked> {
        self.refuse_self_join();
        if let Err(e) = wait_for_end(&self.record, None, Location::caller()) {
            raise(e);
        }
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
    ///
    /// # Panics
    ///
    /// When called on the thread's own handle (from inside the thread), as
    /// [`join`](JoinHandle::join): `thread "NAME" cannot join itself`.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use spindle::thread;
    ///
    /// let (go, wait) = mpsc::channel::<()>();
    /// let h = thread::spawn(move || wait.recv().unwrap());
    /// assert!(!h.wait_timeout(Duration::from_millis(10))); // still waiting for `go`
    /// go.send(()).unwrap();
    /// assert!(h.wait_timeout(Duration::from_secs(20)));
    /// h.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.refuse_self_join();
        let deadline = Some(wait::deadline_after(timeout));
        // A wait with a deadline is never checked: it cannot fail.
        wait_for_end(&self.record, deadline, Location::caller()).unwrap_or(false)
    }

    /// Whether the thread has terminated (it never blocks).
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use spindle::thread;
    ///
    /// let (go, wait) = mpsc::channel::<()>();
    /// let h = thread::spawn(move || wait.recv().unwrap());
    /// assert!(!h.is_finished());
    /// go.send(()).unwrap();
    /// h.wait_timeout(std::time::Duration::from_secs(20));
    /// assert!(h.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.record.state() == ThreadState::Terminated
    }

    /// A handle on the thread's name, state and waits; it stays valid after the thread
    /// ends and after the `JoinHandle` is gone.
    ///
    /// ```
    /// use spindle::thread::{Thread, ThreadState};
    ///
    /// let h = Thread::new(|| ()).name("short").start().unwrap();
    /// let info = h.info();
    /// assert_eq!(info.name(), "short");
    /// h.join().unwrap();
    /// assert_eq!(info.state(), ThreadState::Terminated);
    /// ```
    pub fn info(&self) -> ThreadInfo {
        ThreadInfo(Arc::clone(&self.record))
    }

    /// Panics if the calling thread is the one this handle owns: it cannot wait for itself.
    #[track_caller]
    fn refuse_self_join(&self) {
        if self.record.id == registry::current_id() {
            panic!("thread \"{}\" cannot join itself", self.record.name());
        }
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

    fn holds_up_a_chain(&self) -> bool {
        true
    }

    fn description(&self) -> Arc<str> {
        let name = self.0.name();
        let make = || format!("join of thread \"{name}\"");
        description::cached("join", name.as_ptr() as usize, Some(&name), make)
    }

    fn holders(&self, _waiter: u64, out: &mut Vec<Holder>) {
        if self.0.state() != ThreadState::Terminated {
            out.push(Holder::actor(self.0.id));
        }
    }
}

/// Parks until `target` terminates or `deadline` passes; `true` if it terminated.
///
/// Also returns (`false`) once `target` reads `New` again: `Thread::start` made it alive
/// but the OS refused the thread, and woke its waiters. `Err` (without waiting) when a
/// wait without deadline would close a cycle of waits.
pub(crate) fn wait_for_end(
    target: &ThreadRecord,
    deadline: Option<Instant>,
    at: &'static Location<'static>,
) -> Result<bool, DeadlockError> {
    let on = JoinWait(target);
    let wait = Wait::waiting(&on, deadline, at);
    let terminated = || target.state() == ThreadState::Terminated;
    let ended = || matches!(target.state(), ThreadState::Terminated | ThreadState::New);
    while !ended() {
        let parked = wait::park(
            &wait,
            target.park_key(),
            || !ended(),
            || {},
            |_, _| {},
            DEFAULT_PARK_TOKEN,
            deadline,
        )?;
        if let ParkResult::TimedOut = parked {
            return Ok(terminated());
        }
    }
    Ok(terminated())
}
