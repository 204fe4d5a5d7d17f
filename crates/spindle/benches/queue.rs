//! spindle's queues against crossbeam-channel and std's mpsc, on the same workloads as
//! `benches/python/queue_bench.py` runs with CPython's `queue.Queue`.
//!
//! Run: `cargo bench -p spindle --bench queue`. Each run moves `ITEMS` u64 from the
//! producers to the consumers; criterion reports throughput in items per second.
//! Deadlock detection is on (its default) for spindle.
//!
//! Two summaries follow criterion's groups. `paired_summary` times spindle and
//! crossbeam-channel in pairs, round after round, and prints the median of the rounds'
//! throughput ratios (a noisy machine moves both sides of a pair alike). `memory_summary`
//! counts the bytes each queue holds, through this binary's allocator, at the peak of
//! 10M items and after they are drained.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

/// The system allocator, counting the bytes in use and their peak (for `memory_summary`;
/// two relaxed atomic adds per allocation, paid alike by every queue measured).
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = IN_USE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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

/// Median of `xs`.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Each workload of the groups above, spindle and crossbeam timed in pairs, round after
/// round (alternating which goes first), so that both sides of a pair meet the same
/// machine; prints each side's median throughput and the median of the rounds' ratios
/// (spindle's throughput over crossbeam's: above 1, spindle is faster).
fn paired_summary(_: &mut Criterion) {
    let workloads: [(&str, u64, u64, Option<usize>); 4] = [
        (
            "Queue::bounded(1024), 1 producer / 1 consumer",
            1,
            1,
            Some(CAPACITY),
        ),
        ("Queue::new(), 1 producer / 1 consumer", 1, 1, None),
        (
            "Queue::bounded(1024), 4 producers / 4 consumers",
            4,
            4,
            Some(CAPACITY),
        ),
        // One slot: every item is a hand-off between threads, the case where a
        // producer or consumer that the scheduler preempts holds up the others.
        (
            "Queue::bounded(1), 4 producers / 4 consumers",
            4,
            4,
            Some(1),
        ),
    ];
    const ROUNDS: usize = 31;
    for (what, producers, consumers, capacity) in workloads {
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let (s, c) = if round % 2 == 0 {
                let s = transfer::<Spindle>(producers, consumers, capacity);
                (s, transfer::<Crossbeam>(producers, consumers, capacity))
            } else {
                let c = transfer::<Crossbeam>(producers, consumers, capacity);
                (transfer::<Spindle>(producers, consumers, capacity), c)
            };
            ratios.push(c.as_secs_f64() / s.as_secs_f64());
            ours.push(ITEMS as f64 / s.as_secs_f64() / 1e6);
            theirs.push(ITEMS as f64 / c.as_secs_f64() / 1e6);
        }
        println!(
            "paired, {ROUNDS} rounds: {what}: spindle {:.1} M/s, crossbeam {:.1} M/s, median ratio of each round's pair {:.2}",
            median(ours),
            median(theirs),
            median(ratios),
        );
    }
}

/// Items held at the peak in `memory_summary`: 80 MB of u64.
const MEMORY_ITEMS: u64 = 10_000_000;

/// Bytes the allocator holds beyond `base`: now, and at the peak since `PEAK` was reset.
fn held(base: usize) -> (usize, usize) {
    let now = IN_USE.load(Ordering::Relaxed);
    (
        now.saturating_sub(base),
        PEAK.load(Ordering::Relaxed).saturating_sub(base),
    )
}

/// Fills a queue with `MEMORY_ITEMS` u64 from one thread, then drains it, first to a
/// tenth and then to empty; returns the bytes held at the peak, at a tenth and empty
/// (the queue still alive each time).
fn memory_profile(
    fill: &mut dyn FnMut(u64),
    drain: &mut dyn FnMut() -> u64,
) -> (usize, usize, usize) {
    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    for i in 0..MEMORY_ITEMS {
        fill(i);
    }
    let mut sum = 0;
    for _ in 0..MEMORY_ITEMS - MEMORY_ITEMS / 10 {
        sum += drain();
    }
    let (at_a_tenth, peak) = held(base);
    for _ in 0..MEMORY_ITEMS / 10 {
        sum += drain();
    }
    let (empty, _) = held(base);
    assert_eq!(
        sum,
        MEMORY_ITEMS * (MEMORY_ITEMS - 1) / 2,
        "every value arrives once"
    );
    (peak, at_a_tenth, empty)
}

/// The memory an unbounded queue holds at its peak and after draining: spindle's `Queue`
/// (a list of blocks) against crossbeam's unbounded channel (std's mpsc, a list of
/// blocks as crossbeam's, is left out), and spindle's `LifoQueue`, whose locked buffer
/// (as `PriorityQueue`'s, and a very large bounded `Queue`'s) gives room back as it drains.
fn memory_summary(_: &mut Criterion) {
    let mb = |bytes: usize| bytes as f64 / 1e6;
    let q = spindle::queue::Queue::new();
    let ours = memory_profile(&mut |i| q.put(i).unwrap(), &mut || q.get().unwrap());
    drop(q);
    let (tx, rx) = crossbeam_channel::unbounded();
    let theirs = memory_profile(&mut |i| tx.send(i).unwrap(), &mut || rx.recv().unwrap());
    drop((tx, rx));
    let q = spindle::queue::LifoQueue::new();
    let buffer = memory_profile(&mut |i| q.put(i).unwrap(), &mut || q.get().unwrap());
    drop(q);
    for (what, o, t, b) in [
        ("at the peak", ours.0, theirs.0, buffer.0),
        ("drained to a tenth", ours.1, theirs.1, buffer.1),
        ("drained", ours.2, theirs.2, buffer.2),
    ] {
        println!(
            "memory, {MEMORY_ITEMS} u64 through an unbounded queue, {what}: spindle {:.2} MB, crossbeam {:.2} MB (spindle LifoQueue {:.2} MB)",
            mb(o),
            mb(t),
            mb(b),
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = spsc_bounded, spsc_unbounded, mpmc_bounded, paired_summary, memory_summary
}
criterion_main!(benches);
