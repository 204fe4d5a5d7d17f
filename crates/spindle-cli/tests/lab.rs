//! `spindle lab`, run as a user runs it: every experiment in `--quick` mode, each verdict
//! decided again from its figures (`lab_common`), and the facts that do not depend on
//! timing asserted outright; failures of each kind reported as "not measured" with the
//! documented exit status; the text output readable in a pipe and a terminal.

mod lab_common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lab_common::{
    EXPERIMENTS, LIMIT, NEEDS_REDIS, assert_verdicts_follow_figures, command, exit_status_for,
    experiment, num, run, spindle,
};
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;

#[test]
fn sleep_overlaps_with_threads() {
    let e = experiment("sleep");
    let f = &e["figures"];
    assert!(num(f, "sequential_s") >= num(f, "sleep_s") * 10.0, "{f}");
}

#[test]
fn gil_verdicts_follow_their_figures() {
    let e = experiment("gil");
    let f = &e["figures"];
    // What does not depend on the machine's load: the Gil made holders hand over, and
    // the process pool ran the sums.
    assert!(num(f, "gil_forced_switches") > 0.0, "{f}");
    assert_eq!(f["process_pool_workers"], 2);
    assert!(num(f, "process_pool_s") > 0.0, "{f}");
    assert_eq!(e["parts"].as_array().unwrap().len(), 4);
}

#[test]
fn executor_yields_in_input_order_with_map() {
    let e = experiment("executor");
    assert_eq!(
        e["figures"]["map_order"],
        serde_json::json!([5, 4, 3, 2, 1])
    );
}

#[test]
fn hidden_exception_is_reported_not_lost() {
    let e = experiment("hidden-exception");
    let f = &e["figures"];
    assert_eq!(e["verdict"], "holds", "{e}");
    assert_eq!(num(f, "map_panicked"), 1.0, "{f}");
    assert_eq!(num(f, "map_lost"), 0.0, "{f}");
}

#[test]
fn download_saves_the_same_bytes_either_way() {
    let e = experiment("download");
    let f = &e["figures"];
    assert_eq!(f["source"], "local server");
    assert_eq!(f["bytes_match"], true);
    assert_eq!(num(f, "bytes"), num(f, "files") * num(f, "image_bytes"));
}

#[test]
fn race_staged_and_locked_results_are_exact() {
    let e = experiment("race");
    let f = &e["figures"];
    // A Mutex and fetch_add lose nothing, and the staged stories come out the same
    // every time: these are facts about spindle, not about the machine's timing.
    assert_eq!(f["lost_updates_mutex"], 0);
    assert_eq!(f["lost_updates_fetch_add"], 0);
    assert_eq!(f["bank_withdrawals_unsynchronised"], 2);
    assert_eq!(f["bank_balance_unsynchronised"], -60);
    assert_eq!(f["bank_withdrawals_mutex"], 1);
    assert_eq!(f["bank_balance_mutex"], 20);
    assert_eq!(f["seats_booked_unsynchronised"], 2);
    assert_eq!(f["seats_booked_mutex"], 1);
    let unforced = num(f, "unforced_sold_twice");
    assert!(unforced <= num(f, "unforced_trials"), "{f}");
    let staged = e["staged"].as_array().expect("the staging is said");
    assert!(
        staged[0].as_str().unwrap().contains("barrier"),
        "{staged:?}"
    );
}

#[test]
fn deadlock_is_named_not_hung() {
    let e = experiment("deadlock");
    assert_eq!(e["verdict"], "holds", "{e}");
    let f = &e["figures"];
    assert_eq!(f["opposite_orders_hung"], 0);
    assert_eq!(f["philosophers_hung"], 0);
    assert!(e["staged"].as_array().is_some_and(|s| !s.is_empty()));
}

