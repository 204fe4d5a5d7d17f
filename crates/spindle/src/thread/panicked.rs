//! What a panicking thread leaves behind, and the excepthook that always hears of it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

/// A thread (or task) ended in a panic: its message and the thread's name.
///
/// [`JoinHandle::join`](crate::thread::JoinHandle::join) returns it, and the excepthook
/// receives it when the thread ends, whether or not anyone joins it.
///
/// ```
/// use spindle::thread::Thread;
///
/// let h = Thread::new(|| -> u32 { panic!("no such file") })
///     .name("loader")
///     .start()
///     .unwrap();
/// let err = h.join().unwrap_err();
/// assert_eq!(err.message(), "no such file");
/// assert_eq!(err.thread_name(), "loader");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    message: String,
    thread_name: String,
}

impl Panicked {
    pub(crate) fn new(message: String, thread_name: String) -> Self {
        Panicked {
            message,
            thread_name,
        }
    }

    /// Builds one from a panic payload caught by `catch_unwind`.
    pub(crate) fn from_payload(payload: &(dyn Any + Send), thread_name: String) -> Self {
        Panicked::new(payload_message(payload), thread_name)
    }

    /// The panic message (`panic!`'s formatted text; a deadlock report in full).
    ///
    /// ```
    /// let h = spindle::thread::spawn(|| -> () { panic!("bad row {}", 17) });
    /// assert_eq!(h.join().unwrap_err().message(), "bad row 17");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The name of the thread that panicked.
    ///
    /// ```
    /// use spindle::thread::Thread;
    ///
    /// let h = Thread::new(|| -> () { panic!("oops") }).name("parser").start().unwrap();
    /// assert_eq!(h.join().unwrap_err().thread_name(), "parser");
    /// ```
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }
}

/// The text of a panic payload: `&str`, `String`, a `DeadlockError`, or a placeholder.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(d) = payload.downcast_ref::<crate::deadlock::DeadlockError>() {
        d.to_string()
    } else {
        "<panic payload that is not a string>".to_owned()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "thread \"{}\" panicked: {}",
            self.thread_name, self.message
        )
    }
}

impl std::error::Error for Panicked {}

type Hook = Arc<dyn Fn(&Panicked) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Replaces the excepthook: the function every thread started by spindle that ends in a
/// panic reaches, when it ends, whether or not it is joined later (Python's
/// `threading.excepthook`). Futures whose panic nobody read reach it too.
///
/// The default hook prints `Exception in thread NAME:` and the message to stderr.
///
/// ```rust,standalone_crate
/// use std::sync::{Arc, Mutex};
/// use spindle::thread;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// thread::set_excepthook(move |p| log.lock().unwrap().push(p.message().to_owned()));
/// let _ = thread::spawn(|| panic!("boom")).join();
/// assert!(seen.lock().unwrap().contains(&"boom".to_owned()));
/// ```
pub fn set_excepthook(hook: impl Fn(&Panicked) + Send + Sync + 'static) {
    *HOOK.write() = Some(Arc::new(hook));
}

/// Hands a panic that nobody else will see to the excepthook.
pub(crate) fn report(p: &Panicked) {
    let hook = HOOK.read().clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match hook {
        Some(hook) => hook(p),
        None => default_hook(p),
    }));
    if outcome.is_err() {
        eprintln!("spindle: the excepthook itself panicked while reporting:");
        default_hook(p);
    }
}

fn default_hook(p: &Panicked) {
    eprintln!("Exception in thread {}:\n{}", p.thread_name, p.message);
}
