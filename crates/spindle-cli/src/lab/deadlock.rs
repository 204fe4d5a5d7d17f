//! deadlock: two threads taking two locks in opposite orders deadlock; spindle names the
//! cycle at once (one thread's `lock_checked` returns the report; `lock` would panic
//! with it) instead of hanging. One lock order for everyone cures it. Then Dijkstra's
//! five dining philosophers, each taking the left fork first (deadlock), then the
//! lower-numbered one first (no deadlock).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spindle::sync::{Barrier, Mutex};
use spindle::thread::{JoinHandle, Thread};

use super::measure::{failed, human, join_within, plural, seconds};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};

pub const EXPERIMENT: Experiment = Experiment {
    name: "deadlock",
    claim: "Two threads that take two locks in opposite orders deadlock (and so do five \
            dining philosophers who all take their left fork first); taking locks in one \
            global order prevents it. spindle names the cycle instead of hanging.",
    summary: "opposite lock orders (named, not hung), one order; dining philosophers",
    run,
};

const PHILOSOPHERS: usize = 5;
/// The safety net: a deadlock spindle failed to break would otherwise hang the lab.
const HANG_LIMIT: Duration = Duration::from_secs(10);

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let rounds: u64 = step.scale().pick(20_000, 2_000);
    let meals: u64 = step.scale().pick(2_000, 200);
    let mut f = Findings::new();

    step.phase("2 threads, two locks in opposite orders");
    let (opposite, opposite_took) = timed(opposite_orders)?;
    step.phase("2 threads, two locks in one order");
    let (one_order, one_order_took) = timed(|| one_order(rounds))?;
    step.phase("5 philosophers, left fork first");
    let (left_first, left_first_took) = timed(philosophers_left_first)?;
    step.phase("5 philosophers, lower-numbered fork first");
    let (ordered, ordered_took) = timed(|| philosophers_ordered(meals))?;
    step.end_phase();

    f.staged(
        "the deadlocks are staged: a barrier lets every thread take its first lock before \
         any asks for its second, so the cycle forms in every run (by chance it would form \
         only now and then).",
    );
    f.row(
        "2 threads: A then B / B then A",
        opposite.describe("the other finished"),
    );
    f.row(
        format!("2 threads: A then B, both, {rounds} times each"),
        match one_order {
            Some(n) => format!("completed: {n} rounds, no deadlock"),
            None => "did not complete".to_owned(),
        },
    );
    f.row(
        format!("{PHILOSOPHERS} philosophers, each takes the left fork first"),
        left_first.describe("the others ate"),
    );
    f.row(
        format!(
            "{PHILOSOPHERS} philosophers, each takes the lower-numbered fork first, {meals} meals each"
        ),
        match ordered {
            Some(n) => format!("completed: {n} meals, no deadlock"),
            None => "did not complete".to_owned(),
        },
    );
    for report in [&opposite.report, &left_first.report].into_iter().flatten() {
        f.detail(report.clone());
    }
    f.chart(Chart::bars(
        "time until every thread was done (a deadlock spindle did not name would never end)",
        vec![
            Bar::new(
                "opposite orders",
                opposite_took.as_secs_f64(),
                format!("{}: {}", human(opposite_took), opposite.summary()),
                Tone::Bad,
            ),
            Bar::new(
                "one order",
                one_order_took.as_secs_f64(),
                format!(
                    "{}: {} rounds",
                    human(one_order_took),
                    one_order.unwrap_or(0)
                ),
                Tone::Good,
            ),
            Bar::new(
                "philosophers, left first",
                left_first_took.as_secs_f64(),
                format!("{}: {}", human(left_first_took), left_first.summary()),
                Tone::Bad,
            ),
            Bar::new(
                "philosophers, lower first",
                ordered_took.as_secs_f64(),
                format!("{}: {} meals", human(ordered_took), ordered.unwrap_or(0)),
                Tone::Good,
            ),
        ],
    ));

    f.figure("opposite_orders_deadlock_named", opposite.named);
    f.figure("opposite_orders_reported", opposite.reported);
    f.figure("opposite_orders_finished", opposite.finished);
    f.figure("opposite_orders_hung", opposite.hung);
    f.figure("opposite_orders_s", seconds(opposite_took));
    f.figure("one_order_rounds", one_order.unwrap_or(0));
    f.figure("one_order_expected_rounds", 2 * rounds);
    f.figure("philosophers_deadlock_named", left_first.named);
    f.figure("philosophers_reported", left_first.reported);
    f.figure("philosophers_ate", left_first.finished);
    f.figure("philosophers_hung", left_first.hung);
    f.figure("ordered_meals", ordered.unwrap_or(0));
    f.figure("ordered_expected_meals", PHILOSOPHERS as u64 * meals);

    f.check(
        "opposite lock orders deadlock, and spindle names the 2-thread cycle (staged)",
        opposite.is_broken_cycle(2),
    );
    f.check(
        "one lock order for both threads prevents it",
        one_order == Some(2 * rounds),
    );
    f.check(
        "5 philosophers taking the left fork first deadlock, the 5-thread cycle named (staged)",
        left_first.is_broken_cycle(PHILOSOPHERS),
    );
    f.check(
        "taking the lower-numbered fork first prevents it",
        ordered == Some(PHILOSOPHERS as u64 * meals),
    );
    Ok(f.conclude(format!(
        "opposite orders: {}; one order: {}; philosophers left fork first: {}; lower fork first: {}",
        opposite.summary(),
        if one_order.is_some() {
            "completed"
        } else {
            "did not complete"
        },
        left_first.summary(),
        if ordered.is_some() {
            "every meal eaten"
        } else {
            "did not complete"
        },
    )))
}

