// Layer 6 (thread API): public threads over the primitives and the waiting path.
//! A cheap, shareable view of one thread.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::ThreadState;
use super::os;
use super::registry::{self, ThreadRecord};

/// A handle on a live or finished thread: its id, name, daemon flag, state and what it
/// waits on, readable from any thread at any time (Python's `Thread` object, minus control).
///
/// ```
/// use spindle::thread::{self, ThreadState};
///
/// let me = thread::current();
/// assert!(me.is_alive());
/// assert_eq!(me.state(), ThreadState::Runnable);
/// assert_eq!(me.waiting_on(), None);
/// ```
#[derive(Clone)]
pub struct ThreadInfo(pub(crate) Arc<ThreadRecord>);

impl ThreadInfo {
    /// Unique in the process, never reused. The main thread's is 1.
    ///
    /// ```
    /// use spindle::thread;
    ///
    /// let a = thread::spawn(|| thread::current().id());
    /// let b = thread::spawn(|| thread::current().id());
    /// let (ida, idb) = (a.info().id(), b.info().id());
    /// assert_ne!(ida, idb);
    /// assert_eq!(a.join().unwrap(), ida);
    /// assert_eq!(b.join().unwrap(), idb);
    /// assert_eq!(thread::main_thread().id(), 1);
    /// ```
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The thread's name: as given, `Thread-N` by default, `MainThread` for the main thread.
    ///
    /// ```
    /// use spindle::thread::{self, Thread};
    ///
    /// assert_eq!(Thread::new(|| ()).name("io").info().name(), "io");
    /// assert!(Thread::new(|| ()).info().name().starts_with("Thread-"));
    /// assert_eq!(thread::main_thread().name(), "MainThread");
    /// ```
    pub fn name(&self) -> String {
        self.0.name().to_string()
    }

    /// The thread's id in the OS (Python's `Thread.native_id` and
    /// `threading.get_native_id()`): `gettid` on Linux, as `top -H`, `/proc/PID/task` and
    /// debuggers show it. `None` until the thread has started (the main thread's is known
    /// from the start on Linux), and where spindle does not know how to ask (it does on
    /// Linux, Android, macOS, iOS and FreeBSD). It stays readable after the thread ends;
    /// the OS may then give the number to a new thread.
    ///
    /// ```
    /// use spindle::thread::{self, Thread};
    ///
    /// let t = Thread::new(|| thread::current().native_id());
    /// let info = t.info();
    /// assert_eq!(info.native_id(), None); // not started yet
    /// let inside = t.start().unwrap().join().unwrap();
    /// assert_eq!(inside, info.native_id()); // the same from inside and outside
    /// if cfg!(target_os = "linux") {
    ///     assert!(inside.is_some());
    ///     assert_eq!(thread::main_thread().native_id(), Some(u64::from(std::process::id())));
    /// }
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        match self.0.native_id.load(Ordering::Relaxed) {
            0 if self.0.id == registry::main_record().id => os::main_native_id(),
            0 => None,
            n => Some(n),
        }
    }

    /// Whether the thread is a daemon (one the program does not wait for at exit).
    /// Threads spindle did not start, other than the main thread, count as daemons.
    ///
    /// ```
    /// use spindle::thread::{self, Thread};
    ///
    /// assert!(Thread::new(|| ()).daemon(true).info().is_daemon());
    /// assert!(!thread::main_thread().is_daemon());
    /// // A plain std thread is one spindle did not start:
    /// let foreign = std::thread::spawn(|| thread::current().is_daemon());
    /// assert!(foreign.join().unwrap());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.0.daemon()
    }

    /// The thread's state right now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::sync::Event;
    /// use spindle::thread::{self, ThreadState};
    ///
    /// let ev = std::sync::Arc::new(Event::new());
    /// let wait = std::sync::Arc::clone(&ev);
    /// let h = thread::spawn(move || wait.wait());
    /// let info = h.info();
    /// while info.state() != ThreadState::Waiting {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// ev.set();
    /// h.join().unwrap();
    /// assert_eq!(info.state(), ThreadState::Terminated);
    /// ```
    pub fn state(&self) -> ThreadState {
        self.0.state()
    }

    /// Started and not yet terminated.
    ///
    /// ```
    /// use spindle::thread::Thread;
    ///
    /// let t = Thread::new(|| ());
    /// let info = t.info();
    /// assert!(!info.is_alive()); // not started
    /// t.start().unwrap().join().unwrap();
    /// assert!(!info.is_alive()); // terminated
    /// assert!(spindle::thread::current().is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        !matches!(self.state(), ThreadState::New | ThreadState::Terminated)
    }

    /// What the thread is parked on, by name (`Mutex "accounts"`, or where an unnamed
    /// primitive was created), if it is parked on a spindle primitive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use spindle::sync::Mutex;
    /// use spindle::thread;
    ///
    /// let m = Arc::new(Mutex::named("accounts", 0));
    /// let held = m.lock();
    /// let m2 = Arc::clone(&m);
    /// let h = thread::spawn(move || *m2.lock() += 1);
    /// let info = h.info();
    /// while info.waiting_on().is_none() {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// assert!(info.waiting_on().unwrap().contains("Mutex \"accounts\""));
    /// drop(held);
    /// h.join().unwrap();
    /// assert_eq!(info.waiting_on(), None);
    /// ```
    pub fn waiting_on(&self) -> Option<String> {
        let edge = self.0.wait.lock();
        edge.as_ref().map(|e| e.on().describe())
    }
}

impl PartialEq for ThreadInfo {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ThreadInfo {}

impl fmt::Debug for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadInfo")
            .field("id", &self.id())
            .field("name", &self.0.name())
            .field("daemon", &self.is_daemon())
            .field("state", &self.state())
            .field("waiting_on", &self.waiting_on())
            .finish()
    }
}
