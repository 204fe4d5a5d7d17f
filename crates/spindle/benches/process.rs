//! The process pool: the round trip of a tiny task, `map` with chunksize 1 and 100, a
//! burst of 2,000 submits collected after, and the CPU-bound classic (the sum of
//! 0..4·10^8, four times, each addition through `black_box` so that it stays a loop
//! of additions: over half a second of work) run sequentially, on two plain threads
//! and on two workers.
//!
//! After criterion's report, it runs `benches/python/process_bench.py` (the same work on
//! CPython's `ProcessPoolExecutor(2)`) and prints the ratios. For figures taken
//! alternately from both, which suit a busy machine better, run
//! `cargo run --release -p spindle --example process_ratios`.
//!
//! Workers re-run this binary, so `main` calls `spindle::process::init()` first.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput};
use spindle::process::ProcessPoolExecutor;

/// Tasks in each tiny-task case.
const ITEMS: u64 = 2_000;
/// The CPU-bound classic: the sum of 0..N, four times.
const N: u64 = 400_000_000;
const REPEATS: usize = 4;

spindle::task! {
    const ADD_ONE = fn add_one(x: u64) -> u64 { x + 1 }

    const SUM_BELOW = fn sum_below(n: u64) -> u64 {
        (0..n).fold(0u64, |acc, i| black_box(acc.wrapping_add(i)))
    }
}

fn round_trip(c: &mut Criterion, pool: &ProcessPoolExecutor) {
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

fn map(c: &mut Criterion, pool: &ProcessPoolExecutor) {
    let mut g = c.benchmark_group("process_map");
    g.throughput(Throughput::Elements(ITEMS));
    for chunksize in [1, 100] {
        g.bench_with_input(
            BenchmarkId::new("chunksize", chunksize),
            &chunksize,
            |b, &chunksize| {
                b.iter(|| {
                    let total: u64 = pool
                        .map_chunked(ADD_ONE, 0..ITEMS, chunksize)
                        .map(Result::unwrap)
                        .sum();
                    assert_eq!(total, ITEMS * (ITEMS + 1) / 2);
                })
            },
        );
    }
    g.bench_function("burst", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..ITEMS).map(|x| pool.submit(ADD_ONE, x)).collect();
            let total: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
            assert_eq!(total, ITEMS * (ITEMS + 1) / 2);
        })
    });
    g.finish();
}

fn cpu_bound(c: &mut Criterion, pool: &ProcessPoolExecutor) {
    let mut g = c.benchmark_group("process_cpu_bound");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("sequential", |b| {
        b.iter(|| (0..REPEATS).map(|_| sum_below(black_box(N))).sum::<u64>())
    });
    // The same split over two plain threads: what the machine allows at the moment
    // (on a shared, loaded machine two threads may not get two cores either).
    g.bench_function("2_threads", |b| {
        b.iter(|| {
            let halves: Vec<_> = (0..2)
                .map(|_| {
                    spindle::thread::spawn(|| {
                        (0..REPEATS / 2)
                            .map(|_| sum_below(black_box(N)))
                            .sum::<u64>()
                    })
                })
                .collect();
            halves.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    });
    g.bench_function("2_workers", |b| {
        b.iter(|| {
            pool.map(SUM_BELOW, vec![black_box(N); REPEATS])
                .map(Result::unwrap)
                .sum::<u64>()
        })
    });
    g.finish();
}

/// Where criterion writes its estimates, as criterion itself finds it.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("criterion")
}

/// The mean time of one iteration of a benchmark measured since `since` (this run),
/// in seconds.
fn mean_seconds(dir: &Path, bench: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(bench).join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None; // left by an earlier run
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some(json["mean"]["point_estimate"].as_f64()? / 1e9)
}

/// Prints spindle's figures of this run beside CPython's, as ratios.
fn print_ratios(dir: &Path, since: SystemTime) {
    let mean_seconds = |bench| mean_seconds(dir, bench, since);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/python/process_bench.py"
    );
    println!("\nprocess pool vs CPython ProcessPoolExecutor(2) ({script})");
    let cpython: BTreeMap<String, f64> =
        match Command::new("python3").args([script, "--json"]).output() {
            Ok(out) if out.status.success() => match serde_json::from_slice(&out.stdout) {
                Ok(figures) => figures,
                Err(e) => return println!("the script printed no figures: {e}"),
            },
            Ok(out) => return println!("the script failed: {}", out.status),
            Err(e) => return println!("cannot run python3: {e}"),
        };
    // spindle's seconds per task, by the script's names.
    let per_task = [
        ("round_trip", "process/round_trip_tiny", 1.0),
        ("map_1", "process_map/chunksize/1", ITEMS as f64),
        ("burst", "process_map/burst", ITEMS as f64),
        ("map_100", "process_map/chunksize/100", ITEMS as f64),
    ];
    for (name, bench, tasks) in per_task {
        let (Some(ours), Some(theirs)) = (mean_seconds(bench), cpython.get(name)) else {
            continue;
        };
        let (ours, theirs) = (tasks / ours, ITEMS as f64 / theirs);
        println!(
            "{name:<12} spindle {ours:>10.0}/s  CPython {theirs:>9.0}/s  {:>6.1}×",
            ours / theirs
        );
    }
    let ours = (mean_seconds("process_cpu_bound/2_workers"))
        .zip(mean_seconds("process_cpu_bound/sequential"));
    let theirs = (cpython.get("cpu_2_workers")).zip(cpython.get("cpu_sequential"));
    if let (Some((w, s)), Some((tw, ts))) = (ours, theirs) {
        println!(
            "cpu_bound    2 workers vs sequential: spindle {:.2}, CPython {:.2}",
            w / s,
            tw / ts
        );
    }
}

fn main() {
    spindle::process::init();
    let since = SystemTime::now();
    let dir = criterion_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    let pool = ProcessPoolExecutor::new(2);
    round_trip(&mut c, &pool);
    map(&mut c, &pool);
    cpu_bound(&mut c, &pool);
    c.final_summary();
    let listing_or_testing = std::env::args().any(|a| a == "--list" || a == "--test");
    if !listing_or_testing {
        print_ratios(&dir, since);
    }
}
