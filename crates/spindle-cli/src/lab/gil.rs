//! gil: what CPython's global interpreter lock does to threads, shown with spindle's
//! emulated `Gil` next to plain Rust threads (which have no GIL), Python's way out for
//! CPU-bound work, a process pool (`processes.rs`), and I/O under the Gil.
//!
//! Speed-ups need spare cores, so each CPU-bound run is measured several times (the best
//! round counts: the one least disturbed), with the cores it kept busy taken from CPU
//! time, and with what other programs used meanwhile (`machine.rs`). A part the machine
//! cannot show (one core available, or cores held by other programs) is "not measured".
//! The verdict rules are in `gil/verdict.rs`.

mod processes;
mod verdict;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::sync::Gil;
use spindle::thread::{self, Thread};

use super::machine::{CpuReading, Usage, cores_available};
use super::measure::{failed, human, joined, ratio, seconds, thread_cpu_time, timed};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};
use verdict::Figures;

pub const EXPERIMENT: Experiment = Experiment {
    name: "gil",
    claim: "Under a GIL, CPU-bound threads take turns, so they finish no sooner than \
            sequential code; without a GIL (plain Rust threads) they speed up on several \
            cores, and so do processes (Python's multiprocessing side-steps the GIL); \
            I/O-bound threads stay concurrent under a GIL, which is released around I/O.",
    summary: "CPU-bound sums: sequential, 4 threads, 4 threads under a Gil, 2 processes; I/O under the Gil",
    run,
};

