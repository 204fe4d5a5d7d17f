// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! Consuming a queue with `for item in &queue`.

use std::fmt;

/// The items of a queue, each taken with a blocking `get`, until the queue is shut down
/// and drained: what `for item in &queue` (or `queue.iter()`) runs over.
///
/// Each item is taken out of the queue, so several threads iterating over one queue
/// share its items. Iterating does not call `task_done`; a consumer whose producer uses
/// `join` calls it for each item.
///
/// ```
/// use std::sync::Arc;
/// use spindle::queue::Queue;
/// use spindle::thread;
///
/// let q = Arc::new(Queue::new());
/// let consumer = {
///     let q = Arc::clone(&q);
///     thread::spawn(move || (&*q).into_iter().sum::<u32>())
/// };
/// for n in 1..=4 {
///     q.put(n).unwrap();
/// }
/// q.shutdown(false); // the consumer's loop ends once it has taken all four
/// assert_eq!(consumer.join().unwrap(), 10);
/// ```
pub struct Iter<'a, Q> {
    pub(super) queue: &'a Q,
}

impl<Q: fmt::Debug> fmt::Debug for Iter<'_, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("queue", self.queue).finish()
    }
}