#[test]
fn producer_consumer_delivers_everything_within_the_bound() {
    let e = experiment("producer-consumer");
    let f = &e["figures"];
    assert_eq!(f["delivered_in_order"], true);
    assert!(num(f, "slow_producer_peak") <= 5.0, "{f}");
    assert!(num(f, "slow_consumer_peak") <= 5.0, "{f}");
    assert_eq!(f["queue_joined"], true);
    assert_eq!(f["queue_done_at_join"], f["queue_items"]);
    assert_eq!(f["queue_consumed_once"], true);
}

#[test]
fn rwlock_mutex_admits_one_reader_at_a_time() {
    let e = experiment("rwlock");
    assert_eq!(e["figures"]["mutex_peak_readers"], 1);
}

#[test]
fn semaphore_never_lets_three_in() {
    let e = experiment("semaphore");
    let f = &e["figures"];
    assert!(num(f, "peak_concurrency") <= 2.0, "{f}");
    assert_eq!(f["finished"], 5);
    assert_eq!(f["permits_left"], 2);
}

#[test]
fn daemon_threads_do_not_keep_the_program_alive() {
    let e = experiment("daemon");
    let f = &e["figures"];
    assert_eq!(f["non_daemon_worker_finished"], true);
    assert!(num(f, "non_daemon_child_s") >= num(f, "work_s"), "{f}");
}

#[test]
fn states_are_observed_in_order() {
    let e = experiment("states");
    assert_eq!(e["verdict"], "holds", "{e}");
    assert!(e["staged"].as_array().is_some_and(|s| !s.is_empty()));
}

#[test]
fn scheduling_runs_the_same_threads_each_time() {
    let e = experiment("scheduling");
    let f = &e["figures"];
    assert!(num(f, "distinct_orders") >= 1.0, "{f}");
    assert!(num(f, "distinct_orders") <= num(f, "runs"), "{f}");
    assert!(
        num(f, "most_common_order_runs") * num(f, "distinct_orders") >= num(f, "runs"),
        "{f}"
    );
}

/// Two worker processes share only a `redis-server` the lab starts; one is SIGKILLed
/// while it holds tasks. Needs `redis-server` installed (`apt-get install
/// redis-server`, or `scripts/test`): without it the lab reports "skipped", and this
/// test fails saying so.
#[test]
fn remote_loses_nothing_when_a_worker_is_killed_mid_task() {
    let e = experiment("remote");
    let f = &e["figures"];
    assert_ne!(
        e["verdict"], "skipped",
        "this test needs redis-server: apt-get install redis-server ({e})"
    );
    assert_eq!(e["verdict"], "holds", "{e}");
    let tasks = num(f, "tasks");
    assert!(tasks >= 10.0, "{f}");
    assert_eq!(num(f, "workers"), 2.0, "{f}");
    assert!(num(f, "killed_worker") > 0.0, "a worker was killed: {f}");
    // Each task the killed worker held started on it and again on the other worker.
    assert!(num(f, "rerun") >= 1.0, "{f}");
    assert!(num(f, "executions") >= tasks + num(f, "rerun"), "{f}");
    assert_eq!(num(f, "results"), tasks, "{f}");
}

