//! `spindle::futures` throughput: 100,000 tiny tasks submitted, then collected, against
//! rayon (spawn + channel) and the `threadpool` crate (execute + channel), all with the
//! same number of workers; and `as_completed` over 10,000 and 100,000 futures (the time
//! per future should not grow with n). CPython's numbers come from
//! `benches/python/futures_bench.py`.
//!
//! Two summaries follow, each side timed in alternation round after round and reported as
//! the median of the rounds' ratios (as `benches/sync.rs` does): the same tiny tasks
//! against rayon, and issue 16's workload, 1M tiny tasks read through `as_completed`,
//! against rayon plus a channel, for time and for peak heap (counted by a global
//! allocator that charges each allocation the bytes malloc reserves for it, its usable
//! size: the request rounded up, 24 bytes at least).
//!
//! Run: `cargo bench -p spindle --bench futures -- --warm-up-time 1 --measurement-time 3`;
//! only the paired summaries: `cargo bench -p spindle --bench futures -- paired`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use spindle::futures::{ReturnWhen, ThreadPoolExecutor, as_completed, wait};

const TASKS: u64 = 100_000;

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn submit_then_collect(c: &mut Criterion) {
    let n = workers();
    let mut group = c.benchmark_group(format!("submit_collect_100k_tiny_tasks_{n}_workers"));
    group.throughput(Throughput::Elements(TASKS));
    group.sample_size(10);

    let pool = ThreadPoolExecutor::new(n);
    group.bench_function("spindle", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..TASKS)
                .map(|i| pool.submit(move || black_box(i) * 2))
                .collect();
            let sum: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
            assert_eq!(sum, TASKS * (TASKS - 1));
        })
    });

    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap();
    group.bench_function("rayon_spawn_channel", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            for i in 0..TASKS {
                let tx = tx.clone();
                rayon_pool.spawn(move || tx.send(black_box(i) * 2).unwrap());
            }
            drop(tx);
            let sum: u64 = rx.iter().sum();
            assert_eq!(sum, TASKS * (TASKS - 1));
        })
    });

    let tp = threadpool::ThreadPool::new(n);
    group.bench_function("threadpool_execute_channel", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            for i in 0..TASKS {
                let tx = tx.clone();
                tp.execute(move || tx.send(black_box(i) * 2).unwrap());
            }
            drop(tx);
            let sum: u64 = rx.iter().sum();
            assert_eq!(sum, TASKS * (TASKS - 1));
        })
    });
    group.finish();
}

