//! Per-object thread-local values.

use std::cell::Cell;
use std::fmt;
use std::ptr;

use super::registry;

/// One value per thread, owned by an object rather than a `static` (Python's
/// `threading.local`). Built on the `thread_local` crate: each thread's value lives until
/// the `Local` is dropped, and a thread started later never sees an ended thread's value.
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
    values: thread_local::ThreadLocal<Slot<T>>,
}

impl<T: Send> Local<T> {
    /// An empty `Local`: no thread has a value yet.
    ///
    /// ```
    /// use spindle::thread::Local;
    ///
    /// let local: Local<String> = Local::new();
    /// assert_eq!(local.get(), None);
    /// ```
    pub fn new() -> Local<T> {
        Local {
            values: thread_local::ThreadLocal::new(),
        }
    }

    /// The calling thread's value, made with `init` if it has none yet.
    ///
    /// `init` runs at most once per thread: later calls return the value it made.
    ///
    /// ```
    /// use spindle::thread::Local;
    ///
    /// let local = Local::new();
    /// assert_eq!(*local.get_or(|| 10), 10);
    /// assert_eq!(*local.get_or(|| 20), 10); // already set on this thread
    /// ```
    pub fn get_or(&self, init: impl FnOnce() -> T) -> &T {
        let me = registry::current_id();
        let slot = self.values.get_or(Slot::new);
        match slot.value_of(me) {
            Some(v) => v,
            None => slot.push(me, init()),
        }
    }

    /// The calling thread's value, if it has one.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spindle::thread::{self, Local};
    ///
    /// let local = Arc::new(Local::new());
    /// local.get_or(|| "main");
    /// assert_eq!(local.get(), Some(&"main"));
    /// let other = Arc::clone(&local);
    /// let seen = thread::spawn(move || other.get().copied()).join().unwrap();
    /// assert_eq!(seen, None); // another thread has none of its own yet
    /// ```
    pub fn get(&self) -> Option<&T> {
        self.values.get()?.value_of(registry::current_id())
    }
}

/// One `thread_local` slot: the values of the threads that have used it, newest first.
///
/// The `thread_local` crate hands a slot to a new thread once the previous one has ended,
/// values and all; the owner's id (spindle's, never reused) tells whose a value is. An
/// ended thread's value is kept, unreachable, until the `Local` drops: another thread may
/// still hold a reference to it.
struct Slot<T> {
    /// Invariant: null or a node from `Box::into_raw`, owned by this slot, whose `older`
    /// chain is the same. Only the thread the slot belongs to now reads or changes it.
    newest: Cell<*mut Node<T>>,
}

struct Node<T> {
    owner: u64,
    value: T,
    older: *mut Node<T>,
}

// SAFETY: a slot moves between threads only as `thread_local` hands it over (after its
// previous thread ended); it owns its `T`s, which are `Send`.
unsafe impl<T: Send> Send for Slot<T> {}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            newest: Cell::new(ptr::null_mut()),
        }
    }

    fn value_of(&self, owner: u64) -> Option<&T> {
        // SAFETY: by the invariant, a non-null `newest` is a live node owned by the slot,
        // freed only when the slot drops, which the returned borrow of `self` prevents.
        let node = unsafe { self.newest.get().as_ref() }?;
        (node.owner == owner).then_some(&node.value)
    }

    fn push(&self, owner: u64, value: T) -> &T {
        let older = self.newest.get();
        let node = Box::into_raw(Box::new(Node {
            owner,
            value,
            older,
        }));
        self.newest.set(node);
        // SAFETY: just allocated; freed only when the slot drops (see `value_of`).
        unsafe { &(*node).value }
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        let mut next = self.newest.get();
        while !next.is_null() {
            // SAFETY: by the invariant, each node came from `Box::into_raw` and is owned
            // by this slot alone; nothing borrows it any more (`&mut self`).
            let node = unsafe { Box::from_raw(next) };
            next = node.older;
        }
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
