//! sleep: threads make waiting concurrent. Ten tasks that each sleep (a stand-in for
//! I/O) take ten sleeps one after another, but about one sleep with a thread each, or
//! with a pool of ten workers.

use std::time::Duration;

use spindle::futures::ThreadPoolExecutor;
use spindle::thread;

use super::measure::{human, join_within, joined, ratio, seconds, timed};
use super::{Experiment, Failed, Findings, Step};

pub const EXPERIMENT: Experiment = Experiment {
    name: "sleep",
    claim: "Threads make I/O-bound work concurrent: 10 tasks that each wait take about \
            as long as one of them with a thread each or a pool, 10 times as long one after \
            another.",
    summary: "10 tasks sleeping 1.5 s: sequential vs one thread each vs a pool",
    run,
};

const TASKS: usize = 10;
/// The pool's size: one worker per task, so that every sleep can start at once.
const POOL_WORKERS: usize = 10;

fn run(step: &Step<'_>) -> Result<Findings, Failed> {
    let nap = step
        .scale()
        .pick(Duration::from_millis(1500), Duration::from_millis(150));
    let mut f = Findings::new();

    step.show("one after another");
    let ((), sequential) = timed(|| {
        for _ in 0..TASKS {
            thread::sleep(nap);
        }
    });

    step.show("one thread each");
    let (all_ended, threaded) = timed(|| {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| thread::spawn(move || thread::sleep(nap)))
            .collect();
        // Generous: a hang here would be a spindle bug, reported rather than waited out.
        handles
            .into_iter()
            .all(|h| matches!(join_within(h, nap * 20), Some(Ok(()))))
    });

    step.show("a pool");
    // On a thread of its own, so that a hang is reported rather than waited out.
    let pooled = thread::spawn(move || {
        let pool = ThreadPoolExecutor::new(POOL_WORKERS);
        timed(|| {
            pool.map(move |_| thread::sleep(nap), 0..TASKS)
                .all(|r| r.is_ok())
        })
    });
    let (pool_ended, pooled) = joined(pooled, nap * 20)?;

    let speedup = sequential.as_secs_f64() / threaded.as_secs_f64();
    let pool_speedup = sequential.as_secs_f64() / pooled.as_secs_f64();
    f.row(
        format!("{TASKS} sleeps of {}, one after another", human(nap)),
        human(sequential),
    );
    f.row(
        format!("{TASKS} sleeps of {}, one thread each", human(nap)),
        human(threaded),
    );
    f.row(
        format!(
            "{TASKS} sleeps of {}, a pool of {POOL_WORKERS} workers",
            human(nap)
        ),
        human(pooled),
    );
    f.row("speed-up with threads", format!("{speedup:.1}x"));
    f.row("speed-up with a pool", format!("{pool_speedup:.1}x"));
    f.figure("tasks", TASKS);
    f.figure("sleep_s", seconds(nap));
    f.figure("sequential_s", seconds(sequential));
    f.figure("threads_s", seconds(threaded));
    f.figure("speedup", ratio(speedup));
    f.figure("pool_workers", POOL_WORKERS);
    f.figure("pool_s", seconds(pooled));
    f.figure("pool_speedup", ratio(pool_speedup));

    // Ideal: 10x. Holding means the sleeps overlapped: threads (and the pool) took at
    // most 3 sleeps.
    let holds = all_ended
        && threaded < nap * 3
        && speedup >= 3.0
        && pool_ended
        && pooled < nap * 3
        && pool_speedup >= 3.0;
    Ok(f.conclude(
        holds,
        format!(
            "{TASKS} sleeps of {} took {} one after another, {} with a thread each ({speedup:.1}x faster) \
             and {} with a pool of {POOL_WORKERS} ({pool_speedup:.1}x faster)",
            human(nap),
            human(sequential),
            human(threaded),
            human(pooled)
        ),
    ))
}
