// Layer 6 (thread API): public threads over the primitives and the waiting path.
//! Per-object thread-local values.
//!
//! # Who owns a value, and when it goes
//!
//! Every value lives in its own heap node, owned by the `Local` (`nodes`, by address);
//! each thread finds its own through a thread-local table keyed by the `Local`'s id
//! (unique, never reused). A value goes:
//!
//! * when its thread replaces it ([`Local::set`]);
//! * after its thread ends: the thread's exit hook posts the node to the `Local`'s
//!   [`Mailbox`], and the `Local` drops it the next time any thread uses it (or when it
//!   drops itself). The exit hook never drops a value itself: a `Local<T>` may hold
//!   borrowed data (`T` need not be `'static`) that is gone by the time a thread's
//!   thread-locals are destroyed; a thread using the `Local` proves that it is not;
//! * when the `Local` drops.
//!
//! A value handed out by reference ([`get`](Local::get), [`get_or`](Local::get_or)) stays
//! until the `Local` drops: the reference lives as long as the borrow of the `Local`,
//! which may outlive the thread (a scoped thread, a `static`), and with `T: Sync` another
//! thread may still be reading it. That is the only way a value outlives its thread.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex as InternalMutex;
use rustc_hash::{FxHashMap, FxHashSet};

use super::registry;

/// One value per thread, owned by an object rather than a `static`: Python's
/// `threading.local`.
///
/// Python drops a thread's attributes when the thread ends; so does `Local` for values
/// set with [`set`](Local::set) or made by [`with_or`](Local::with_or), and read with
/// [`with`](Local::with): the value's `Drop` runs after its thread ends, at the latest the
/// next time any thread uses the `Local`, so a long-lived `Local` keeps only the values of
/// live threads. [`get`](Local::get) and [`get_or`](Local::get_or) lend a reference that
/// lasts as long as the `Local` is borrowed, which may be longer than the thread lives: a
/// value they have handed out stays until the `Local` itself is dropped. Every value left
/// is dropped with the `Local`. A thread started later never sees an ended thread's value.
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
///
/// Python's `local.conn = connect()`, a value that goes with its thread:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use spindle::thread::{self, Local};
///
/// static CLOSED: AtomicUsize = AtomicUsize::new(0);
/// struct Connection(u32);
/// impl Drop for Connection {
///     fn drop(&mut self) { CLOSED.fetch_add(1, Ordering::SeqCst); }
/// }
///
/// let conn = Arc::new(Local::new());
/// let c = Arc::clone(&conn);
/// thread::spawn(move || {
///     c.set(Connection(7));
///     assert_eq!(c.with(|v| v.map(|c| c.0)), Some(7));
/// })
/// .join()
/// .unwrap();
/// // The thread has ended: its connection is closed by the next use of `conn`.
/// while CLOSED.load(Ordering::SeqCst) == 0 {
///     conn.with(|_| ());
///     std::thread::yield_now();
/// }
/// ```
pub struct Local<T: Send> {
    id: u64,
    /// Every value of every thread, as a pointer to its `Node<T>`. Owned here: a node
    /// is freed only by whoever removes it from this set (so exactly once).
    nodes: InternalMutex<FxHashSet<NodePtr>>,
    /// Nodes of ended threads, posted by their exit hooks, to free at the next use.
    ended: Arc<Mailbox>,
    _owns: PhantomData<T>,
}

// SAFETY: a `Local` hands each thread only its own value (so `T: Send` suffices, as for
// `thread_local::ThreadLocal`); a value is dropped by whichever thread frees its node,
// which `T: Send` allows.
unsafe impl<T: Send> Send for Local<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Local<T> {}

/// A value and, so that every node has an address of its own even for a zero-sized
/// `T`, the thread that set it.
struct Node<T> {
    value: T,
    #[allow(dead_code)] // for debuggers; its size is what matters
    owner: u64,
}

/// A `Node<T>` with its type erased, for the thread-local tables and mailboxes, which
/// never dereference it: only the `Local<T>` that owns it does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct NodePtr(NonNull<()>);

// SAFETY: a `NodePtr` is only an address outside its `Local`, which alone dereferences
// it, under the rules in the module docs.
unsafe impl Send for NodePtr {}
// SAFETY: as above.
unsafe impl Sync for NodePtr {}

impl NodePtr {
    fn new<T>(value: T) -> NodePtr {
        let node = Box::new(Node {
            value,
            owner: registry::current_id(),
        });
        NodePtr(NonNull::from(Box::leak(node)).cast())
    }

    /// The value in the node.
    ///
    /// # Safety
    /// The node must be a live `Node<T>` that nothing frees for `'a`.
    unsafe fn value<'a, T>(self) -> &'a T {
        // SAFETY: as the caller promises.
        unsafe { &self.0.cast::<Node<T>>().as_ref().value }
    }

    /// Drops the node and its value.
    ///
    /// # Safety
    /// The node must be a live `Node<T>` from `NodePtr::new`, freed only here, and
    /// borrowed by nothing.
    unsafe fn free<T>(self) {
        // SAFETY: as the caller promises; it came from `Box::leak`.
        drop(unsafe { Box::from_raw(self.0.cast::<Node<T>>().as_ptr()) });
    }
}

