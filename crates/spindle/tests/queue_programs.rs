//! The producer-consumer and bounded-buffer programs of the classic threading tutorials,
//! written with spindle's `Queue` as they are with Python's `queue.Queue`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use spindle::queue::Queue;
use spindle::thread::{self, JoinHandle};

const PATIENCE: Duration = Duration::from_secs(20);

fn finish<T>(h: JoinHandle<T>) -> T {
    assert!(
        h.wait_timeout(PATIENCE),
        "{} did not finish",
        h.info().name()
    );
    h.join().expect("the thread panicked")
}

/// The tutorial producer-consumer: the producer puts its items and then a sentinel
/// (`None`), the consumer takes items until the sentinel and marks each done, and the
/// main thread waits with `join` until everything was processed.
#[test]
fn producer_consumer_with_a_sentinel_and_join() {
    let q: Arc<Queue<Option<u64>>> = Arc::new(Queue::new());
    let processed = Arc::new(AtomicUsize::new(0));
    let consumer = {
        let (q, processed) = (Arc::clone(&q), Arc::clone(&processed));
        thread::spawn(move || {
            let mut received = Vec::new();
            loop {
                let item = q.get().unwrap();
                q.task_done().unwrap();
                match item {
                    Some(n) => {
                        received.push(n);
                        processed.fetch_add(1, Ordering::SeqCst);
                    }
                    None => return received,
                }
            }
        })
    };
    let producer = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            for n in 0..1000 {
                q.put(Some(n)).unwrap();
            }
            q.put(None).unwrap();
        })
    };
    finish(producer);
    assert!(q.join_timeout(PATIENCE), "join did not return");
    // join returned: every item, the sentinel included, was marked done.
    assert_eq!(processed.load(Ordering::SeqCst), 1000);
    assert_eq!(finish(consumer), (0..1000).collect::<Vec<_>>());
    assert!(q.is_empty());
}

/// The same program in Python 3.13's style: no sentinel; the producer shuts the queue
/// down and the consumers' `for` loops end once it is drained.
#[test]
fn producer_consumer_ended_by_shutdown() {
    let q: Arc<Queue<u64>> = Arc::new(Queue::bounded(10));
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let mut mine = Vec::new();
                for n in &*q {
                    mine.push(n);
                }
                mine
            })
        })
        .collect();
    for n in 0..3000 {
        q.put(n).unwrap();
    }
    q.shutdown(false);
    let mut all = Vec::new();
    for c in consumers {
        let mine = finish(c);
        // One producer, FIFO: each consumer sees its share in the order it was put.
        assert!(mine.windows(2).all(|w| w[0] < w[1]));
        all.extend(mine);
    }
    all.sort();
    assert_eq!(all, (0..3000).collect::<Vec<_>>());
}

const MAX_SIZE: usize = 5;

/// The bounded buffer: producers wait while the buffer holds `MAX_SIZE` items, consumers
/// while it is empty. Checks that the buffer never holds more than `MAX_SIZE`, that
/// producers really had to wait, and that every item arrives once, in order per producer.
#[test]
fn bounded_buffer_of_max_size_5() {
    const PRODUCERS: u64 = 3;
    const CONSUMERS: usize = 2;
    const PER_PRODUCER: u64 = 200;

    let buffer: Arc<Queue<(u64, u64)>> = Arc::new(Queue::bounded(MAX_SIZE));
    let found_full = Arc::new(AtomicBool::new(false));
    let over_max = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (buffer, found_full, over_max) = (
                Arc::clone(&buffer),
                Arc::clone(&found_full),
                Arc::clone(&over_max),
            );
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    if buffer.is_full() {
                        found_full.store(true, Ordering::SeqCst);
                    }
                    buffer.put((p, i)).unwrap();
                    if buffer.len() > MAX_SIZE {
                        over_max.store(true, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (buffer, over_max) = (Arc::clone(&buffer), Arc::clone(&over_max));
            thread::spawn(move || {
                let mut got = Vec::new();
                for (n, item) in (&*buffer).into_iter().enumerate() {
                    if buffer.len() > MAX_SIZE {
                        over_max.store(true, Ordering::SeqCst);
                    }
                    // The first consumer is slow at first, so the buffer fills up.
                    if c == 0 && n < 20 {
                        thread::sleep(Duration::from_millis(2));
                    }
                    got.push(item);
                }
                got
            })
        })
        .collect();
    for p in producers {
        finish(p);
    }
    buffer.shutdown(false);
    let mut all = Vec::new();
    for c in consumers {
        let got = finish(c);
        for p in 0..PRODUCERS {
            let seq: Vec<u64> = got
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|&(_, i)| i)
                .collect();
            assert!(
                seq.windows(2).all(|w| w[0] < w[1]),
                "producer {p}'s items out of order"
            );
        }
        all.extend(got);
    }
    all.sort();
    let expected: Vec<(u64, u64)> = (0..PRODUCERS)
        .flat_map(|p| (0..PER_PRODUCER).map(move |i| (p, i)))
        .collect();
    assert_eq!(all, expected, "every item arrives exactly once");
    assert!(
        !over_max.load(Ordering::SeqCst),
        "the buffer held more than MAX_SIZE items"
    );
    assert!(
        found_full.load(Ordering::SeqCst),
        "the producers never found the buffer full"
    );
}

/// The single-producer, single-consumer bounded buffer: the consumer gets exactly the
/// sequence produced, however the two threads' speeds vary.
#[test]
fn bounded_buffer_preserves_the_producers_order() {
    let buffer: Arc<Queue<u32>> = Arc::new(Queue::bounded(MAX_SIZE));
    let consumer = {
        let buffer = Arc::clone(&buffer);
        thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(n) = buffer.get() {
                if n % 97 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
                got.push(n);
            }
            got
        })
    };
    for n in 0..5000 {
        buffer.put(n).unwrap();
        if n % 89 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    buffer.shutdown(false);
    assert_eq!(finish(consumer), (0..5000).collect::<Vec<_>>());
}
