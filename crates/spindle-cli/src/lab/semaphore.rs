//! semaphore: a Semaphore of 2 lets at most 2 of 5 workers in at once (a connection
//! limit, say), and the others wait their turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use spindle::sync::{Barrier, Semaphore};
use spindle::thread;

use super::measure::{human, join_within, seconds, timed};
use super::{Experiment, Failed, Findings, Step};

pub const EXPERIMENT: Experiment = Experiment {
    name: "semaphore",
    claim: "A Semaphore of 2 lets at most 2 threads into the guarded section at once: 5 \
            workers sharing Semaphore::new(2) reach a peak concurrency of exactly 2.",
    summary: "5 workers, Semaphore::new(2): the peak concurrency observed",
    run,
};

const WORKERS: usize = 5;
const PERMITS: usize = 2;
const HANG_LIMIT: Duration = Duration::from_secs(30);

fn run(step: &Step<'_>) -> Result<Findings, Failed> {
    let work = step
        .scale()
        .pick(Duration::from_millis(300), Duration::from_millis(50));
    let mut f = Findings::new();
    step.show("5 workers, 2 permits");

    let permits = Arc::new(Semaphore::named("pool", PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let all_ready = Arc::new(Barrier::new(WORKERS));
    let (finished, wall) = timed(|| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (permits, inside, peak, ready) = (
                    permits.clone(),
                    inside.clone(),
                    peak.clone(),
                    all_ready.clone(),
                );
                thread::spawn(move || {
                    // All five ask at once, so the limit is what holds them back.
                    ready.wait().expect("the start barrier is never broken");
                    let _permit = permits.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(work);
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| join_within(h, HANG_LIMIT))
            .filter(|r| matches!(r, Some(Ok(()))))
            .count()
    });
    let peak = peak.load(Ordering::SeqCst);
    let rounds = WORKERS.div_ceil(PERMITS);

    f.row(
        format!(
            "{WORKERS} workers, Semaphore::new({PERMITS}), each working {}",
            human(work)
        ),
        format!("peak concurrency {peak}"),
    );
    f.row(
        "total time",
        format!(
            "{} (about {rounds} x {} for {rounds} rounds of {PERMITS})",
            human(wall),
            human(work)
        ),
    );
    f.row("workers finished", format!("{finished} of {WORKERS}"));
    f.figure("workers", WORKERS);
    f.figure("permits", PERMITS);
    f.figure("peak_concurrency", peak);
    f.figure("finished", finished);
    f.figure("total_s", seconds(wall));
    f.figure("permits_left", permits.available_permits());

    let holds = peak == PERMITS && finished == WORKERS && permits.available_permits() == PERMITS;
    Ok(f.conclude(
        holds,
        format!(
            "at most {peak} of {WORKERS} workers were inside at once with {PERMITS} permits; all {finished} finished in {}",
            human(wall)
        ),
    ))
}