/// Where an ended thread posts its nodes. Holds no `T`: an exit hook may outlive what a
/// `T` borrows, and only ever handles pointers it does not follow.
struct Mailbox {
    nodes: InternalMutex<Vec<NodePtr>>,
    any: AtomicBool,
}

/// One `Local` as one thread sees it.
struct Slot {
    /// Its value's node.
    node: NodePtr,
    /// The node has been lent by reference (`get`, `get_or`): it stays until the `Local`
    /// drops.
    lent: bool,
    /// `with` calls running on it: a `set` meanwhile must not free the node they read.
    borrows: usize,
    /// Replaced nodes that a running `with` still reads: freed when the last one returns.
    retired: Vec<NodePtr>,
    mailbox: Weak<Mailbox>,
}

/// The calling thread's slots, by `Local` id. Its destructor (thread exit) posts each
/// unlent node to its `Local`'s mailbox.
#[derive(Default)]
struct Slots(FxHashMap<u64, Slot>);

impl Drop for Slots {
    fn drop(&mut self) {
        for slot in self.0.values() {
            let Some(mailbox) = slot.mailbox.upgrade() else {
                continue; // the `Local` is gone, and its values with it
            };
            let mut posted = mailbox.nodes.lock();
            posted.extend(&slot.retired);
            if !slot.lent {
                posted.push(slot.node);
            }
            mailbox.any.store(true, Ordering::Release);
        }
    }
}

thread_local! {
    static SLOTS: RefCell<Slots> = RefCell::new(Slots::default());
}

static NEXT_LOCAL_ID: AtomicU64 = AtomicU64::new(1);

