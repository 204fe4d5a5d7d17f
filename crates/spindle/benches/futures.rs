//! `spindle::futures` throughput: 100,000 tiny tasks submitted, then collected, against
//! rayon (spawn + channel) and the `threadpool` crate (execute + channel), all with the
//! same number of workers; and `as_completed` over 10,000 and 100,000 futures (the time
//! per future should not grow with n). CPython's numbers come from
//! `benches/python/futures_bench.py`.
//!
//! Run: `cargo bench -p spindle --bench futures -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::mpsc;

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

criterion_group!(benches, submit_then_collect, as_completed_scaling);
criterion_main!(benches);