fn as_completed_scaling(c: &mut Criterion) {
    let pool = ThreadPoolExecutor::new(workers());
    let mut group = c.benchmark_group("as_completed");
    group.sample_size(10);
    for n in [10_000u64, 100_000] {
        group.throughput(Throughput::Elements(n));
        // Submission and completion included: futures complete while the loop waits.
        group.bench_function(format!("submit_and_drain_{n}"), |b| {
            b.iter(|| {
                let futures: Vec<_> = (0..n).map(|i| pool.submit(move || i)).collect();
                let sum: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
                assert_eq!(sum, n * (n - 1) / 2);
            })
        });
        // Only as_completed itself: every future is already done.
        group.bench_function(format!("drain_done_{n}"), |b| {
            b.iter_batched(
                || {
                    let futures: Vec<_> = (0..n).map(|i| pool.submit(move || i)).collect();
                    wait(&futures, ReturnWhen::AllCompleted, None);
                    futures
                },
                |futures| {
                    let sum: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
                    assert_eq!(sum, n * (n - 1) / 2);
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// The system allocator, counting (while `COUNTING` is on) the bytes it hands out as
/// malloc sizes them (`malloc_usable_size`): a run's peak heap, comparable between runs.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn usable_size(ptr: *mut u8) -> isize {
    // SAFETY: `ptr` came from the system allocator (malloc and friends) and is live.
    unsafe { libc::malloc_usable_size(ptr.cast()) as isize }
}

fn count(bytes: isize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System`; counting only asks malloc how large the block it returned is.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as given.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() && COUNTING.load(Ordering::Relaxed) {
            count(usable_size(ptr));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            count(-usable_size(ptr));
        }
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The peak heap growth while `run` runs, in bytes. Frees of chunks allocated before
/// counting began would count negative: the runs measured free only what they allocate.
fn peak_heap(run: impl FnOnce()) -> isize {
    LIVE.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    run();
    COUNTING.store(false, Ordering::SeqCst);
    PEAK.load(Ordering::SeqCst)
}

const MILLION: u64 = 1_000_000;

/// 1M tiny tasks submitted, then every result read through `as_completed`.
fn million_through_as_completed(pool: &ThreadPoolExecutor) {
    let futures: Vec<_> = (0..MILLION)
        .map(|i| pool.submit(move || black_box(i) * 2))
        .collect();
    let sum: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
    assert_eq!(sum, MILLION * (MILLION - 1));
}

/// The same on rayon: 1M spawns, each sending its result down a channel, read to the end.
fn million_through_rayon_channel(pool: &rayon::ThreadPool) {
    let (tx, rx) = mpsc::channel();
    for i in 0..MILLION {
        let tx = tx.clone();
        pool.spawn(move || tx.send(black_box(i) * 2).unwrap());
    }
    drop(tx);
    let sum: u64 = rx.iter().sum();
    assert_eq!(sum, MILLION * (MILLION - 1));
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Runs `a` and `b` in alternation for `rounds` pairs (which goes first alternates) and
/// returns each side's measures and the median of the rounds' ratios a / b.
fn paired(
    rounds: usize,
    mut a: impl FnMut() -> f64,
    mut b: impl FnMut() -> f64,
) -> (f64, f64, f64) {
    let (mut xs, mut ys, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (x, y) = if round % 2 == 0 {
            let x = a();
            (x, b())
        } else {
            let y = b();
            (a(), y)
        };
        xs.push(x);
        ys.push(y);
        ratios.push(x / y);
    }
    (median(xs), median(ys), median(ratios))
}

/// 100,000 tiny tasks submitted, then each result read in order (`submit_then_collect`).
fn tiny_tasks_spindle(pool: &ThreadPoolExecutor) {
    let futures: Vec<_> = (0..TASKS)
        .map(|i| pool.submit(move || black_box(i) * 2))
        .collect();
    let sum: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
    assert_eq!(sum, TASKS * (TASKS - 1));
}

fn tiny_tasks_rayon(pool: &rayon::ThreadPool) {
    let (tx, rx) = mpsc::channel();
    for i in 0..TASKS {
        let tx = tx.clone();
        pool.spawn(move || tx.send(black_box(i) * 2).unwrap());
    }
    drop(tx);
    let sum: u64 = rx.iter().sum();
    assert_eq!(sum, TASKS * (TASKS - 1));
}

fn seconds(run: impl FnOnce()) -> f64 {
    let start = Instant::now();
    run();
    start.elapsed().as_secs_f64()
}

/// The tiny-task throughput of `submit_then_collect`, paired round by round against
/// rayon: the median of the rounds' ratios, steadier on a busy machine than criterion's
/// separate groups.
fn tiny_tasks_paired(_: &mut Criterion) {
    let n = workers();
    let pool = ThreadPoolExecutor::new(n);
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap();
    tiny_tasks_spindle(&pool);
    tiny_tasks_rayon(&rayon_pool);
    const ROUNDS: usize = 21;
    let (spindle_s, rayon_s, ratio) = paired(
        ROUNDS,
        || seconds(|| tiny_tasks_spindle(&pool)),
        || seconds(|| tiny_tasks_rayon(&rayon_pool)),
    );
    println!(
        "interleaved, {ROUNDS} rounds: 100k tiny tasks, submit then result in order: \
         spindle {:.2} M/s, rayon + channel {:.2} M/s, median ratio of each round's pair \
         (time) {ratio:.2} (speed {:.2}x rayon)",
        TASKS as f64 / spindle_s / 1e6,
        TASKS as f64 / rayon_s / 1e6,
        1.0 / ratio,
    );
}

/// Issue 16's workload, paired round by round against rayon plus a channel: peak heap
/// (as malloc sizes its allocations) and time, each the median of the rounds' ratios.
fn million_as_completed_memory_and_speed(_: &mut Criterion) {
    let n = workers();
    let pool = ThreadPoolExecutor::new(n);
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap();
    // Warm both pools (workers started, allocator arenas made) outside the counting.
    million_through_as_completed(&pool);
    million_through_rayon_channel(&rayon_pool);

    let mb = |bytes: isize| bytes as f64 / 1e6;
    let (spindle_peak, rayon_peak, memory_ratio) = paired(
        7,
        || mb(peak_heap(|| million_through_as_completed(&pool))),
        || mb(peak_heap(|| million_through_rayon_channel(&rayon_pool))),
    );
    println!(
        "interleaved, 7 rounds: 1M tiny tasks through as_completed, peak heap: spindle {spindle_peak:.1} MB, \
         rayon + channel {rayon_peak:.1} MB, median ratio of each round's pair {memory_ratio:.2}"
    );
    let (spindle_s, rayon_s, time_ratio) = paired(
        11,
        || seconds(|| million_through_as_completed(&pool)),
        || seconds(|| million_through_rayon_channel(&rayon_pool)),
    );
    println!(
        "interleaved, 11 rounds: 1M tiny tasks through as_completed, time: spindle {:.0} ms, \
         rayon + channel {:.0} ms, median ratio of each round's pair {time_ratio:.2} \
         (speed {:.2}x rayon)",
        spindle_s * 1e3,
        rayon_s * 1e3,
        1.0 / time_ratio,
    );
}

criterion_group!(
    benches,
    submit_then_collect,
    as_completed_scaling,
    tiny_tasks_paired,
    million_as_completed_memory_and_speed
);
criterion_main!(benches);
