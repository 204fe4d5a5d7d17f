//! What the queue test files share: one trait over the three queue types, so that each
//! contract is written once and run against `Queue`, `LifoQueue` and `PriorityQueue`
//! (as CPython's test_queue binds one mixin to each class), and helpers to see a thread
//! blocked.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, TaskDoneError};
use spindle::thread::{self, JoinHandle, ThreadInfo, ThreadState};

/// Longest any test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The surface the three queue types share.
pub trait AnyQueue: Send + Sync + Sized + std::fmt::Debug + 'static {
    /// How reports call this type.
    const KIND: &'static str;
    /// The order CPython's `basic_queue_test` expects after putting 111, 333, 222.
    const ORDER_OF_111_333_222: [i64; 3];
    fn new() -> Self;
    fn bounded(maxsize: usize) -> Self;
    fn named(name: &str) -> Self;
    fn named_bounded(name: &str, maxsize: usize) -> Self;
    fn put(&self, item: i64) -> Result<(), PutError<i64>>;
    fn put_timeout(&self, item: i64, timeout: Duration) -> Result<(), PutError<i64>>;
    fn try_put(&self, item: i64) -> Result<(), PutError<i64>>;
    fn get(&self) -> Result<i64, GetError>;
    fn get_timeout(&self, timeout: Duration) -> Result<i64, GetError>;
    fn try_get(&self) -> Result<i64, GetError>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool;
    fn is_full(&self) -> bool;
    fn maxsize(&self) -> Option<usize>;
    fn task_done(&self) -> Result<(), TaskDoneError>;
    fn join(&self);
    fn join_timeout(&self, timeout: Duration) -> bool;
    fn unfinished_tasks(&self) -> usize;
    fn shutdown(&self, immediate: bool);
    fn is_shutdown(&self) -> bool;
    /// `for item in &queue`, collected.
    fn consume(&self) -> Vec<i64>;
}

macro_rules! any_queue {
    ($ty:ident, $order:expr) => {
        impl AnyQueue for $ty<i64> {
            const KIND: &'static str = stringify!($ty);
            const ORDER_OF_111_333_222: [i64; 3] = $order;
            fn new() -> Self {
                $ty::new()
            }
            fn bounded(maxsize: usize) -> Self {
                $ty::bounded(maxsize)
            }
            fn named(name: &str) -> Self {
                $ty::named(name)
            }
            fn named_bounded(name: &str, maxsize: usize) -> Self {
                $ty::named_bounded(name, maxsize)
            }
            fn put(&self, item: i64) -> Result<(), PutError<i64>> {
                $ty::put(self, item)
            }
            fn put_timeout(&self, item: i64, timeout: Duration) -> Result<(), PutError<i64>> {
                $ty::put_timeout(self, item, timeout)
            }
            fn try_put(&self, item: i64) -> Result<(), PutError<i64>> {
                $ty::try_put(self, item)
            }
            fn get(&self) -> Result<i64, GetError> {
                $ty::get(self)
            }
            fn get_timeout(&self, timeout: Duration) -> Result<i64, GetError> {
                $ty::get_timeout(self, timeout)
            }
            fn try_get(&self) -> Result<i64, GetError> {
                $ty::try_get(self)
            }
            fn len(&self) -> usize {
                $ty::len(self)
            }
            fn is_empty(&self) -> bool {
                $ty::is_empty(self)
            }
            fn is_full(&self) -> bool {
                $ty::is_full(self)
            }
            fn maxsize(&self) -> Option<usize> {
                $ty::maxsize(self)
            }
            fn task_done(&self) -> Result<(), TaskDoneError> {
                $ty::task_done(self)
            }
            fn join(&self) {
                $ty::join(self)
            }
            fn join_timeout(&self, timeout: Duration) -> bool {
                $ty::join_timeout(self, timeout)
            }
            fn unfinished_tasks(&self) -> usize {
                $ty::unfinished_tasks(self)
            }
            fn shutdown(&self, immediate: bool) {
                $ty::shutdown(self, immediate)
            }
            fn is_shutdown(&self) -> bool {
                $ty::is_shutdown(self)
            }
            fn consume(&self) -> Vec<i64> {
                let mut items = Vec::new();
                for item in self {
                    items.push(item);
                }
                items
            }
        }
    };
}

