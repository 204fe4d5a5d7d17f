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
mod runs;
mod verdict;

use std::time::{Duration, Instant};

use super::machine::cores_available;
use super::measure::{human, ratio, seconds};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};
use runs::{Beside, Run, run_io, run_sequential, run_threads, run_under_gil, size_for};
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
    // At least `min_rounds`, then more while the time allows: the best round counts (for
    // a speed-up, the median round's gain on its own sequential run).
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
    let (mut sequential, mut gil) = (Run::NONE, Run::NONE);
    let (mut threads_rounds, mut pooled_rounds) = (Vec::new(), Vec::new());
    let mut forced_switches = 0;
    let mut rounds = 0;
    while rounds < max_rounds && (rounds < min_rounds || cpu_phase.elapsed() < budget) {
        rounds += 1;
        step.phase(format!("round {rounds}: sequential"));
        let this_sequential = run_sequential(n)?;
        sequential = sequential.best(this_sequential);
        step.phase(format!("round {rounds}: {THREADS} threads, no GIL"));
        threads_rounds.push(Beside {
            run: run_threads(n)?,
            sequential: this_sequential,
        });
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
        pooled_rounds.push(Beside {
            run: Run::measure(|| pool.sums(n, THREADS))?,
            sequential: this_sequential,
        });
    }

    let (threads, pooled) = (
        Beside::median(threads_rounds),
        Beside::median(pooled_rounds),
    );

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
        threads_parallelism: ratio(threads.run.parallelism()),
        threads_speedup: ratio(threads.speedup()),
        threads_spare_cores: threads.run.spare_cores(),
        pool_parallelism: ratio(pooled.run.parallelism()),
        pool_speedup: ratio(pooled.speedup()),
        pool_spare_cores: pooled.run.spare_cores(),
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
            "{} ({:.2}x faster than that round's sequential run, {:.2} cores busy{})",
            human(threads.run.wall),
            figures.threads_speedup,
            figures.threads_parallelism,
            others_note(&threads.run)
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
            "{} ({:.2}x faster than that round's sequential run, {:.2} cores busy{})",
            human(pooled.run.wall),
            figures.pool_speedup,
            figures.pool_parallelism,
            others_note(&pooled.run)
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
                secs(threads.run.wall),
                format!(
                    "{}, {:.2} cores busy",
                    human(threads.run.wall),
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
                secs(pooled.run.wall),
                format!(
                    "{}, {:.2} cores busy",
                    human(pooled.run.wall),
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
    f.figure("threads_s", seconds(threads.run.wall));
    f.figure(
        "threads_round_sequential_s",
        seconds(threads.sequential.wall),
    );
    f.figure("threads_speedup", figures.threads_speedup);
    f.figure("threads_parallelism", figures.threads_parallelism);
    f.figure("threads_spare_cores", figures.threads_spare_cores);
    f.figure("gil_threads_s", seconds(gil.wall));
    f.figure("gil_vs_sequential", figures.gil_vs_sequential);
    f.figure("gil_parallelism", figures.gil_parallelism);
    f.figure("gil_spare_cores", figures.gil_spare_cores);
    f.figure("gil_forced_switches", forced_switches);
    f.figure("process_pool_workers", processes::WORKERS);
    f.figure("process_pool_s", seconds(pooled.run.wall));
    f.figure(
        "process_pool_round_sequential_s",
        seconds(pooled.sequential.wall),
    );
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
