//! Runs the chosen experiments one after another, each on a thread of its own (so that a
//! panic or a hang becomes its result, not the lab's end), with progress on stderr, and
//! writes what they found. Ctrl-C stops after the current experiment (a second Ctrl-C
//! at once).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spindle::thread::Thread;
use spindle::trace::{Recorder, SvgOptions, Timeline};

use super::measure::{self, Unmeasured, join_within};
use super::report::{self, Outcome};
use super::verdict::Verdict;
use super::{EXPERIMENTS, Experiment, Findings, Scale, Step, find, names, outputs, quiet};

/// Every claim was measured and held (skipped experiments aside).
const ALL_HELD: u8 = 0;
/// At least one claim did not hold.
const DID_NOT_HOLD: u8 = 1;
/// A usage error: an unknown experiment or option, an output path that cannot be written.
const USAGE: u8 = 2;
/// Nothing did not hold, but something could not be measured.
const NOT_MEASURED: u8 = 3;
/// The experiments ran, but the report or the trace could not be written.
const OUTPUT_FAILED: u8 = 4;
/// After Ctrl-C, as shells report a SIGINT death (128 + 2).
const INTERRUPTED: u8 = 130;

/// The exit statuses of `spindle lab` and what each means (for `--help`).
pub const EXIT_STATUSES: [(u8, &str); 6] = [
    (
        ALL_HELD,
        "every experiment was measured and its claim held (skipped ones aside)",
    ),
    (DID_NOT_HOLD, "a claim did not hold on this machine"),
    (
        USAGE,
        "usage error: unknown experiment or option, or an output file that cannot be written",
    ),
    (
        NOT_MEASURED,
        "none failed, but something could not be measured (see its verdict)",
    ),
    (
        OUTPUT_FAILED,
        "the report or the trace could not be written after the run",
    ),
    (INTERRUPTED, "interrupted with Ctrl-C"),
];

/// The longest an experiment may run before it counts as hung.
const EXPERIMENT_LIMIT: Duration = Duration::from_secs(180);

/// What `spindle lab` was asked to do.
pub struct Options {
    /// One experiment's name, or `None` for all of them.
    pub name: Option<String>,
    /// Full or quick.
    pub scale: Scale,
    /// JSON on stdout instead of tables.
    pub json: bool,
    /// Where to write the HTML report, if anywhere.
    pub report: Option<PathBuf>,
    /// Where to write the run's Chrome trace, if anywhere.
    pub trace: Option<PathBuf>,
    /// A file of addresses for `download` to fetch instead of its local images.
    pub urls: Option<PathBuf>,
    /// Make this experiment panic on purpose (hidden; for checking how failures show).
    pub fail_in: Option<String>,
}

