// Layer 9 (futures): executors and futures, over everything below.
//! Waiting for many futures at once: `as_completed` and `wait`.
//!
//! Both hang one [`Waiter`] on every future not yet done; each reports to it once, when
//! it becomes done, and the waiting thread parks until the reports it needs have arrived.
//! Nothing polls, and n futures cost O(n) in all, with nothing kept per future that was
//! already done (a million finished futures cost no more than their list).

use std::fmt;
use std::iter::FusedIterator;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::WaitTimeout;
use super::future::Future;
use super::waiter::{Arrivals, Waiter};
use crate::wait;

/// Yields each future as it completes (already done), fastest first: Python's
/// `as_completed`. Futures already done come first, in list order.
///
/// The iterator parks (reading `Waiting`) while none is ready; nothing polls, and n
/// futures cost O(n) in all. Dropping it early drops the futures not yet yielded (use
/// [`AsCompleted::into_remaining`] to keep them).
///
/// ```
/// use std::time::Duration;
/// use spindle::futures::{as_completed, ThreadPoolExecutor};
/// use spindle::thread;
///
/// let pool = ThreadPoolExecutor::new(3);
/// let futures = vec![
///     pool.submit(|| { thread::sleep(Duration::from_millis(300)); "slow" }),
///     pool.submit(|| "fast"),
/// ];
/// let order: Vec<_> = as_completed(futures).map(|f| f.result().unwrap()).collect();
/// assert_eq!(order, ["fast", "slow"]);
/// ```
#[track_caller]
pub fn as_completed<T>(futures: Vec<Future<T>>) -> AsCompleted<T> {
    AsCompleted {
        watch: Watch::new(futures, None, Location::caller()),
    }
}

/// [`as_completed`] with a deadline `timeout` from now: once it passes, the iterator yields
/// one `Err(WaitTimeout)` and ends (Python raises `TimeoutError`).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use spindle::futures::{as_completed_timeout, ThreadPoolExecutor};
/// use spindle::sync::Event;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let gate = Arc::new(Event::new());
/// let g = Arc::clone(&gate);
/// let futures = vec![pool.submit(|| 1), pool.submit(move || { g.wait(); 2 })];
/// let mut it = as_completed_timeout(futures, Duration::from_millis(50));
/// assert_eq!(it.next().unwrap().unwrap().result(), Ok(1));
/// assert!(it.next().unwrap().is_err());
/// assert!(it.next().is_none());
/// gate.set();
/// ```
#[track_caller]
pub fn as_completed_timeout<T>(
    futures: Vec<Future<T>>,
    timeout: Duration,
) -> AsCompletedTimeout<T> {
    let deadline = wait::deadline_after(timeout);
    AsCompletedTimeout {
        watch: Watch::new(futures, Some(deadline), Location::caller()),
        timed_out: false,
    }
}

/// The iterator of [`as_completed`].
///
/// ```
/// use spindle::futures::{as_completed, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let it = as_completed(vec![pool.submit(|| 1), pool.submit(|| 2)]);
/// let sum: i32 = it.map(|f| f.result().unwrap()).sum();
/// assert_eq!(sum, 3);
/// ```
pub struct AsCompleted<T> {
    watch: Watch<T>,
}

