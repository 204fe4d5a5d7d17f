// Layer 4 (waiting path): every park and wake-up, and how a failed wait is reported; uses layers 0 to 3.
//! What a panicking thread leaves behind, and the excepthook that always hears of it.

use std::any::Any;
use std::backtrace::Backtrace;
use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

/// A thread (or task) ended in a panic: its message, the thread's name, and where it
/// panicked.
///
/// [`JoinHandle::join`](crate::thread::JoinHandle::join) returns it, and the excepthook
/// receives it when the thread ends, whether or not anyone joins it.
///
/// Two `Panicked` are equal when their message, thread name and location are.
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
#[derive(Debug, Clone)]
pub struct Panicked {
    message: String,
    thread_name: String,
    location: Option<String>,
    backtrace: Option<Arc<Backtrace>>,
    /// A panic hook has printed it already: the default excepthook does not again.
    printed: bool,
}

impl PartialEq for Panicked {
    fn eq(&self, other: &Self) -> bool {
        (&self.message, &self.thread_name, &self.location)
            == (&other.message, &other.thread_name, &other.location)
    }
}

impl Eq for Panicked {}

impl Panicked {
    pub(crate) fn new(message: String, thread_name: String) -> Self {
        Panicked {
            message,
            thread_name,
            location: None,
            backtrace: None,
            printed: false,
        }
    }

    /// Where the panic happened, as the panic hook saw it.
    pub(crate) fn set_origin(
        &mut self,
        location: Option<String>,
        backtrace: Option<Arc<Backtrace>>,
        printed: bool,
    ) {
        self.location = location;
        self.backtrace = backtrace;
        self.printed = printed;
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

    /// Where the panic happened (`src/main.rs:14:21`), for a panic that ended a thread
    /// spindle started. `None` when spindle's panic hook did not see it (another hook
    /// replaced it), and for a task's panic.
    ///
    /// ```
    /// let h = spindle::thread::spawn(|| -> () { panic!("here") });
    /// let p = h.join().unwrap_err();
    /// let at = p.location().expect("spindle's panic hook saw it");
    /// println!("{} panicked at {at}", p.thread_name()); // e.g. "Thread-1 panicked at src/main.rs:1:45"
    /// assert_eq!(at.split(':').count(), 3); // file, line, column
    /// ```
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The stack at the panic, when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) asked for
    /// one and spindle's panic hook saw the panic; the default excepthook prints it.
    ///
    /// ```
    /// let h = spindle::thread::spawn(|| -> () { panic!("deep") });
    /// let p = h.join().unwrap_err();
    /// if std::env::var_os("RUST_BACKTRACE").is_none()
    ///     && std::env::var_os("RUST_LIB_BACKTRACE").is_none()
    /// {
    ///     assert!(p.backtrace().is_none());
    /// }
    /// ```
    pub fn backtrace(&self) -> Option<&Backtrace> {
        self.backtrace.as_deref()
    }
}

/// The text of a panic payload: `&str`, `String`, a `DeadlockError`, or a placeholder.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(d) = payload.downcast_ref::<crate::deadlock::error::DeadlockError>() {
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
/// The default hook prints `Exception in thread NAME:`, the location (`panicked at
/// FILE:LINE:COL:`), the message, and the backtrace if one was captured, to stderr: the
/// one report of the panic (the panic hook does not print it as well, see
/// [`Panicked::location`]). A hook set here is the only report: nothing else prints a
/// thread's panic then, unless the program installed a panic hook of its own.
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
    if p.printed {
        return; // a panic hook printed it, in Rust's form
    }
    let mut text = format!("Exception in thread {}:\n", p.thread_name);
    if let Some(at) = &p.location {
        text.push_str(&format!("panicked at {at}:\n"));
    }
    text.push_str(&p.message);
    if let Some(bt) = &p.backtrace {
        let frames = super::panic_hook::render_backtrace(bt);
        text.push_str(&format!("\nstack backtrace:\n{frames}"));
    }
    eprintln!("{text}");
}
