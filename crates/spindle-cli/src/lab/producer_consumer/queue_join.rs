//! The same exchange with `spindle::queue::Queue`, the way Python programs write it:
//! producers `put`, consumers `get` and call `task_done` after each item, and the main
//! thread's `join` returns once every item put has been marked done.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use spindle::queue::Queue;
use spindle::thread;

use super::super::Unmeasured;
use super::super::measure::{joined, timed};
use super::named;

/// Producers and consumers on each side of the queue.
pub const SIDES: usize = 2;

/// What the queue run found.
pub struct QueueRun {
    /// Items put, by all producers together.
    pub items: usize,
    /// Items marked done when `join` returned.
    pub done_at_join: usize,
    /// `join` returned within the limit.
    pub joined: bool,
    /// Every item was taken by exactly one consumer.
    pub consumed_once: bool,
    /// The most items the producers saw in the queue after a `put` (its bound is `max_size`).
    pub peak: usize,
    /// The time from the first `put` to `join` returning.
    pub wall: Duration,
}

/// `SIDES` producers put `per_producer` items each into a queue bounded at `max_size`;
/// `SIDES` consumers take them, pausing `consume` on each, then call `task_done`.
pub fn run(
    per_producer: usize,
    max_size: usize,
    consume: Duration,
    limit: Duration,
) -> Result<QueueRun, Unmeasured> {
    let queue = Arc::new(Queue::named_bounded("jobs", max_size));
    let done = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let items = per_producer * SIDES;

    let consumers = (1..=SIDES)
        .map(|i| {
            let (queue, done) = (Arc::clone(&queue), Arc::clone(&done));
            named(&format!("queue consumer {i}"), move || {
                let mut taken = Vec::new();
                // `get` fails once the queue is shut down and empty: the consumer's end.
                while let Ok(item) = queue.get() {
                    if !consume.is_zero() {
                        thread::sleep(consume);
                    }
                    taken.push(item);
                    done.fetch_add(1, Ordering::SeqCst);
                    queue.task_done().expect("one task_done per item taken");
                }
                taken
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let (joined_in_time, wall) = timed(|| {
        let producers = (0..SIDES)
            .map(|p| {
                let (queue, peak) = (Arc::clone(&queue), Arc::clone(&peak));
                named(&format!("queue producer {}", p + 1), move || {
                    for item in p * per_producer..(p + 1) * per_producer {
                        queue.put(item).expect("the queue is open while producing");
                        peak.fetch_max(queue.len(), Ordering::Relaxed);
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for producer in producers {
            joined(producer, limit)?;
        }
        Ok::<_, Unmeasured>(queue.join_timeout(limit))
    });
    let joined_in_time = joined_in_time?;
    let done_at_join = done.load(Ordering::SeqCst);
    queue.shutdown(false);

    let mut taken = Vec::with_capacity(items);
    for consumer in consumers {
        taken.extend(joined(consumer, limit)?);
    }
    taken.sort_unstable();
    Ok(QueueRun {
        items,
        done_at_join,
        joined: joined_in_time,
        consumed_once: taken == (0..items).collect::<Vec<_>>(),
        peak: peak.load(Ordering::Relaxed),
        wall,
    })
}
