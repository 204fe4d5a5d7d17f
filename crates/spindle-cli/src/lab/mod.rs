//! `spindle lab`: every classic threading claim, measured on this machine.
//!
//! Each experiment lives in its own file and is one entry of [`EXPERIMENTS`]: a name, the
//! claim it tests, and a function that measures and returns [`Findings`] whose verdict
//! comes from the measurement. The runner (`runner.rs`) runs them with progress and
//! Ctrl-C handling; `report.rs` turns the outcomes into text, JSON or an HTML page.
//!
//! Adding an experiment: write `lab/NAME.rs` with a `pub const EXPERIMENT: Experiment`,
//! and list it in [`EXPERIMENTS`].

pub mod daemon;
mod deadlock;
mod download;
mod executor;
mod gil;
mod hidden_exception;
mod measure;
mod producer_consumer;
mod quiet;
mod race;
mod report;
mod runner;
mod rwlock;
mod semaphore;
mod sleep;
mod states;

pub use measure::Failed;
pub use report::Findings;
pub use runner::{Options, run};

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
    /// Measures, and concludes from what it measured; fails if a thread of the
    /// experiment panicked or hung, so that nothing was measured.
    pub run: fn(&Step<'_>) -> Result<Findings, Failed>,
}

/// What an experiment gets while it runs: its scale, the lab's options, and a way to
/// say what it is doing.
pub struct Step<'a> {
    scale: Scale,
    urls: Option<&'a std::path::Path>,
    progress: &'a indicatif::ProgressBar,
    name: &'static str,
}

impl Step<'_> {
    /// The scale of this run.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// The file of addresses given with `--urls`, for `download` to fetch instead of
    /// its local images.
    pub fn urls(&self) -> Option<&std::path::Path> {
        self.urls
    }

    /// Shows which part of the experiment is running.
    pub fn show(&self, what: &str) {
        self.progress.set_message(format!("{}: {what}", self.name));
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
];

/// The experiments' names, in run order.
pub fn names() -> Vec<&'static str> {
    EXPERIMENTS.iter().map(|e| e.name).collect()
}

/// The experiment called `name`.
pub fn find(name: &str) -> Option<&'static Experiment> {
    EXPERIMENTS.iter().find(|e| e.name == name)
}

/// The list of experiments shown by `spindle lab --help`.
pub fn help_listing() -> String {
    let width = EXPERIMENTS.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let mut out = String::from("Experiments:\n");
    for e in EXPERIMENTS {
        out.push_str(&format!("  {:width$}  {}\n", e.name, e.summary));
    }
    out.push_str("\nExample: spindle lab race --quick");
    out
}
