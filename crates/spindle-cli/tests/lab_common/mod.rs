//! What the lab tests share: running the `spindle` binary with a time limit, and each
//! experiment's verdicts decided again from its figures, by rules written out here a
//! second time (so that a verdict the lab computed wrongly, or fixed in advance, fails).

#![allow(dead_code, reason = "each test file uses part of it")]

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Every experiment available, in run order.
pub const EXPERIMENTS: [&str; 14] = [
    "sleep",
    "gil",
    "race",
    "deadlock",
    "producer-consumer",
    "rwlock",
    "semaphore",
    "daemon",
    "states",
    "executor",
    "hidden-exception",
    "download",
    "scheduling",
    "remote",
];

/// No run of the program may take longer: a hang fails the test instead of freezing it
/// (with a message, before nextest's own limit of 120 s ends the test).
pub const LIMIT: Duration = Duration::from_secs(110);

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `spindle` binary with `args` (and `COLUMNS` unset), killing it if it
/// outlives `LIMIT`.
pub fn spindle(args: &[&str]) -> Run {
    run(command(args), None)
}

/// The `spindle` binary with `args`, its environment free of `COLUMNS`.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spindle"));
    c.args(args).env_remove("COLUMNS");
    c
}

/// Runs `command`, sending it SIGINT (as Ctrl-C does) after `interrupt_after` if given,
/// and killing it if it outlives `LIMIT`.
pub fn run(mut command: Command, interrupt_after: Option<Duration>) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the spindle binary starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).expect("output is UTF-8");
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let mut interrupt_after = interrupt_after;
    let status = loop {
        if interrupt_after.is_some_and(|after| started.elapsed() >= after) {
            interrupt_after = None;
            let pid = libc::pid_t::try_from(child.id()).expect("a pid fits");
            // SAFETY: kill(2) with a valid signal number has no memory effects; the child
            // has not been reaped yet, so `pid` is still ours.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("spindle ran for over {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// What a skipped experiment says: what it needs, and how to install it.
pub const NEEDS_REDIS: &str =
    "skipped: needs redis-server (install it: apt-get install redis-server)";

/// The exit status the lab documents for a run with these verdicts (skipped ones count
/// for nothing).
pub fn exit_status_for(verdicts: &[&str]) -> i32 {
    if verdicts.contains(&"does not hold") {
        1
    } else if verdicts.contains(&"not measured") {
        3
    } else {
        0
    }
}

/// Runs one experiment with `--quick --json`, checks its report is whole and its exit
/// status agrees with its verdict, checks every verdict against its figures, and
/// returns the experiment's JSON object.
pub fn experiment(name: &str) -> Value {
    let run = spindle(&["lab", name, "--quick", "--json"]);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is one JSON object ({e}): {}", run.stdout));
    let experiments = report["experiments"]
        .as_array()
        .expect("an experiments list");
    assert_eq!(experiments.len(), 1);
    let e = experiments[0].clone();
    assert_eq!(e["name"], name);
    assert!(e["claim"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(e["measured"].as_str().is_some_and(|m| !m.is_empty()));
    assert_verdicts_follow_figures(&e);
    let verdict = e["verdict"].as_str().unwrap();
    assert_eq!(
        run.code,
        Some(exit_status_for(&[verdict])),
        "exit status for {verdict:?}; stderr: {}",
        run.stderr
    );
    e
}

pub fn num(figures: &Value, key: &str) -> f64 {
    figures[key]
        .as_f64()
        .unwrap_or_else(|| panic!("figure {key} is a number in {figures}"))
}

fn flag(figures: &Value, key: &str) -> bool {
    figures[key]
        .as_bool()
        .unwrap_or_else(|| panic!("figure {key} is a boolean in {figures}"))
}

const HOLDS: &str = "holds";
const DOES_NOT_HOLD: &str = "does not hold";
const NOT_MEASURED: &str = "not measured";
const SKIPPED: &str = "skipped";

fn check(holds: bool) -> &'static str {
    if holds { HOLDS } else { DOES_NOT_HOLD }
}

/// Checks that each part's verdict, and the experiment's, are what its figures give.
pub fn assert_verdicts_follow_figures(e: &Value) {
    let name = e["name"].as_str().unwrap();
    let f = &e["figures"];
    if e["verdict"] == NOT_MEASURED && e["parts"].as_array().is_some_and(Vec::is_empty) {
        // Nothing was measured at all (a thread failed): there are no figures to check.
        assert!(
            e["measured"]
                .as_str()
                .unwrap()
                .starts_with("could not be measured: "),
            "{e}"
        );
        return;
    }
    if e["verdict"] == SKIPPED {
        // It did not run (only `remote` can be skipped, without redis-server): it
        // measured nothing, decided nothing, and says how to install what it needs.
        assert_eq!(name, "remote", "{e}");
        assert_eq!(e["measured"], NEEDS_REDIS, "{e}");
        assert!(e["parts"].as_array().is_some_and(Vec::is_empty), "{e}");
        assert!(f.as_object().is_some_and(|f| f.is_empty()), "{e}");
        return;
    }
    let expected = expected_parts(name, f);
    let parts = e["parts"].as_array().expect("a parts list");
    let got: Vec<&str> = parts
        .iter()
        .map(|p| p["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        got, expected,
        "{name}: each part's verdict from its figures {f}; parts {parts:?}"
    );
    for p in parts {
        let why = p["why"].as_str().unwrap_or("");
        assert_eq!(
            p["verdict"] == NOT_MEASURED,
            !why.is_empty(),
            "a part not measured says why, the others do not: {p}"
        );
    }
    let worst = if expected.contains(&DOES_NOT_HOLD) {
        DOES_NOT_HOLD
    } else if expected.contains(&NOT_MEASURED) {
        NOT_MEASURED
    } else {
        HOLDS
    };
    assert_eq!(e["verdict"], worst, "{name}: {e}");
}

/// Each part's verdict, decided from the figures by the rules each experiment states.
pub fn expected_parts(name: &str, f: &Value) -> Vec<&'static str> {
    match name {
        "sleep" => {
            let sleep = num(f, "sleep_s");
            vec![
                check(
                    flag(f, "threads_all_ended")
                        && num(f, "threads_s") < sleep * 3.0
                        && num(f, "speedup") >= 3.0,
                ),
                check(
                    flag(f, "pool_all_ok")
                        && num(f, "pool_s") < sleep * 3.0
                        && num(f, "pool_speedup") >= 3.0,
                ),
            ]
        }
        "gil" => gil_parts(f),
        "race" => vec![
            check(num(f, "lost_updates_unsynchronised") > 0.0),
            check(num(f, "lost_updates_mutex") == 0.0),
            check(num(f, "lost_updates_fetch_add") == 0.0),
            check(
                num(f, "bank_balance_unsynchronised") < 0.0
                    && num(f, "seats_booked_unsynchronised") > 1.0,
            ),
            check(
                num(f, "bank_withdrawals_mutex") == 1.0
                    && num(f, "bank_balance_mutex") >= 0.0
                    && num(f, "seats_booked_mutex") == 1.0,
            ),
        ],
        "deadlock" => vec![
            check(
                num(f, "opposite_orders_reported") == 1.0
                    && num(f, "opposite_orders_deadlock_named") == 2.0
                    && num(f, "opposite_orders_finished") == 1.0,
            ),
            check(f["one_order_rounds"] == f["one_order_expected_rounds"]),
            check(
                num(f, "philosophers_reported") == 1.0
                    && num(f, "philosophers_deadlock_named") == 5.0
                    && num(f, "philosophers_ate") == 4.0,
            ),
            check(f["ordered_meals"] == f["ordered_expected_meals"]),
        ],
        "producer-consumer" => vec![
            check(num(f, "consumer_cpu_share") < 0.1),
            check(
                num(f, "producer_cpu_share") < 0.1
                    && num(f, "slow_consumer_peak") == num(f, "max_size")
                    && num(f, "slow_producer_peak") <= num(f, "max_size"),
            ),
            check(flag(f, "delivered_in_order")),
            check(
                flag(f, "queue_joined")
                    && f["queue_done_at_join"] == f["queue_items"]
                    && flag(f, "queue_consumed_once")
                    && num(f, "queue_peak") <= num(f, "max_size"),
            ),
        ],
        "rwlock" => vec![
            check(
                num(f, "rwlock_gain") >= 1.5
                    && num(f, "rwlock_peak_readers") >= 2.0
                    && num(f, "mutex_peak_readers") == 1.0,
            ),
            check(num(f, "rwlock_writes_while_reading") >= 3.0),
        ],
        "semaphore" => vec![
            check(f["peak_concurrency"] == f["permits"]),
            check(f["finished"] == f["workers"] && f["permits_left"] == f["permits"]),
        ],
        "daemon" => vec![
            check(
                flag(f, "daemon_child_clean_exit")
                    && !flag(f, "daemon_worker_finished")
                    && num(f, "daemon_child_s") < num(f, "work_s"),
            ),
            check(
                flag(f, "non_daemon_child_clean_exit")
                    && flag(f, "non_daemon_worker_finished")
                    && num(f, "non_daemon_child_s") >= num(f, "work_s"),
            ),
        ],
        "states" => {
            let all = [
                "New",
                "Runnable",
                "TimedWaiting",
                "Blocked",
                "Waiting",
                "Terminated",
            ];
            let waits: Vec<&str> = f["waiting_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            vec![
                check(f["observed"] == serde_json::json!(all) && flag(f, "thread_ended")),
                check(
                    ["\"timer\"", "\"gate\"", "\"go\""]
                        .iter()
                        .all(|on| waits.iter().any(|w| w.contains(on))),
                ),
            ]
        }
        "executor" => {
            let limit = num(f, "unit_s") * 8.0;
            vec![
                check(f["as_completed_order"] == serde_json::json!([1, 2, 3, 4, 5])),
                check(f["map_order"] == serde_json::json!([5, 4, 3, 2, 1])),
                check(num(f, "as_completed_s") < limit && num(f, "map_s") < limit),
            ]
        }
        "hidden-exception" => vec![
            check(
                num(f, "map_ok") == num(f, "items") - 1.0
                    && f["map_failed_item"] == 4
                    && f["map_error_message"] == "item 4 is corrupt",
            ),
            check(
                f["unread_reported"] == true && f["unread_message"] == "nobody reads this future",
            ),
        ],
        "download" => vec![
            check(num(f, "speedup") >= 2.0),
            check(flag(f, "bytes_match") && f["bytes"] == f["sequential_bytes"]),
        ],
        "scheduling" => {
            // Starvation is shown by a plain lock's worst wait against a fair hand-off's.
            let unfair = num(f, "unfair_max_passed_over");
            let fair = num(f, "fair_max_passed_over");
            let shown = unfair >= 50.0 && unfair >= 10.0 * fair.max(1.0);
            let spare = [&f["unfair_spare_cores"], &f["fair_spare_cores"]]
                .into_iter()
                .filter_map(Value::as_f64)
                .min_by(f64::total_cmp);
            vec![
                check(num(f, "distinct_orders") >= 2.0),
                if !shown && spare.is_some_and(|s| s < 1.5) {
                    NOT_MEASURED
                } else {
                    check(shown)
                },
            ]
        }
        "remote" => {
            let (tasks, lost, rerun) = (num(f, "tasks"), num(f, "lost"), num(f, "rerun"));
            vec![
                // The killed worker's tasks can only come back through the other worker;
                // none re-run and none lost means it held none when it was killed.
                if rerun == 0.0 && lost == 0.0 {
                    NOT_MEASURED
                } else {
                    check(rerun >= 1.0 && lost == 0.0)
                },
                check(num(f, "results") == tasks && lost == 0.0 && num(f, "duplicated") == 0.0),
            ]
        }
        other => panic!("no rules for experiment {other:?}"),
    }
}

/// The gil experiment's four parts: the GIL keeps threads to one core (more than 1.2
/// cores busy fails it; on a quiet machine it must also take at least 0.85 of the
/// sequential time); without it threads speed up; so do processes; I/O stays
/// concurrent. The three about cores are not measured on one core, nor when other
/// programs left fewer than 1.5 cores spare and the figures do not settle the claim.
fn gil_parts(f: &Value) -> Vec<&'static str> {
    let cores = num(f, "cores_available");
    let busy = |key: &str| f[key].as_f64().is_some_and(|spare| spare < 1.5);

    let sped_up = |parallelism: &str, speedup: &str, spare: &str| {
        if cores < 2.0 {
            NOT_MEASURED
        } else if num(f, parallelism) >= 1.5 && num(f, speedup) >= 1.3 {
            HOLDS
        } else if busy(spare) {
            NOT_MEASURED
        } else {
            DOES_NOT_HOLD
        }
    };
    vec![
        if cores < 2.0 {
            NOT_MEASURED
        } else if num(f, "gil_parallelism") > 1.2 {
            DOES_NOT_HOLD
        } else if busy("gil_spare_cores") {
            NOT_MEASURED
        } else {
            check(num(f, "gil_vs_sequential") >= 0.85)
        },
        sped_up(
            "threads_parallelism",
            "threads_speedup",
            "threads_spare_cores",
        ),
        sped_up(
            "process_pool_parallelism",
            "process_pool_speedup",
            "process_pool_spare_cores",
        ),
        check(num(f, "io_allow_threads_ratio") <= 0.5),
    ]
}
