//! Many producers and consumers at once: every item arrives exactly once, for every queue
//! type and for bounded and unbounded queues, mixing blocking, timed and non-blocking
//! calls. Loop counts shrink under Miri.

mod queue_common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use queue_common::{AnyQueue, join_soon, on_thread};
use spindle::queue::{GetError, PutError};

const PRODUCERS: i64 = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: i64 = if cfg!(miri) { 50 } else { 10_000 };

/// How a thread puts or gets: each producer and consumer uses one of these.
#[derive(Clone, Copy)]
enum Style {
    Blocking,
    Timed,
    Polling,
}

const STYLES: [Style; 4] = [
    Style::Blocking,
    Style::Timed,
    Style::Polling,
    Style::Blocking,
];

fn produce<Q: AnyQueue>(q: &Q, p: i64, style: Style) {
    for i in 0..PER_PRODUCER {
        let mut item = p * PER_PRODUCER + i;
        loop {
            let result = match style {
                Style::Blocking => q.put(item),
                Style::Timed => q.put_timeout(item, Duration::from_millis(1)),
                Style::Polling => q.try_put(item),
            };
            match result {
                Ok(()) => break,
                Err(PutError::Full(back)) => {
                    item = back;
                    std::thread::yield_now();
                }
                Err(PutError::ShutDown(_)) => panic!("shut down while producing"),
            }
        }
    }
}

fn consume<Q: AnyQueue>(q: &Q, style: Style) -> Vec<i64> {
    let mut got = Vec::new();
    loop {
        let result = match style {
            Style::Blocking => q.get(),
            Style::Timed => q.get_timeout(Duration::from_millis(1)),
            Style::Polling => q.try_get(),
        };
        match result {
            Ok(item) => {
                got.push(item);
                q.task_done().unwrap();
            }
            Err(GetError::Empty) => std::thread::yield_now(),
            Err(GetError::ShutDown) => return got,
        }
    }
}

fn four_producers_four_consumers<Q: AnyQueue>(q: Q) {
    let q = Arc::new(q);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| on_thread(&q, move |q| produce(q, p, STYLES[p as usize])))
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| on_thread(&q, move |q| consume(q, STYLES[(c + 1) % STYLES.len()])))
        .collect();
    for p in producers {
        join_soon(p);
    }
    assert!(
        q.join_timeout(Duration::from_secs(30)),
        "not every item was marked done"
    );
    q.shutdown(false);
    let mut seen = HashSet::new();
    let mut count = 0;
    for c in consumers {
        let got = join_soon(c);
        if Q::KIND == "Queue" {
            // First in, first out: each consumer sees each producer's items in order.
            for p in 0..PRODUCERS {
                let from_p = got.iter().filter(|&&item| item / PER_PRODUCER == p);
                assert!(from_p.is_sorted(), "producer {p}'s items out of order");
            }
        }
        for item in got {
            assert!(seen.insert(item), "item {item} arrived twice");
            count += 1;
        }
    }
    assert_eq!(count, PRODUCERS * PER_PRODUCER, "items were lost");
    assert_eq!((q.len(), q.unfinished_tasks()), (0, 0));
}

fn test_stress_bounded<Q: AnyQueue>() {
    four_producers_four_consumers(Q::bounded(16));
}

fn test_stress_bounded_to_one<Q: AnyQueue>() {
    four_producers_four_consumers(Q::bounded(1));
}

fn test_stress_unbounded<Q: AnyQueue>() {
    four_producers_four_consumers(Q::new());
}

for_each_queue!(
    test_stress_bounded,
    test_stress_bounded_to_one,
    test_stress_unbounded
);
