//! `spindle lab`: every classic threading claim, measured on this machine.
//!
//! Each experiment lives in its own file and is one entry of [`EXPERIMENTS`]: a name, the
//! claim it tests, and a function that measures and returns [`Findings`]: figures, a
//! table, a chart, and a verdict for each part of the claim, decided from the figures.
//! The runner (`runner.rs`) runs each on a thread of its own, with progress and Ctrl-C
//! handling; `report.rs` turns the outcomes into text, JSON or an HTML page.
//!
//! An experiment has four possible verdicts (`verdict.rs`): it holds, it does not hold,
//! it could not be measured (return `Err(Unmeasured::Failed(why))`, or mark one claim
//! with [`Findings::part`]), or it was skipped because the machine lacks what
//! it needs (return `Err(Unmeasured::Skipped("needs redis-server (install it: apt-get
//! install redis-server)"))`, as `remote` does): skipped is neither holds nor does not
//! hold, and the exit status ignores it.
//!
//! Adding an experiment: write `lab/NAME.rs` with a `pub const EXPERIMENT: Experiment`,
//! and list it in [`EXPERIMENTS`]. Name its threads for their role, and call
//! [`Step::phase`] as it moves from one part to the next: the report's timeline groups
//! the threads by phase.

pub mod daemon;
mod deadlock;
mod download;
mod executor;
mod findings;
mod gil;
mod hidden_exception;
mod machine;
mod measure;
mod outputs;
mod producer_consumer;
mod quiet;
mod race;
mod remote;
mod report;
mod runner;
mod rwlock;
mod scheduling;
mod semaphore;
mod sleep;
mod states;
mod verdict;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

pub use findings::Findings;
pub use measure::Unmeasured;
pub use runner::{EXIT_STATUSES, Options, run};

/// How big an experiment's run is: `Full` by default, `Quick` with `--quick` (CI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The default: durations as the tutorials have them, for clear figures.
    Full,
    /// Scaled down so that each experiment takes a few seconds at most.
    Quick,
}

impl Scale {
    /// `full` in a full run, `quick` in a quick one.
    pub fn pick<T>(self, full: T, quick: T) -> T {
        match self {
            Scale::Full => full,
            Scale::Quick => quick,
        }
    }
}

/// One experiment: the claim it tests and how it measures it.
pub struct Experiment {
    /// The name on the command line and in reports (`spindle lab NAME`).
    pub name: &'static str,
    /// The claim, as the tutorials make it.
    pub claim: &'static str,
    /// One line for `spindle lab --help`: what is run.
    pub summary: &'static str,
    /// Measures, and concludes from what it measured; `Err` when nothing conclusive
    /// could be measured (a thread panicked or hung) or the experiment was skipped.
    pub run: fn(&Step) -> Result<Findings, Unmeasured>,
}

/// What an experiment gets while it runs: its scale, the lab's options, and a way to
/// say what it is doing.
pub struct Step {
    scale: Scale,
    urls: Option<PathBuf>,
    progress: indicatif::ProgressBar,
    name: &'static str,
    /// The phases so far: name, start, end (`None` for the current one).
    phases: Mutex<Vec<(String, Instant, Option<Instant>)>>,
    /// Panic at the first `show` or `phase` (`--fail-in`): how a failing experiment
    /// is reported, checked.
    fail_on_purpose: bool,
}

impl Step {
    /// The scale of this run.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// The file of addresses given with `--urls`, for `download` to fetch instead of
    /// its local images.
    pub fn urls(&self) -> Option<&Path> {
        self.urls.as_deref()
    }

    /// Shows which part of the experiment is running.
    pub fn show(&self, what: &str) {
        if self.fail_on_purpose {
            panic!(
                "a deliberate failure (--fail-in {}), to show how a panicking experiment is reported",
                self.name
            );
        }
        self.progress.set_message(format!("{}: {what}", self.name));
    }

    /// Ends the current phase, if any, and begins the one called `name` (`4 threads, no
    /// GIL`): the report's timeline groups the threads started in it under that name,
    /// with its duration. Also shows it as the part running.
    pub fn phase(&self, name: impl Into<String>) {
        let name = name.into();
        self.show(&name);
        let now = Instant::now();
        let mut phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, end @ None)) = phases.last_mut() {
            *end = Some(now);
        }
        phases.push((name, now, None));
    }

    /// Ends the current phase (time after it belongs to none).
    pub fn end_phase(&self) {
        let mut phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, end @ None)) = phases.last_mut() {
            *end = Some(Instant::now());
        }
    }

    /// The phases, the last one ended at `end` if still open.
    fn phases_until(&self, end: Instant) -> Vec<(String, Instant, Instant)> {
        let phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        phases
            .iter()
            .map(|(name, start, stop)| (name.clone(), *start, stop.unwrap_or(end)))
            .collect()
    }
}

/// Every experiment available, in the order `spindle lab` runs them.
pub const EXPERIMENTS: &[Experiment] = &[
    sleep::EXPERIMENT,
    gil::EXPERIMENT,
    race::EXPERIMENT,
    deadlock::EXPERIMENT,
    producer_consumer::EXPERIMENT,
    rwlock::EXPERIMENT,
    semaphore::EXPERIMENT,
    daemon::EXPERIMENT,
    states::EXPERIMENT,
    executor::EXPERIMENT,
    hidden_exception::EXPERIMENT,
    download::EXPERIMENT,
    scheduling::EXPERIMENT,
    remote::EXPERIMENT,
];

/// The experiments' names, in run order.
pub fn names() -> Vec<&'static str> {
    EXPERIMENTS.iter().map(|e| e.name).collect()
}

/// The experiment called `name`.
pub fn find(name: &str) -> Option<&'static Experiment> {
    EXPERIMENTS.iter().find(|e| e.name == name)
}

/// The list of experiments and the exit statuses, shown by `spindle lab --help`.
pub fn help_listing() -> String {
    let width = EXPERIMENTS.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let mut out = String::from("Experiments:\n");
    for e in EXPERIMENTS {
        out.push_str(&format!("  {:width$}  {}\n", e.name, e.summary));
    }
    out.push_str("\nExit status:\n");
    for (code, meaning) in EXIT_STATUSES {
        out.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    out.push_str(
        "\nExamples:\n  spindle lab race --quick\n  spindle lab --report lab.html --trace lab.json\n    (open lab.html in a browser; lab.json in https://ui.perfetto.dev)",
    );
    out
}
