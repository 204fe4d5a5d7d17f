//! A small lock-free `Queue` keeps moving when CPU-bound threads take every core:
//! blocking producers and consumers must not form a convoy in which each item waits for
//! a thread that the scheduler has put behind the busy ones.
//!
//! Seen with `Queue::bounded(1)` (a ring of one slot): a pop reserved its slot while the
//! push there was still writing, and a push reserved its slot while the pop there was
//! still reading, so that every producer and consumer queued up, in reservation order,
//! behind whichever of them was off the CPU. Here, beside two busy loops per core, this
//! test failed 5 times in 6 on that code (after 10 s, with 12,000 to 50,000 of its
//! 100,000 items through); it takes 0.2 to 0.6 s now, as crossbeam's channel does, which
//! reserves a slot only once its last turn is over. (`LifoQueue` and `PriorityQueue`
//! keep their items under a lock: no slot is ever reserved.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::queue::Queue;

const PRODUCERS: i64 = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: i64 = 25_000;

/// A generous bound: a few tenths of a second is usual here on 2 cores beside the busy
/// loops.
const LIMIT: Duration = Duration::from_secs(10);

/// Two busy loops per core until dropped, so that the queue's threads are often off the
/// CPU.
struct BusyCores {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusyCores {
    fn start() -> BusyCores {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..2 * cores)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        BusyCores { stop, threads }
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn a_queue_of_one_slot_keeps_moving_beside_busy_cores() {
    let q = Arc::new(Queue::bounded(1));
    let _busy = BusyCores::start();
    let put = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (q, put) = (Arc::clone(&q), Arc::clone(&put));
            spindle::thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    q.put(p * PER_PRODUCER + i).unwrap();
                    put.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let q = Arc::clone(&q);
            spindle::thread::spawn(move || std::iter::from_fn(|| q.get().ok()).count())
        })
        .collect();
    for p in producers {
        let left = LIMIT.saturating_sub(started.elapsed());
        assert!(
            p.wait_timeout(left),
            "4 producers had put only {} of 100,000 items through a queue of one slot \
             after {LIMIT:?}",
            put.load(Ordering::Relaxed)
        );
        p.join().unwrap();
    }
    q.shutdown(false);
    let taken: usize = consumers
        .into_iter()
        .map(|c| {
            assert!(c.wait_timeout(LIMIT), "a consumer did not see the shutdown");
            c.join().unwrap()
        })
        .sum();
    assert_eq!(taken as i64, PRODUCERS * PER_PRODUCER, "items were lost");
}