any_queue!(Queue, [111, 333, 222]);
any_queue!(LifoQueue, [222, 333, 111]);
any_queue!(PriorityQueue, [111, 222, 333]);

/// Runs each named generic test function once per queue type, in modules `fifo`, `lifo`
/// and `priority`.
#[macro_export]
macro_rules! for_each_queue {
    ($($test:ident),* $(,)?) => {
        mod fifo {
            $(#[test] fn $test() { super::$test::<spindle::queue::Queue<i64>>(); })*
        }
        mod lifo {
            $(#[test] fn $test() { super::$test::<spindle::queue::LifoQueue<i64>>(); })*
        }
        mod priority {
            $(#[test] fn $test() { super::$test::<spindle::queue::PriorityQueue<i64>>(); })*
        }
    };
}

/// The order in which a queue of kind `kind` hands out `items` put in this order: as
/// put (`Queue`), reversed (`LifoQueue`), or smallest first (`PriorityQueue`).
pub fn handed_out(kind: &str, items: &[i64]) -> Vec<i64> {
    let mut out = items.to_vec();
    match kind {
        "Queue" => {}
        "LifoQueue" => out.reverse(),
        "PriorityQueue" => out.sort(),
        _ => panic!("no queue type is called {kind}"),
    }
    out
}

/// Polls until `cond` holds, for at most `PATIENCE`; whether it came to hold.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// Whether the thread is parked in a queue call (`Waiting` or `TimedWaiting`) on a queue
/// of kind `kind`.
pub fn parked_on_queue(info: &ThreadInfo, kind: &str) -> bool {
    matches!(
        info.state(),
        ThreadState::Waiting | ThreadState::TimedWaiting
    ) && info.waiting_on().is_some_and(|on| on.starts_with(kind))
}

/// Waits (bounded) until the thread is parked in a call on a queue of kind `kind`.
pub fn assert_blocks<T>(handle: &JoinHandle<T>, kind: &str) {
    let info = handle.info();
    assert!(
        eventually(|| parked_on_queue(&info, kind) || handle.is_finished()),
        "thread {} neither blocked nor finished within {PATIENCE:?}",
        info.name()
    );
    assert!(
        !handle.is_finished(),
        "thread {} appeared not to block: it finished",
        info.name()
    );
}

/// Joins a thread that should end promptly, failing instead of hanging if it does not.
pub fn join_soon<T>(handle: JoinHandle<T>) -> T {
    assert!(
        handle.wait_timeout(PATIENCE),
        "thread {} still running after {PATIENCE:?}",
        handle.info().name()
    );
    handle.join().expect("the thread panicked")
}

/// CPython's `do_blocking_test`: runs `block` on a new thread, checks that it blocks on
/// the queue, runs `trigger` to unblock it, and returns what `block` returned.
pub fn do_blocking_test<Q: AnyQueue, R: Send + 'static>(
    q: &Arc<Q>,
    block: impl FnOnce(&Q) -> R + Send + 'static,
    trigger: impl FnOnce(&Q),
) -> R {
    let blocked = {
        let q = Arc::clone(q);
        thread::spawn(move || block(&q))
    };
    assert_blocks(&blocked, Q::KIND);
    trigger(q);
    join_soon(blocked)
}

/// Spawns a thread running `f` on a clone of `q`.
pub fn on_thread<Q: Send + Sync + 'static, R: Send + 'static>(
    q: &Arc<Q>,
    f: impl FnOnce(&Q) -> R + Send + 'static,
) -> JoinHandle<R> {
    let q = Arc::clone(q);
    thread::spawn(move || f(&q))
}
