//! `spindle lab`, run as a user runs it: every experiment in `--quick` mode, its verdict
//! and its figures checked; the HTML report parsed; an unknown name refused.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;

/// Every experiment available, in run order.
const EXPERIMENTS: [&str; 12] = [
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
];

/// No run of the program may take longer: a hang fails the test instead of freezing it.
const LIMIT: Duration = Duration::from_secs(120);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the `spindle` binary with `args`, killing it if it outlives `LIMIT`.
fn spindle(args: &[&str]) -> Run {
    spindle_interrupted(args, None)
}

/// Runs the `spindle` binary with `args`, sending it SIGINT (as Ctrl-C does) after
/// `interrupt_after` if given, and killing it if it outlives `LIMIT`.
fn spindle_interrupted(args: &[&str], interrupt_after: Option<Duration>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(args)
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
            panic!("spindle {args:?} ran for over {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs one experiment with `--quick --json`, checks that its claim holds, and returns
/// its figures.
fn experiment(name: &str) -> Value {
    let run = spindle(&["lab", name, "--quick", "--json"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON object");
    let experiments = report["experiments"]
        .as_array()
        .expect("an experiments list");
    assert_eq!(experiments.len(), 1);
    let e = &experiments[0];
    assert_eq!(e["name"], name);
    assert!(e["claim"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(e["verdict"], "holds", "measured: {}", e["measured"]);
    e["figures"].clone()
}

fn num(figures: &Value, key: &str) -> f64 {
    figures[key]
        .as_f64()
        .unwrap_or_else(|| panic!("figure {key} is a number in {figures}"))
}

#[test]
fn sleep_overlaps_with_threads() {
    let f = experiment("sleep");
    assert!(num(&f, "threads_s") < num(&f, "sequential_s") / 3.0, "{f}");
    assert!(num(&f, "speedup") >= 3.0, "{f}");
    assert!(num(&f, "pool_s") < num(&f, "sequential_s") / 3.0, "{f}");
    assert!(num(&f, "pool_speedup") >= 3.0, "{f}");
}

#[test]
fn gil_serialises_cpu_work_but_not_io() {
    let f = experiment("gil");
    assert!(num(&f, "gil_parallelism") <= 1.2, "{f}");
    assert!(num(&f, "gil_forced_switches") > 0.0, "{f}");
    assert!(
        num(&f, "io_allow_threads_s") <= num(&f, "io_holding_gil_s") / 2.0,
        "{f}"
    );
    // The process pool ran the sums (its speed is a figure only: it depends on the load).
    assert_eq!(f["process_pool_workers"], 2);
    assert!(num(&f, "process_pool_s") > 0.0, "{f}");
    assert!(num(&f, "process_pool_vs_sequential") > 0.0, "{f}");
}

#[test]
fn executor_yields_in_completion_and_input_order() {
    let f = experiment("executor");
    assert_eq!(f["as_completed_order"], serde_json::json!([1, 2, 3, 4, 5]));
    assert_eq!(f["map_order"], serde_json::json!([5, 4, 3, 2, 1]));
    // The sleeps overlapped: well under their sum.
    assert!(num(&f, "as_completed_s") < num(&f, "sum_s") * 0.75, "{f}");
    assert!(num(&f, "map_s") < num(&f, "sum_s") * 0.75, "{f}");
    assert!(num(&f, "map_s") >= num(&f, "longest_s") * 0.9, "{f}");
}

#[test]
fn hidden_exception_is_reported_not_lost() {
    let f = experiment("hidden-exception");
    assert_eq!(num(&f, "map_ok"), num(&f, "items") - 1.0, "{f}");
    assert_eq!(num(&f, "map_panicked"), 1.0, "{f}");
    assert_eq!(num(&f, "map_failed_item"), 4.0, "{f}");
    assert_eq!(f["map_error_message"], "item 4 is corrupt");
    assert_eq!(f["unread_reported"], true);
    assert_eq!(f["unread_message"], "nobody reads this future");
}

#[test]
fn download_is_faster_with_a_pool_and_saves_the_same_bytes() {
    let f = experiment("download");
    assert_eq!(f["source"], "local server");
    assert_eq!(f["bytes_match"], true);
    assert_eq!(num(&f, "bytes"), num(&f, "files") * num(&f, "image_bytes"));
    assert!(num(&f, "pool_s") < num(&f, "sequential_s") / 2.0, "{f}");
}

#[test]
fn download_reports_an_unreadable_urls_file() {
    let missing = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-urls.txt");
    let run = spindle(&[
        "lab",
        "download",
        "--quick",
        "--json",
        "--urls",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON object");
    let e = &report["experiments"][0];
    assert_eq!(e["verdict"], "does not hold");
    let measured = e["measured"].as_str().unwrap();
    assert!(measured.contains("could not read"), "{measured}");
}

#[test]
fn race_loses_updates_only_without_a_lock() {
    let f = experiment("race");
    let lost = num(&f, "lost_updates_unsynchronised");
    assert!(
        lost > 0.0 && lost < num(&f, "increments_unsynchronised"),
        "{f}"
    );
    assert_eq!(f["lost_updates_mutex"], 0);
    assert_eq!(f["lost_updates_fetch_add"], 0);
    assert_eq!(f["bank_withdrawals_unsynchronised"], 2);
    assert_eq!(f["bank_balance_unsynchronised"], -60);
    assert_eq!(f["bank_withdrawals_mutex"], 1);
    assert_eq!(f["bank_balance_mutex"], 20);
    assert_eq!(f["seats_booked_unsynchronised"], 2);
    assert_eq!(f["seats_booked_mutex"], 1);
}

#[test]
fn deadlock_is_named_not_hung() {
    let f = experiment("deadlock");
    assert_eq!(f["opposite_orders_panicked"], 1);
    assert_eq!(f["opposite_orders_deadlock_named"], 2);
    assert_eq!(f["opposite_orders_finished"], 1);
    assert_eq!(f["opposite_orders_hung"], 0);
    assert_eq!(f["one_order_rounds"], f["one_order_expected_rounds"]);
    assert_eq!(f["philosophers_panicked"], 1);
    assert_eq!(f["philosophers_deadlock_named"], 5);
    assert_eq!(f["philosophers_ate"], 4);
    assert_eq!(f["philosophers_hung"], 0);
    assert_eq!(f["ordered_meals"], f["ordered_expected_meals"]);
}

#[test]
fn producer_consumer_waits_without_spinning() {
    let f = experiment("producer-consumer");
    assert!(num(&f, "consumer_cpu_share") < 0.1, "{f}");
    assert_eq!(f["slow_consumer_peak"], 5);
    assert!(num(&f, "slow_producer_peak") <= 5.0, "{f}");
    assert_eq!(f["delivered_in_order"], true);
    // The Queue part: join returns once every item is done, each taken exactly once.
    assert_eq!(f["queue_joined"], true);
    assert_eq!(f["queue_done_at_join"], f["queue_items"]);
    assert_eq!(f["queue_consumed_once"], true);
    assert!(num(&f, "queue_peak") <= 5.0, "{f}");
}

#[test]
fn rwlock_shares_readers_and_lets_the_writer_in() {
    let f = experiment("rwlock");
    assert!(num(&f, "rwlock_peak_readers") >= 2.0, "{f}");
    assert_eq!(f["mutex_peak_readers"], 1);
    assert!(num(&f, "rwlock_gain") >= 1.5, "{f}");
    assert!(num(&f, "rwlock_writes_while_reading") >= 3.0, "{f}");
}

#[test]
fn semaphore_peak_is_two() {
    let f = experiment("semaphore");
    assert_eq!(f["peak_concurrency"], 2);
    assert_eq!(f["finished"], 5);
    assert_eq!(f["permits_left"], 2);
}

#[test]
fn daemon_threads_do_not_keep_the_program_alive() {
    let f = experiment("daemon");
    assert_eq!(f["daemon_worker_finished"], false);
    assert_eq!(f["non_daemon_worker_finished"], true);
    assert!(num(&f, "daemon_child_s") < num(&f, "work_s"), "{f}");
    assert!(num(&f, "non_daemon_child_s") >= num(&f, "work_s"), "{f}");
}

#[test]
fn states_are_observed_in_order() {
    let f = experiment("states");
    let expected = [
        "New",
        "Runnable",
        "TimedWaiting",
        "Blocked",
        "Waiting",
        "Terminated",
    ];
    assert_eq!(f["observed"], serde_json::json!(expected));
    assert_eq!(f["thread_ended"], true);
}

#[test]
fn unknown_experiment_is_refused_with_the_list() {
    let run = spindle(&["lab", "nosuch", "--quick"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stdout.is_empty());
    for name in EXPERIMENTS {
        assert!(
            run.stderr.contains(name),
            "{name} missing from: {}",
            run.stderr
        );
    }
}

#[test]
fn help_lists_the_experiments() {
    let run = spindle(&["lab", "--help"]);
    assert_eq!(run.code, Some(0));
    for name in EXPERIMENTS {
        assert!(
            run.stdout.contains(name),
            "{name} missing from: {}",
            run.stdout
        );
    }
}

#[test]
fn text_output_shows_claim_measurement_and_verdict() {
    let run = spindle(&["lab", "semaphore", "--quick"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("== semaphore =="), "{}", run.stdout);
    assert!(run.stdout.contains("claim:"), "{}", run.stdout);
    assert!(run.stdout.contains("peak concurrency 2"), "{}", run.stdout);
    assert!(run.stdout.contains("verdict:  holds"), "{}", run.stdout);
}

#[test]
fn ctrl_c_stops_after_the_current_experiment() {
    // The first experiment (sleep) takes over a second in --quick mode.
    let run = spindle_interrupted(
        &["lab", "--quick", "--json"],
        Some(Duration::from_millis(500)),
    );
    assert_eq!(run.code, Some(130), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("what finished, as JSON");
    let names: Vec<&str> = report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.is_empty() && names.len() < EXPERIMENTS.len(),
        "{names:?}"
    );
    assert_eq!(names, EXPERIMENTS[..names.len()]);
}

#[test]
fn whole_lab_writes_json_and_a_well_formed_report() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lab-report.html");
    let _ = std::fs::remove_file(&path);
    let run = spindle(&[
        "lab",
        "--quick",
        "--json",
        "--report",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);

    let report: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON object");
    let experiments = report["experiments"].as_array().unwrap();
    let names: Vec<&str> = experiments
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, EXPERIMENTS);
    for e in experiments {
        assert!(
            e["verdict"] == "holds" || e["verdict"] == "does not hold",
            "{e}"
        );
        assert!(e["measured"].as_str().is_some_and(|m| !m.is_empty()));
    }

    let html = std::fs::read_to_string(&path).expect("the report was written");
    let sections = sections(&html);
    let ids: Vec<&str> = sections.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, EXPERIMENTS);
    for (id, svgs) in &sections {
        assert_eq!(*svgs, 1, "section {id} has one SVG timeline");
    }
    assert!(!html.contains("<script"), "the report runs no scripts");
    assert!(
        !html.contains("src="),
        "the report loads nothing from outside"
    );
}

/// Parses `html` as XML (every element closed, in order) and returns the id of each of
/// its `<section>` elements with the number of `<svg>` elements inside it.
fn sections(html: &str) -> Vec<(String, usize)> {
    let mut reader = Reader::from_str(html);
    reader.config_mut().check_end_names = true;
    let mut open: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if name == "section" {
                    let id = e
                        .try_get_attribute("id")
                        .unwrap()
                        .expect("every section has an id");
                    ids.push((String::from_utf8(id.value.to_vec()).unwrap(), 0));
                }
                if name == "svg" && open.iter().any(|o| o == "section") {
                    ids.last_mut().expect("inside a section").1 += 1;
                }
                open.push(name);
            }
            Ok(Event::End(e)) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert_eq!(open.pop(), Some(name));
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "the report is not well-formed at byte {}: {e}",
                reader.buffer_position()
            ),
        }
    }
    assert!(open.is_empty(), "elements left open: {open:?}");
    ids
}
