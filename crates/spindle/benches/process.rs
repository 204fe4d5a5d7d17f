//! The process pool: the round trip of a tiny task, `map` with chunksize 1 and 100,
//! and the CPU-bound classic (the sum of 0..10^7, four times) run sequentially and on
//! two workers. `benches/python/process_bench.py` runs the same work on CPython's
//! `ProcessPoolExecutor`.
//!
//! Workers re-run this binary, so `main` calls `spindle::process::init()` first.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use spindle::process::ProcessPoolExecutor;

/// Items in each `map` run.
const MAP_ITEMS: u64 = 2_000;
/// The CPU-bound classic: sum 0..N, four times.
const N: u64 = 10_000_000;
const REPEATS: usize = 4;

spindle::task! {
    const ADD_ONE = fn add_one(x: u64) -> u64 { x + 1 }

    const SUM_BELOW = fn sum_below(n: u64) -> u64 {
        // black_box keeps the loop a loop: no closed form.
        (0..n).fold(0u64, |acc, i| acc.wrapping_add(black_box(i)))
    }
}

fn round_trip(c: &mut Criterion) {
    let pool = ProcessPoolExecutor::new(2);
    let mut g = c.benchmark_group("process");
    g.throughput(Throughput::Elements(1));
    g.bench_function("round_trip_tiny", |b| {
        let mut x = 0;
        b.iter(|| {
            x = pool.submit(ADD_ONE, x).result().unwrap();
        })
    });
    g.finish();
}

fn map(c: &mut Criterion) {
    let pool = ProcessPoolExecutor::new(2);
    let mut g = c.benchmark_group("process_map");
    g.throughput(Throughput::Elements(MAP_ITEMS));
    for chunksize in [1, 100] {
        g.bench_with_input(
            BenchmarkId::new("chunksize", chunksize),
            &chunksize,
            |b, &chunksize| {
                b.iter(|| {
                    let total: u64 = pool
                        .map_chunked(ADD_ONE, 0..MAP_ITEMS, chunksize)
                        .map(Result::unwrap)
                        .sum();
                    assert_eq!(total, MAP_ITEMS * (MAP_ITEMS + 1) / 2);
                })
            },
        );
    }
    g.finish();
}

fn cpu_bound(c: &mut Criterion) {
    let mut g = c.benchmark_group("process_cpu_bound");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("sequential", |b| {
        b.iter(|| {
            (0..REPEATS)
                .map(|_| SUM_BELOW.call(black_box(N)))
                .sum::<u64>()
        })
    });
    // The same split over two plain threads: what the machine allows at the moment
    // (on a shared, loaded machine two threads may not get two cores either).
    g.bench_function("2_threads", |b| {
        b.iter(|| {
            let halves: Vec<_> = (0..2)
                .map(|_| {
                    spindle::thread::spawn(|| {
                        (0..REPEATS / 2)
                            .map(|_| SUM_BELOW.call(black_box(N)))
                            .sum::<u64>()
                    })
                })
                .collect();
            halves.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    });
    let pool = ProcessPoolExecutor::new(2);
    g.bench_function("2_workers", |b| {
        b.iter(|| {
            pool.map(SUM_BELOW, vec![black_box(N); REPEATS])
                .map(Result::unwrap)
                .sum::<u64>()
        })
    });
    g.finish();
}

criterion_group!(benches, round_trip, map, cpu_bound);

fn main() {
    spindle::process::init();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
