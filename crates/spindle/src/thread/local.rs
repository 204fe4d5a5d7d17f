//! Per-object thread-local values.

use std::fmt;

/// One value per thread, owned by an object rather than a `static` (Python's
/// `threading.local`). Built on the `thread_local` crate: each thread's value lives until
/// the `Local` is dropped.
///
/// ```
/// use std::sync::Arc;
/// use spindle::thread::{self, Local};
///
/// let local = Arc::new(Local::new());
/// assert_eq!(local.get(), None);
/// assert_eq!(*local.get_or(|| 1), 1);
/// let other = Arc::clone(&local);
/// thread::spawn(move || assert_eq!(*other.get_or(|| 2), 2)).join().unwrap();
/// assert_eq!(local.get(), Some(&1)); // the other thread had its own
/// ```
pub struct Local<T: Send> {
    values: thread_local::ThreadLocal<T>,
}

impl<T: Send> Local<T> {
    /// An empty `Local`: no thread has a value yet.
    pub fn new() -> Local<T> {
        Local {
            values: thread_local::ThreadLocal::new(),
        }
    }

    /// The calling thread's value, made with `init` if it has none yet.
    pub fn get_or(&self, init: impl FnOnce() -> T) -> &T {
        self.values.get_or(init)
    }

    /// The calling thread's value, if it has one.
    pub fn get(&self) -> Option<&T> {
        self.values.get()
    }
}

impl<T: Send> Default for Local<T> {
    fn default() -> Self {
        Local::new()
    }
}

impl<T: Send + fmt::Debug> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("this_thread", &self.get())
            .finish()
    }
}
