//! gil: what CPython's global interpreter lock does to threads, shown with spindle's
//! emulated `Gil` next to plain Rust threads (which have no GIL), and Python's way out
//! for CPU-bound work, a process pool (`processes.rs`).

mod processes;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::sync::Gil;
use spindle::thread;

use super::measure::{human, joined, ratio, seconds, thread_cpu_time, timed};
use super::{Experiment, Failed, Findings, Step};

pub const EXPERIMENT: Experiment = Experiment {
    name: "gil",
    claim: "Under a GIL, CPU-bound threads take turns: together they keep at most one \
            core busy, so they finish no sooner than sequential code. I/O-bound threads \
            under it stay concurrent, because the GIL is released around I/O. (Plain Rust \
            threads, which have no GIL, and a pool of 2 processes are measured alongside.)",
    summary: "CPU-bound sums: sequential, 4 threads, 4 threads under a Gil; I/O under the Gil",
    run,
};

const THREADS: usize = 4;
/// CPU-bound measurements keep the best of up to this many runs: the least disturbed.
const RUNS: usize = 3;
/// Longest any measured phase may take before it counts as hung.
const HANG_LIMIT: Duration = Duration::from_secs(60);

fn run(step: &Step<'_>) -> Result<Findings, Failed> {
    let per_sum = step
        .scale()
        .pick(Duration::from_millis(100), Duration::from_millis(30));
    step.show("sizing the CPU-bound task");
    let n = size_for(per_sum);
    let naps = step.scale().pick(10, 5);
    let nap = step
        .scale()
        .pick(Duration::from_millis(20), Duration::from_millis(10));
    // On a busy machine the runs take longer; fewer of them then keep the lab short.
    let budget = step
        .scale()
        .pick(Duration::from_secs(5), Duration::from_millis(1500));
    let mut f = Findings::new();

    step.show("CPU-bound: sequential, threads, threads under a Gil");
    let cpu_phase = Instant::now();
    let mut sequential = Cpu::WORST;
    let mut threads = Cpu::WORST;
    let mut gil_threads = Cpu::WORST;
    let mut forced_switches = 0;
    for _ in 0..RUNS {
        sequential = sequential.best(run_sequential(n));
        threads = threads.best(run_threads(n)?);
        let (attempt, switches) = run_under_gil(n)?;
        if attempt.wall < gil_threads.wall {
            forced_switches = switches;
        }
        gil_threads = gil_threads.best(attempt);
        if cpu_phase.elapsed() > budget {
            break;
        }
    }

    step.show("CPU-bound: a pool of processes");
    let process_pool = processes::run(n, THREADS, 2, HANG_LIMIT)?;

    step.show("I/O-bound under the Gil");
    let io_holding = run_io(naps, nap, false)?;
    let io_released = run_io(naps, nap, true)?;

    let gil_vs_sequential = gil_threads.wall.as_secs_f64() / sequential.wall.as_secs_f64();
    let threads_vs_sequential = threads.wall.as_secs_f64() / sequential.wall.as_secs_f64();
    let processes_vs_sequential = process_pool.as_secs_f64() / sequential.wall.as_secs_f64();
    let io_ratio = io_released.as_secs_f64() / io_holding.as_secs_f64();
    let sums = format!(
        "sum of 0..{n} (about {} here), {THREADS} times",
        human(per_sum)
    );
    f.row(
        format!("{sums}, sequential"),
        format!(
            "{} ({:.2} cores busy)",
            human(sequential.wall),
            sequential.parallelism()
        ),
    );
    f.row(
        format!("{sums}, {THREADS} threads (no GIL)"),
        format!(
            "{} ({threads_vs_sequential:.2}x the sequential time, {:.2} cores busy)",
            human(threads.wall),
            threads.parallelism()
        ),
    );
    f.row(
        format!("{sums}, {THREADS} threads sharing a Gil"),
        format!(
            "{} ({gil_vs_sequential:.2}x the sequential time, {:.2} cores busy, {forced_switches} forced switches)",
            human(gil_threads.wall),
            gil_threads.parallelism()
        ),
    );
    f.row(
        format!("{sums}, a pool of {} processes", processes::WORKERS),
        format!(
            "{} ({processes_vs_sequential:.2}x the sequential time)",
            human(process_pool)
        ),
    );
    let io_work = format!("{THREADS} threads, each {naps} waits of {}", human(nap));
    f.row(format!("{io_work}, holding the Gil"), human(io_holding));
    f.row(
        format!("{io_work}, Gil released (allow_threads)"),
        human(io_released),
    );
    f.figure("n", n);
    f.figure("threads", THREADS);
    f.figure("sequential_s", seconds(sequential.wall));
    f.figure("sequential_parallelism", ratio(sequential.parallelism()));
    f.figure("threads_s", seconds(threads.wall));
    f.figure("threads_vs_sequential", ratio(threads_vs_sequential));
    f.figure("threads_parallelism", ratio(threads.parallelism()));
    f.figure("gil_threads_s", seconds(gil_threads.wall));
    f.figure("gil_vs_sequential", ratio(gil_vs_sequential));
    f.figure("gil_parallelism", ratio(gil_threads.parallelism()));
    f.figure("gil_forced_switches", forced_switches);
    f.figure("process_pool_workers", processes::WORKERS);
    f.figure("process_pool_s", seconds(process_pool));
    f.figure("process_pool_vs_sequential", ratio(processes_vs_sequential));
    f.figure("io_holding_gil_s", seconds(io_holding));
    f.figure("io_allow_threads_s", seconds(io_released));
    f.figure("io_allow_threads_ratio", ratio(io_ratio));

    // Wall-time ratios move with whatever else the machine runs (a busy machine can slow
    // the sequential run more than the threaded one); the cores the Gil threads kept busy
    // do not: at most one, whatever the load. Released around waits, the waits overlap.
    // The process pool's time is such a ratio too: a figure, not part of the verdict.
    let holds = gil_threads.parallelism() <= 1.2 && io_ratio <= 0.5;
    Ok(f.conclude(
        holds,
        format!(
            "under the Gil, {THREADS} CPU-bound threads kept {:.2} cores busy and took \
             {gil_vs_sequential:.2}x the sequential time; without a GIL {:.2} cores, \
             {threads_vs_sequential:.2}x; \
             I/O under the Gil with allow_threads took {io_ratio:.2}x the time of holding it",
            gil_threads.parallelism(),
            threads.parallelism()
        ),
    ))
}

