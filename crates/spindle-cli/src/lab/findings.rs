//! What an experiment found: its figures, a table, a chart, and a verdict for each of
//! its claims, each decided from the figures.

use serde_json::{Map, Value};

use super::report::chart::Chart;
use super::verdict::{Part, Verdict};

/// What an experiment measured and what it concludes.
#[derive(Debug)]
pub struct Findings {
    /// One sentence with the decisive figures.
    pub measured: String,
    /// The claims' verdicts combined (see [`Verdict::combine`]).
    pub verdict: Verdict,
    /// Each claim the experiment tests, with its own verdict.
    pub parts: Vec<Part>,
    /// The measurements, as (what, result) rows of the experiment's table.
    pub rows: Vec<(String, String)>,
    /// The same figures as numbers, for the JSON output (and the tests).
    pub figures: Map<String, Value>,
    /// Evidence worth reading in full, such as a deadlock report.
    pub details: Vec<String>,
    /// How the experiment forces what it shows, where it does (a barrier that makes
    /// the bad interleaving happen every time): said, so that nobody mistakes it for luck.
    pub staged: Vec<String>,
    /// The one picture of the number that is the lesson.
    pub chart: Option<Chart>,
}

impl Findings {
    /// Empty findings, to be filled with `row`, `figure`, `check`..., then `conclude`d.
    pub fn new() -> Findings {
        Findings {
            measured: String::new(),
            verdict: Verdict::NotMeasured,
            parts: Vec::new(),
            rows: Vec::new(),
            figures: Map::new(),
            details: Vec::new(),
            staged: Vec::new(),
            chart: None,
        }
    }

    /// Findings of an experiment that could not measure: `why` in full as evidence, its
    /// first line in the sentence.
    pub fn not_measured(why: &str) -> Findings {
        let mut f = Findings::new();
        let first_line = why.lines().next().unwrap_or_default();
        f.measured = format!("could not be measured: {first_line}");
        if why.contains('\n') {
            f.details.push(why.to_owned());
        }
        f.verdict = Verdict::NotMeasured;
        f
    }

    /// Findings of an experiment that did not run: `why` says what it needs and how to
    /// install it.
    pub fn skipped(why: &str) -> Findings {
        let mut f = Findings::new();
        f.measured = format!("skipped: {why}");
        f.verdict = Verdict::Skipped;
        f
    }

    /// Adds a row to the experiment's table.
    pub fn row(&mut self, what: impl Into<String>, result: impl Into<String>) {
        self.rows.push((what.into(), result.into()));
    }

    /// Adds a figure to the JSON output.
    pub fn figure(&mut self, key: &str, value: impl Into<Value>) {
        self.figures.insert(key.to_owned(), value.into());
    }

    /// Adds a piece of evidence shown in full.
    pub fn detail(&mut self, text: impl Into<String>) {
        self.details.push(text.into());
    }

    /// Says how the experiment forces what it shows.
    pub fn staged(&mut self, how: impl Into<String>) {
        self.staged.push(how.into());
    }

    /// Sets the experiment's chart.
    pub fn chart(&mut self, chart: Chart) {
        self.chart = Some(chart);
    }

    /// One claim, decided from the figures: it holds when `holds`.
    pub fn check(&mut self, claim: impl Into<String>, holds: bool) {
        let verdict = if holds {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        };
        self.part(claim, verdict, "");
    }

    /// One claim with the verdict given, and why if it was not measured (`only 1 core
    /// available`).
    pub fn part(&mut self, claim: impl Into<String>, verdict: Verdict, why: impl Into<String>) {
        self.parts.push(Part {
            claim: claim.into(),
            verdict,
            why: why.into(),
        });
    }

    /// Concludes: the verdict is the claims' verdicts combined, and `measured` says why.
    pub fn conclude(mut self, measured: impl Into<String>) -> Findings {
        self.verdict = Verdict::combine(self.parts.iter().map(|p| p.verdict));
        self.measured = measured.into();
        self
    }
}

impl Default for Findings {
    fn default() -> Findings {
        Findings::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_comes_from_the_parts() {
        let mut f = Findings::new();
        f.check("a", true);
        f.part("b", Verdict::NotMeasured, "only 1 core available");
        let f = f.conclude("figures");
        assert_eq!(f.verdict, Verdict::NotMeasured);
        assert_eq!(f.parts[1].why, "only 1 core available");

        let mut g = Findings::new();
        g.check("a", true);
        g.check("b", false);
        assert_eq!(g.conclude("x").verdict, Verdict::DoesNotHold);
    }

    #[test]
    fn an_experiment_that_failed_says_so_in_one_line() {
        let f = Findings::not_measured("thread \"x\" panicked: boom\nmore");
        assert_eq!(f.verdict, Verdict::NotMeasured);
        assert_eq!(
            f.measured,
            "could not be measured: thread \"x\" panicked: boom"
        );
        assert_eq!(f.details.len(), 1);
    }
}
