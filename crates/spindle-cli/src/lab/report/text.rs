//! The report as text for a terminal or a pipe: every line wrapped at a readable width.

use comfy_table::{ContentArrangement, Table, presets};

use super::Outcome;
use crate::lab::measure;
use crate::lab::verdict::Verdict;

/// The width when nothing says otherwise: a pipe, or a terminal that reports 0 columns.
const DEFAULT_WIDTH: usize = 80;
/// Wider than this, lines are hard to read; a wide terminal gets this.
const MAX_WIDTH: usize = 110;
/// Narrower than this, the tables cannot be laid out.
const MIN_WIDTH: usize = 40;
/// Where the text after `claim:`, `measured:`... begins.
const INDENT: &str = "          ";

/// The width to wrap at: `COLUMNS` if set to a number, else the terminal's width if
/// stdout is one that reports it, else 80; within 40 and 110.
pub fn output_width() -> usize {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    from_env
        .or_else(terminal_columns)
        .unwrap_or(DEFAULT_WIDTH)
        .clamp(MIN_WIDTH, MAX_WIDTH)
}

/// The columns of the terminal on stdout, if it is one and reports a width.
fn terminal_columns() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points to a
    // live, writable one; on a descriptor that is not a terminal it fails and writes
    // nothing.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// `text` wrapped at `width`, the first line after `label` (padded to the indent), the
/// others under it.
fn labelled(label: &str, text: &str, width: usize) -> String {
    let first = format!("{label:<indent$}", indent = INDENT.len());
    let options = textwrap::Options::new(width)
        .initial_indent(&first)
        .subsequent_indent(INDENT);
    let mut out = textwrap::fill(text, options);
    out.push('\n');
    out
}

fn table(width: usize, header: Vec<&str>) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::DynamicFullWidth)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX))
        .set_header(header);
    table
}

/// The text shown for one outcome: claim, how it is staged, table, chart, details,
/// measured, verdict and the verdict of each claim, at most `width` columns wide.
pub fn to_text(outcome: &Outcome, width: usize) -> String {
    let f = &outcome.findings;
    let mut out = format!(
        "== {} == ({})\n",
        outcome.name,
        measure::human(outcome.elapsed)
    );
    out.push_str(&labelled("claim:", outcome.claim, width));
    for how in &f.staged {
        out.push_str(&labelled("staged:", how, width));
    }
    if !f.rows.is_empty() {
        let mut t = table(width, vec!["measured", "result"]);
        for (what, result) in &f.rows {
            t.add_row(vec![what.as_str(), result.as_str()]);
        }
        out.push_str(&format!("{t}\n"));
    }
    if let Some(chart) = &f.chart {
        for line in chart.to_text(width) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let detail_options = textwrap::Options::new(width)
        .initial_indent("  | ")
        .subsequent_indent("  |   ");
    for detail in &f.details {
        for line in detail.lines() {
            out.push_str(&textwrap::fill(line, &detail_options));
            out.push('\n');
        }
    }
    out.push_str(&labelled("measured:", &f.measured, width));
    out.push_str(&labelled("verdict:", f.verdict.as_str(), width));
    // Each claim's own verdict, when there is more than one to tell apart.
    if f.parts.len() > 1 || f.parts.iter().any(|p| p.verdict != f.verdict) {
        for p in &f.parts {
            let line = if p.why.is_empty() {
                format!("{}: {}", p.verdict.as_str(), p.claim)
            } else {
                format!("{}: {} ({})", p.verdict.as_str(), p.claim, p.why)
            };
            let options = textwrap::Options::new(width)
                .initial_indent("  - ")
                .subsequent_indent("    ");
            out.push_str(&textwrap::fill(&line, options));
            out.push('\n');
        }
    }
    out
}

/// The closing summary: one row per experiment, then a line per verdict that occurred.
pub fn summary_text(outcomes: &[Outcome], width: usize) -> String {
    let mut t = table(width, vec!["experiment", "verdict", "measured"]);
    for o in outcomes {
        t.add_row(vec![
            o.name,
            o.findings.verdict.as_str(),
            &o.findings.measured,
        ]);
    }
    let mut out = format!("{t}\n");
    let count = |v: Verdict| outcomes.iter().filter(|o| o.findings.verdict == v).count();
    let tally: Vec<String> = [
        Verdict::Holds,
        Verdict::DoesNotHold,
        Verdict::NotMeasured,
        Verdict::Skipped,
    ]
    .into_iter()
    .filter(|&v| count(v) > 0)
    .map(|v| format!("{} {}", v.as_str(), count(v)))
    .collect();
    out.push_str(&format!(
        "{}: {}\n",
        measure::plural(outcomes.len(), "experiment"),
        tally.join(", ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lab::findings::Findings;

    fn outcome() -> Outcome {
        let mut f = Findings::new();
        f.row(
            "a measurement described at some length, so that it needs wrapping in a narrow column",
            "a result that is also rather long for one line",
        );
        f.staged("a barrier makes both threads check before either acts, every time");
        f.detail("deadlock: 2 threads wait for each other in a cycle: thread \"takes A then B\" holds Mutex \"A\" and wants Mutex \"B\"");
        f.check("without a lock, updates are lost", true);
        f.part(
            "threads speed up on several cores",
            Verdict::NotMeasured,
            "only 1 core available",
        );
        Outcome {
            name: "race",
            claim: "Threads that read, modify and write shared data without synchronisation lose updates, and a check-then-act lets two threads through.",
            findings: f.conclude(
                "1 of 2 claims measured; the other needs two cores, and this sentence is long",
            ),
            timeline_svg: None,
            elapsed: Duration::from_millis(20),
        }
    }

    #[test]
    fn every_line_fits_the_width() {
        for width in [40, 80, 110] {
            let text = to_text(&outcome(), width);
            for line in text.lines() {
                assert!(
                    line.chars().count() <= width,
                    "{} > {width}: {line:?}",
                    line.chars().count()
                );
            }
            assert!(text.contains("verdict:  not measured"), "{text}");
            assert!(text.contains("staged:"), "{text}");
            let summary = summary_text(&[outcome()], width);
            assert!(
                summary.lines().all(|l| l.chars().count() <= width),
                "{summary}"
            );
        }
    }

    #[test]
    fn each_claim_is_listed_with_why_it_was_not_measured() {
        let text = to_text(&outcome(), 110);
        assert!(
            text.contains("  - holds: without a lock, updates are lost"),
            "{text}"
        );
        assert!(
            text.contains(
                "  - not measured: threads speed up on several cores (only 1 core available)"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_summary_counts_agree_in_number() {
        let summary = summary_text(&[outcome()], 80);
        assert!(
            summary.contains("1 experiment: not measured 1"),
            "{summary}"
        );
    }
}
