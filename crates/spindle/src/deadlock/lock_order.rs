//! `Detection::LockOrder`: lock-order checking, as Linux's lockdep.
//!
//! While on, each thread keeps a stack of the locks it holds. Acquiring lock B while
//! holding A records the order A → B in one process-wide graph over lock *classes* (a
//! named lock's class is its name; an unnamed one's is where it was created). The first
//! time an order closes a cycle (B → … → A exists already), that inversion is reported
//! once through the handler, even though the timing never deadlocked: two threads taking
//! those locks at the same moment would.
//!
//! Not an order: re-entering a `ReentrantMutex`, a `try_lock` (it cannot wait forever),
//! and a wait with a timeout.
//!
//! Locks of one class nested in each other (two accounts made by one constructor, forks
//! all named `"fork"`) cannot be ordered by class: lockdep asks for annotations there.
//! spindle orders them by lock instead: each lock gets an instance id of its own when it
//! is first taken in this mode, and taking instance b while holding instance a of the
//! same class records the order a → b in the same graph, as a node of its own. So
//! `transfer(x, y)` in one place and `transfer(y, x)` in another is reported, and a
//! discipline that always takes them in one order (by account number, say) is not.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex as InternalMutex, RwLock};

use super::error::{DeadlockError, DeadlockKind, DeadlockedThread};
use crate::sync::label::Label;
use crate::thread::state::ThreadState;
use crate::thread::registry;

static ON: AtomicBool = AtomicBool::new(false);
/// Bumped each time checking is switched on: stacks from an earlier period are stale.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Whether lock-order checking is on (one relaxed load; the lock fast paths ask this).
#[inline]
pub(crate) fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

pub(crate) fn set_enabled(on: bool) {
    if on && !ON.load(Ordering::Relaxed) {
        EPOCH.fetch_add(1, Ordering::Relaxed);
    }
    ON.store(on, Ordering::Relaxed);
}

/// A lock's class and instance ids, given on first use in this mode and cached in the
/// lock: `instance << 32 | class` (0: not yet given).
pub(crate) struct ClassSlot(AtomicU64);

/// Marks a graph node that is one lock instance rather than a class. Class ids and
/// instance ids stay below it.
const INSTANCE: u32 = 1 << 31;

impl ClassSlot {
    pub(crate) const fn new() -> Self {
        ClassSlot(AtomicU64::new(0))
    }

    /// The lock's class and its instance node (`INSTANCE | id`).
    #[inline]
    fn get(&self, kind: &'static str, label: &Label) -> (u32, u32) {
        let cached = self.0.load(Ordering::Relaxed);
        if cached != 0 {
            return (cached as u32, (cached >> 32) as u32);
        }
        self.intern(kind, label)
    }

    #[cold]
    fn intern(&self, kind: &'static str, label: &Label) -> (u32, u32) {
        let class = intern(kind, label);
        let instance = new_instance(class);
        self.0.store(
            u64::from(instance) << 32 | u64::from(class),
            Ordering::Relaxed,
        );
        (class, instance)
    }
}

/// The lock instances given an id so far.
#[derive(Default)]
struct Instances {
    /// For each instance (by id - 1): its class, and its number within the class (so
    /// reports can tell the first `Mutex "fork"` from the second).
    of: Vec<(u32, u32)>,
    /// How many instances each class has.
    per_class: HashMap<u32, u32>,
}

static INSTANCES: RwLock<Option<Instances>> = RwLock::new(None);

/// A new instance node of `class`. Past 2^31 instances, new locks share one last node
/// (never an order with each other: that only stops checking among those locks).
fn new_instance(class: u32) -> u32 {
    let mut instances = INSTANCES.write();
    let instances = instances.get_or_insert_with(Instances::default);
    if instances.of.len() < (INSTANCE - 1) as usize {
        let count = instances.per_class.entry(class).or_default();
        *count += 1;
        instances.of.push((class, *count));
    }
    INSTANCE | instances.of.len() as u32
}

