//! The HTML report: one self-contained page (no scripts, no outside resources), written
//! as XHTML-compatible markup so that any XML parser can read it too.

use std::fmt::Write;

use super::{Outcome, Verdict};
use crate::lab::Scale;
use crate::lab::measure::human;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; }
.machine, .elapsed { color: #666; margin-top: 0; }
section { border-top: 1px solid #ccc; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.claim { font-style: italic; }
.verdict { font-weight: bold; }
.holds { color: #1a7f37; }
.does-not-hold { color: #b3261e; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; }
";

/// The whole page: a summary table, then one `<section id=NAME>` per experiment.
pub fn to_html(outcomes: &[Outcome], scale: Scale) -> String {
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n");
    page.push_str("<head>\n<meta charset=\"utf-8\"/>\n<title>spindle lab</title>\n");
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
        "Measured on {} {} with {cores} cores; {run}.",
        std::env::consts::OS,
        std::env::consts::ARCH
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
            class = verdict_class(o.findings.verdict),
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
    let _ = writeln!(out, "<p>{}</p>", escape(&f.measured));
    let _ = writeln!(
        out,
        "<p class=\"verdict {}\">The claim {}.</p>",
        verdict_class(f.verdict),
        f.verdict.as_str()
    );
    if let Some(svg) = &o.timeline_svg {
        let _ = writeln!(out, "<figure class=\"timeline\">{svg}</figure>");
    }
    out.push_str("</section>\n");
    out
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::DoesNotHold => "does-not-hold",
    }
}

/// Text made safe for element content and attribute values.
fn escape(text: &str) -> String {
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
    use super::escape;

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
