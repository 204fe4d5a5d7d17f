//! The lab's report: what each experiment found, as text, JSON or an HTML page.

mod html;

use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use serde_json::{Map, Value};

pub use html::to_html;

use super::measure;

/// Whether the claim held on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// What was measured agrees with the claim.
    Holds,
    /// What was measured contradicts the claim.
    DoesNotHold,
}

impl Verdict {
    /// `"holds"` or `"does not hold"`, as the JSON output spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
        }
    }
}

/// What an experiment measured and what it concludes.
#[derive(Debug)]
pub struct Findings {
    /// One sentence with the decisive figures.
    pub measured: String,
    /// Decided from the figures, never fixed in advance.
    pub verdict: Verdict,
    /// The measurements, as (what, result) rows of the experiment's table.
    pub rows: Vec<(String, String)>,
    /// The same figures as numbers, for the JSON output (and the tests).
    pub figures: Map<String, Value>,
    /// Evidence worth reading in full, such as a deadlock report.
    pub details: Vec<String>,
}

impl Findings {
    /// Empty findings, to be filled with `row`, `figure` and `detail`, then `conclude`d.
    pub fn new() -> Findings {
        Findings {
            measured: String::new(),
            verdict: Verdict::DoesNotHold,
            rows: Vec::new(),
            figures: Map::new(),
            details: Vec::new(),
        }
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

    /// Concludes: the claim holds when `holds`, and `measured` says why.
    pub fn conclude(mut self, holds: bool, measured: impl Into<String>) -> Findings {
        self.verdict = if holds {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        };
        self.measured = measured.into();
        self
    }
}

impl Default for Findings {
    fn default() -> Findings {
        Findings::new()
    }
}

/// One experiment's result: its claim and what was found.
#[derive(Debug)]
pub struct Outcome {
    /// The experiment's name.
    pub name: &'static str,
    /// The claim it tested.
    pub claim: &'static str,
    /// What it measured and concluded.
    pub findings: Findings,
    /// The SVG timeline of the experiment's threads, recorded only when an HTML report
    /// is asked for (the report shows it under the verdict).
    pub timeline_svg: Option<String>,
    /// How long the experiment ran.
    pub elapsed: Duration,
}

/// The text shown for one outcome: claim, table, measured, verdict.
pub fn to_text(outcome: &Outcome) -> String {
    let f = &outcome.findings;
    let mut out = format!(
        "== {} == ({})\nclaim:    {}\n",
        outcome.name,
        measure::human(outcome.elapsed),
        outcome.claim
    );
    if !f.rows.is_empty() {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(vec!["measured", "result"]);
        for (what, result) in &f.rows {
            table.add_row(vec![what.as_str(), result.as_str()]);
        }
        out.push_str(&format!("{table}\n"));
    }
    for detail in &f.details {
        for line in detail.lines() {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    out.push_str(&format!(
        "measured: {}\nverdict:  {}\n",
        f.measured,
        f.verdict.as_str()
    ));
    out
}

/// The closing summary: one row per experiment.
pub fn summary_text(outcomes: &[Outcome]) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["experiment", "verdict", "measured"]);
    for o in outcomes {
        table.add_row(vec![
            o.name,
            o.findings.verdict.as_str(),
            &o.findings.measured,
        ]);
    }
    table.to_string()
}

#[derive(Serialize)]
struct JsonReport<'a> {
    experiments: Vec<JsonExperiment<'a>>,
}

#[derive(Serialize)]
struct JsonExperiment<'a> {
    name: &'a str,
    claim: &'a str,
    measured: &'a str,
    verdict: &'a str,
    figures: &'a Map<String, Value>,
    elapsed_s: f64,
}

/// `{"experiments": [{"name", "claim", "measured", "verdict", "figures", "elapsed_s"}]}`.
pub fn to_json(outcomes: &[Outcome]) -> String {
    let report = JsonReport {
        experiments: outcomes
            .iter()
            .map(|o| JsonExperiment {
                name: o.name,
                claim: o.claim,
                measured: &o.findings.measured,
                verdict: o.findings.verdict.as_str(),
                figures: &o.findings.figures,
                elapsed_s: measure::seconds(o.elapsed),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&report).expect("the report is plain data")
}