/// Without `redis-server` on the PATH, `remote` is skipped, says how to install it, and
/// the exit status ignores it: neither "holds" nor "does not hold".
#[test]
fn remote_without_redis_server_is_skipped_saying_how_to_install_it() {
    // A PATH of one empty folder: the lab needs nothing from it (it starts its workers
    // by its own path), and redis-server is not there.
    let bin = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("path-without-redis");
    std::fs::create_dir_all(&bin).unwrap();
    let without_redis = |args: &[&str]| {
        let mut cmd = command(args);
        cmd.env("PATH", &bin);
        run(cmd, None)
    };

    let out = without_redis(&["lab", "remote", "--quick", "--json"]);
    let report: Value = serde_json::from_str(&out.stdout).expect("stdout is one JSON object");
    let e = &report["experiments"][0];
    assert_eq!(e["verdict"], "skipped", "{e}");
    assert_eq!(e["measured"], NEEDS_REDIS, "{e}");
    assert_verdicts_follow_figures(e);
    assert_eq!(
        out.code,
        Some(0),
        "skipped counts for nothing: {}",
        out.stderr
    );

    let out = without_redis(&["lab", "remote", "--quick"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains(NEEDS_REDIS), "{}", out.stdout);
    assert!(out.stdout.contains("verdict:  skipped"), "{}", out.stdout);
    for verdict in ["holds", "does not hold", "not measured"] {
        assert!(!out.stdout.contains(verdict), "{}", out.stdout);
    }
}

/// Runs `lab gil --quick --json` restricted to one CPU: the CPU affinity is set in the
/// child between fork and exec, so the lab and its worker processes see one core.
#[test]
fn gil_on_one_core_is_not_measured_or_does_not_hold() {
    let one_cpu = first_allowed_cpu();
    let mut cmd = command(&["lab", "gil", "--quick", "--json"]);
    // SAFETY: the closure runs in the forked child before exec and calls only
    // sched_setaffinity (async-signal-safe: a system call) on a set built beforehand.
    unsafe {
        cmd.pre_exec(move || {
            let set = one_cpu;
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run(cmd, None);
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    let e = &report["experiments"][0];
    assert_eq!(e["figures"]["cores_available"], 1, "{e}");
    let verdict = e["verdict"].as_str().unwrap();
    assert!(
        verdict == "not measured" || verdict == "does not hold",
        "on one core the GIL's contrast cannot hold: {e}"
    );
    let parts = e["parts"].as_array().unwrap();
    for part in &parts[..3] {
        assert_eq!(part["verdict"], "not measured", "{part}");
        assert_eq!(part["why"], "only 1 core available", "{part}");
    }
    assert_verdicts_follow_figures(e);
    assert_eq!(
        out.code,
        Some(exit_status_for(&[verdict])),
        "{}",
        out.stderr
    );
}

/// One CPU this process may run on, as a set of its own.
fn first_allowed_cpu() -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is a valid, empty set.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into
    // `allowed`, which is that large.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) };
    assert_eq!(rc, 0, "sched_getaffinity");
    let cpu = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &allowed) })
        .expect("this process may run somewhere");
    // SAFETY: as above.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    one
}

