// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
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

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex as InternalMutex, RwLock};

use super::error::{DeadlockError, DeadlockKind, DeadlockedThread};
use crate::sync::label::Label;
use crate::thread::registry;
use crate::thread::state::ThreadState;

static ON: AtomicBool = AtomicBool::new(false);
/// Changes when what threads keep may be stale: its high half counts the times checking
/// was switched on (every stack from an earlier period is stale), its low half the locks
/// dropped while still held (`forgotten`: their entries must go). One load tells both.
static EPOCH: AtomicU64 = AtomicU64::new(0);
const SWITCHED_ON: u64 = 1 << 32;

/// The instances of locks dropped while held (their guards were forgotten).
static GONE: RwLock<Option<HashSet<u32>>> = RwLock::new(None);

/// Whether lock-order checking is on (one relaxed load; the lock fast paths ask this).
#[inline]
pub(crate) fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

pub(crate) fn set_enabled(on: bool) {
    if on && !ON.load(Ordering::Relaxed) {
        EPOCH.fetch_add(SWITCHED_ON, Ordering::Relaxed);
    }
    ON.store(on, Ordering::Relaxed);
}

/// A lock whose slot is `slot` is being dropped while held: its guard was forgotten
/// (`mem::forget`), so the entry on its holder's stack would stay forever and set false
/// orders with every later lock. Each thread drops such entries at its next acquisition.
#[cold]
pub(crate) fn forgotten(slot: &ClassSlot) {
    let Some(instance) = slot.instance() else {
        return; // never taken while checking was on: on no stack
    };
    GONE.write()
        .get_or_insert_with(HashSet::new)
        .insert(instance);
    EPOCH.fetch_add(1, Ordering::Release);
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

    /// The lock's instance node, if it was ever taken while checking was on.
    fn instance(&self) -> Option<u32> {
        let cached = self.0.load(Ordering::Relaxed);
        (cached != 0).then_some((cached >> 32) as u32)
    }

    /// The lock's node word: `instance << 32 | class`, its instance node being
    /// `INSTANCE | id`.
    #[inline]
    fn get(&self, kind: &'static str, label: &Label) -> u64 {
        let cached = self.0.load(Ordering::Relaxed);
        if cached != 0 {
            return cached;
        }
        self.intern(kind, label)
    }

    #[cold]
    fn intern(&self, kind: &'static str, label: &Label) -> u64 {
        let class = intern(kind, label);
        let instance = new_instance(class);
        let node = u64::from(instance) << 32 | u64::from(class);
        self.0.store(node, Ordering::Relaxed);
        node
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
#[derive(Clone, Copy)]
struct Held {
    lock: usize,
    /// `instance << 32 | class`, as `ClassSlot` caches it.
    node: u64,
    at: *const Location<'static>,
    /// The thread's chain key before this lock was taken (see `Stack::chain`).
    chain_before: u64,
}

impl Held {
    fn class(&self) -> u32 {
        self.node as u32
    }

    /// The lock's instance node (see `INSTANCE`).
    fn instance(&self) -> u32 {
        (self.node >> 32) as u32
    }

    /// The graph edge that taking a lock of `class` and `instance` while holding this
    /// one sets, if any: between classes, or between two locks of one class; none for
    /// the same lock again (re-entry).
    fn order_to(&self, class: u32, instance: u32) -> Option<(u32, u32)> {
        if self.class() != class {
            Some((self.class(), class))
        } else if self.instance() != instance {
            Some((self.instance(), instance))
        } else {
            None
        }
    }

    fn at(&self) -> &'static Location<'static> {
        // SAFETY: only `&'static Location`s are stored in entries that are read.
        unsafe { &*self.at }
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

/// How many held locks a thread keeps without touching the heap.
const INLINE_HELD: usize = 16;
/// How many recently validated chains a thread remembers in its direct-mapped cache.
const RECENT: usize = 16;

/// What one thread keeps while checking is on: the locks it holds (the first
/// `INLINE_HELD` here, more in `Spill`) and, as Linux's lockdep does, a key for the
/// *chain* of them. Taking a lock whose resulting chain this thread has already
/// validated sets no order it has not recorded, so the common acquisition is one
/// lookup in a small cache, however many locks are held. No destructor: reaching it
/// costs no lazy-initialisation check.
struct Stack {
    /// The `EPOCH` these entries belong to.
    epoch: Cell<u64>,
    /// How many locks are held in all (`inline` first, then `Spill::held`).
    len: Cell<usize>,
    /// The first `INLINE_HELD` held locks, one array per field of `Held`: each field is
    /// stored and loaded on its own (a whole `Held` built on the stack and copied in
    /// wider moves stalls the store-to-load forwarding of the CPU, which costs more than
    /// the rest of the acquisition).
    inline: InlineHeld,
    /// A hash of the held locks' nodes, in order (0: none held).
    chain: Cell<u64>,
    /// Chains validated lately, by `chain % RECENT`.
    recent: [Cell<u64>; RECENT],
}

/// The rarely used rest of a thread's state.
#[derive(Default)]
struct Spill {
    /// Held locks past the first `INLINE_HELD`, oldest first.
    held: Vec<Held>,
    /// Every chain this thread has validated.
    chains: HashSet<u64, BuildHasherDefault<PairHasher>>,
    /// Every order this thread has put in the graph: repeats skip the global lock.
    orders: HashSet<u64, BuildHasherDefault<PairHasher>>,
}

/// `Held` entries, field by field (see `Stack::inline`).
struct InlineHeld {
    lock: [Cell<usize>; INLINE_HELD],
    /// `instance << 32 | class`.
    node: [Cell<u64>; INLINE_HELD],
    at: [Cell<*const Location<'static>>; INLINE_HELD],
    chain_before: [Cell<u64>; INLINE_HELD],
}

impl InlineHeld {
    #[inline]
    fn set(&self, i: usize, h: &Held) {
        self.lock[i].set(h.lock);
        self.node[i].set(h.node);
        self.at[i].set(h.at);
        self.chain_before[i].set(h.chain_before);
    }

    fn get(&self, i: usize) -> Held {
        Held {
            lock: self.lock[i].get(),
            node: self.node[i].get(),
            at: self.at[i].get(),
            chain_before: self.chain_before[i].get(),
        }
    }
}

thread_local! {
    static STACK: Stack = const {
        Stack {
            epoch: Cell::new(0),
            len: Cell::new(0),
            inline: InlineHeld {
                lock: [const { Cell::new(0) }; INLINE_HELD],
                node: [const { Cell::new(0) }; INLINE_HELD],
                at: [const { Cell::new(std::ptr::null()) }; INLINE_HELD],
                chain_before: [const { Cell::new(0) }; INLINE_HELD],
            },
            chain: Cell::new(0),
            recent: [const { Cell::new(0) }; RECENT],
        }
    };
    static SPILL: RefCell<Spill> = RefCell::new(Spill::default());
}

/// The chain key after taking the lock whose node is `node` (see `Held::node`) with
/// chain `before` (never 0).
#[inline]
fn chain_after(before: u64, node: u64) -> u64 {
    let mixed = (before ^ node).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed.rotate_left(31) | 1
}

/// The order "`before`, then `after`" (graph nodes) as one number (never 0: ids start at 1).
fn pair(before: u32, after: u32) -> u64 {
    u64::from(before) << 32 | u64::from(after)
}

impl Stack {
    /// Whether this thread has validated `chain` (see `Stack`).
    #[inline]
    fn knows(&self, chain: u64) -> bool {
        self.recent[(chain % RECENT as u64) as usize].get() == chain || knows_slow(self, chain)
    }

    #[inline]
    fn push(&self, held: Held) {
        let n = self.len.get();
        if n < INLINE_HELD {
            self.inline.set(n, &held);
        } else {
            spill_push(held);
        }
        self.len.set(n + 1);
    }

    /// Every held lock, oldest first.
    fn all(&self) -> Vec<Held> {
        let n = self.len.get();
        let mut all: Vec<Held> = (0..n.min(INLINE_HELD))
            .map(|i| self.inline.get(i))
            .collect();
        if n > INLINE_HELD {
            let _ = SPILL.try_with(|s| all.extend(s.borrow().held.iter().copied()));
        }
        all
    }

    /// Replaces the held locks with `all` (oldest first), recomputing the chain keys.
    fn set_all(&self, mut all: Vec<Held>) {
        let mut chain = 0;
        for h in &mut all {
            h.chain_before = chain;
            chain = chain_after(chain, h.node);
        }
        for (i, h) in all.iter().take(INLINE_HELD).enumerate() {
            self.inline.set(i, h);
        }
        let _ = SPILL.try_with(|s| {
            let held = &mut s.borrow_mut().held;
            held.clear();
            held.extend(all.iter().skip(INLINE_HELD).copied());
        });
        self.len.set(all.len());
        self.chain.set(chain);
    }

    /// Catches up with `epoch`: starts over if checking was switched off and on again
    /// since this thread last looked, and drops the entries of locks dropped while held.
    #[cold]
    #[inline(never)]
    fn resync(&self, epoch: u64) {
        if self.epoch.get() / SWITCHED_ON != epoch / SWITCHED_ON {
            self.set_all(Vec::new());
        } else if let Some(gone) = GONE.read().as_ref() {
            let mut all = self.all();
            all.retain(|h| !gone.contains(&h.instance()));
            self.set_all(all);
        }
        self.epoch.set(epoch);
    }
}

#[cold]
#[inline(never)]
fn knows_slow(stack: &Stack, chain: u64) -> bool {
    let known = SPILL
        .try_with(|s| s.borrow().chains.contains(&chain))
        .unwrap_or(false);
    if known {
        stack.recent[(chain % RECENT as u64) as usize].set(chain);
    }
    known
}

#[cold]
#[inline(never)]
fn spill_push(held: Held) {
    let _ = SPILL.try_with(|s| s.borrow_mut().held.push(held));
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
/// Kept small: once a thread has validated the chain of locks it holds with this one,
/// this is a push and one cache lookup, in a leaf function of four arguments (so it
/// saves no registers); anything else (a lock not yet interned, a stale stack, a chain
/// met for the first time, more than `INLINE_HELD` locks held) goes to `acquired_slow`.
#[inline]
pub(crate) fn acquired(
    lock: usize,
    kind: &'static str,
    label: &Label,
    slot: &ClassSlot,
    ordered: bool,
    at: &'static Location<'static>,
) {
    if !acquired_fast(lock, slot, ordered, at) {
        acquired_slow(lock, kind, label, slot, ordered, at);
    }
}

/// `acquired`'s common case; `false` (having changed nothing) for any other.
#[inline(never)]
fn acquired_fast(
    lock: usize,
    slot: &ClassSlot,
    ordered: bool,
    at: &'static Location<'static>,
) -> bool {
    let node = slot.0.load(Ordering::Relaxed);
    let epoch = EPOCH.load(Ordering::Acquire);
    STACK
        .try_with(|stack| {
            let n = stack.len.get();
            if node == 0 || stack.epoch.get() != epoch || n >= INLINE_HELD {
                return false;
            }
            let before = stack.chain.get();
            let chain = chain_after(before, node);
            if ordered
                && before != 0
                && stack.recent[(chain % RECENT as u64) as usize].get() != chain
            {
                return false;
            }
            stack.inline.lock[n].set(lock);
            stack.inline.node[n].set(node);
            stack.inline.at[n].set(at);
            stack.inline.chain_before[n].set(before);
            stack.len.set(n + 1);
            stack.chain.set(chain);
            true
        })
        .unwrap_or(false)
}

/// `acquired`, for every case its fast path leaves (it changed nothing then).
#[cold]
#[inline(never)]
fn acquired_slow(
    lock: usize,
    kind: &'static str,
    label: &Label,
    slot: &ClassSlot,
    ordered: bool,
    at: &'static Location<'static>,
) {
    let node = slot.get(kind, label);
    let epoch = EPOCH.load(Ordering::Acquire);
    let new = STACK.try_with(|stack| {
        if stack.epoch.get() != epoch {
            stack.resync(epoch);
        }
        let before = stack.chain.get();
        let chain = chain_after(before, node);
        let new = ordered && before != 0 && !stack.knows(chain);
        stack.push(Held {
            lock,
            node,
            at,
            chain_before: before,
        });
        stack.chain.set(chain);
        new.then_some(chain)
    });
    if let Ok(Some(chain)) = new {
        record_new_orders(node as u32, (node >> 32) as u32, at, chain);
    }
}

/// The orders that acquiring the lock `instance` of `class` at `at` sets with every lock
/// held before it (it is already on the stack, its resulting chain `chain`): each one
/// this thread meets for the first time is added to the graph; the chain is then known.
#[cold]
#[inline(never)]
fn record_new_orders(class: u32, instance: u32, at: &'static Location<'static>, chain: u64) {
    let Ok(held) = STACK.try_with(Stack::all) else {
        return;
    };
    let Some((_, before)) = held.split_last() else {
        return;
    };
    let Ok(new_orders) = SPILL.try_with(|s| {
        let mut s = s.borrow_mut();
        let mut new_orders = Vec::new();
        for h in before {
            if let Some((from, to)) = h.order_to(class, instance) {
                if s.orders.insert(pair(from, to)) {
                    new_orders.push((from, to, h.at()));
                }
            }
        }
        s.chains.insert(chain);
        new_orders
    }) else {
        return;
    };
    let _ = STACK.try_with(|stack| stack.recent[(chain % RECENT as u64) as usize].set(chain));
    // Outside any borrow: a report runs the handler, which may take locks itself.
    for (before, after, held_at) in new_orders {
        record(before, after, held_at, at);
    }
}

/// The calling thread released `lock` (a no-op if it was taken while checking was off).
#[inline(never)]
pub(crate) fn released(lock: usize) {
    let _ = STACK.try_with(|stack| {
        let n = stack.len.get();
        let top = n.wrapping_sub(1);
        if top < INLINE_HELD && stack.inline.lock[top].get() == lock {
            stack.chain.set(stack.inline.chain_before[top].get());
            stack.len.set(top);
            return;
        }
        release_out_of_order(stack, lock);
    });
}

/// A lock released while it is not the last one taken (or one taken while checking
/// was off, or past the inline entries): out of line, the common path being a pop.
#[cold]
#[inline(never)]
fn release_out_of_order(stack: &Stack, lock: usize) {
    let mut all = stack.all();
    if let Some(i) = all.iter().rposition(|h| h.lock == lock) {
        all.remove(i);
        stack.set_all(all);
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