/// Runs `spindle lab` and returns its exit status (see [`EXIT_STATUSES`]).
pub fn run(opts: &Options) -> ExitCode {
    let chosen: Vec<&'static Experiment> = match &opts.name {
        None => EXPERIMENTS.iter().collect(),
        Some(name) => match find(name) {
            Some(e) => vec![e],
            None => {
                eprintln!(
                    "spindle lab: no experiment named {name:?}; the experiments are: {}",
                    names().join(", ")
                );
                return ExitCode::from(USAGE);
            }
        },
    };
    let outputs: Vec<(&str, &std::path::Path)> = [
        ("--report", opts.report.as_deref()),
        ("--trace", opts.trace.as_deref()),
    ]
    .into_iter()
    .filter_map(|(option, path)| Some((option, path?)))
    .collect();
    if let Err(problem) = outputs::check_all(&outputs) {
        eprintln!("spindle lab: {problem}");
        return ExitCode::from(USAGE);
    }

    quiet::install();
    let width = report::output_width();
    let progress = progress_bar(chosen.len());
    let stop = stop_on_ctrl_c(&progress);
    let recording = (opts.report.is_some() || opts.trace.is_some()).then(|| {
        // The recorder counts time from its start, a few microseconds after this.
        let origin = Instant::now();
        (origin, Recorder::start())
    });
    let started = Instant::now();
    let mut runs = Vec::new();
    for experiment in &chosen {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let run = run_one(experiment, opts, &progress);
        if !opts.json {
            progress.suspend(|| println!("{}", report::to_text(&run.outcome, width)));
        }
        progress.inc(1);
        runs.push(run);
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    if let Some((_, recorder)) = &recording {
        recorder.stop();
    }

    let mut output_failed = false;
    if let (Some((_, recorder)), Some(path)) = (&recording, &opts.trace) {
        match recorder.write_chrome_json(path) {
            Ok(()) => eprintln!(
                "spindle lab: trace written to {} (open it in https://ui.perfetto.dev)",
                path.display()
            ),
            Err(e) => {
                eprintln!(
                    "spindle lab: could not write the trace to {}: {e}",
                    path.display()
                );
                output_failed = true;
            }
        }
    }
    if let (Some((origin, recorder)), Some(_)) = (&recording, &opts.report) {
        let timeline = recorder.timeline();
        let runner = spindle::thread::current().id();
        for run in &mut runs {
            run.outcome.timeline_svg = Some(draw_timeline(&timeline, *origin, run, runner));
        }
    }
    let outcomes: Vec<Outcome> = runs.into_iter().map(|r| r.outcome).collect();

    if opts.json {
        println!("{}", report::to_json(&outcomes));
    } else if outcomes.len() > 1 {
        println!("{}", report::summary_text(&outcomes, width));
    }
    eprintln!(
        "spindle lab: {} of {} in {}",
        outcomes.len(),
        measure::plural(chosen.len(), "experiment"),
        measure::human(elapsed)
    );
    if let Some(path) = &opts.report {
        match std::fs::write(path, report::to_html(&outcomes, opts.scale)) {
            Ok(()) => eprintln!("spindle lab: report written to {}", path.display()),
            Err(e) => {
                eprintln!(
                    "spindle lab: could not write the report to {}: {e}",
                    path.display()
                );
                output_failed = true;
            }
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    if interrupted {
        eprintln!("spindle lab: interrupted");
    }
    ExitCode::from(exit_status(
        outcomes.iter().map(|o| o.findings.verdict),
        interrupted,
        output_failed,
    ))
}

/// The exit status for these verdicts: a claim that did not hold outweighs one not
/// measured; skipped experiments count for nothing.
fn exit_status(
    verdicts: impl IntoIterator<Item = Verdict>,
    interrupted: bool,
    output_failed: bool,
) -> u8 {
    if interrupted {
        return INTERRUPTED;
    }
    let verdicts: Vec<Verdict> = verdicts.into_iter().collect();
    if verdicts.contains(&Verdict::DoesNotHold) {
        DID_NOT_HOLD
    } else if verdicts.contains(&Verdict::NotMeasured) {
        NOT_MEASURED
    } else if output_failed {
        OUTPUT_FAILED
    } else {
        ALL_HELD
    }
}

/// One experiment's outcome, with when it ran and its phases (for its timeline).
struct Run {
    outcome: Outcome,
    start: Instant,
    end: Instant,
    phases: Vec<(String, Instant, Instant)>,
}

/// Runs one experiment on a thread named after it, and turns a panic, a hang or an
/// `Err` into its findings.
fn run_one(experiment: &'static Experiment, opts: &Options, progress: &ProgressBar) -> Run {
    progress.set_message(experiment.name);
    let step = Arc::new(Step {
        scale: opts.scale,
        urls: opts.urls.clone(),
        progress: progress.clone(),
        name: experiment.name,
        phases: Mutex::new(Vec::new()),
        fail_on_purpose: opts.fail_in.as_deref() == Some(experiment.name),
    });
    let thread_name = format!("{} experiment", experiment.name);
    let running = quiet::running();
    let start = Instant::now();
    let on_thread = Arc::clone(&step);
    let result = Thread::new(move || (experiment.run)(&on_thread))
        .name(thread_name.clone())
        // A hung experiment is left behind; it must not keep the lab from exiting.
        .daemon(true)
        .start()
        .map_err(|e| format!("could not start its thread: {e}"))
        .and_then(|handle| match join_within(handle, EXPERIMENT_LIMIT) {
            Some(Ok(result)) => Ok(result),
            Some(Err(p)) => Err(format!(
                "thread \"{thread_name}\" panicked: {}",
                p.message()
            )),
            None => Err(format!(
                "still running after {}: left behind",
                measure::human(EXPERIMENT_LIMIT)
            )),
        });
    let end = Instant::now();
    drop(running);
    let mut unexpected = quiet::take_unexpected();
    let mut findings = match result {
        Ok(Ok(findings)) => findings,
        Ok(Err(Unmeasured::Failed(why))) => Findings::not_measured(&why),
        Ok(Err(Unmeasured::Skipped(why))) => Findings::skipped(&why),
        Err(why) => {
            // The panic hook saw where it panicked: say it once, with the place.
            let prefix = format!("thread '{thread_name}' panicked");
            let why = match unexpected.iter().position(|u| u.starts_with(&prefix)) {
                Some(i) => unexpected.remove(i),
                None => why,
            };
            Findings::not_measured(&why)
        }
    };
    for panic in unexpected {
        findings.detail(format!("unexpected: {panic}"));
    }
    Run {
        outcome: Outcome {
            name: experiment.name,
            claim: experiment.claim,
            findings,
            timeline_svg: None,
            elapsed: end - start,
        },
        start,
        end,
        phases: step.phases_until(end),
    }
}

/// The timeline of one experiment's stretch of the run, its threads grouped by phase
/// (the runner's own thread, which only waits for it, left out).
fn draw_timeline(timeline: &Timeline, origin: Instant, run: &Run, runner: u64) -> String {
    let us = |t: Instant| t.saturating_duration_since(origin).as_secs_f64() * 1e6;
    let mut own = timeline.clip(us(run.start), us(run.end));
    own.rows.retain(|row| row.thread_id != runner);
    let mut options = SvgOptions::new().width(1000.0).row_height(20.0);
    for (name, start, end) in &run.phases {
        options = options.phase(name.clone(), us(*start), us(*end));
    }
    own.to_svg_with(&options)
}

/// A bar on stderr (hidden when stderr is not a terminal, as under CI).
fn progress_bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed:>3} {wide_msg}")
        .expect("the template is valid");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A flag raised by the first Ctrl-C; the second one exits at once.
fn stop_on_ctrl_c(progress: &ProgressBar) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let bar = progress.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(INTERRUPTED));
        }
        let note = "stopping after the current experiment (Ctrl-C again to quit now)";
        if bar.is_hidden() {
            eprintln!("spindle lab: {note}");
        } else {
            bar.println(note);
        }
    });
    if let Err(e) = installed {
        eprintln!("spindle lab: Ctrl-C will not stop cleanly: {e}");
    }
    stop
}

#[cfg(test)]
mod tests {
    use super::Verdict::*;
    use super::*;

    #[test]
    fn the_exit_status_says_what_happened() {
        assert_eq!(exit_status([Holds, Holds], false, false), ALL_HELD);
        assert_eq!(exit_status([Holds, Skipped], false, false), ALL_HELD);
        assert_eq!(
            exit_status([Holds, DoesNotHold], false, false),
            DID_NOT_HOLD
        );
        assert_eq!(
            exit_status([NotMeasured, Holds], false, false),
            NOT_MEASURED
        );
        // A claim that did not hold is the news, whatever else could not be measured.
        assert_eq!(
            exit_status([NotMeasured, DoesNotHold], false, false),
            DID_NOT_HOLD
        );
        assert_eq!(exit_status([Holds], false, true), OUTPUT_FAILED);
        assert_eq!(exit_status([DoesNotHold], true, false), INTERRUPTED);
    }

    #[test]
    fn every_status_is_documented_once() {
        let codes: Vec<u8> = EXIT_STATUSES.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 130]);
    }
}
