//! sleep: threads make waiting concurrent. Ten tasks that each sleep (a stand-in for
//! I/O) take ten sleeps one after another, but about one sleep with a thread each, or
//! with a pool of ten workers.

use std::time::Duration;

use spindle::futures::ThreadPoolExecutor;
use spindle::thread::{self, Thread};

use super::measure::{failed, human, join_within, joined, ratio, seconds, timed};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};

pub const EXPERIMENT: Experiment = Experiment {
    name: "sleep",
    claim: "Threads make I/O-bound work concurrent: 10 tasks that each wait take about \
            as long as one of them with a thread each or a pool, 10 times as long one after \
            another.",
    summary: "10 tasks sleeping 1 s: sequential vs one thread each vs a pool",
    run,
};

const TASKS: usize = 10;
/// The pool's size: one worker per task, so that every sleep can start at once.
const POOL_WORKERS: usize = 10;

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let nap = step
        .scale()
        .pick(Duration::from_millis(1000), Duration::from_millis(150));
    let mut f = Findings::new();

    step.phase(format!("sequential: {TASKS} sleeps one after another"));
    let ((), sequential) = timed(|| {
        for _ in 0..TASKS {
            thread::sleep(nap);
        }
    });

    step.phase(format!("{TASKS} threads, one sleep each"));
    let (all_ended, threaded) = timed(|| {
        let handles: Vec<_> = (1..=TASKS)
            .map(|i| {
                Thread::new(move || thread::sleep(nap))
                    .name(format!("sleeper {i}"))
                    .start()
            })
            .collect::<std::io::Result<_>>()
            .map_err(|e| failed(format!("could not start a thread: {e}")))?;
        // Generous: a hang here would be a spindle bug, reported rather than waited out.
        Ok::<_, Unmeasured>(
            handles
                .into_iter()
                .all(|h: thread::JoinHandle<()>| matches!(join_within(h, nap * 20), Some(Ok(())))),
        )
    });
    let all_ended = all_ended?;

    step.phase(format!("a pool of {POOL_WORKERS} workers"));
    // On a thread of its own, so that a hang is reported rather than waited out.
    let pooled = Thread::new(move || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(POOL_WORKERS)
            .thread_name_prefix("pool worker")
            .build();
        timed(|| {
            pool.map(thread::sleep, std::iter::repeat_n(nap, TASKS))
                .all(|r| r.is_ok())
        })
    })
    .name("maps over the pool")
    .start()
    .map_err(|e| failed(format!("could not start a thread: {e}")))?;
    let (pool_ended, pooled) = joined(pooled, nap * 20)?;
    step.end_phase();

    let speedup = sequential.as_secs_f64() / threaded.as_secs_f64();
    let pool_speedup = sequential.as_secs_f64() / pooled.as_secs_f64();
    let sleeps = format!("{TASKS} sleeps of {}", human(nap));
    f.row(format!("{sleeps}, one after another"), human(sequential));
    f.row(format!("{sleeps}, one thread each"), human(threaded));
    f.row(
        format!("{sleeps}, a pool of {POOL_WORKERS} workers"),
        human(pooled),
    );
    f.row("speed-up with threads", format!("{speedup:.1}x"));
    f.row("speed-up with a pool", format!("{pool_speedup:.1}x"));
    f.chart(Chart::bars(
        format!("{sleeps}: wall time (shorter is faster)"),
        vec![
            Bar::new(
                "one after another",
                sequential.as_secs_f64(),
                human(sequential),
                Tone::Plain,
            ),
            Bar::new(
                format!("{TASKS} threads"),
                threaded.as_secs_f64(),
                format!("{}, {speedup:.1}x faster", human(threaded)),
                Tone::Good,
            ),
            Bar::new(
                format!("pool of {POOL_WORKERS}"),
                pooled.as_secs_f64(),
                format!("{}, {pool_speedup:.1}x faster", human(pooled)),
                Tone::Good,
            ),
        ],
    ));
    f.figure("tasks", TASKS);
    f.figure("sleep_s", seconds(nap));
    f.figure("sequential_s", seconds(sequential));
    f.figure("threads_s", seconds(threaded));
    f.figure("threads_all_ended", all_ended);
    f.figure("speedup", ratio(speedup));
    f.figure("pool_workers", POOL_WORKERS);
    f.figure("pool_s", seconds(pooled));
    f.figure("pool_all_ok", pool_ended);
    f.figure("pool_speedup", ratio(pool_speedup));

    // Ideal: 10x. Holding means the sleeps overlapped: threads (and the pool) took at
    // most 3 sleeps, and at least 3x less than one after another.
    // Decided on the figures as the JSON output gives them.
    let within = |took: Duration| seconds(took) < seconds(nap) * 3.0;
    f.check(
        "with a thread each, the waits overlap",
        all_ended && within(threaded) && ratio(speedup) >= 3.0,
    );
    f.check(
        "with a pool of 10, the waits overlap",
        pool_ended && within(pooled) && ratio(pool_speedup) >= 3.0,
    );
    Ok(f.conclude(format!(
        "{sleeps} took {} one after another, {} with a thread each ({speedup:.1}x faster) \
         and {} with a pool of {POOL_WORKERS} ({pool_speedup:.1}x faster)",
        human(sequential),
        human(threaded),
        human(pooled)
    )))
}
