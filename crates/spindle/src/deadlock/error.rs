// Layer 0 (foundations): uses no other part of spindle (the platform shims, plain data types, the report type).
//! The deadlock report.

use std::fmt;
use std::panic::Location;

use crate::thread::state::ThreadState;

/// A deadlock: threads that wait on each other in a cycle, or a whole program stalled.
///
/// `Mutex::lock` (and every other lock's blocking acquire) panics with this value as the
/// panic payload when waiting would close a cycle; `lock_checked` returns it instead.
/// [`check`](crate::deadlock::check) returns every one that exists at the moment.
/// `Display` explains it thread by thread: who holds what, who wants what, and where.
///
/// ```
/// use spindle::sync::Mutex;
///
/// let m = Mutex::named("config", 0);
/// let _held = m.lock();
/// // Locking a (non-reentrant) Mutex twice on one thread can never succeed:
/// let err = m.lock_checked().unwrap_err();
/// assert!(err.to_string().contains("Mutex \"config\""));
/// assert_eq!(err.threads().len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct DeadlockError {
    kind: DeadlockKind,
    threads: Vec<DeadlockedThread>,
}

/// Which kind of deadlock a [`DeadlockError`] reports.
///
/// ```
/// use spindle::deadlock::DeadlockKind;
/// use spindle::sync::Mutex;
///
/// let m = Mutex::new(());
/// let _held = m.lock();
/// let err = m.lock_checked().unwrap_err();
/// assert_eq!(err.kind(), DeadlockKind::Cycle); // a cycle of one thread
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlockKind {
    /// Each thread waits for something the next one holds, and the last for the first's.
    Cycle,
    /// Every non-daemon thread is parked without a timeout, so none can ever wake another.
    Stall,
    /// Locks taken in opposite orders in different places ([`Detection::LockOrder`]):
    /// nothing deadlocked, but threads taking them at the same moment would.
    ///
    /// [`Detection::LockOrder`]: crate::deadlock::Detection::LockOrder
    LockOrder,
}

/// One thread of a deadlock: what it holds and what it waits for.
///
/// ```
/// use spindle::sync::Mutex;
///
/// let m = Mutex::named("config", 0);
/// let _held = m.lock();
/// let err = m.lock_checked().unwrap_err();
/// let t = &err.threads()[0];
/// assert_eq!(t.name(), spindle::thread::current().name());
/// assert_eq!(t.wants(), "Mutex \"config\"");
/// assert_eq!(t.holds(), Some("Mutex \"config\""));
/// ```
#[derive(Debug, Clone)]
pub struct DeadlockedThread {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) state: ThreadState,
    pub(crate) wants: String,
    pub(crate) waiting_at: &'static Location<'static>,
    /// What it holds that the previous thread of the cycle wants, and where it took it.
    pub(crate) holds: Option<(String, Option<&'static Location<'static>>)>,
    /// The thread that must act before this one's wait can end.
    pub(crate) blocked_by: Option<BlockedBy>,
}

/// Who a thread of a cycle waits for, and how.
#[derive(Debug, Clone)]
pub(crate) enum BlockedBy {
    /// This thread holds what the waiting one wants (a lock), by name.
    Holder(String),
    /// Only this thread can end the wait, holding nothing (a joined thread, the runner
    /// of an awaited task), by name.
    Actor(String),
}

impl DeadlockedThread {
    /// The thread's id (as [`ThreadInfo::id`](crate::thread::ThreadInfo::id)).
    ///
    /// ```
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::named("config", 0);
    /// let _held = m.lock();
    /// let err = m.lock_checked().unwrap_err(); // this thread already holds it
    /// assert_eq!(err.threads()[0].id(), spindle::thread::current().id());
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The thread's name.
    ///
    /// ```
    /// use spindle::sync::Mutex;
    /// use spindle::thread::Thread;
    ///
    /// let h = Thread::new(|| {
    ///     let m = Mutex::new(());
    ///     let _held = m.lock();
    ///     m.lock_checked().unwrap_err().threads()[0].name().to_owned()
    /// });
    /// let name = h.name("cfg-loader").start().unwrap().join().unwrap();
    /// assert_eq!(name, "cfg-loader");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The thread's state when the deadlock was found.
    ///
    /// ```
    /// use spindle::thread::ThreadState;
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::named("config", 0);
    /// let _held = m.lock();
    /// let err = m.lock_checked().unwrap_err(); // this thread already holds it
    /// assert_eq!(err.threads()[0].state(), ThreadState::Blocked); // waiting for a lock
    /// ```
    pub fn state(&self) -> ThreadState {
        self.state
    }
    /// What the thread waits for, as `waiting_on` shows it.
    ///
    /// ```
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::named("config", 0);
    /// let _held = m.lock();
    /// let err = m.lock_checked().unwrap_err(); // this thread already holds it
    /// assert_eq!(err.threads()[0].wants(), "Mutex \"config\"");
    /// ```
    pub fn wants(&self) -> &str {
        &self.wants
    }
    /// Where the thread made the blocking call.
    ///
    /// ```
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::new(());
    /// let _held = m.lock();
    /// let (err, line) = (m.lock_checked().unwrap_err(), line!());
    /// assert_eq!(err.threads()[0].waiting_at().line(), line);
    /// ```
    pub fn waiting_at(&self) -> &'static Location<'static> {
        self.waiting_at
    }
    /// What the thread holds that another thread of the cycle wants.
    ///
    /// ```
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::named("config", 0);
    /// let _held = m.lock();
    /// let err = m.lock_checked().unwrap_err(); // this thread already holds it
    /// // The one thread of this cycle holds what it wants itself:
    /// assert_eq!(err.threads()[0].holds(), Some("Mutex \"config\""));
    /// ```
    pub fn holds(&self) -> Option<&str> {
        self.holds.as_ref().map(|(what, _)| what.as_str())
    }
    /// Where the thread acquired what it holds, when known.
    ///
    /// ```
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::new(());
    /// let (_held, line) = (m.lock(), line!());
    /// let err = m.lock_checked().unwrap_err();
    /// assert_eq!(err.threads()[0].held_since().map(|at| at.line()), Some(line));
    /// ```
    pub fn held_since(&self) -> Option<&'static Location<'static>> {
        self.holds.as_ref().and_then(|(_, at)| *at)
    }
}