fn timed<T>(f: impl FnOnce() -> Result<T, Unmeasured>) -> Result<(T, Duration), Unmeasured> {
    let start = Instant::now();
    let value = f()?;
    Ok((value, start.elapsed()))
}

/// How a run that deadlocks on purpose ended.
#[derive(Default)]
struct Deadlocked {
    /// Threads told of the deadlock (`lock_checked` returned the report).
    reported: usize,
    /// How many of the cycle's threads that report names.
    named: usize,
    /// Threads that went on to finish.
    finished: usize,
    /// Threads still blocked at the time limit (a regression).
    hung: usize,
    report: Option<String>,
}

impl Deadlocked {
    /// Exactly one thread got the report, it names all `threads`, the rest finished.
    fn is_broken_cycle(&self, threads: usize) -> bool {
        self.reported == 1 && self.named == threads && self.finished == threads - 1
    }

    fn describe(&self, others: &str) -> String {
        if self.hung > 0 {
            return format!(
                "{} still blocked after {}",
                plural(self.hung, "thread"),
                human(HANG_LIMIT)
            );
        }
        match self.reported {
            0 => "no deadlock happened".to_owned(),
            1 => format!(
                "deadlock named at once ({} in the report), {others}",
                plural(self.named, "thread")
            ),
            n => format!("{} were told of a deadlock", plural(n, "thread")),
        }
    }

    fn summary(&self) -> String {
        if self.reported == 1 && self.hung == 0 {
            format!("a {}-thread cycle named, not hung", self.named)
        } else {
            self.describe("the others finished")
        }
    }
}

/// What a thread of a deadlocking run returns: `Err(report)` if it was told.
type Told = Result<(), String>;

/// Joins the threads of a deadlock within the safety net.
fn collect(handles: Vec<(String, JoinHandle<Told>)>) -> Result<Deadlocked, Unmeasured> {
    let names: Vec<String> = handles.iter().map(|(n, _)| n.clone()).collect();
    let mut out = Deadlocked::default();
    for (name, h) in handles {
        match join_within(h, HANG_LIMIT) {
            Some(Ok(Ok(()))) => out.finished += 1,
            Some(Ok(Err(report))) => {
                out.reported += 1;
                out.named = names
                    .iter()
                    .filter(|n| report.contains(&format!("\"{n}\"")))
                    .count();
                out.report = Some(report);
            }
            Some(Err(p)) => {
                return Err(failed(format!(
                    "thread \"{name}\" panicked: {}",
                    p.message()
                )));
            }
            None => out.hung += 1,
        }
    }
    Ok(out)
}

