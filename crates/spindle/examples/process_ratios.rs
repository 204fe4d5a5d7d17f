//! The process pool side by side with CPython's `ProcessPoolExecutor(2)`, in one run,
//! printed as ratios: the cases of `benches/process.rs`, each the best of several
//! runs, alternating between spindle and `benches/python/process_bench.py` so that
//! both see the same machine (the minimum resists the noise of other processes
//! better than a mean). The machine's load is printed with the figures.
//!
//! ```text
//! cargo run --release -p spindle --example process_ratios
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use spindle::process::ProcessPoolExecutor;

/// Tasks in each tiny-task case.
const ITEMS: u64 = 2_000;
/// The CPU-bound classic: the sum of 0..N, four times (over half a second of work).
const N: u64 = 400_000_000;
const REPEATS: usize = 4;
/// Rounds of (spindle, CPython); in each, every tiny case runs `TINY_RUNS` times and
/// the CPU-bound case `CPU_RUNS` times.
const ROUNDS: usize = 2;
const TINY_RUNS: usize = 5;
const CPU_RUNS: usize = 4;

spindle::task! {
    const ADD_ONE = fn add_one(x: u64) -> u64 { x + 1 }

    /// Each addition goes through `black_box`, so the loop stays a loop of additions,
    /// as CPython's is (no closed form, no vector instructions).
    const SUM_BELOW = fn sum_below(n: u64) -> u64 {
        (0..n).fold(0u64, |acc, i| black_box(acc.wrapping_add(i)))
    }
}

/// Each case's best time, in seconds, by name (the Python script's names).
type Best = BTreeMap<String, f64>;

fn keep(best: &mut Best, name: &str, seconds: f64) {
    let entry = best.entry(name.to_owned()).or_insert(f64::INFINITY);
    *entry = entry.min(seconds);
}

fn timed(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn measure_spindle(pool: &ProcessPoolExecutor, best: &mut Best) {
    let expected = ITEMS * (ITEMS + 1) / 2;
    for _ in 0..TINY_RUNS {
        let round_trip = timed(|| {
            let mut x = 0;
            for _ in 0..ITEMS {
                x = pool.submit(ADD_ONE, x).result().unwrap();
            }
            assert_eq!(x, ITEMS);
        });
        keep(best, "round_trip", round_trip);
        let map_1 = timed(|| {
            let total: u64 = pool.map(ADD_ONE, 0..ITEMS).map(Result::unwrap).sum();
            assert_eq!(total, expected);
        });
        keep(best, "map_1", map_1);
        let burst = timed(|| {
            let futures: Vec<_> = (0..ITEMS).map(|x| pool.submit(ADD_ONE, x)).collect();
            let total: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
            assert_eq!(total, expected);
        });
        keep(best, "burst", burst);
        let map_100 = timed(|| {
            let total: u64 = (pool.map_chunked(ADD_ONE, 0..ITEMS, 100))
                .map(Result::unwrap)
                .sum();
            assert_eq!(total, expected);
        });
        keep(best, "map_100", map_100);
    }
    for _ in 0..CPU_RUNS {
        let sequential = timed(|| {
            black_box((0..REPEATS).map(|_| sum_below(black_box(N))).sum::<u64>());
        });
        keep(best, "cpu_sequential", sequential);
        let workers = timed(|| {
            let sums = pool.map(SUM_BELOW, vec![N; REPEATS]).map(Result::unwrap);
            black_box(sums.sum::<u64>());
        });
        keep(best, "cpu_2_workers", workers);
        // The same split over two plain threads: what the machine allows right now.
        let threads = timed(|| {
            let halves: Vec<_> = (0..2)
                .map(|_| {
                    spindle::thread::spawn(|| {
                        (0..REPEATS / 2)
                            .map(|_| sum_below(black_box(N)))
                            .sum::<u64>()
                    })
                })
                .collect();
            black_box(halves.into_iter().map(|h| h.join().unwrap()).sum::<u64>());
        });
        keep(best, "cpu_2_threads", threads);
    }
}

/// Runs the CPython script once; its best times, or why there are none.
fn measure_cpython(best: &mut Best) -> Result<(), String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/python/process_bench.py"
    );
    let out = Command::new("python3")
        .args([script, "--json"])
        .output()
        .map_err(|e| format!("cannot run python3 {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 {script} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let figures: BTreeMap<String, f64> = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("python3 {script} printed no figures: {e}"))?;
    for (name, seconds) in figures {
        keep(best, &name, seconds);
    }
    Ok(())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    spindle::process::init();
    let pool = ProcessPoolExecutor::new(2);
    // Start both workers before timing anything.
    pool.map(ADD_ONE, 0..4).for_each(|r| assert!(r.is_ok()));

    let load_before = load();
    let (mut spindle, mut cpython) = (Best::new(), Best::new());
    let mut cpython_missing = None;
    for _ in 0..ROUNDS {
        measure_spindle(&pool, &mut spindle);
        if let Err(why) = measure_cpython(&mut cpython) {
            cpython_missing = Some(why);
        }
    }
    let load_after = load();

    println!("process pool vs CPython ProcessPoolExecutor(2), best of {ROUNDS}x{TINY_RUNS} runs");
    println!("load average (1, 5, 15 min): {load_before} before, {load_after} after\n");
    println!(
        "{:<34} {:>12} {:>12} {:>8}   goal",
        "case", "spindle", "CPython", "ratio"
    );
    let rate = |best: &Best, name: &str| best.get(name).map(|s| ITEMS as f64 / s);
    for (name, label, goal) in [
        ("round_trip", "round trip (submit, result)", "≥ 10×"),
        ("map_1", "map, chunksize 1", "≥ 20×"),
        ("burst", "2,000 submits, then each result", "≥ 20×"),
        ("map_100", "map, chunksize 100", ""),
    ] {
        let ours = rate(&spindle, name).expect("measured");
        let theirs = rate(&cpython, name);
        println!(
            "{label:<34} {:>10.0}/s {:>10}/s {:>8}   {goal}",
            ours,
            theirs.map_or("-".into(), |t| format!("{t:.0}")),
            theirs.map_or("-".into(), |t| format!("{:.1}×", ours / t)),
        );
    }
    let part = |best: &Best, name: &str| {
        Some(best.get(name)? / best.get("cpu_sequential")?).map(|r| format!("{r:.2}"))
    };
    println!(
        "\nCPU-bound, 2 workers vs sequential (time): spindle {} ({:.3} s vs {:.3} s), CPython {}   goal ≤ 0.55",
        part(&spindle, "cpu_2_workers").expect("measured"),
        spindle["cpu_2_workers"],
        spindle["cpu_sequential"],
        part(&cpython, "cpu_2_workers").unwrap_or_else(|| "-".into()),
    );
    println!(
        "CPU-bound, 2 plain threads vs sequential: {} (what the machine allowed)",
        part(&spindle, "cpu_2_threads").expect("measured"),
    );
    if let Some(why) = cpython_missing {
        println!("\nCPython: {why}");
    }
}
