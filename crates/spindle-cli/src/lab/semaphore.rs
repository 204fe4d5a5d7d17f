//! semaphore: a Semaphore of 2 lets at most 2 of 5 workers in at once (a connection
//! limit, say), and the others wait their turn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use spindle::sync::{Barrier, Semaphore};
use spindle::thread::{self, Thread};

use super::measure::{failed, human, join_within, seconds, timed};
use super::report::chart::Chart;
use super::{Experiment, Findings, Step, Unmeasured};

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

/// How many workers were inside, and since when: a step of the chart.
type Steps = StdMutex<Vec<(Instant, usize)>>;

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let work = step
        .scale()
        .pick(Duration::from_millis(300), Duration::from_millis(50));
    let mut f = Findings::new();
    step.phase(format!("{WORKERS} workers, {PERMITS} permits"));

    let permits = Arc::new(Semaphore::named("pool", PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let all_ready = Arc::new(Barrier::new(WORKERS));
    let began = Instant::now();
    let steps: Arc<Steps> = Arc::new(StdMutex::new(vec![(began, 0)]));
    let (finished, wall) = timed(|| {
        let handles = (1..=WORKERS)
            .map(|i| {
                let (permits, inside, peak, ready, steps) = (
                    permits.clone(),
                    inside.clone(),
                    peak.clone(),
                    all_ready.clone(),
                    steps.clone(),
                );
                Thread::new(move || {
                    // All five ask at once, so the limit is what holds them back.
                    ready.wait().expect("the start barrier is never broken");
                    let _permit = permits.acquire();
                    let now = record(&steps, &inside, 1);
                    peak.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(work);
                    record(&steps, &inside, -1);
                })
                .name(format!("worker {i}"))
                .start()
                .map_err(|e| failed(format!("could not start a thread: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, Unmeasured>(
            handles
                .into_iter()
                .map(|h| join_within(h, HANG_LIMIT))
                .filter(|r| matches!(r, Some(Ok(()))))
                .count(),
        )
    });
    let finished = finished?;
    step.end_phase();
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
    let points: Vec<(f64, f64)> = steps
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(at, n)| (at.duration_since(began).as_secs_f64() * 1e3, *n as f64))
        .collect();
    f.chart(Chart::Steps {
        title: format!("workers inside the semaphore over time ({WORKERS} workers)"),
        what: "workers inside".to_owned(),
        points,
        limit: Some((PERMITS as f64, format!("{PERMITS} permits"))),
    });
    f.figure("workers", WORKERS);
    f.figure("permits", PERMITS);
    f.figure("peak_concurrency", peak);
    f.figure("finished", finished);
    f.figure("total_s", seconds(wall));
    f.figure("permits_left", permits.available_permits());

    f.check(
        "at most 2 workers are inside at once, and 2 are (peak concurrency exactly 2)",
        peak == PERMITS,
    );
    f.check(
        "the others wait their turn: all 5 finish, and every permit comes back",
        finished == WORKERS && permits.available_permits() == PERMITS,
    );
    Ok(f.conclude(format!(
        "at most {peak} of {WORKERS} workers were inside at once with {PERMITS} permits; all {finished} finished in {}",
        human(wall)
    )))
}

/// Counts a worker in (`+1`) or out (`-1`), notes the time, and returns how many are in.
fn record(steps: &Steps, inside: &AtomicUsize, change: isize) -> usize {
    // Under the lock, so that the steps are in the order of the counts.
    let mut steps = steps.lock().unwrap_or_else(|e| e.into_inner());
    let now = if change > 0 {
        inside.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        inside.fetch_sub(1, Ordering::SeqCst) - 1
    };
    steps.push((Instant::now(), now));
    now
}