#[derive(PartialEq, Eq, Hash)]
enum ClassKey {
    /// Unnamed: where it was created (and its kind: a primitive made on one line may
    /// make its own state lock there too).
    Site(&'static str, usize),
    /// Named: its kind and name.
    Name(&'static str, Box<str>),
}

struct Classes {
    ids: HashMap<ClassKey, u32>,
    /// How reports name each class, by id - 1.
    names: Vec<String>,
}

static CLASSES: RwLock<Option<Classes>> = RwLock::new(None);

fn intern(kind: &'static str, label: &Label) -> u32 {
    let key = match label {
        Label::Created(at) => ClassKey::Site(kind, *at as *const Location<'static> as usize),
        Label::Named(name) => ClassKey::Name(kind, Box::from(&**name)),
    };
    let mut classes = CLASSES.write();
    let classes = classes.get_or_insert_with(|| Classes {
        ids: HashMap::new(),
        names: Vec::new(),
    });
    if let Some(&id) = classes.ids.get(&key) {
        return id;
    }
    classes.names.push(label.describe(kind));
    let id = classes.names.len() as u32;
    classes.ids.insert(key, id);
    id
}

fn class_name(id: u32) -> String {
    CLASSES
        .read()
        .as_ref()
        .and_then(|c| c.names.get(id as usize - 1).cloned())
        .unwrap_or_else(|| format!("lock class {id}"))
}

/// How a report names a graph node: a class, or one lock of a class.
fn node_name(node: u32) -> String {
    if node & INSTANCE == 0 {
        return class_name(node);
    }
    let index = (node & !INSTANCE) as usize - 1;
    let entry = INSTANCES
        .read()
        .as_ref()
        .and_then(|i| i.of.get(index).copied());
    match entry {
        Some((class, number)) => format!("{} (instance #{number})", class_name(class)),
        None => format!("lock instance {}", index + 1),
    }
}

/// One lock a thread holds.
struct Held {
    lock: usize,
    class: u32,
    /// The lock's instance node (see `INSTANCE`).
    instance: u32,
    at: &'static Location<'static>,
}

impl Held {
    /// The graph edge that taking a lock of `class` and `instance` while holding this
    /// one sets, if any: between classes, or between two locks of one class; none for
    /// the same lock again (re-entry).
    fn order_to(&self, class: u32, instance: u32) -> Option<(u32, u32)> {
        if self.class != class {
            Some((self.class, class))
        } else if self.instance != instance {
            Some((self.instance, instance))
        } else {
            None
        }
    }
}

/// Where one order was first seen.
#[derive(Clone)]
struct Seen {
    thread_id: u64,
    thread: String,
    held_at: &'static Location<'static>,
    acquired_at: &'static Location<'static>,
}

#[derive(Default)]
struct OrderGraph {
    /// `after[a][b]`: b was acquired while a was held.
    after: HashMap<u32, HashMap<u32, Seen>>,
    /// Class pairs already reported, so each inversion is reported once.
    reported: HashSet<(u32, u32)>,
}

static ORDERS: InternalMutex<Option<OrderGraph>> = InternalMutex::new(None);

/// What one thread keeps while checking is on.
struct ThreadOrders {
    /// The `EPOCH` these entries belong to.
    epoch: u64,
    held: Vec<Held>,
    /// Orders this thread has already put in the graph: repeats skip the global lock.
    known: HashSet<u64, BuildHasherDefault<PairHasher>>,
    /// The orders this thread met most recently, by a hash of each: a repeat found here
    /// skips even the hash set (a loop taking the same two locks meets one order).
    recent: [u64; RECENT],
}

const RECENT: usize = 16;

impl ThreadOrders {
    /// Starts over if checking was switched off and on again since this thread last looked.
    fn sync_epoch(&mut self, epoch: u64) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.held.clear();
        }
    }

    /// Whether this thread has already recorded the order `pair` (see `pair`).
    #[inline]
    fn knows(&mut self, pair: u64) -> bool {
        let slot = &mut self.recent[(pair.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize];
        if *slot == pair {
            return true;
        }
        self.knows_slow(pair)
    }

    /// `knows`, past the recent-orders cache: kept out of line so that the common path
    /// stays a few instructions.
    #[cold]
    #[inline(never)]
    fn knows_slow(&mut self, pair: u64) -> bool {
        let known = self.known.contains(&pair);
        if known {
            self.recent[(pair.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize] = pair;
        }
        known
    }

    /// Whether taking the lock `instance` of `class` now sets an order this thread has
    /// not recorded.
    fn sets_new_order(&mut self, class: u32, instance: u32) -> bool {
        let mut new = false;
        for i in 0..self.held.len() {
            if let Some((before, after)) = self.held[i].order_to(class, instance) {
                new |= !self.knows(pair(before, after));
            }
        }
        new
    }
}

/// The order "`before`, then `after`" (graph nodes) as one number (never 0: ids start at 1).
fn pair(before: u32, after: u32) -> u64 {
    u64::from(before) << 32 | u64::from(after)
}

thread_local! {
    static ORDERS_HERE: RefCell<ThreadOrders> = const {
        RefCell::new(ThreadOrders {
            epoch: 0,
            held: Vec::new(),
            known: HashSet::with_hasher(BuildHasherDefault::new()),
            recent: [0; RECENT],
        })
    };
}

/// Hashes a packed pair of class ids with one multiplication (SipHash costs more than
/// the whole lock acquisition here).
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The calling thread acquired `lock`. `ordered` is false for a try-lock or a timed
/// acquisition, which is noted as held but sets no order.
///
/// Kept small: once a thread has recorded the orders it uses, this is a push and a
/// lookup per lock held; orders met for the first time go through `record_new_orders`.
#[inline(never)]
pub(crate) fn acquired(
    lock: usize,
    kind: &'static str,
    label: &Label,
    slot: &ClassSlot,
    ordered: bool,
    at: &'static Location<'static>,
) {
    let (class, instance) = slot.get(kind, label);
    let epoch = EPOCH.load(Ordering::Relaxed);
    let new = ORDERS_HERE.try_with(|here| {
        let mut here = here.borrow_mut();
        here.sync_epoch(epoch);
        let new = ordered && here.sets_new_order(class, instance);
        here.held.push(Held {
            lock,
            class,
            instance,
            at,
        });
        new
    });
    if new == Ok(true) {
        record_new_orders(class, instance, at);
    }
}

/// The orders that acquiring the lock `instance` of `class` at `at` set for the first
/// time on this thread (the lock is already on its stack): noted as known, and added
/// to the graph.
#[cold]
#[inline(never)]
fn record_new_orders(class: u32, instance: u32, at: &'static Location<'static>) {
    let Ok(new_orders) = ORDERS_HERE.try_with(|here| {
        let mut here = here.borrow_mut();
        let here = &mut *here;
        let (_, before) = here.held.split_last().expect("the lock was just pushed");
        let mut new_orders = Vec::new();
        for h in before {
            if let Some((from, to)) = h.order_to(class, instance) {
                if here.known.insert(pair(from, to)) {
                    new_orders.push((from, to, h.at));
                }
            }
        }
        new_orders
    }) else {
        return;
    };
    // Outside the borrow: a report runs the handler, which may take locks itself.
    for (before, after, held_at) in new_orders {
        record(before, after, held_at, at);
    }
}

/// The calling thread released `lock` (a no-op if it was taken while checking was off).
#[inline(never)]
pub(crate) fn released(lock: usize) {
    let _ = ORDERS_HERE.try_with(|here| {
        let held = &mut here.borrow_mut().held;
        if held.last().is_some_and(|h| h.lock == lock) {
            held.pop();
        } else {
            release_out_of_order(held, lock);
        }
    });
}

/// A lock released while it is not the last one taken (or one taken while checking
/// was off): out of line, the common path being a pop.
#[cold]
#[inline(never)]
fn release_out_of_order(held: &mut Vec<Held>, lock: usize) {
    if let Some(i) = held.iter().rposition(|h| h.lock == lock) {
        held.remove(i);
    }
}

/// Adds the order `before` → `after`, reporting it if it closes a cycle.
fn record(
    before: u32,
    after: u32,
    held_at: &'static Location<'static>,
    acquired_at: &'static Location<'static>,
) {
    let me = registry::try_current();
    let seen = Seen {
        thread_id: me.as_ref().map_or(0, |m| m.id),
        thread: me.map_or_else(|| "<exiting>".to_owned(), |m| m.name().to_string()),
        held_at,
        acquired_at,
    };
    let report = {
        let mut graph = ORDERS.lock();
        let graph = graph.get_or_insert_with(OrderGraph::default);
        if graph
            .after
            .get(&before)
            .is_some_and(|next| next.contains_key(&after))
        {
            return;
        }
        match path(graph, after, before) {
            Some(reverse) => {
                let pair = (before.min(after), before.max(after));
                if !graph.reported.insert(pair) {
                    return;
                }
                // The graph stays acyclic: the inverting order is reported, not added.
                inversion(before, after, &seen, &reverse)
            }
            None => {
                graph.after.entry(before).or_default().insert(after, seen);
                return;
            }
        }
    };
    report_inversion(&report);
}

/// The orders leading from `from` to `to` in the graph, if `to` can be reached.
fn path(graph: &OrderGraph, from: u32, to: u32) -> Option<Vec<(u32, u32, Seen)>> {
    let mut stack = vec![(from, Vec::new())];
    let mut visited = HashSet::new();
    while let Some((class, trail)) = stack.pop() {
        if class == to {
            return Some(trail);
        }
        if !visited.insert(class) {
            continue;
        }
        if let Some(next) = graph.after.get(&class) {
            for (&n, seen) in next {
                let mut t = trail.clone();
                t.push((class, n, seen.clone()));
                stack.push((n, t));
            }
        }
    }
    None
}

fn inversion(before: u32, after: u32, now: &Seen, earlier: &[(u32, u32, Seen)]) -> DeadlockError {
    let entry = |held: u32, took: u32, seen: &Seen| DeadlockedThread {
        id: seen.thread_id,
        name: seen.thread.clone(),
        state: ThreadState::Runnable,
        wants: node_name(took),
        waiting_at: seen.acquired_at,
        holds: Some((node_name(held), Some(seen.held_at))),
        blocked_by: None,
    };
    let mut threads = vec![entry(before, after, now)];
    threads.extend(earlier.iter().map(|(h, t, seen)| entry(*h, *t, seen)));
    DeadlockError::new(DeadlockKind::LockOrder, threads)
}

type Handler = Arc<dyn Fn(&DeadlockError) + Send + Sync>;
static HANDLER: RwLock<Option<Handler>> = RwLock::new(None);

fn report_inversion(report: &DeadlockError) {
    let handler = HANDLER.read().clone();
    match handler {
        Some(h) => h(report),
        None => eprintln!("spindle: {report}"),
    }
}

/// Replaces what happens to a lock-order inversion found in
/// [`Detection::LockOrder`](super::Detection::LockOrder) mode: by default it is printed
/// to stderr. The handler runs on the thread whose acquisition completed the inversion,
/// once per pair of lock classes.
///
/// ```rust,standalone_crate
/// use std::sync::{Arc, Mutex as StdMutex};
/// use spindle::deadlock::{self, DeadlockKind, Detection};
/// use spindle::sync::Mutex;
///
/// let found = Arc::new(StdMutex::new(Vec::new()));
/// let sink = Arc::clone(&found);
/// deadlock::set_lock_order_handler(move |e| sink.lock().unwrap().push(e.kind()));
/// deadlock::set_detection(Detection::LockOrder);
/// let (a, b) = (Mutex::named("doc-a", ()), Mutex::named("doc-b", ()));
/// {
///     let _a = a.lock();
///     let _b = b.lock(); // a then b
/// }
/// {
///     let _b = b.lock();
///     let _a = a.lock(); // b then a: reported, though nothing deadlocked
/// }
/// deadlock::set_detection(Detection::WaitFor);
/// assert_eq!(*found.lock().unwrap(), [DeadlockKind::LockOrder]);
/// ```
pub fn set_lock_order_handler(handler: impl Fn(&DeadlockError) + Send + Sync + 'static) {
    *HANDLER.write() = Some(Arc::new(handler));
}
