//! deadlock: two threads taking two locks in opposite orders deadlock; spindle names the
//! cycle at once (one thread's `lock` panics with the report, which `join` hands over)
//! instead of hanging. One lock order for everyone cures it. Then Dijkstra's five dining
//! philosophers, each taking the left fork first (deadlock), then the lower-numbered one
//! first (no deadlock).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spindle::sync::{Barrier, Mutex};
use spindle::thread::{JoinHandle, Panicked, Thread};

use super::measure::join_within;
use super::{Experiment, Failed, Findings, Step, quiet};

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

fn run(step: &Step<'_>) -> Result<Findings, Failed> {
    let rounds: u64 = step.scale().pick(20_000, 2_000);
    let meals: u64 = step.scale().pick(2_000, 200);
    let mut f = Findings::new();

    step.show("two locks, opposite orders");
    let opposite = opposite_orders();
    step.show("two locks, one order");
    let one_order = one_order(rounds);
    step.show("dining philosophers, left fork first");
    let left_first = philosophers_left_first();
    step.show("dining philosophers, lower fork first");
    let ordered = philosophers_ordered(meals);

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
        format!("{PHILOSOPHERS} philosophers, each takes the lower-numbered fork first, {meals} meals each"),
        match ordered {
            Some(n) => format!("completed: {n} meals, no deadlock"),
            None => "did not complete".to_owned(),
        },
    );
    for report in [&opposite.report, &left_first.report].into_iter().flatten() {
        f.detail(report.clone());
    }

    f.figure("opposite_orders_deadlock_named", opposite.named);
    f.figure("opposite_orders_panicked", opposite.panicked);
    f.figure("opposite_orders_finished", opposite.finished);
    f.figure("opposite_orders_hung", opposite.hung);
    f.figure("one_order_rounds", one_order.unwrap_or(0));
    f.figure("one_order_expected_rounds", 2 * rounds);
    f.figure("philosophers_deadlock_named", left_first.named);
    f.figure("philosophers_panicked", left_first.panicked);
    f.figure("philosophers_ate", left_first.finished);
    f.figure("philosophers_hung", left_first.hung);
    f.figure("ordered_meals", ordered.unwrap_or(0));
    f.figure("ordered_expected_meals", PHILOSOPHERS as u64 * meals);

    let holds = opposite.is_broken_cycle(2)
        && one_order == Some(2 * rounds)
        && left_first.is_broken_cycle(PHILOSOPHERS)
        && ordered == Some(PHILOSOPHERS as u64 * meals);
    Ok(f.conclude(
        holds,
        format!(
            "opposite orders: {}; one order: {}; philosophers left fork first: {}; lower fork first: {}",
            opposite.summary(),
            if one_order.is_some() { "completed" } else { "did not complete" },
            left_first.summary(),
            if ordered.is_some() { "every meal eaten" } else { "did not complete" },
        ),
    ))
}

/// How a run that deadlocks on purpose ended.
#[derive(Default)]
struct Deadlocked {
    /// Threads whose lock panicked with a deadlock report.
    panicked: usize,
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
        self.panicked == 1 && self.named == threads && self.finished == threads - 1
    }

    fn describe(&self, others: &str) -> String {
        if self.hung > 0 {
            return format!("{} threads still blocked after {HANG_LIMIT:?}", self.hung);
        }
        match self.panicked {
            0 => "no deadlock happened".to_owned(),
            1 => format!(
                "deadlock named at once ({} threads in the report), {others}",
                self.named
            ),
            n => format!("{n} threads reported a deadlock"),
        }
    }

    fn summary(&self) -> String {
        if self.panicked == 1 && self.hung == 0 {
            format!("a {}-thread cycle named, not hung", self.named)
        } else {
            self.describe("the others finished")
        }
    }
}

/// Joins the threads of a deadlock, panics included, within the safety net.
fn collect(handles: Vec<(String, JoinHandle<()>)>) -> Deadlocked {
    let names: Vec<String> = handles.iter().map(|(n, _)| n.clone()).collect();
    let mut out = Deadlocked::default();
    for (_, h) in handles {
        match join_within(h, HANG_LIMIT) {
            Some(Ok(())) => out.finished += 1,
            Some(Err(p)) => record_panic(&mut out, &p, &names),
            None => out.hung += 1,
        }
    }
    out
}