/// The CPU-bound task: a sum that the compiler cannot fold, with a hook per iteration.
fn sum_to(n: u64, mut tick: impl FnMut()) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(black_box(i));
        tick();
    }
    sum
}

/// The `n` for which `sum_to(n)` takes about `target` on this machine (and build).
fn size_for(target: Duration) -> u64 {
    const PROBE: u64 = 100_000;
    let fastest = (0..3)
        .map(|_| timed(|| check_sum(PROBE, sum_to(PROBE, || {}))).1)
        .min()
        .expect("three probes");
    let scale = target.as_secs_f64() / fastest.as_secs_f64().max(1e-6);
    // Round to two significant digits, so that the figure reads as a plain number.
    let n = (PROBE as f64 * scale).max(PROBE as f64);
    let unit = 10f64.powi(n.log10().floor() as i32 - 1);
    ((n / unit).round() * unit) as u64
}

fn check_sum(n: u64, sum: u64) {
    assert_eq!(
        sum,
        n * (n - 1) / 2,
        "the CPU-bound task computed a wrong sum"
    );
}

/// Wall time of a CPU-bound run, and the CPU time its threads used.
#[derive(Clone, Copy)]
struct Cpu {
    wall: Duration,
    cpu: Duration,
}

impl Cpu {
    const WORST: Cpu = Cpu {
        wall: Duration::MAX,
        cpu: Duration::ZERO,
    };

    fn best(self, other: Cpu) -> Cpu {
        if other.wall < self.wall { other } else { self }
    }

    /// How many cores were busy on average: CPU time over wall time.
    fn parallelism(self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
}

fn run_sequential(n: u64) -> Cpu {
    let start = thread_cpu_time();
    let ((), wall) = timed(|| {
        for _ in 0..THREADS {
            check_sum(n, sum_to(n, || {}));
        }
    });
    Cpu {
        wall,
        cpu: thread_cpu_time() - start,
    }
}

/// Runs `work` on each of `THREADS` threads; each returns the CPU time it used.
fn on_threads(work: impl Fn() -> Duration + Send + Sync + 'static) -> Result<Cpu, Failed> {
    let work = Arc::new(work);
    let (cpus, wall) = timed(|| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let work = Arc::clone(&work);
                thread::spawn(move || work())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| joined(h, HANG_LIMIT))
            .collect::<Result<Vec<_>, _>>()
    });
    Ok(Cpu {
        wall,
        cpu: cpus?.into_iter().sum(),
    })
}

fn run_threads(n: u64) -> Result<Cpu, Failed> {
    on_threads(move || {
        let start = thread_cpu_time();
        check_sum(n, sum_to(n, || {}));
        thread_cpu_time() - start
    })
}

/// The same threads, each holding a shared Gil and ticking as CPython does between
/// bytecodes. Also returns how often a holder was made to hand the Gil over.
fn run_under_gil(n: u64) -> Result<(Cpu, u64), Failed> {
    let gil = Arc::new(Gil::new());
    let shared = Arc::clone(&gil);
    let cpu = on_threads(move || {
        let start = thread_cpu_time();
        let mut g = shared.acquire();
        check_sum(n, sum_to(n, || g.tick()));
        drop(g);
        thread_cpu_time() - start
    })?;
    Ok((cpu, gil.forced_switches()))
}

/// Threads under one Gil that each wait `naps` times, with the Gil held or released.
fn run_io(naps: u32, nap: Duration, release: bool) -> Result<Duration, Failed> {
    let gil = Arc::new(Gil::new());
    on_threads(move || {
        let mut g = gil.acquire();
        for _ in 0..naps {
            if release {
                g.allow_threads(|| thread::sleep(nap));
            } else {
                thread::sleep(nap);
            }
            g.tick();
        }
        Duration::ZERO
    })
    .map(|cpu| cpu.wall)
}
