// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The iterator behind `ClusterExecutor::map`: items go out in chunks, a bounded number
//! of chunks ahead of the consumer, and results come back in input order.

use std::collections::VecDeque;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::ClusterExecutor;
use crate::futures::{Future, TaskError};
use crate::process::TaskHandle;
use crate::process::map::{ChunkResult, item_results};

pub(crate) struct MapChunks<'a, A, O, I> {
    cluster: &'a ClusterExecutor,
    task: TaskHandle<A, O>,
    items: I,
    chunksize: usize,
    /// How many chunks may be submitted and not yet consumed.
    ahead: usize,
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
        cluster: &'a ClusterExecutor,
        task: TaskHandle<A, O>,
        items: I,
        chunksize: usize,
        ahead: usize,
    ) -> Self {
        let mut map = MapChunks {
            cluster,
            task,
            items,
            chunksize,
            ahead: ahead.max(1),
            chunks: VecDeque::new(),
            current: Vec::new().into_iter(),
            _items: PhantomData,
        };
        map.fill();
        map
    }

    /// Submits chunks, in one round trip, until `ahead` are outstanding or the items
    /// run out.
    fn fill(&mut self) {
        let mut chunks: Vec<Vec<A>> = Vec::new();
        while self.chunks.len() + chunks.len() < self.ahead {
            let chunk: Vec<A> = self.items.by_ref().take(self.chunksize).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(chunk);
        }
        if chunks.is_empty() {
            return;
        }
        let futures = self.cluster.submit_many::<[A], ChunkResult<O>>(
            self.task.name(),
            chunks.iter().map(|c| (&c[..], Some(c.len()))),
            self.cluster.default_timeout(),
        );
        self.chunks
            .extend(futures.into_iter().zip(chunks.iter().map(Vec::len)));
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
            self.current = item_results(future.result(), len, "cluster worker").into_iter();
            // Refill in batches (one round trip each), not one chunk per result.
            if self.chunks.len() <= self.ahead / 2 {
                self.fill();
            }
        }
    }
}

impl<A, O, I> Drop for MapChunks<'_, A, O, I> {
    /// Cancels the chunks no worker has started, as Python does when a `map` iterator
    /// is dropped.
    fn drop(&mut self) {
        for (future, _) in &self.chunks {
            future.cancel();
        }
    }
}
