//! Runs the chosen experiments one after another, with progress on stderr, and writes
//! what they found. Ctrl-C stops after the current experiment (a second Ctrl-C at once).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spindle::trace::Recorder;

use super::report::{self, Outcome};
use super::{EXPERIMENTS, Experiment, Failed, Findings, Scale, Step, find, measure, names, quiet};

/// The exit status after Ctrl-C, as shells report a SIGINT death (128 + 2).
const INTERRUPTED: u8 = 130;

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
    /// A file of addresses for `download` to fetch instead of its local images.
    pub urls: Option<PathBuf>,
}

/// Runs `spindle lab` and returns its exit status: 0, 2 for an unknown experiment,
/// 1 when the report could not be written, 130 after Ctrl-C.
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
                return ExitCode::from(2);
            }
        },
    };
    quiet::install();
    let progress = progress_bar(chosen.len());
    let stop = stop_on_ctrl_c(&progress);
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for experiment in &chosen {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let outcome = run_one(experiment, opts, &progress);
        if !opts.json {
            progress.suspend(|| println!("{}", report::to_text(&outcome)));
        }
        progress.inc(1);
        outcomes.push(outcome);
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed();

    if opts.json {
        println!("{}", report::to_json(&outcomes));
    } else if outcomes.len() > 1 {
        println!("{}", report::summary_text(&outcomes));
    }
    eprintln!(
        "spindle lab: {} of {} experiments in {}",
        outcomes.len(),
        chosen.len(),
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
                return ExitCode::FAILURE;
            }
        }
    }
    if stop.load(Ordering::SeqCst) {
        eprintln!("spindle lab: interrupted");
        return ExitCode::from(INTERRUPTED);
    }
    ExitCode::SUCCESS
}

/// Runs one experiment. With a report to write, its threads are recorded and drawn as
/// a timeline (only then: recording costs a little on every state change).
fn run_one(experiment: &'static Experiment, opts: &Options, progress: &ProgressBar) -> Outcome {
    progress.set_message(experiment.name);
    let recorder = opts.report.is_some().then(Recorder::start);
    let step = Step {
        scale: opts.scale,
        urls: opts.urls.as_deref(),
        progress,
        name: experiment.name,
    };
    let started = Instant::now();
    let findings = match (experiment.run)(&step) {
        Ok(findings) => findings,
        Err(Failed(why)) => {
            let mut findings = Findings::new();
            let first_line = why.lines().next().unwrap_or_default().to_owned();
            findings.detail(why);
            findings.conclude(false, format!("could not be measured: {first_line}"))
        }
    };
    let elapsed = started.elapsed();
    let timeline_svg = recorder.map(|recorder| {
        recorder.stop();
        recorder.timeline().to_svg()
    });
    Outcome {
        name: experiment.name,
        claim: experiment.claim,
        findings,
        timeline_svg,
        elapsed,
    }
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
