//! The lab's report: what each experiment found, as text (`text.rs`), JSON, or an HTML
//! page (`html.rs`) with a chart (`chart.rs`) and a timeline per experiment.

pub mod chart;
mod html;
mod text;

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

pub use html::to_html;
pub use text::{output_width, summary_text, to_text};

use super::findings::Findings;
use super::measure;

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
    parts: Vec<JsonPart<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    staged: &'a [String],
    figures: &'a Map<String, Value>,
    elapsed_s: f64,
}

#[derive(Serialize)]
struct JsonPart<'a> {
    claim: &'a str,
    verdict: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    why: &'a str,
}

/// `{"experiments": [{"name", "claim", "measured", "verdict", "parts": [{"claim",
/// "verdict", "why"}], "staged", "figures", "elapsed_s"}]}`.
pub fn to_json(outcomes: &[Outcome]) -> String {
    let report = JsonReport {
        experiments: outcomes
            .iter()
            .map(|o| JsonExperiment {
                name: o.name,
                claim: o.claim,
                measured: &o.findings.measured,
                verdict: o.findings.verdict.as_str(),
                parts: o
                    .findings
                    .parts
                    .iter()
                    .map(|p| JsonPart {
                        claim: &p.claim,
                        verdict: p.verdict.as_str(),
                        why: &p.why,
                    })
                    .collect(),
                staged: &o.findings.staged,
                figures: &o.findings.figures,
                elapsed_s: measure::seconds(o.elapsed),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&report).expect("the report is plain data")
}

/// Text made safe for XML element content and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::verdict::Verdict;

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    fn outcome(findings: Findings) -> Outcome {
        Outcome {
            name: "gil",
            claim: "a claim",
            findings,
            timeline_svg: None,
            elapsed: Duration::from_millis(1500),
        }
    }

    #[test]
    fn json_carries_each_verdict_and_part() {
        let mut f = Findings::new();
        f.check("I/O stays concurrent", true);
        f.part(
            "threads speed up",
            Verdict::NotMeasured,
            "only 1 core available",
        );
        f.figure("n", 3);
        let f = f.conclude("figures");
        let skipped = Findings::skipped("needs redis-server (apt-get install redis-server)");
        let json: Value = serde_json::from_str(&to_json(&[outcome(f), outcome(skipped)])).unwrap();
        let e = &json["experiments"][0];
        assert_eq!(e["verdict"], "not measured");
        assert_eq!(e["parts"][0]["verdict"], "holds");
        assert!(e["parts"][0].get("why").is_none());
        assert_eq!(e["parts"][1]["why"], "only 1 core available");
        assert_eq!(e["figures"]["n"], 3);
        assert_eq!(e["elapsed_s"], 1.5);
        let s = &json["experiments"][1];
        assert_eq!(s["verdict"], Verdict::Skipped.as_str());
        assert_eq!(
            s["measured"],
            "skipped: needs redis-server (apt-get install redis-server)"
        );
    }
}