impl DeadlockError {
    pub(crate) fn new(kind: DeadlockKind, threads: Vec<DeadlockedThread>) -> Self {
        DeadlockError { kind, threads }
    }

    /// A cycle, a stall, or (under [`Detection::LockOrder`]) a lock order inversion.
    ///
    /// [`Detection::LockOrder`]: crate::deadlock::Detection::LockOrder
    ///
    /// ```
    /// use spindle::deadlock::DeadlockKind;
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::named("config", 0);
    /// let _held = m.lock();
    /// let err = m.lock_checked().unwrap_err(); // this thread already holds it
    /// assert_eq!(err.kind(), DeadlockKind::Cycle);
    /// ```
    pub fn kind(&self) -> DeadlockKind {
        self.kind
    }

    /// The threads involved, in cycle order (the thread that detected the cycle first).
    ///
    /// ```
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::named("config", 0);
    /// let _held = m.lock();
    /// let err = m.lock_checked().unwrap_err(); // this thread already holds it
    /// let threads = err.threads();
    /// assert_eq!(threads.len(), 1);
    /// assert_eq!(threads[0].id(), spindle::thread::current().id());
    /// ```
    pub fn threads(&self) -> &[DeadlockedThread] {
        &self.threads
    }

    /// The names of the threads involved, in cycle order.
    ///
    /// ```
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::named("config", 0);
    /// let _held = m.lock();
    /// let err = m.lock_checked().unwrap_err(); // this thread already holds it
    /// assert_eq!(err.thread_names(), vec![spindle::thread::current().name()]);
    /// ```
    pub fn thread_names(&self) -> Vec<String> {
        self.threads.iter().map(|t| t.name.clone()).collect()
    }
}

/// Why locking `wants` again on the thread that holds it can never succeed, by its kind.
fn self_deadlock_hint(wants: &str) -> &'static str {
    if wants.starts_with("RwLock") {
        "an RwLock is not reentrant and cannot be upgraded: a thread holding it, to read \
         or to write, must release it before it locks it to write, and a read behind a \
         waiting writer waits for that writer"
    } else if wants.starts_with("Gil") {
        "the Gil is not reentrant: a thread holding it must not acquire it again"
    } else {
        "a Mutex is not reentrant: use ReentrantMutex to lock it again"
    }
}

impl fmt::Display for DeadlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.threads.len();
        match self.kind {
            DeadlockKind::Cycle if n == 1 && self.threads[0].holds.is_some() => {
                let t = &self.threads[0];
                writeln!(
                    f,
                    "deadlock: thread \"{}\" waits for a lock it holds itself",
                    t.name
                )?;
                write!(
                    f,
                    "  thread \"{}\" (id {}) holds {}{} and wants it again at {}",
                    t.name,
                    t.id,
                    t.wants,
                    since(t.held_since()),
                    t.waiting_at
                )?;
                write!(f, "\n  ({})", self_deadlock_hint(&t.wants))
            }
            DeadlockKind::Cycle => {
                write!(f, "deadlock: {n} threads wait for each other in a cycle")?;
                for t in &self.threads {
                    write!(f, "\n  thread \"{}\" (id {})", t.name, t.id)?;
                    if let Some(holds) = t.holds() {
                        write!(f, " holds {holds}{} and", since(t.held_since()))?;
                    }
                    write!(f, " wants {} (waiting at {})", t.wants, t.waiting_at)?;
                    match &t.blocked_by {
                        Some(BlockedBy::Holder(by)) => write!(f, ", held by \"{by}\"")?,
                        Some(BlockedBy::Actor(by)) => write!(f, ", which only \"{by}\" can end")?,
                        None => {}
                    }
                }
                Ok(())
            }
            DeadlockKind::LockOrder => {
                write!(
                    f,
                    "lock order inversion: these locks were taken in opposite orders; threads doing both at once would deadlock"
                )?;
                for t in &self.threads {
                    write!(
                        f,
                        "\n  thread \"{}\" took {} (at {})",
                        t.name, t.wants, t.waiting_at
                    )?;
                    if let Some(holds) = t.holds() {
                        write!(f, " while holding {holds}{}", since(t.held_since()))?;
                    }
                }
                Ok(())
            }
            DeadlockKind::Stall => {
                write!(
                    f,
                    "deadlock: all {n} non-daemon threads are parked without a timeout; none can wake another"
                )?;
                for t in &self.threads {
                    write!(
                        f,
                        "\n  thread \"{}\" (id {}) is {} on {} (at {})",
                        t.name, t.id, t.state, t.wants, t.waiting_at
                    )?;
                }
                Ok(())
            }
        }
    }
}

fn since(at: Option<&'static Location<'static>>) -> String {
    match at {
        Some(at) => format!(" (acquired at {at})"),
        None => String::new(),
    }
}

impl std::error::Error for DeadlockError {}