fn start<T: Send + 'static>(
    name: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<(String, JoinHandle<T>), Unmeasured> {
    let h = Thread::new(body)
        .name(name)
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))?;
    Ok((name.to_owned(), h))
}

/// Takes `first`, waits until every thread holds its first lock, then asks for
/// `second`, hearing of a deadlock as an `Err` instead of a hang.
fn take_both(first: &Mutex<()>, second: &Mutex<()>, all_hold_one: &Barrier) -> Told {
    let _first = first.lock();
    if all_hold_one.wait_timeout(HANG_LIMIT).is_ok() {
        let _second = second.lock_checked().map_err(|report| report.to_string())?;
    }
    Ok(())
}

/// Each thread takes its first lock, waits until the other holds its own, then asks for
/// the other's: a deadlock every time.
fn opposite_orders() -> Result<Deadlocked, Unmeasured> {
    let a = Arc::new(Mutex::named("A", ()));
    let b = Arc::new(Mutex::named("B", ()));
    let both_hold_one = Arc::new(Barrier::new(2));
    let take = |first: &Arc<Mutex<()>>, second: &Arc<Mutex<()>>| {
        let (first, second, both) = (first.clone(), second.clone(), both_hold_one.clone());
        move || take_both(&first, &second, &both)
    };
    collect(vec![
        start("takes A then B", take(&a, &b))?,
        start("takes B then A", take(&b, &a))?,
    ])
}

/// Both threads take A then B, over and over: contention, never a deadlock. Returns the
/// rounds done, or `None` if a thread failed or hung.
fn one_order(rounds: u64) -> Result<Option<u64>, Unmeasured> {
    let a = Arc::new(Mutex::named("A", ()));
    let b = Arc::new(Mutex::named("B", 0u64));
    let handles = (1..=2)
        .map(|i| {
            let (a, b) = (a.clone(), b.clone());
            start(&format!("A then B, {i}"), move || {
                for _ in 0..rounds {
                    let _a = a.lock();
                    *b.lock() += 1;
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let all_finished = handles
        .into_iter()
        .all(|(_, h)| matches!(join_within(h, HANG_LIMIT), Some(Ok(()))));
    Ok(all_finished.then(|| *b.lock()))
}

fn forks() -> Arc<Vec<Mutex<()>>> {
    Arc::new(
        (0..PHILOSOPHERS)
            .map(|i| Mutex::named(format!("fork {i}"), ()))
            .collect(),
    )
}

/// Every philosopher takes the left fork, waits until all hold theirs, then reaches
/// for the right one: the circular wait of the textbook.
fn philosophers_left_first() -> Result<Deadlocked, Unmeasured> {
    let forks = forks();
    let all_hold_left = Arc::new(Barrier::new(PHILOSOPHERS));
    let handles = (0..PHILOSOPHERS)
        .map(|i| {
            let (forks, all) = (forks.clone(), all_hold_left.clone());
            start(&format!("philosopher {i}"), move || {
                take_both(&forks[i], &forks[(i + 1) % PHILOSOPHERS], &all)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    collect(handles)
}

/// Every philosopher takes the lower-numbered of its two forks first, so the last one
/// reaches for fork 0 before fork 4 and no cycle can form. Returns the meals eaten.
fn philosophers_ordered(meals: u64) -> Result<Option<u64>, Unmeasured> {
    let forks = forks();
    let eaten = Arc::new(AtomicU64::new(0));
    let handles = (0..PHILOSOPHERS)
        .map(|i| {
            let (forks, eaten) = (forks.clone(), eaten.clone());
            let (left, right) = (i, (i + 1) % PHILOSOPHERS);
            let (first, second) = (left.min(right), left.max(right));
            start(&format!("philosopher {i}, lower fork first"), move || {
                for _ in 0..meals {
                    let _first = forks[first].lock();
                    let _second = forks[second].lock();
                    eaten.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let all_finished = handles
        .into_iter()
        .all(|(_, h)| matches!(join_within(h, HANG_LIMIT), Some(Ok(()))));
    Ok(all_finished.then(|| eaten.load(Ordering::SeqCst)))
}
