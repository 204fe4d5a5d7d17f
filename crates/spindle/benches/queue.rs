//! spindle's queues against crossbeam-channel and std's mpsc, on the same workloads as
//! `benches/python/queue_bench.py` runs with CPython's `queue.Queue`.
//!
//! Run: `cargo bench -p spindle --bench queue`. Each run moves `ITEMS` u64 from the
//! producers to the consumers; criterion reports throughput in items per second.
//! Deadlock detection is on (its default) for spindle.

use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

const ITEMS: u64 = 1_000_000;
const CAPACITY: usize = 1024;

/// A channel's two ends, as each implementation spells them.
trait Pipe {
    type Tx: Send + 'static;
    type Rx: Send + 'static;
    fn pair(capacity: Option<usize>) -> (Self::Tx, Self::Rx);
    fn tx_clone(tx: &Self::Tx) -> Self::Tx;
    /// `None` when the implementation allows one consumer only.
    fn rx_clone(rx: &Self::Rx) -> Option<Self::Rx>;
    fn send(tx: &Self::Tx, value: u64);
    fn recv(rx: &Self::Rx) -> u64;
}

struct Spindle;
impl Pipe for Spindle {
    type Tx = Arc<spindle::queue::Queue<u64>>;
    type Rx = Arc<spindle::queue::Queue<u64>>;
    fn pair(capacity: Option<usize>) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(match capacity {
            Some(n) => spindle::queue::Queue::bounded(n),
            None => spindle::queue::Queue::new(),
        });
        (Arc::clone(&q), q)
    }
    fn tx_clone(tx: &Self::Tx) -> Self::Tx {
        Arc::clone(tx)
    }
    fn rx_clone(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(Arc::clone(rx))
    }
    fn send(tx: &Self::Tx, value: u64) {
        tx.put(value).unwrap();
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.get().unwrap()
    }
}

struct Crossbeam;
impl Pipe for Crossbeam {
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn pair(capacity: Option<usize>) -> (Self::Tx, Self::Rx) {
        match capacity {
            Some(n) => crossbeam_channel::bounded(n),
            None => crossbeam_channel::unbounded(),
        }
    }
    fn tx_clone(tx: &Self::Tx) -> Self::Tx {
        tx.clone()
    }
    fn rx_clone(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).unwrap();
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().unwrap()
    }
}

struct StdMpsc;
/// `sync_channel` (bounded) and `channel` (unbounded) have different sender types.
enum StdSender {
    Bounded(mpsc::SyncSender<u64>),
    Unbounded(mpsc::Sender<u64>),
}
impl Pipe for StdMpsc {
    type Tx = StdSender;
    type Rx = mpsc::Receiver<u64>;
    fn pair(capacity: Option<usize>) -> (Self::Tx, Self::Rx) {
        match capacity {
            Some(n) => {
                let (tx, rx) = mpsc::sync_channel(n);
                (StdSender::Bounded(tx), rx)
            }
            None => {
                let (tx, rx) = mpsc::channel();
                (StdSender::Unbounded(tx), rx)
            }
        }
    }
    fn tx_clone(tx: &Self::Tx) -> Self::Tx {
        match tx {
            StdSender::Bounded(tx) => StdSender::Bounded(tx.clone()),
            StdSender::Unbounded(tx) => StdSender::Unbounded(tx.clone()),
        }
    }
    fn rx_clone(_: &Self::Rx) -> Option<Self::Rx> {
        None
    }
    fn send(tx: &Self::Tx, value: u64) {
        match tx {
            StdSender::Bounded(tx) => tx.send(value).unwrap(),
            StdSender::Unbounded(tx) => tx.send(value).unwrap(),
        }
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().unwrap()
    }
}

/// Moves `ITEMS` values from `producers` threads to `consumers` threads; the time from
/// when all threads are ready until the last value has been received.
fn transfer<P: Pipe>(producers: u64, consumers: u64, capacity: Option<usize>) -> Duration {
    let (tx, rx) = P::pair(capacity);
    let ready = Arc::new(Barrier::new((producers + consumers + 1) as usize));
    let per_producer = ITEMS / producers;
    let per_consumer = ITEMS / consumers;
    let senders: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, ready) = (P::tx_clone(&tx), Arc::clone(&ready));
            thread::spawn(move || {
                ready.wait();
                for i in 0..per_producer {
                    P::send(&tx, p * per_producer + i);
                }
            })
        })
        .collect();
    drop(tx);
    let mut rx = Some(rx);
    let receivers: Vec<_> = (0..consumers)
        .map(|c| {
            let rx = if c + 1 == consumers {
                rx.take().unwrap()
            } else {
                P::rx_clone(rx.as_ref().unwrap()).expect("this channel has one consumer only")
            };
            let ready = Arc::clone(&ready);
            thread::spawn(move || {
                ready.wait();
                (0..per_consumer).map(|_| P::recv(&rx)).sum::<u64>()
            })
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    let total: u64 = receivers.into_iter().map(|r| r.join().unwrap()).sum();
    let elapsed = start.elapsed();
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(total, ITEMS * (ITEMS - 1) / 2, "every value arrives once");
    elapsed
}

fn bench<P: Pipe>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    producers: u64,
    consumers: u64,
    capacity: Option<usize>,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| transfer::<P>(producers, consumers, capacity))
                .sum()
        })
    });
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(10);
    g
}

fn spsc_bounded(c: &mut Criterion) {
    let mut g = group(c, "queue_1p1c_bounded_1024");
    bench::<Spindle>(&mut g, "spindle", 1, 1, Some(CAPACITY));
    bench::<Crossbeam>(&mut g, "crossbeam", 1, 1, Some(CAPACITY));
    bench::<StdMpsc>(&mut g, "std_mpsc", 1, 1, Some(CAPACITY));
    g.finish();
}

fn spsc_unbounded(c: &mut Criterion) {
    let mut g = group(c, "queue_1p1c_unbounded");
    bench::<Spindle>(&mut g, "spindle", 1, 1, None);
    bench::<Crossbeam>(&mut g, "crossbeam", 1, 1, None);
    bench::<StdMpsc>(&mut g, "std_mpsc", 1, 1, None);
    g.finish();
}

/// std's mpsc allows one consumer only, so it sits this one out.
fn mpmc_bounded(c: &mut Criterion) {
    let mut g = group(c, "queue_4p4c_bounded_1024");
    bench::<Spindle>(&mut g, "spindle", 4, 4, Some(CAPACITY));
    bench::<Crossbeam>(&mut g, "crossbeam", 4, 4, Some(CAPACITY));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = spsc_bounded, spsc_unbounded, mpmc_bounded
}
criterion_main!(benches);