const THREADS: usize = 4;
/// Longest any measured phase may take before it counts as hung.
const HANG_LIMIT: Duration = Duration::from_secs(60);

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let scale = step.scale();
    let per_sum = scale.pick(Duration::from_millis(60), Duration::from_millis(40));
    // At least `MIN_ROUNDS`, then more while the time allows: the best round counts.
    let (min_rounds, max_rounds) = (2, scale.pick(4, 3));
    let budget = scale.pick(Duration::from_secs(3), Duration::from_millis(1500));
    let naps = scale.pick(10, 5);
    let nap = scale.pick(Duration::from_millis(20), Duration::from_millis(10));

    step.phase("sizing the CPU-bound task");
    let n = size_for(per_sum);
    step.phase(format!(
        "starting a pool of {} processes",
        processes::WORKERS
    ));
    let pool = processes::Pool::start(HANG_LIMIT)?;

    let cpu_phase = Instant::now();
    let (mut sequential, mut threads, mut gil, mut pooled) =
        (Run::NONE, Run::NONE, Run::NONE, Run::NONE);
    let mut forced_switches = 0;
    let mut rounds = 0;
    while rounds < max_rounds && (rounds < min_rounds || cpu_phase.elapsed() < budget) {
        rounds += 1;
        step.phase(format!("round {rounds}: sequential"));
        sequential = sequential.best(run_sequential(n)?);
        step.phase(format!("round {rounds}: {THREADS} threads, no GIL"));
        threads = threads.best(run_threads(n)?);
        step.phase(format!("round {rounds}: {THREADS} threads under one Gil"));
        let (attempt, switches) = run_under_gil(n)?;
        if attempt.wall < gil.wall {
            forced_switches = switches;
        }
        gil = gil.best(attempt);
        step.phase(format!(
            "round {rounds}: a pool of {} processes",
            processes::WORKERS
        ));
        pooled = pooled.best(Run::measure(|| pool.sums(n, THREADS))?);
    }

    step.phase(format!(
        "I/O: {THREADS} threads holding the Gil while they wait"
    ));
    let io_holding = run_io(naps, nap, false)?;
    step.phase(format!(
        "I/O: {THREADS} threads releasing it (allow_threads)"
    ));
    let io_released = run_io(naps, nap, true)?;
    step.end_phase();
    drop(pool);

    let cores = cores_available();
    let figures = Figures {
        cores,
        gil_parallelism: ratio(gil.parallelism()),
        gil_vs_sequential: ratio(gil.wall_over(&sequential)),
        gil_spare_cores: gil.spare_cores(),
        threads_parallelism: ratio(threads.parallelism()),
        threads_speedup: ratio(sequential.wall_over(&threads)),
        threads_spare_cores: threads.spare_cores(),
        pool_parallelism: ratio(pooled.parallelism()),
        pool_speedup: ratio(sequential.wall_over(&pooled)),
        pool_spare_cores: pooled.spare_cores(),
        io_ratio: ratio(io_released.as_secs_f64() / io_holding.as_secs_f64()),
    };

    let mut f = Findings::new();
    let sums = format!(
        "{THREADS} sums of 0..{n} (about {} each here)",
        human(per_sum)
    );
    let rounds_note = format!("best of {rounds} rounds");
    f.row(
        format!("{sums}, sequential ({rounds_note})"),
        format!(
            "{} ({:.2} cores busy)",
            human(sequential.wall),
            sequential.parallelism()
        ),
    );
    f.row(
        format!("{sums}, {THREADS} threads (no GIL)"),
        format!(
            "{} ({:.2}x faster, {:.2} cores busy{})",
            human(threads.wall),
            figures.threads_speedup,
            figures.threads_parallelism,
            others_note(&threads)
        ),
    );
    f.row(
        format!("{sums}, {THREADS} threads sharing a Gil"),
        format!(
            "{} ({:.2}x the sequential time, {:.2} cores busy, {forced_switches} forced switches{})",
            human(gil.wall),
            figures.gil_vs_sequential,
            figures.gil_parallelism,
            others_note(&gil)
        ),
    );
    f.row(
        format!("{sums}, a pool of {} processes", processes::WORKERS),
        format!(
            "{} ({:.2}x faster, {:.2} cores busy{})",
            human(pooled.wall),
            figures.pool_speedup,
            figures.pool_parallelism,
            others_note(&pooled)
        ),
    );
    let io_work = format!("{THREADS} threads, each {naps} waits of {}", human(nap));
    f.row(format!("{io_work}, holding the Gil"), human(io_holding));
    f.row(
        format!("{io_work}, Gil released (allow_threads)"),
        format!("{} ({:.2}x the time)", human(io_released), figures.io_ratio),
    );
    f.row("cores available to this process", cores.to_string());
    f.chart(Chart::bars(
        "wall time (shorter is faster)",
        vec![
            Bar::new(
                "CPU: sequential",
                secs(sequential.wall),
                human(sequential.wall),
                Tone::Plain,
            ),
            Bar::new(
                format!("CPU: {THREADS} threads, no GIL"),
                secs(threads.wall),
                format!(
                    "{}, {:.2} cores busy",
                    human(threads.wall),
                    figures.threads_parallelism
                ),
                Tone::Good,
            ),
            Bar::new(
                format!("CPU: {THREADS} threads, one Gil"),
                secs(gil.wall),
                format!(
                    "{}, {:.2} cores busy",
                    human(gil.wall),
                    figures.gil_parallelism
                ),
                Tone::Bad,
            ),
            Bar::new(
                format!("CPU: {} processes", processes::WORKERS),
                secs(pooled.wall),
                format!(
                    "{}, {:.2} cores busy",
                    human(pooled.wall),
                    figures.pool_parallelism
                ),
                Tone::Good,
            ),
            Bar::new(
                "I/O: holding the Gil",
                secs(io_holding),
                human(io_holding),
                Tone::Bad,
            ),
            Bar::new(
                "I/O: Gil released",
                secs(io_released),
                human(io_released),
                Tone::Good,
            ),
        ],
    ));

    f.figure("cores_available", cores);
    f.figure("threads", THREADS);
    f.figure("n", n);
    f.figure("rounds", rounds);
    f.figure("sequential_s", seconds(sequential.wall));
    f.figure("sequential_parallelism", ratio(sequential.parallelism()));
    f.figure("threads_s", seconds(threads.wall));
    f.figure("threads_speedup", figures.threads_speedup);
    f.figure("threads_parallelism", figures.threads_parallelism);
    f.figure("threads_spare_cores", figures.threads_spare_cores);
    f.figure("gil_threads_s", seconds(gil.wall));
    f.figure("gil_vs_sequential", figures.gil_vs_sequential);
    f.figure("gil_parallelism", figures.gil_parallelism);
    f.figure("gil_spare_cores", figures.gil_spare_cores);
    f.figure("gil_forced_switches", forced_switches);
    f.figure("process_pool_workers", processes::WORKERS);
    f.figure("process_pool_s", seconds(pooled.wall));
    f.figure("process_pool_speedup", figures.pool_speedup);
    f.figure("process_pool_parallelism", figures.pool_parallelism);
    f.figure("process_pool_spare_cores", figures.pool_spare_cores);
    f.figure("io_holding_gil_s", seconds(io_holding));
    f.figure("io_allow_threads_s", seconds(io_released));
    f.figure("io_allow_threads_ratio", figures.io_ratio);

    for (claim, verdict, why) in figures.parts() {
        f.part(claim, verdict, why);
    }
    Ok(f.conclude(format!(
        "under the Gil, {THREADS} CPU-bound threads kept {:.2} cores busy and took {:.2}x the \
         sequential time; without a GIL {:.2} cores, {:.2}x faster; {} processes {:.2} cores, \
         {:.2}x faster; I/O under the Gil with allow_threads took {:.2}x the time of holding it \
         ({} available)",
        figures.gil_parallelism,
        figures.gil_vs_sequential,
        figures.threads_parallelism,
        figures.threads_speedup,
        processes::WORKERS,
        figures.pool_parallelism,
        figures.pool_speedup,
        figures.io_ratio,
        super::measure::plural(cores, "core")
    )))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `, other programs used 0.8 cores`, when they used a noticeable share.
