//! remote: multiprocessing offers "both local and remote concurrency". Tasks run on two
//! worker processes that share nothing but a Redis server (`spindle::cluster`); one of
//! them is SIGKILLed while it holds tasks; the tasks it held run again on the other,
//! and every result arrives exactly once.
//!
//! The run itself is the cluster's demonstration (`cluster::demo`): it starts a
//! throwaway `redis-server` and two workers (this program in its hidden
//! `__cluster-worker` role). Without `redis-server` the experiment is skipped, saying how
//! to install it: neither holds nor does not hold.

use std::time::Duration;

use spindle::thread::Thread;

use super::measure::{digits, failed, human, joined, plural, seconds, timed};
use super::report::chart::{Bar, Chart, Tone};
use super::verdict::Verdict;
use super::{Experiment, Findings, Step, Unmeasured};
use crate::cluster::demo::{self, DemoCounts, DemoOptions, DemoOutcome};

pub const EXPERIMENT: Experiment = Experiment {
    name: "remote",
    claim: "Multiprocessing offers both local and remote concurrency: tasks run on two \
            worker processes that share nothing but a server (Redis), a worker killed \
            mid-task loses nothing, and every result arrives exactly once.",
    summary: "tasks on 2 workers sharing only Redis, one SIGKILLed mid-task (needs redis-server)",
    run,
};

/// What the experiment needs when the machine lacks it, and how to install it.
const NEEDS: &str = "needs redis-server (install it: apt-get install redis-server)";

/// Worker processes the tasks run on.
const WORKERS: usize = 2;

/// The longest the whole demonstration may take (each of its steps has its own bound).
const LIMIT: Duration = Duration::from_secs(90);

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    // The demonstration's own size (about 5 s), or half as many tasks of half the time.
    let full = DemoOptions::quick();
    let options = step.scale().pick(
        full.clone(),
        DemoOptions {
            tasks: 20,
            task_time: Duration::from_millis(100),
            ..full
        },
    );

    step.phase(format!(
        "{WORKERS} worker processes sharing only Redis, one SIGKILLed mid-task"
    ));
    let on_client = options.clone();
    let handle = Thread::new(move || timed(|| demo::run(&on_client)))
        .name("client")
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))?;
    let (outcome, took) = joined(handle, LIMIT)?;
    step.end_phase();

    match outcome {
        DemoOutcome::Ran(counts) => Ok(findings(&options, &counts, took)),
        DemoOutcome::Skipped { .. } => Err(Unmeasured::Skipped(NEEDS.to_owned())),
        DemoOutcome::Failed { reason } => Err(failed(reason)),
    }
}

/// The verdicts, table and chart of a run.
fn findings(options: &DemoOptions, c: &DemoCounts, took: Duration) -> Findings {
    let mut f = Findings::new();
    f.row(
        format!(
            "{}, on {WORKERS} worker processes sharing only a local redis-server",
            plural(c.tasks as usize, "task")
        ),
        format!("each sleeping {}", human(options.task_time)),
    );
    f.row(
        "worker SIGKILLed while it held tasks",
        format!(
            "pid {}; {} it held ran again on the other worker",
            c.killed_worker,
            plural(c.rerun as usize, "task")
        ),
    );
    f.row("task starts, re-runs included", digits(c.executions));
    f.row("results received", format!("{} of {}", c.results, c.tasks));
    f.row("results lost", digits(c.lost));
    f.row("results published twice", digits(c.duplicated));
    f.row(
        "total time (server and workers started, tasks run)",
        human(took),
    );

    f.figure("workers", WORKERS);
    f.figure("tasks", c.tasks);
    f.figure("task_s", seconds(options.task_time));
    f.figure("lease_s", seconds(options.lease));
    f.figure("killed_worker", c.killed_worker);
    f.figure("rerun", c.rerun);
    f.figure("executions", c.executions);
    f.figure("results", c.results);
    f.figure("lost", c.lost);
    f.figure("duplicated", c.duplicated);
    f.figure("total_s", seconds(took));

    f.chart(Chart::bars(
        format!(
            "{}, one worker SIGKILLed mid-task: what came back",
            plural(c.tasks as usize, "task")
        ),
        vec![
            Bar::new(
                "tasks submitted",
                c.tasks as f64,
                digits(c.tasks),
                Tone::Plain,
            ),
            Bar::new(
                "task starts",
                c.executions as f64,
                format!(
                    "{} ({} re-run after the kill)",
                    digits(c.executions),
                    c.rerun
                ),
                Tone::Plain,
            ),
            Bar::new(
                "results received",
                c.results as f64,
                digits(c.results),
                Tone::Good,
            ),
            Bar::new("results lost", c.lost as f64, digits(c.lost), Tone::Bad),
            Bar::new(
                "results published twice",
                c.duplicated as f64,
                digits(c.duplicated),
                Tone::Bad,
            ),
        ],
    ));

    // The tasks the killed worker held can only have come back through the other
    // worker: none re-run, and none lost, means it held none when the kill landed.
    let kill_claim = "a worker SIGKILLed mid-task loses nothing: the tasks it held run again \
                      on the other worker";
    if c.rerun == 0 && c.lost == 0 {
        f.part(
            kill_claim,
            Verdict::NotMeasured,
            "the killed worker's tasks had all ended when the kill landed",
        );
    } else {
        f.check(kill_claim, c.rerun >= 1 && c.lost == 0);
    }
    f.check(
        "every task's result arrives exactly once: none lost, none twice",
        c.holds(),
    );
    f.conclude(format!(
        "{} on {WORKERS} workers sharing only Redis; worker {} SIGKILLed mid-task, {} it \
         held re-run elsewhere: {} of {} results arrived, {} lost, {} twice ({} task \
         starts)",
        plural(c.tasks as usize, "task"),
        c.killed_worker,
        plural(c.rerun as usize, "task"),
        c.results,
        c.tasks,
        c.lost,
        c.duplicated,
        c.executions
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> DemoCounts {
        DemoCounts {
            tasks: 40,
            executions: 42,
            results: 40,
            lost: 0,
            duplicated: 0,
            rerun: 2,
            killed_worker: 4242,
        }
    }

    fn verdicts(c: &DemoCounts) -> Vec<Verdict> {
        let f = findings(&DemoOptions::quick(), c, Duration::from_secs(3));
        f.parts.iter().map(|p| p.verdict).collect()
    }

    #[test]
    fn every_result_once_after_a_kill_mid_task_holds() {
        assert_eq!(verdicts(&counts()), [Verdict::Holds, Verdict::Holds]);
    }

    #[test]
    fn a_lost_result_does_not_hold() {
        let c = DemoCounts {
            results: 39,
            lost: 1,
            ..counts()
        };
        assert_eq!(verdicts(&c), [Verdict::DoesNotHold, Verdict::DoesNotHold]);
    }

    #[test]
    fn a_result_published_twice_does_not_hold() {
        let c = DemoCounts {
            duplicated: 1,
            ..counts()
        };
        assert_eq!(verdicts(&c), [Verdict::Holds, Verdict::DoesNotHold]);
    }

    #[test]
    fn a_kill_between_tasks_tests_nothing() {
        let c = DemoCounts {
            executions: 40,
            rerun: 0,
            ..counts()
        };
        let f = findings(&DemoOptions::quick(), &c, Duration::from_secs(3));
        assert_eq!(f.verdict, Verdict::NotMeasured);
        assert!(!f.parts[0].why.is_empty());
    }
}