impl<T> AsCompleted<T> {
    /// The futures not yielded yet, in their original order, for later.
    ///
    /// ```
    /// use spindle::futures::{as_completed, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let mut it = as_completed(vec![pool.submit(|| 1), pool.submit(|| 2)]);
    /// let first = it.next().unwrap();
    /// let rest = it.into_remaining();
    /// assert_eq!(rest.len(), 1);
    /// # drop(first);
    /// ```
    pub fn into_remaining(self) -> Vec<Future<T>> {
        self.watch.into_remaining()
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Future<T>;

    fn next(&mut self) -> Option<Future<T>> {
        // Without a deadline the wait only ends with a future.
        self.watch
            .next_done()
            .map(|done| done.expect("no deadline"))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.watch.left, Some(self.watch.left))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}
impl<T> FusedIterator for AsCompleted<T> {}

/// The iterator of [`as_completed_timeout`]: `Ok(future)` as each completes, or one
/// `Err(WaitTimeout)` once the deadline passes, then nothing.
///
/// ```
/// use std::time::Duration;
/// use spindle::futures::{as_completed_timeout, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1);
/// let it = as_completed_timeout(vec![pool.submit(|| 1)], Duration::from_secs(10));
/// let results: Vec<_> = it.map(|f| f.unwrap().result().unwrap()).collect();
/// assert_eq!(results, [1]);
/// ```
pub struct AsCompletedTimeout<T> {
    watch: Watch<T>,
    timed_out: bool,
}

impl<T> AsCompletedTimeout<T> {
    /// The futures not yielded yet, in their original order (after a timeout: the ones
    /// still unfinished).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use spindle::futures::{as_completed_timeout, ThreadPoolExecutor};
    /// use spindle::sync::Event;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let gate = Arc::new(Event::new());
    /// let g = Arc::clone(&gate);
    /// let mut it = as_completed_timeout(vec![pool.submit(move || g.wait())], Duration::ZERO);
    /// assert!(it.next().unwrap().is_err());
    /// let unfinished = it.into_remaining();
    /// gate.set();
    /// for f in unfinished {
    ///     f.result().unwrap();
    /// }
    /// ```
    pub fn into_remaining(self) -> Vec<Future<T>> {
        self.watch.into_remaining()
    }
}

impl<T> Iterator for AsCompletedTimeout<T> {
    type Item = Result<Future<T>, WaitTimeout>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.timed_out {
            return None;
        }
        let next = self.watch.next_done();
        self.timed_out = matches!(next, Some(Err(_)));
        next
    }
}

impl<T> FusedIterator for AsCompletedTimeout<T> {}

/// Futures watched by one waiter, handed out as they complete.
struct Watch<T> {
    /// The futures, by index; `None` once yielded.
    futures: Vec<Option<Future<T>>>,
    waiter: Arc<Waiter>,
    /// How many have not been yielded.
    left: usize,
    /// The next index to look at for a future that is done: those done when the watch
    /// began are yielded first, in list order (they never report).
    scan: usize,
    deadline: Option<Instant>,
    at: &'static Location<'static>,
}

impl<T> Watch<T> {
    fn new(
        futures: Vec<Future<T>>,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> Watch<T> {
        let waiter = Arc::new(Waiter::new("as_completed", futures.len(), true));
        for (index, future) in futures.iter().enumerate() {
            // Done already: found by the scan, in list order.
            let _ = future.watch(&waiter, index);
        }
        Watch {
            left: futures.len(),
            futures: futures.into_iter().map(Some).collect(),
            waiter,
            scan: 0,
            deadline,
            at,
        }
    }

    /// The next future to complete; `Some(Err)` if the deadline passes first.
    fn next_done(&mut self) -> Option<Result<Future<T>, WaitTimeout>> {
        if self.left == 0 {
            return None;
        }
        while self.scan < self.futures.len() {
            let index = self.scan;
            self.scan += 1;
            if self.futures[index].as_ref().is_some_and(Future::done) {
                return Some(Ok(self.take(index)));
            }
        }
        let futures = &self.futures;
        // A report may be for a future the scan yielded already: skip it.
        let index = self.waiter.wait_for(self.deadline, self.at, |a| {
            while let Some(index) = a.done.pop_front() {
                if futures[index].is_some() {
                    return Some(index);
                }
            }
            None
        });
        match index {
            Some(index) => Some(Ok(self.take(index))),
            None => Some(Err(WaitTimeout)),
        }
    }

    fn take(&mut self, index: usize) -> Future<T> {
        self.left -= 1;
        self.futures[index]
            .take()
            .expect("each future is yielded once")
    }

    fn into_remaining(mut self) -> Vec<Future<T>> {
        self.unwatch_all();
        self.futures.drain(..).flatten().collect()
    }

    fn unwatch_all(&mut self) {
        if self.left == 0 {
            return;
        }
        for future in self.futures.iter().flatten() {
            future.unwatch(&self.waiter);
        }
    }
}

impl<T> Drop for Watch<T> {
    fn drop(&mut self) {
        self.unwatch_all();
    }
}

/// When [`wait`](wait()) returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`).
///
/// ```
/// use spindle::futures::ReturnWhen;
/// assert_ne!(ReturnWhen::FirstCompleted, ReturnWhen::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished or cancelled).
    FirstCompleted,
    /// As soon as any future finishes with an error (a cancellation does not count), or
    /// when all are done.
    FirstException,
    /// When every future is done.
    AllCompleted,
}

