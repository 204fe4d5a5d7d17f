// Layer 9 (futures): executors and futures, over everything below.
//! `ThreadPoolExecutor::map`: results in input order from a bounded window of tasks.

use std::any::type_name;
use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::panic::Location;
use std::sync::Arc;

use super::error::TaskError;
use super::executor::ThreadPoolExecutor;
use super::future::Future;

/// The iterator [`ThreadPoolExecutor::map`] and
/// [`map_window`](ThreadPoolExecutor::map_window) return: one `Result` per input item,
/// in input order.
///
/// It keeps at most `window` tasks in flight, taking the next item from the input each
/// time it yields a result, so the input is consumed lazily and memory stays bounded.
/// Unlike Python's `executor.map`, a panic in one item is that item's `Err` and the
/// iteration goes on; dropping the iterator cancels the tasks that have not started (a
/// panic in one that had started still reaches the excepthook).
///
/// ```
/// use spindle::futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let mut lengths = pool.map(|w: &str| w.len(), ["a", "bb", "ccc"]);
/// assert_eq!(lengths.next(), Some(Ok(1)));
/// assert_eq!(lengths.collect::<Vec<_>>(), [Ok(2), Ok(3)]);
/// ```
#[must_use = "the results (and panics) of `map` are in the iterator: consume it"]
pub struct MapResults<'a, I, F, R> {
    executor: &'a ThreadPoolExecutor,
    f: Arc<F>,
    /// The input; `None` once it has ended.
    items: Option<I>,
    /// Submitted tasks whose results have not been yielded, in input order.
    in_flight: VecDeque<Future<R>>,
    window: usize,
    /// Where `map` was called, for the panic if the pool shuts down meanwhile.
    at: &'static Location<'static>,
}

impl<'a, I, F, R> MapResults<'a, I, F, R>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    #[track_caller]
    pub(crate) fn new(
        executor: &'a ThreadPoolExecutor,
        f: Arc<F>,
        items: I,
        window: usize,
    ) -> Self {
        let mut map = MapResults {
            executor,
            f,
            items: Some(items),
            in_flight: VecDeque::with_capacity(window),
            window,
            at: Location::caller(),
        };
        map.refill();
        map
    }

    /// Submits items until `window` tasks are in flight or the input ends.
    fn refill(&mut self) {
        while self.in_flight.len() < self.window {
            let Some(item) = self.items.as_mut().and_then(Iterator::next) else {
                self.items = None;
                return;
            };
            let f = Arc::clone(&self.f);
            match self
                .executor
                .try_submit_as(type_name::<F>(), move || f(item))
            {
                Some(future) => self.in_flight.push_back(future),
                None => panic!(
                    "cannot schedule new futures after shutdown (the pool was shut down \
                     while the `map` called at {} still had items to submit)",
                    self.at
                ),
            }
        }
    }
}

impl<I, F, R> Iterator for MapResults<'_, I, F, R>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.in_flight.pop_front()?;
        // Keep the workers busy while we wait for the oldest result.
        self.refill();
        Some(next.result())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (low, high) = self
            .items
            .as_ref()
            .map_or((0, Some(0)), Iterator::size_hint);
        let n = self.in_flight.len();
        (low.saturating_add(n), high.and_then(|h| h.checked_add(n)))
    }
}

impl<I, F, R> FusedIterator for MapResults<'_, I, F, R>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
}

/// Cancels the tasks that have not started; the others finish on their own.
impl<I, F, R> Drop for MapResults<'_, I, F, R> {
    fn drop(&mut self) {
        for future in &self.in_flight {
            future.cancel();
        }
    }
}

impl<I, F, R> fmt::Debug for MapResults<'_, I, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapResults")
            .field("in_flight", &self.in_flight.len())
            .field("window", &self.window)
            .field("input_done", &self.items.is_none())
            .finish()
    }
}