#[test]
fn an_unreadable_urls_file_is_not_measured() {
    let missing = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-urls.txt");
    let run = spindle(&[
        "lab",
        "download",
        "--quick",
        "--json",
        "--urls",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(3), "stderr: {}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON object");
    let e = &report["experiments"][0];
    assert_eq!(e["verdict"], "not measured");
    let measured = e["measured"].as_str().unwrap();
    assert!(
        measured.starts_with("could not be measured: could not read --urls"),
        "{measured}"
    );
    assert!(measured.contains("no-such-urls.txt"), "{measured}");
}

#[test]
fn a_panicking_experiment_is_reported_once_in_the_results() {
    let mut cmd = command(&["lab", "semaphore", "--quick", "--fail-in", "semaphore"]);
    cmd.env("RUST_BACKTRACE", "1");
    let out = run(cmd, None);
    assert_eq!(out.code, Some(3), "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout.matches("a deliberate failure").count(),
        1,
        "once, in the results: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("verdict:  not measured"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("could not be measured: thread 'semaphore experiment' panicked at"),
        "where it panicked: {}",
        out.stdout
    );
    assert_quiet_stderr(&out.stderr);
}

#[test]
fn deliberate_panics_of_experiments_stay_off_stderr() {
    for name in ["hidden-exception", "deadlock"] {
        let mut cmd = command(&["lab", name, "--quick"]);
        cmd.env("RUST_BACKTRACE", "1");
        let out = run(cmd, None);
        assert_eq!(out.code, Some(0), "{name}: {}\n{}", out.stdout, out.stderr);
        assert_quiet_stderr(&out.stderr);
    }
    // The evidence is in the results.
    let out = spindle(&["lab", "hidden-exception", "--quick"]);
    assert!(out.stdout.contains("item 4 is corrupt"), "{}", out.stdout);
    assert_quiet_stderr(&out.stderr);
}

/// Stderr holds the lab's own lines and nothing a panic printed.
fn assert_quiet_stderr(stderr: &str) {
    for noise in [
        "panicked",
        "stack backtrace",
        "Exception in thread",
        "deliberate",
    ] {
        assert!(!stderr.contains(noise), "{noise:?} on stderr: {stderr}");
    }
    assert!(
        stderr.lines().all(|l| l.starts_with("spindle lab: ")),
        "{stderr}"
    );
}

#[test]
fn output_paths_are_checked_before_anything_runs() {
    for option in ["--report", "--trace"] {
        let run = spindle(&["lab", "--quick", option, "/no/such/folder/out"]);
        assert_eq!(run.code, Some(2), "{option}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "nothing ran: {}", run.stdout);
        assert!(
            run.stderr
                .contains(&format!("{option} /no/such/folder/out: cannot be written")),
            "{}",
            run.stderr
        );
    }
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
fn help_lists_the_experiments_and_the_exit_statuses() {
    let run = spindle(&["lab", "--help"]);
    assert_eq!(run.code, Some(0));
    for name in EXPERIMENTS {
        assert!(
            run.stdout.contains(name),
            "{name} missing from: {}",
            run.stdout
        );
    }
    for status in [
        "0  every experiment was measured and its claim held",
        "1  a claim did not hold",
        "2  usage error",
        "3  none failed, but something could not be measured",
        "130  interrupted",
    ] {
        assert!(run.stdout.contains(status), "{status:?} in {}", run.stdout);
    }
    assert!(run.stdout.contains("--trace <FILE>"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("fail-in"),
        "a hidden option: {}",
        run.stdout
    );
}

#[test]
fn text_output_shows_claim_parts_and_verdict_within_80_columns() {
    let run = spindle(&["lab", "semaphore", "--quick"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("== semaphore =="), "{}", run.stdout);
    assert!(run.stdout.contains("claim:"), "{}", run.stdout);
    assert!(run.stdout.contains("peak concurrency 2"), "{}", run.stdout);
    assert!(run.stdout.contains("verdict:  holds"), "{}", run.stdout);
    assert!(
        run.stdout.contains("chart: workers inside"),
        "{}",
        run.stdout
    );
    assert_fits(&run.stdout, 80);
    assert!(
        run.stderr.contains("1 of 1 experiment in"),
        "plurals agree: {}",
        run.stderr
    );
}

fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "{} columns: {line:?}",
            line.chars().count()
        );
    }
}

/// A terminal that reports 0 columns (some CI terminals do) gets 80.
#[test]
fn a_terminal_of_zero_columns_gets_80() {
    let (master, slave) = pty(0);
    let mut cmd = command(&["lab", "deadlock", "--quick"]);
    cmd.stdout(Stdio::from(slave))
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spindle starts");
    // The child has its own copy of the terminal's end; ours is closed with `cmd`.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        // Reading the master ends with EIO once the child has closed the terminal.
        let _ = std::fs::File::from(master).read_to_end(&mut out);
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    });
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < LIMIT, "spindle ran for over {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = reader.join().unwrap();
    assert!(text.contains("== deadlock =="), "{text}");
    assert_fits(&text, 80);
    assert!(
        text.lines().any(|l| l.chars().count() > 60),
        "the table uses the width: {text}"
    );
}

