// Layer 10 (process): worker processes, over the futures layer.
//! The iterator behind `ProcessPoolExecutor::map`: items go out in chunks, a bounded
//! number of chunks ahead of the consumer, and results come back in input order.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::pool::ProcessPoolExecutor;
use super::registry::TaskHandle;
use crate::futures::{Future, TaskError};
use crate::thread::Panicked;

/// What one chunk's reply decodes as: each item's result, or its panic message.
pub(crate) type ChunkResult<O> = Vec<Result<O, String>>;

/// Each item's result from its chunk's outcome: a panic message becomes a panic of
/// `runner`, and a chunk that failed as a whole (its worker died, it timed out) fails
/// each of its `len` items with that error.
pub(crate) fn item_results<O>(
    chunk: Result<ChunkResult<O>, TaskError>,
    len: usize,
    runner: &str,
) -> Vec<Result<O, TaskError>> {
    match chunk {
        Ok(results) => results
            .into_iter()
            .map(|r| {
                r.map_err(|message| TaskError::Panicked(Panicked::new(message, runner.into())))
            })
            .collect(),
        Err(e) => (0..len).map(|_| Err(e.clone())).collect(),
    }
}

pub(crate) struct MapChunks<'a, A, O, I> {
    pool: &'a ProcessPoolExecutor,
    task: TaskHandle<A, O>,
    items: I,
    chunksize: usize,
    /// How many chunks may be submitted and not yet consumed.
    ahead: usize,
    /// Each chunk's timeout.
    timeout: Option<Duration>,
    /// Submitted chunks, oldest first, each with its item count.
    chunks: VecDeque<(Future<ChunkResult<O>>, usize)>,
    /// The results of the chunk being consumed.
    current: std::vec::IntoIter<Result<O, TaskError>>,
    _items: PhantomData<A>,
}

impl<'a, A, O, I> MapChunks<'a, A, O, I>
where
    I: Iterator<Item = A>,
    A: Serialize,
    O: DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(
        pool: &'a ProcessPoolExecutor,
        task: TaskHandle<A, O>,
        items: I,
        chunksize: usize,
        ahead: usize,
        timeout: Option<Duration>,
    ) -> Self {
        let mut map = MapChunks {
            pool,
            task,
            items,
            chunksize,
            ahead: ahead.max(1),
            timeout,
            chunks: VecDeque::new(),
            current: Vec::new().into_iter(),
            _items: PhantomData,
        };
        map.fill();
        map
    }

    /// Submits chunks until `ahead` are outstanding or the items run out.
    fn fill(&mut self) {
        while self.chunks.len() < self.ahead {
            let chunk: Vec<A> = self.items.by_ref().take(self.chunksize).collect();
            if chunk.is_empty() {
                return;
            }
            let future = self.pool.submit_raw(
                self.task.name(),
                &chunk[..],
                Some(chunk.len()),
                self.timeout,
            );
            self.chunks.push_back((future, chunk.len()));
        }
    }
}

impl<A, O, I> Iterator for MapChunks<'_, A, O, I>
where
    I: Iterator<Item = A>,
    A: Serialize,
    O: DeserializeOwned + Send + 'static,
{
    type Item = Result<O, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(result) = self.current.next() {
                return Some(result);
            }
            let (future, len) = self.chunks.pop_front()?;
            self.current = item_results(future.result(), len, "process worker").into_iter();
            self.fill();
        }
    }
}

impl<A, O, I> Drop for MapChunks<'_, A, O, I> {
    /// Cancels the chunks not started, as Python does when a `map` iterator is dropped.
    fn drop(&mut self) {
        for (future, _) in &self.chunks {
            future.cancel();
        }
    }
}
