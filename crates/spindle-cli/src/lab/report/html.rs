//! The HTML report: one self-contained page (no scripts, no outside resources), written
//! as XHTML-compatible markup so that any XML parser can read it too. Everything fits
//! its column: pictures scale to it, tables wrap their cells, long reports wrap.

use std::fmt::Write;

use super::{Outcome, escape};
use crate::lab::Scale;
use crate::lab::measure::{human, plural};
use crate::lab::verdict::Verdict;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; max-width: 64rem; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
.machine, .elapsed { color: #666; margin-top: 0; }
section { border-top: 1px solid #ccc; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; width: 100%; table-layout: fixed; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f4f4f4; }
table.summary td:first-child, table.summary th:first-child { width: 11rem; }
table.summary td:nth-child(2), table.summary th:nth-child(2) { width: 8rem; }
.claim { font-style: italic; }
.verdict { font-weight: bold; }
.holds { color: #1a7f37; }
.does-not-hold { color: #b3261e; }
.not-measured { color: #9a6700; }
.skipped { color: #666; }
ul.parts { padding-left: 1.2rem; }
ul.parts li { overflow-wrap: anywhere; }
.staged { background: #fff8e1; border-left: 4px solid #ffb300; padding: 0.4rem 0.8rem; }
pre { background: #f6f8fa; padding: 0.6rem; white-space: pre-wrap; overflow-wrap: anywhere; }
figure { margin: 1rem 0; }
figure svg { display: block; width: 100%; height: auto; }
figure.chart svg { max-width: 48rem; }
figcaption { color: #666; font-size: 0.9rem; }
";

/// The whole page: a summary table, then one `<section id=NAME>` per experiment.
pub fn to_html(outcomes: &[Outcome], scale: Scale) -> String {
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n");
    page.push_str("<head>\n<meta charset=\"utf-8\"/>\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    page.push_str("<title>spindle lab</title>\n");
    let _ = writeln!(page, "<style>{STYLE}</style>\n</head>\n<body>");
    page.push_str("<h1>spindle lab</h1>\n");
    let _ = writeln!(
        page,
        "<p class=\"machine\">{}</p>",
        escape(&machine_line(scale))
    );
    page.push_str(&summary(outcomes));
    for outcome in outcomes {
        page.push_str(&section(outcome));
    }
    page.push_str("</body>\n</html>\n");
    page
}

fn machine_line(scale: Scale) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = match scale {
        Scale::Full => "full run",
        Scale::Quick => "quick run (--quick)",
    };
    format!(
        "Measured on {} {} with {} available; {run}.",
        std::env::consts::OS,
        std::env::consts::ARCH,
        plural(cores, "core")
    )
}

fn summary(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "<table class=\"summary\">\n<tr><th>experiment</th><th>verdict</th><th>measured</th></tr>\n",
    );
    for o in outcomes {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#{name}\">{name}</a></td><td class=\"verdict {class}\">{verdict}</td><td>{measured}</td></tr>",
            name = escape(o.name),
            class = o.findings.verdict.css_class(),
            verdict = o.findings.verdict.as_str(),
            measured = escape(&o.findings.measured),
        );
    }
    out.push_str("</table>\n");
    out
}

fn section(o: &Outcome) -> String {
    let f = &o.findings;
    let mut out = String::new();
    let _ = writeln!(out, "<section id=\"{}\">", escape(o.name));
    let _ = writeln!(out, "<h2>{}</h2>", escape(o.name));
    let _ = writeln!(
        out,
        "<p class=\"elapsed\">ran for {}</p>",
        escape(&human(o.elapsed))
    );
    let _ = writeln!(out, "<p class=\"claim\">{}</p>", escape(o.claim));
    let _ = writeln!(
        out,
        "<p class=\"verdict {}\">{}</p>",
        f.verdict.css_class(),
        escape(&verdict_sentence(f.verdict))
    );
    if !f.parts.is_empty() {
        out.push_str("<ul class=\"parts\">\n");
        for p in &f.parts {
            let why = if p.why.is_empty() {
                String::new()
            } else {
                format!(" ({})", escape(&p.why))
            };
            let _ = writeln!(
                out,
                "<li><span class=\"verdict {}\">{}</span>: {}{why}</li>",
                p.verdict.css_class(),
                p.verdict.as_str(),
                escape(&p.claim)
            );
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(out, "<p class=\"measured\">{}</p>", escape(&f.measured));
    for how in &f.staged {
        let _ = writeln!(
            out,
            "<p class=\"staged\"><strong>Staged:</strong> {}</p>",
            escape(how)
        );
    }
    if let Some(chart) = &f.chart {
        let _ = writeln!(out, "<figure class=\"chart\">{}</figure>", chart.to_svg());
    }
    if !f.rows.is_empty() {
        out.push_str("<table>\n<tr><th>measured</th><th>result</th></tr>\n");
        for (what, result) in &f.rows {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(what),
                escape(result)
            );
        }
        out.push_str("</table>\n");
    }
    for detail in &f.details {
        let _ = writeln!(out, "<pre>{}</pre>", escape(detail));
    }
    if let Some(svg) = &o.timeline_svg {
        let _ = writeln!(
            out,
            "<figure class=\"timeline\">{svg}<figcaption>Every thread of the experiment, \
             grouped by phase; hover a bar for what it was. Open the run's --trace file in \
             Perfetto to zoom in.</figcaption></figure>"
        );
    }
    out.push_str("</section>\n");
    out
}

fn verdict_sentence(v: Verdict) -> String {
    match v {
        Verdict::Holds => "The claim holds.".to_owned(),
        Verdict::DoesNotHold => "The claim does not hold here.".to_owned(),
        Verdict::NotMeasured => "Not measured: this run could not decide.".to_owned(),
        Verdict::Skipped => "Skipped.".to_owned(),
    }
}
