//! Many producers and consumers at once: every item arrives exactly once, for every queue
//! type and for bounded (small: a ring for `Queue`; large: a growable buffer) and
//! unbounded queues, mixing blocking, timed and non-blocking calls; and an immediate
//! shutdown in the middle of the flow loses no count. Loop counts shrink under Miri.

mod queue_common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use queue_common::{AnyQueue, PATIENCE, eventually, join_soon, on_thread};
use spindle::queue::{GetError, PutError};
use spindle::thread::JoinHandle;

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

fn consume<Q: AnyQueue>(q: &Q, style: Style, taken: &AtomicUsize) -> Vec<i64> {
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
                taken.fetch_add(1, Ordering::Relaxed);
            }
            Err(GetError::Empty) => std::thread::yield_now(),
            Err(GetError::ShutDown) => return got,
        }
    }
}

/// Joins a producer, failing if the queue stops moving rather than if the run is slow.
/// With a queue of one slot, a polling producer gets about one item through each time
/// the scheduler lets it run, and a thread calling `yield_now` in a loop is put behind
/// the threads that do not: on a machine busy with other work (a CI run, or here two busy
/// loops beside it) one such run took from a second to 14 s, the queue moving all along.
/// A hang is a stretch of `PATIENCE` in which no consumer takes an item.
fn join_while_moving<T>(handle: JoinHandle<T>, taken: &AtomicUsize) -> T {
    let (mut seen, mut since) = (taken.load(Ordering::Relaxed), Instant::now());
    while !handle.wait_timeout(Duration::from_millis(100)) {
        let now = taken.load(Ordering::Relaxed);
        if now != seen {
            (seen, since) = (now, Instant::now());
        }
        assert!(
            since.elapsed() < PATIENCE,
            "thread {} still running and no item taken for {PATIENCE:?} ({seen} taken in all)",
            handle.info().name()
        );
    }
    handle.join().expect("the thread panicked")
}

fn four_producers_four_consumers<Q: AnyQueue>(q: Q) {
    let q = Arc::new(q);
    let taken = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| on_thread(&q, move |q| produce(q, p, STYLES[p as usize])))
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let taken = Arc::clone(&taken);
            on_thread(&q, move |q| {
                consume(q, STYLES[(c + 1) % STYLES.len()], &taken)
            })
        })
        .collect();
    for p in producers {
        join_while_moving(p, &taken);
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

/// Large enough that `Queue` keeps a growable buffer rather than a ring.
fn test_stress_bounded_large<Q: AnyQueue>() {
    four_producers_four_consumers(Q::bounded(1 << 16));
}

/// Eight producers put until the queue is shut down, eight consumers take (marking each
/// item done) until it is shut down and empty, and `shutdown(immediate)` comes in the
/// middle: every item taken was put, none twice, and the items dropped count as done,
/// so that once every consumer is finished no task is left unfinished.
fn immediate_shutdown_mid_stream<Q: AnyQueue>(q: Q) {
    const THREADS: i64 = 8;
    let q = Arc::new(q);
    let producers: Vec<_> = (0..THREADS)
        .map(|p| {
            on_thread(&q, move |q| {
                (0..)
                    .map(|i| p * 1_000_000_000 + i)
                    .take_while(|&item| q.put(item).is_ok())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let taken = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = (0..THREADS)
        .map(|_| {
            let taken = Arc::clone(&taken);
            on_thread(&q, move |q| {
                let mut got = Vec::new();
                while let Ok(item) = q.get() {
                    got.push(item);
                    q.task_done().unwrap();
                    taken.fetch_add(1, Ordering::Relaxed);
                }
                got
            })
        })
        .collect();
    // Let items flow for a while, then shut down in the middle of it.
    assert!(
        eventually(|| taken.load(Ordering::Relaxed) >= PER_PRODUCER as usize),
        "items did not flow"
    );
    q.shutdown(true);
    let put: HashSet<i64> = producers.into_iter().flat_map(join_soon).collect();
    let mut got = HashSet::new();
    for c in consumers {
        for item in join_soon(c) {
            assert!(put.contains(&item), "item {item} was never put");
            assert!(got.insert(item), "item {item} arrived twice");
        }
    }
    assert!(got.len() <= put.len());
    assert_eq!(
        (q.len(), q.unfinished_tasks()),
        (0, 0),
        "dropped items count as done"
    );
    assert!(q.task_done().is_err());
}

fn test_immediate_shutdown_mid_stream_bounded<Q: AnyQueue>() {
    immediate_shutdown_mid_stream(Q::bounded(4));
}

fn test_immediate_shutdown_mid_stream_unbounded<Q: AnyQueue>() {
    immediate_shutdown_mid_stream(Q::new());
}

for_each_queue!(
    test_stress_bounded,
    test_stress_bounded_to_one,
    test_stress_unbounded,
    test_stress_bounded_large,
    test_immediate_shutdown_mid_stream_bounded,
    test_immediate_shutdown_mid_stream_unbounded,
);
