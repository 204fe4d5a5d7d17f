//! executor: a pool hands results back two ways. Five tasks sleep 5, 4, 3, 2 and 1 units:
//! `as_completed` yields them as they finish (the shortest first), `map` in the order
//! they were given; either way the five sleeps overlap, so the whole takes about the
//! longest one, not their sum.

use std::time::Duration;

use spindle::futures::{TaskError, ThreadPoolExecutor, as_completed};
use spindle::thread::{self, Thread};

use super::measure::{failed, human, joined, ratio, seconds, timed};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};

pub const EXPERIMENT: Experiment = Experiment {
    name: "executor",
    claim: "A thread pool's as_completed yields results in completion order and its map \
            in input order; tasks sleeping 5, 4, 3, 2 and 1 units finish together in about \
            5 units, not 15.",
    summary: "submit + as_completed vs map over sleeps of 5, 4, 3, 2, 1 units",
    run,
};

/// The sleeps, in units, in the order they are submitted.
const SLEEPS: [u32; 5] = [5, 4, 3, 2, 1];

/// What one way of collecting the results saw: the order and the time it took.
struct Collected {
    order: Vec<u32>,
    took: Duration,
}

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let unit = step
        .scale()
        .pick(Duration::from_millis(500), Duration::from_millis(80));
    let longest = unit * SLEEPS[0];
    let sum = unit * SLEEPS.iter().sum::<u32>();

    step.phase("submit, then as_completed");
    let completed = collect(longest, move |pool| {
        let futures = SLEEPS
            .iter()
            .map(|&n| pool.submit(move || nap((n, unit))))
            .collect();
        as_completed(futures).map(|f| f.result()).collect()
    })?;

    step.phase("map");
    let mapped = collect(longest, move |pool| {
        pool.map(nap, SLEEPS.map(|n| (n, unit))).collect()
    })?;
    step.end_phase();

    let mut f = Findings::new();
    let show = |order: &[u32]| format!("{order:?}");
    f.row("sleeps submitted (units)", show(&SLEEPS));
    f.row("unit", human(unit));
    f.row("as_completed order", show(&completed.order));
    f.row("as_completed took", human(completed.took));
    f.row("map order", show(&mapped.order));
    f.row("map took", human(mapped.took));
    f.row("sum of the sleeps", human(sum));
    f.figure("unit_s", seconds(unit));
    f.figure("as_completed_order", completed.order.clone());
    f.figure("map_order", mapped.order.clone());
    f.figure("as_completed_s", seconds(completed.took));
    f.figure("map_s", seconds(mapped.took));
    f.figure("longest_s", seconds(longest));
    f.figure("sum_s", seconds(sum));
    f.figure(
        "as_completed_over_longest",
        ratio(completed.took.as_secs_f64() / longest.as_secs_f64()),
    );

    f.chart(Chart::bars(
        "time until every result was in",
        vec![
            Bar::new(
                "as_completed",
                completed.took.as_secs_f64(),
                human(completed.took),
                Tone::Good,
            ),
            Bar::new(
                "map",
                mapped.took.as_secs_f64(),
                human(mapped.took),
                Tone::Good,
            ),
            Bar::new(
                "the longest sleep",
                longest.as_secs_f64(),
                human(longest),
                Tone::Plain,
            ),
            Bar::new(
                "the sum of the sleeps",
                sum.as_secs_f64(),
                human(sum),
                Tone::Plain,
            ),
        ],
    ));
    let mut by_completion = SLEEPS.to_vec();
    by_completion.sort_unstable();
    f.check(
        "as_completed yields results in completion order, the shortest sleep first",
        completed.order == by_completion,
    );
    f.check("map yields them in input order", mapped.order == SLEEPS);
    // Overlapped: closer to the longest sleep (5 units) than to the sum (15 units).
    let within = |took: Duration| seconds(took) < seconds(unit) * 8.0;
    f.check(
        "either way the sleeps overlap: the whole takes about the longest, not the sum",
        within(completed.took) && within(mapped.took),
    );
    Ok(f.conclude(format!(
        "as_completed gave {:?} in {}, map gave {:?} in {} (longest sleep {}, sum {})",
        completed.order,
        human(completed.took),
        mapped.order,
        human(mapped.took),
        human(longest),
        human(sum)
    )))
}

/// Sleeps `n` units and returns `n`.
fn nap((n, unit): (u32, Duration)) -> u32 {
    thread::sleep(unit * n);
    n
}

/// Runs `gather` on a fresh pool of one worker per sleep, on a thread that must end in
/// good time (a hang would be a spindle bug, reported rather than waited out).
fn collect<G>(longest: Duration, gather: G) -> Result<Collected, Unmeasured>
where
    G: FnOnce(&ThreadPoolExecutor) -> Vec<Result<u32, TaskError>> + Send + 'static,
{
    let handle = Thread::new(move || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(SLEEPS.len())
            .thread_name_prefix("sleeper")
            .build();
        timed(|| gather(&pool))
    })
    .name("collects the results")
    .start()
    .map_err(|e| failed(format!("could not start a thread: {e}")))?;
    let (results, took) = joined(handle, longest * 20)?;
    let order = results
        .into_iter()
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|e| failed(format!("a sleep failed: {e}")))?;
    Ok(Collected { order, took })
}