fn record_panic(out: &mut Deadlocked, p: &Panicked, names: &[String]) {
    out.panicked += 1;
    let msg = p.message();
    if msg.starts_with("deadlock") {
        out.named = names
            .iter()
            .filter(|n| msg.contains(&format!("\"{n}\"")))
            .count();
        out.report = Some(msg.to_owned());
    }
}

fn start(name: &str, body: impl FnOnce() + Send + 'static) -> (String, JoinHandle<()>) {
    let h = Thread::new(body)
        .name(name)
        .start()
        .expect("the OS starts a thread");
    (name.to_owned(), h)
}

/// Each thread takes its first lock, waits until the other holds its own, then asks for
/// the other's: a deadlock every time.
fn opposite_orders() -> Deadlocked {
    let _expected = quiet::expect_panics();
    let a = Arc::new(Mutex::named("A", ()));
    let b = Arc::new(Mutex::named("B", ()));
    let both_hold_one = Arc::new(Barrier::new(2));
    let take = |first: &Arc<Mutex<()>>, second: &Arc<Mutex<()>>| {
        let (first, second, both) = (first.clone(), second.clone(), both_hold_one.clone());
        move || {
            let _first = first.lock();
            if both.wait_timeout(HANG_LIMIT).is_ok() {
                let _second = second.lock();
            }
        }
    };
    collect(vec![
        start("takes A then B", take(&a, &b)),
        start("takes B then A", take(&b, &a)),
    ])
}

/// Both threads take A then B, over and over: contention, never a deadlock. Returns the
/// rounds done, or `None` if a thread failed or hung.
fn one_order(rounds: u64) -> Option<u64> {
    let a = Arc::new(Mutex::named("A", ()));
    let b = Arc::new(Mutex::named("B", 0u64));
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let (a, b) = (a.clone(), b.clone());
            start(&format!("A then B #{i}"), move || {
                for _ in 0..rounds {
                    let _a = a.lock();
                    *b.lock() += 1;
                }
            })
        })
        .collect();
    let all_finished = handles
        .into_iter()
        .all(|(_, h)| matches!(join_within(h, HANG_LIMIT), Some(Ok(()))));
    all_finished.then(|| *b.lock())
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
fn philosophers_left_first() -> Deadlocked {
    let _expected = quiet::expect_panics();
    let forks = forks();
    let all_hold_left = Arc::new(Barrier::new(PHILOSOPHERS));
    let handles = (0..PHILOSOPHERS)
        .map(|i| {
            let (forks, all) = (forks.clone(), all_hold_left.clone());
            start(&format!("philosopher {i}"), move || {
                let _left = forks[i].lock();
                if all.wait_timeout(HANG_LIMIT).is_ok() {
                    let _right = forks[(i + 1) % PHILOSOPHERS].lock();
                }
            })
        })
        .collect();
    collect(handles)
}

/// Every philosopher takes the lower-numbered of its two forks first, so the last one
/// reaches for fork 0 before fork 4 and no cycle can form. Returns the meals eaten.
fn philosophers_ordered(meals: u64) -> Option<u64> {
    let forks = forks();
    let eaten = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..PHILOSOPHERS)
        .map(|i| {
            let (forks, eaten) = (forks.clone(), eaten.clone());
            let (left, right) = (i, (i + 1) % PHILOSOPHERS);
            let (first, second) = (left.min(right), left.max(right));
            start(&format!("philosopher {i}"), move || {
                for _ in 0..meals {
                    let _first = forks[first].lock();
                    let _second = forks[second].lock();
                    eaten.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let all_finished = handles
        .into_iter()
        .all(|(_, h)| matches!(join_within(h, HANG_LIMIT), Some(Ok(()))));
    all_finished.then(|| eaten.load(Ordering::SeqCst))
}