impl ReturnWhen {
    fn satisfied(self, a: &Arrivals, total: usize) -> bool {
        match self {
            ReturnWhen::FirstCompleted => a.count > 0 || total == 0,
            ReturnWhen::FirstException => a.failed > 0 || a.count == total,
            ReturnWhen::AllCompleted => a.count == total,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ReturnWhen::FirstCompleted => "wait(FirstCompleted)",
            ReturnWhen::FirstException => "wait(FirstException)",
            ReturnWhen::AllCompleted => "wait(AllCompleted)",
        }
    }
}

/// What [`wait`](wait()) found: the indices (into the slice it was given) of the futures
/// that are done and of those that are not, each in ascending order.
///
/// ```
/// use spindle::futures::{wait, ReturnWhen, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let fs = vec![pool.submit(|| 1), pool.submit(|| 2)];
/// let w = wait(&fs, ReturnWhen::AllCompleted, None);
/// assert_eq!((w.done, w.not_done), (vec![0, 1], vec![]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WaitResult {
    /// Indices of the futures that were done when `wait` returned.
    pub done: Vec<usize>,
    /// Indices of the others.
    pub not_done: Vec<usize>,
}

/// Waits until `return_when` holds for `futures`, or `timeout` passes (no timeout:
/// `None`), and says which are done: Python's `concurrent.futures.wait`. A timeout is not
/// an error: the result then lists what is done so far.
///
/// The caller parks (reading `Waiting`, or `TimedWaiting` with a timeout) until the
/// futures' completion reports satisfy it; nothing polls.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use spindle::futures::{wait, ReturnWhen, ThreadPoolExecutor};
/// use spindle::sync::Event;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let gate = Arc::new(Event::new());
/// let g = Arc::clone(&gate);
/// let fs = vec![pool.submit(move || { g.wait(); 1 }), pool.submit(|| 2)];
/// let first = wait(&fs, ReturnWhen::FirstCompleted, Some(Duration::from_secs(10)));
/// assert_eq!(first.done, [1]);
/// assert_eq!(first.not_done, [0]);
/// gate.set();
/// assert_eq!(wait(&fs, ReturnWhen::AllCompleted, None).done, [0, 1]);
/// ```
#[track_caller]
pub fn wait<T>(
    futures: &[Future<T>],
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> WaitResult {
    let total = futures.len();
    let deadline = timeout.map(wait::deadline_after);
    let waiter = Arc::new(Waiter::new(return_when.name(), total, false));
    let already: Vec<bool> = futures
        .iter()
        .enumerate()
        .filter_map(|(index, future)| future.watch(&waiter, index))
        .collect();
    waiter.arrive_all(already.into_iter().map(|failed| (0, failed)));
    waiter.wait_for(deadline, Location::caller(), |a| {
        return_when.satisfied(a, total).then_some(())
    });
    for future in futures {
        future.unwatch(&waiter);
    }
    // Each future's own state, read now: a future is done before it reports (as CPython
    // changes the state and tells waiters under one lock, no future that anyone saw done
    // before this point can be missed).
    let (done, not_done) = (0..total).partition(|&i| futures[i].done());
    WaitResult { done, not_done }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("left", &self.watch.left)
            .finish()
    }
}

impl<T> fmt::Debug for AsCompletedTimeout<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("left", &self.watch.left)
            .field("timed_out", &self.timed_out)
            .finish()
    }
}