/// A pseudo-terminal whose size reads `columns` columns: (master, slave).
fn pty(columns: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the two ints and reads `size`; the
    // name and termios pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty succeeded, so both are open descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

#[test]
fn ctrl_c_stops_after_the_current_experiment() {
    // The first experiment (sleep) takes over a second in --quick mode.
    let run = run(
        command(&["lab", "--quick", "--json"]),
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
fn whole_lab_reports_in_json_html_and_a_trace() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (html_path, trace_path) = (dir.join("lab-report.html"), dir.join("lab-trace.json"));
    let _ = std::fs::remove_file(&html_path);
    let _ = std::fs::remove_file(&trace_path);
    let run = spindle(&[
        "lab",
        "--quick",
        "--json",
        "--report",
        html_path.to_str().unwrap(),
        "--trace",
        trace_path.to_str().unwrap(),
    ]);

    let report: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON object");
    let experiments = report["experiments"].as_array().unwrap();
    let names: Vec<&str> = experiments
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, EXPERIMENTS);
    let mut verdicts = Vec::new();
    for e in experiments {
        assert_verdicts_follow_figures(e);
        verdicts.push(e["verdict"].as_str().unwrap());
    }
    assert_eq!(
        run.code,
        Some(exit_status_for(&verdicts)),
        "{verdicts:?}; stderr: {}",
        run.stderr
    );

    let html = std::fs::read_to_string(&html_path).expect("the report was written");
    assert!(html.len() < 1_000_000, "the page is {} bytes", html.len());
    let sections = sections(&html);
    let ids: Vec<&str> = sections.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, EXPERIMENTS);
    for (s, e) in sections.iter().zip(experiments) {
        // An experiment with no verdict of its own (it failed, or was skipped) has
        // nothing to chart; every other one has one chart.
        let measured = e["parts"].as_array().is_some_and(|p| !p.is_empty());
        assert_eq!(s.charts, usize::from(measured), "section {}'s charts", s.id);
        assert_eq!(s.timelines, 1, "section {} has one timeline", s.id);
    }
    assert!(!html.contains("<script"), "the report runs no scripts");
    assert!(
        !html.contains("src="),
        "the report loads nothing from outside"
    );

    // The trace opens as a timeline, with the lab's threads under their roles' names.
    let trace = std::fs::read_to_string(&trace_path).expect("the trace was written");
    let timeline = spindle::trace::Timeline::from_chrome_json(&trace).expect("a Chrome trace");
    for role in [
        "sleeper 1",
        "no GIL 1",
        "under the Gil 1",
        "customer 1",
        "downloader_0",
    ] {
        assert!(
            timeline.rows.iter().any(|r| r.name == role),
            "a row named {role:?}"
        );
    }
    let downloader = timeline
        .rows
        .iter()
        .find(|r| r.name == "downloader_0")
        .unwrap();
    assert!(
        downloader.states.iter().any(|s| s.label == "I/O"),
        "downloads are drawn as I/O"
    );
}

/// A `<section>` of the report: its id, and its charts and timelines.
struct Section {
    id: String,
    charts: usize,
    timelines: usize,
}

/// Parses `html` as XML (every element closed, in order) and returns its sections.
fn sections(html: &str) -> Vec<Section> {
    let mut reader = Reader::from_str(html);
    reader.config_mut().check_end_names = true;
    let mut open: Vec<String> = Vec::new();
    let mut found: Vec<Section> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let class = e
                    .try_get_attribute("class")
                    .unwrap()
                    .map(|a| String::from_utf8(a.value.to_vec()).unwrap());
                if name == "section" {
                    let id = e
                        .try_get_attribute("id")
                        .unwrap()
                        .expect("every section has an id");
                    found.push(Section {
                        id: String::from_utf8(id.value.to_vec()).unwrap(),
                        charts: 0,
                        timelines: 0,
                    });
                }
                if name == "svg" && open.iter().any(|o| o == "section") {
                    let section = found.last_mut().expect("inside a section");
                    match class.as_deref() {
                        Some("chart") => section.charts += 1,
                        Some("timeline") => section.timelines += 1,
                        other => panic!("an svg of class {other:?}"),
                    }
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
    found
}