fn others_note(run: &Run) -> String {
    match run.usage.and_then(|u| u.others_cores) {
        Some(others) if others >= 0.1 => format!(", other programs used {others:.2} cores"),
        _ => String::new(),
    }
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

/// One CPU-bound run: its wall time, the CPU time its threads (or worker processes)
/// used, and the machine's use meanwhile.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    usage: Option<Usage>,
}

impl Run {
    const NONE: Run = Run {
        wall: Duration::MAX,
        cpu: Duration::ZERO,
        usage: None,
    };

    /// Runs `work`, which says the CPU time it used, timing it and reading the
    /// machine's use around it.
    fn measure(work: impl FnOnce() -> Result<Spent, Unmeasured>) -> Result<Run, Unmeasured> {
        let before = CpuReading::now();
        let (spent, wall) = timed(work);
        let spent = spent?;
        let usage = before.until(&CpuReading::now(), spent.in_workers);
        Ok(Run {
            wall,
            cpu: spent.total,
            usage: Some(usage),
        })
    }

    /// The least disturbed of two runs: the faster one.
    fn best(self, other: Run) -> Run {
        if other.wall < self.wall { other } else { self }
    }

    /// How many cores were busy on average: CPU time over wall time.
    fn parallelism(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    /// This run's wall time over `other`'s.
    fn wall_over(&self, other: &Run) -> f64 {
        self.wall.as_secs_f64() / other.wall.as_secs_f64()
    }

    /// The cores left to this process during the run, rounded; `None` where the system
    /// does not say what other programs used.
    fn spare_cores(&self) -> Option<f64> {
        let usage = self.usage?;
        usage.others_cores?;
        Some(ratio(usage.spare_cores()))
    }
}

/// The CPU time a run used: in all, and the part of it worker processes used (which
/// this process's own clock does not count).
pub struct Spent {
    pub total: Duration,
    pub in_workers: Duration,
}

impl Spent {
    /// CPU time of this process's own threads.
    fn here(total: Duration) -> Spent {
        Spent {
            total,
            in_workers: Duration::ZERO,
        }
    }
}

fn run_sequential(n: u64) -> Result<Run, Unmeasured> {
    Run::measure(|| {
        let h = Thread::new(move || {
            let start = thread_cpu_time();
            for _ in 0..THREADS {
                check_sum(n, sum_to(n, || {}));
            }
            thread_cpu_time() - start
        })
        .name("sequential sums")
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))?;
        joined(h, HANG_LIMIT).map(Spent::here)
    })
}

/// Runs `work` on each of `THREADS` threads named `role N`; each returns the CPU time it
/// used, and so does this, in total.
fn on_threads(
    role: &str,
    work: impl Fn() -> Duration + Send + Sync + 'static,
) -> Result<Duration, Unmeasured> {
    let work = Arc::new(work);
    let handles = (1..=THREADS)
        .map(|i| {
            let work = Arc::clone(&work);
            Thread::new(move || work())
                .name(format!("{role} {i}"))
                .start()
                .map_err(|e| failed(format!("could not start a thread: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    handles
        .into_iter()
        .map(|h| joined(h, HANG_LIMIT))
        .sum::<Result<Duration, _>>()
}

fn run_threads(n: u64) -> Result<Run, Unmeasured> {
    Run::measure(|| {
        on_threads("no GIL", move || {
            let start = thread_cpu_time();
            check_sum(n, sum_to(n, || {}));
            thread_cpu_time() - start
        })
        .map(Spent::here)
    })
}

/// The same threads, each holding a shared Gil and ticking as CPython does between
/// bytecodes. Also returns how often a holder was made to hand the Gil over.
fn run_under_gil(n: u64) -> Result<(Run, u64), Unmeasured> {
    let gil = Arc::new(Gil::new());
    let shared = Arc::clone(&gil);
    let run = Run::measure(|| {
        on_threads("under the Gil", move || {
            let start = thread_cpu_time();
            let mut g = shared.acquire();
            check_sum(n, sum_to(n, || g.tick()));
            drop(g);
            thread_cpu_time() - start
        })
        .map(Spent::here)
    })?;
    Ok((run, gil.forced_switches()))
}

/// Threads under one Gil that each wait `naps` times, with the Gil held or released.
fn run_io(naps: u32, nap: Duration, release: bool) -> Result<Duration, Unmeasured> {
    let gil = Arc::new(Gil::new());
    let role = if release {
        "I/O, Gil released"
    } else {
        "I/O, Gil held"
    };
    let (cpu, wall) = timed(|| {
        on_threads(role, move || {
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
    });
    cpu.map(|_| wall)
}