/// Looks the calling thread's slot for `id` up; `None` if it has none, or if its
/// thread-locals are being destroyed.
fn with_slot<R>(id: u64, f: impl FnOnce(Option<&mut Slot>) -> R) -> Option<R> {
    SLOTS
        .try_with(|slots| f(slots.borrow_mut().0.get_mut(&id)))
        .ok()
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
            id: NEXT_LOCAL_ID.fetch_add(1, Ordering::Relaxed),
            nodes: InternalMutex::new(FxHashSet::default()),
            ended: Arc::new(Mailbox {
                nodes: InternalMutex::new(Vec::new()),
                any: AtomicBool::new(false),
            }),
            _owns: PhantomData,
        }
    }

    /// The calling thread's value, made with `init` if it has none yet.
    ///
    /// `init` runs at most once per thread: later calls return the value it made. The
    /// value, lent by reference, stays until the `Local` drops (see the type docs); use
    /// [`with_or`](Local::with_or) for one that goes with its thread.
    ///
    /// ```
    /// use spindle::thread::Local;
    ///
    /// let local = Local::new();
    /// assert_eq!(*local.get_or(|| 10), 10);
    /// assert_eq!(*local.get_or(|| 20), 10); // already set on this thread
    /// ```
    pub fn get_or(&self, init: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.lend() {
            return value;
        }
        let node = self.set_node(init());
        match self.lend() {
            Some(value) => value,
            // The thread's table is being destroyed: no slot names the node, so it stays
            // in `nodes` until the `Local` drops.
            // SAFETY: only the `Local`'s drop frees a node no slot names, and it needs the
            // borrow of `self` to have ended.
            None => unsafe { node.value() },
        }
    }

    /// The calling thread's value, if it has one. The value, lent by reference, stays
    /// until the `Local` drops (see the type docs); [`with`](Local::with) reads it
    /// without that.
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
        self.lend()
    }

    /// Gives the calling thread `value` (Python's `local.x = value`), dropping the value
    /// it had, unless a reference to it was lent. The value goes when the thread ends
    /// (see the type docs).
    ///
    /// ```
    /// use spindle::thread::Local;
    ///
    /// let local = Local::new();
    /// local.set(1);
    /// local.set(2);
    /// assert_eq!(local.with(|v| v.copied()), Some(2));
    /// ```
    pub fn set(&self, value: T) {
        self.set_node(value);
    }

    /// Calls `f` with the calling thread's value, if it has one, without lending it:
    /// the value still goes when the thread ends.
    ///
    /// ```
    /// use spindle::thread::Local;
    ///
    /// let local = Local::new();
    /// assert_eq!(local.with(|v: Option<&String>| v.cloned()), None);
    /// local.set("mine".to_owned());
    /// assert_eq!(local.with(|v| v.map(String::len)), Some(4));
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        self.free_ended();
        let node = with_slot(self.id, |slot| {
            slot.map(|slot| {
                slot.borrows += 1;
                slot.node
            })
        })
        .flatten();
        let Some(node) = node else {
            return f(None);
        };
        let _borrow = Borrow { local: self };
        // SAFETY: `node` is this thread's current node; while `borrows` is above zero a
        // `set` retires it instead of freeing it, its exit hook cannot run (the thread is
        // running), and the `Local`'s drop needs the borrow of `self` to have ended.
        f(Some(unsafe { node.value() }))
    }

    /// Calls `f` with the calling thread's value, made with `init` if it has none yet,
    /// without lending it: the value goes when the thread ends.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use spindle::thread::Local;
    ///
    /// let calls = Local::new();
    /// for _ in 0..3 {
    ///     calls.with_or(|| Cell::new(0), |c| c.set(c.get() + 1));
    /// }
    /// assert_eq!(calls.with(|c| c.map(Cell::get)), Some(3));
    /// ```
    pub fn with_or<R>(&self, init: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> R {
        match with_slot(self.id, |slot| slot.is_some()) {
            Some(true) => {}
            Some(false) => {
                self.set_node(init());
            }
            None => {
                // The thread's table is being destroyed: a value for this call only.
                let value = init();
                return f(&value);
            }
        }
        self.with(|value| f(value.expect("the calling thread has a value")))
    }

    /// Lends the calling thread's value, marking it so that it stays until the drop.
    fn lend(&self) -> Option<&T> {
        self.free_ended();
        let node = with_slot(self.id, |slot| {
            slot.map(|slot| {
                slot.lent = true;
                slot.node
            })
        })
        .flatten()?;
        // SAFETY: a lent node is freed only by the `Local`'s drop (neither `set`, the
        // exit hook nor `free_ended` frees one), which needs `self` unborrowed.
        Some(unsafe { node.value() })
    }

    /// Gives the calling thread a node for `value`, freeing the one it replaces if
    /// nothing may still read it; the new node. While the thread's table is being
    /// destroyed, no slot names the new node: it stays in `nodes` until the drop.
    fn set_node(&self, value: T) -> NodePtr {
        self.free_ended();
        let node = NodePtr::new(value);
        self.nodes.lock().insert(node);
        let mailbox = Arc::downgrade(&self.ended);
        let replaced = SLOTS
            .try_with(|slots| {
                let mut slots = slots.borrow_mut();
                if let Some(slot) = slots.0.get_mut(&self.id) {
                    let old = std::mem::replace(&mut slot.node, node);
                    if std::mem::replace(&mut slot.lent, false) {
                        None // lent: it stays until the `Local` drops
                    } else if slot.borrows > 0 {
                        slot.retired.push(old); // a running `with` reads it
                        None
                    } else {
                        Some(old)
                    }
                } else {
                    if slots.0.len() >= 64 && slots.0.len().is_power_of_two() {
                        // Now and then, forget the slots of `Local`s that are gone.
                        slots.0.retain(|_, s| s.mailbox.strong_count() > 0);
                    }
                    let slot = Slot {
                        node,
                        lent: false,
                        borrows: 0,
                        retired: Vec::new(),
                        mailbox,
                    };
                    slots.0.insert(self.id, slot);
                    None
                }
            })
            .ok()
            .flatten();
        if let Some(old) = replaced {
            self.free(&[old]);
        }
        node
    }

    /// Frees the nodes that ended threads have posted.
    fn free_ended(&self) {
        if !self.ended.any.load(Ordering::Acquire) {
            return; // the common case: one load
        }
        let posted = {
            let mut posted = self.ended.nodes.lock();
            self.ended.any.store(false, Ordering::Relaxed);
            std::mem::take(&mut *posted)
        };
        self.free(&posted);
    }

    /// Frees these nodes, those still in `nodes` (each exactly once, outside the lock:
    /// a value's `Drop` may use this `Local`). The callers pass only nodes nothing reads
    /// any more: replaced and neither lent nor read by a running `with`, or posted by a
    /// thread that has ended.
    fn free(&self, candidates: &[NodePtr]) {
        let owned: Vec<NodePtr> = {
            let mut nodes = self.nodes.lock();
            candidates
                .iter()
                .copied()
                .filter(|n| nodes.remove(n))
                .collect()
        };
        for node in owned {
            // SAFETY: removed from `nodes` just now, so this is its only free, and
            // nothing reads it (see above).
            unsafe { node.free::<T>() };
        }
    }
}

/// A running `with` on one node; frees what a `set` retired meanwhile once the last
/// such call returns (even by panicking).
struct Borrow<'a, T: Send> {
    local: &'a Local<T>,
}

impl<T: Send> Drop for Borrow<'_, T> {
    fn drop(&mut self) {
        let retired = with_slot(self.local.id, |slot| {
            let slot = slot?;
            slot.borrows -= 1;
            (slot.borrows == 0).then(|| std::mem::take(&mut slot.retired))
        })
        .flatten();
        if let Some(retired) = retired {
            self.local.free(&retired);
        }
    }
}

impl<T: Send> Drop for Local<T> {
    fn drop(&mut self) {
        for node in self.nodes.get_mut().drain() {
            // SAFETY: the `Local` owns every node in `nodes`, and nothing borrows it now.
            unsafe { node.free::<T>() };
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
        self.with(|value| {
            f.debug_struct("Local")
                .field("this_thread", &value)
                .finish()
        })
    }
}
