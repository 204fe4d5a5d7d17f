//! scheduling: the order in which threads run is the scheduler's choice, not the
//! program's. The same program, run again and again, interleaves its threads differently
//! (`orders.rs`); and a thread that re-takes a lock in a tight loop can keep another
//! waiting far longer than it holds the lock, unless the lock is handed over fairly
//! (`starvation.rs`: a plain lock shows it; spindle's own `Mutex` bounds it).

mod orders;
mod starvation;

use super::machine::cores_available;
use super::measure::{human, plural, seconds};
use super::report::chart::{Bar, Chart, Tone};
use super::verdict::Verdict;
use super::{Experiment, Findings, Step, Unmeasured};

pub const EXPERIMENT: Experiment = Experiment {
    name: "scheduling",
    claim: "Thread scheduling is non-deterministic: the same program, run several times, \
            interleaves its threads differently. And starvation is possible: a thread that \
            re-takes a lock in a tight loop passes over a waiting thread again and again, \
            unless the lock is handed over fairly.",
    summary: "the same 3 threads run 20 times: distinct orders; a greedy lock, plain vs fair",
    run,
};

/// With a plain (unfair) lock, the waiter is passed over at least this many times in its
/// longest wait...
pub const PASSED_OVER_MIN: u64 = 50;
/// ...and at least this many times more often than in its longest wait with a fair
/// hand-off.
pub const PASSED_OVER_RATIO: u64 = 10;
/// Fewer cores than this left to the lab (others busy): a failure to show starvation is
/// "not measured", as in the gil experiment.
pub const SPARE_MIN: f64 = 1.5;

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let scale = step.scale();
    let runs = scale.pick(20, 10);
    let attempts = scale.pick(40, 20);

    step.phase(format!(
        "the same {} threads, run {runs} times",
        orders::THREADS
    ));
    let orders = orders::run(runs)?;
    step.phase("a greedy thread re-takes a plain lock (std::sync::Mutex)");
    let unfair = starvation::run(attempts, starvation::HandOff::Unfair)?;
    step.phase("the same with spindle's Mutex, plain unlock (eventually fair)");
    let barging = starvation::run(attempts, starvation::HandOff::Barging)?;
    step.phase("the same, the greedy thread hands the lock over fairly (unlock_fair)");
    let fair = starvation::run(attempts, starvation::HandOff::Fair)?;
    step.end_phase();

    let mut f = Findings::new();
    f.row(
        format!(
            "{} threads each append their letter {} times, started together, {runs} runs",
            orders::THREADS,
            orders::APPENDS
        ),
        format!(
            "{}; the most common one {} of {runs} times",
            plural(orders.distinct, "distinct order"),
            orders.most_common
        ),
    );
    for (i, (order, times)) in orders.examples.iter().enumerate() {
        f.row(format!("order {}", i + 1), format!("{order} ({times}x)"));
    }
    for (how, s) in [
        ("a plain lock (std::sync::Mutex)", &unfair),
        ("spindle's Mutex, plain unlock", &barging),
        ("spindle's Mutex, unlock_fair", &fair),
    ] {
        f.row(
            format!(
                "a thread asks {attempts} times for a lock that a greedy thread re-takes, holding it {} each time: {how}",
                human(starvation::HOLD)
            ),
            format!(
                "passed over {} at most ({} in a typical wait); waited {} typically (at most {})",
                times(s.max_passed_over),
                s.median_passed_over,
                human(s.median_wait),
                human(s.longest_wait)
            ),
        );
    }
    let bar = |name: &str, s: &starvation::Starvation, tone| {
        let value = s.max_passed_over as f64;
        let label = format!(
            "{}, a wait of up to {}",
            times(s.max_passed_over),
            human(s.longest_wait)
        );
        Bar::new(name, value, label, tone)
    };
    f.chart(Chart::bars(
        "how often the greedy thread re-took the lock while the other waited (at most)",
        vec![
            bar("plain lock (std)", &unfair, Tone::Bad),
            bar("spindle Mutex, unlock", &barging, Tone::Plain),
            bar("spindle, unlock_fair", &fair, Tone::Good),
        ],
    ));

    f.figure("threads", orders::THREADS);
    f.figure("appends", orders::APPENDS);
    f.figure("runs", runs);
    f.figure("distinct_orders", orders.distinct);
    f.figure("most_common_order_runs", orders.most_common);
    f.figure("attempts", attempts);
    f.figure("hold_s", seconds(starvation::HOLD));
    f.figure("unfair_median_wait_s", seconds(unfair.median_wait));
    f.figure("unfair_longest_wait_s", seconds(unfair.longest_wait));
    f.figure("unfair_median_passed_over", unfair.median_passed_over);
    f.figure("unfair_max_passed_over", unfair.max_passed_over);
    f.figure("barging_median_wait_s", seconds(barging.median_wait));
    f.figure("barging_longest_wait_s", seconds(barging.longest_wait));
    f.figure("barging_median_passed_over", barging.median_passed_over);
    f.figure("barging_max_passed_over", barging.max_passed_over);
    f.figure("fair_median_wait_s", seconds(fair.median_wait));
    f.figure("fair_longest_wait_s", seconds(fair.longest_wait));
    f.figure("fair_median_passed_over", fair.median_passed_over);
    f.figure("fair_max_passed_over", fair.max_passed_over);
    f.figure("unfair_spare_cores", unfair.spare_cores);
    f.figure("barging_spare_cores", barging.spare_cores);
    f.figure("fair_spare_cores", fair.spare_cores);

    f.check(
        "the same program, run again, interleaves its threads differently",
        orders.distinct >= 2,
    );
    let claim = "with a plain lock that lets whoever asks next take it, a greedy thread \
                 passes over a waiting one many times, unlike a fair hand-off: starvation is \
                 possible";
    let shown = unfair.max_passed_over >= PASSED_OVER_MIN
        && unfair.max_passed_over >= PASSED_OVER_RATIO * fair.max_passed_over.max(1);
    let spare = [unfair.spare_cores, fair.spare_cores]
        .into_iter()
        .flatten()
        .min_by(f64::total_cmp);
    match spare {
        // A waiter that waits for a core hides how the lock hands itself over.
        Some(spare) if !shown && spare < SPARE_MIN => f.part(
            claim,
            Verdict::NotMeasured,
            format!(
                "other programs kept the cores busy: {spare:.2} of {} left to the lab",
                cores_available()
            ),
        ),
        _ => f.check(claim, shown),
    }
    Ok(f.conclude(format!(
        "{runs} runs of the same {} threads gave {}; a thread waiting for a lock that another \
         re-takes in a loop was passed over up to {} (a wait of up to {}) with a plain lock, \
         {} ({}) with unlock_fair; spindle's own Mutex, which hands the lock to a waiter \
         every half millisecond or so, passed it over up to {} ({})",
        orders::THREADS,
        plural(orders.distinct, "distinct order"),
        times(unfair.max_passed_over),
        human(unfair.longest_wait),
        times(fair.max_passed_over),
        human(fair.longest_wait),
        times(barging.max_passed_over),
        human(barging.longest_wait)
    )))
}

/// `1 time`, `3 times`.
fn times(n: u64) -> String {
    plural(usize::try_from(n).unwrap_or(usize::MAX), "time")
}
