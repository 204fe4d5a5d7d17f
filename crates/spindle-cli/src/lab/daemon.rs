//! daemon: Python's exit rule, shown with real child processes. A program ends when its
//! non-daemon threads have ended (`join_non_daemon` at the end of main): a daemon worker
//! is cut off, a non-daemon one keeps the program alive until it is done.
//!
//! The child program is this executable again: `spindle __child daemon|non-daemon`.

use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use spindle::thread::{self, Thread};

use super::measure::{human, seconds};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};

pub const EXPERIMENT: Experiment = Experiment {
    name: "daemon",
    claim: "A daemon thread does not keep the program alive: the program exits without \
            waiting for it. A non-daemon thread does: the program waits for it to finish.",
    summary: "child processes whose worker thread is daemon / non-daemon",
    run,
};

/// What the child prints when its main function ends, and when its worker ends.
const MAIN_DONE: &str = "main: end of main";
const WORKER_DONE: &str = "worker: finished";

/// The worker thread of the child program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChildKind {
    /// The worker is a daemon thread.
    Daemon,
    /// The worker is an ordinary (non-daemon) thread.
    NonDaemon,
}

/// The child program: starts a worker that works for `work` then says so, says its main
/// is done, and exits by Python's rule (waiting for non-daemon threads only).
pub fn child_main(kind: ChildKind, work: Duration) -> ExitCode {
    let started = Thread::new(move || {
        thread::sleep(work);
        say(WORKER_DONE);
    })
    .name("worker")
    .daemon(kind == ChildKind::Daemon)
    .start();
    if let Err(e) = started {
        eprintln!("spindle __child: {e}");
        return ExitCode::FAILURE;
    }
    say(MAIN_DONE);
    thread::join_non_daemon();
    ExitCode::SUCCESS
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // The parent reads these lines; if it is gone, there is no one left to tell.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let work = step
        .scale()
        .pick(Duration::from_millis(1000), Duration::from_millis(300));
    let mut f = Findings::new();

    step.phase("a child program whose worker is a daemon thread");
    let daemon = run_child(ChildKind::Daemon, work);
    step.phase("a child program whose worker is a non-daemon thread");
    let non_daemon = run_child(ChildKind::NonDaemon, work);
    step.end_phase();

    for (kind, child) in [("daemon", &daemon), ("non-daemon", &non_daemon)] {
        f.row(
            format!("child whose {kind} worker works {}", human(work)),
            child.describe(),
        );
    }
    f.figure("work_s", seconds(work));
    f.figure("daemon_child_s", seconds(daemon.wall));
    f.figure("daemon_worker_finished", daemon.worker_finished);
    f.figure("non_daemon_child_s", seconds(non_daemon.wall));
    f.figure("daemon_child_clean_exit", daemon.exited_cleanly());
    f.figure("non_daemon_child_clean_exit", non_daemon.exited_cleanly());
    f.figure("non_daemon_worker_finished", non_daemon.worker_finished);

    f.chart(Chart::bars(
        "how long the child program ran",
        vec![
            Bar::new(
                "its worker's work",
                work.as_secs_f64(),
                human(work),
                Tone::Plain,
            ),
            Bar::new(
                "with a daemon worker",
                daemon.wall.as_secs_f64(),
                format!("{}: exited without waiting", human(daemon.wall)),
                Tone::Good,
            ),
            Bar::new(
                "with a non-daemon worker",
                non_daemon.wall.as_secs_f64(),
                format!("{}: waited for the worker", human(non_daemon.wall)),
                Tone::Plain,
            ),
        ],
    ));
    f.check(
        "a daemon thread does not keep the program alive",
        daemon.exited_cleanly() && !daemon.worker_finished && seconds(daemon.wall) < seconds(work),
    );
    f.check(
        "a non-daemon thread does: the program waits for it to finish",
        non_daemon.exited_cleanly()
            && non_daemon.worker_finished
            && seconds(non_daemon.wall) >= seconds(work),
    );
    Ok(f.conclude(format!(
        "with a daemon worker the program exited after {} without it finishing; \
             with a non-daemon worker it exited after {}, once the worker had finished",
        human(daemon.wall),
        human(non_daemon.wall)
    )))
}

/// How a child program ran.
struct ChildRun {
    wall: Duration,
    /// Exit status, `None` if it was killed at the time limit.
    status: Option<i32>,
    main_done: bool,
    worker_finished: bool,
    error: Option<String>,
}

impl ChildRun {
    fn exited_cleanly(&self) -> bool {
        self.status == Some(0) && self.main_done && self.error.is_none()
    }

    fn describe(&self) -> String {
        if let Some(e) = &self.error {
            return format!("failed: {e}");
        }
        match self.status {
            None => format!("still running after {}: killed", human(self.wall)),
            Some(code) => format!(
                "exited ({code}) after {}; the worker {}",
                human(self.wall),
                if self.worker_finished {
                    "finished"
                } else {
                    "was cut off"
                }
            ),
        }
    }
}

/// Starts `spindle __child KIND` and times it until it exits (killing it if it outlives
/// `work` by far).
fn run_child(kind: ChildKind, work: Duration) -> ChildRun {
    let limit = work + Duration::from_secs(10);
    let failed = |e: String| ChildRun {
        wall: Duration::ZERO,
        status: None,
        main_done: false,
        worker_finished: false,
        error: Some(e),
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return failed(format!("cannot find this program: {e}")),
    };
    let kind_arg = kind
        .to_possible_value()
        .expect("every kind has a name")
        .get_name()
        .to_owned();
    let started = Instant::now();
    let spawned = Command::new(exe)
        .args(["__child", &kind_arg, "--work-ms"])
        .arg(work.as_millis().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return failed(format!("cannot start the child program: {e}")),
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return failed(format!("cannot wait for the child program: {e}")),
        }
    };
    let wall = started.elapsed();
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    ChildRun {
        wall,
        status,
        main_done: out.lines().any(|l| l == MAIN_DONE),
        worker_finished: out.lines().any(|l| l == WORKER_DONE),
        error: None,
    }
}
