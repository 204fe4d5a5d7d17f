//! The one chart of an experiment, where a number is the lesson: bars side by side
//! (times, counts, shares), or a value over time (how many workers were inside the
//! semaphore). Drawn as SVG for the HTML report and as text bars for the terminal.

use std::fmt::Write;

use super::escape;

/// A chart of an experiment's decisive figures.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Horizontal bars, one per measurement, longest value the full width.
    Bars {
        /// What the bars measure (`wall time, shorter is faster`).
        title: String,
        bars: Vec<Bar>,
    },
    /// A value over time, drawn as steps, with a limit line.
    Steps {
        title: String,
        /// What the value is (`workers inside`).
        what: String,
        /// (milliseconds since the start, value), in time order.
        points: Vec<(f64, f64)>,
        /// A line across the chart, and what it is (`2 permits`).
        limit: Option<(f64, String)>,
    },
}

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// The figure shown after the bar (`1.52 s, 2.6x faster`).
    pub note: String,
    pub tone: Tone,
}

/// What a bar stands for, shown by its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// The baseline (sequential, no synchronisation...).
    Plain,
    /// The approach the lesson recommends.
    Good,
    /// The approach the lesson warns about.
    Bad,
}

impl Tone {
    fn colour(self) -> &'static str {
        match self {
            Tone::Plain => "#78909c",
            Tone::Good => "#43a047",
            Tone::Bad => "#e53935",
        }
    }
}

impl Bar {
    pub fn new(label: impl Into<String>, value: f64, note: impl Into<String>, tone: Tone) -> Bar {
        Bar {
            label: label.into(),
            value,
            note: note.into(),
            tone,
        }
    }
}

/// The width the charts are drawn at (they scale down with the page).
const WIDTH: f64 = 720.0;
const BAR_HEIGHT: f64 = 22.0;
const CHAR: f64 = 7.0;

impl Chart {
    /// The bar chart of `bars`.
    pub fn bars(title: impl Into<String>, bars: Vec<Bar>) -> Chart {
        Chart::Bars {
            title: title.into(),
            bars,
        }
    }

    /// The chart as a standalone SVG element (`<svg class="chart">`).
    pub fn to_svg(&self) -> String {
        match self {
            Chart::Bars { title, bars } => bars_svg(title, bars),
            Chart::Steps {
                title,
                what,
                points,
                limit,
            } => steps_svg(title, what, points, limit.as_ref()),
        }
    }

    /// The chart as lines of text at most `width` characters wide.
    pub fn to_text(&self, width: usize) -> Vec<String> {
        match self {
            Chart::Bars { title, bars } => bars_text(title, bars, width),
            Chart::Steps {
                title,
                what,
                points,
                limit,
            } => steps_text(title, what, points, limit.as_ref(), width),
        }
    }
}

fn bars_svg(title: &str, bars: &[Bar]) -> String {
    let label_width = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0)
        .min(40) as f64
        * CHAR
        + 16.0;
    let note_width = bars
        .iter()
        .map(|b| b.note.chars().count())
        .max()
        .unwrap_or(0) as f64
        * CHAR
        + 12.0;
    let plot = (WIDTH - label_width - note_width - 8.0).max(120.0);
    let width = label_width + plot + note_width + 8.0;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let height = 30.0 + BAR_HEIGHT * bars.len() as f64 + 6.0;
    let mut svg = open_svg(width, height, title);
    for (i, bar) in bars.iter().enumerate() {
        let y = 30.0 + BAR_HEIGHT * i as f64;
        let w = if max > 0.0 {
            (bar.value / max * plot).max(1.0)
        } else {
            1.0
        };
        let _ = writeln!(
            svg,
            r#"<g class="bar"><text x="8" y="{:.1}">{}</text><rect x="{label_width:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            y + 15.0,
            escape(&shorten(&bar.label, 40)),
            y + 3.0,
            BAR_HEIGHT - 6.0,
            bar.tone.colour(),
            escape(&bar.label),
            escape(&bar.note),
            label_width + w + 6.0,
            y + 15.0,
            escape(&bar.note)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn steps_svg(
    title: &str,
    what: &str,
    points: &[(f64, f64)],
    limit: Option<&(f64, String)>,
) -> String {
    let (left, right, top, bottom) = (48.0, 16.0, 30.0, 36.0);
    let plot_height = 140.0;
    let height = top + plot_height + bottom;
    let plot_width = WIDTH - left - right;
    let end_ms = points.last().map_or(1.0, |p| p.0).max(1e-3);
    let max = points
        .iter()
        .map(|p| p.1)
        .chain(limit.map(|l| l.0))
        .fold(1.0, f64::max)
        .ceil();
    let x = |ms: f64| left + ms / end_ms * plot_width;
    let y = |v: f64| top + plot_height - v / max * plot_height;
    let mut svg = open_svg(WIDTH, height, title);
    // Axes: a grid line per whole value, time at the start and the end.
    for v in 0..=(max as u32) {
        let yy = y(f64::from(v));
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            left + plot_width,
            left - 6.0,
            yy + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="{:.1}">0 ms</text><text x="{:.1}" y="{:.1}" text-anchor="end">{end_ms:.0} ms</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        top + plot_height + 16.0,
        left + plot_width,
        top + plot_height + 16.0,
        left + plot_width / 2.0,
        top + plot_height + 30.0,
        escape(what)
    );
    let mut path = String::new();
    let mut last: Option<f64> = None;
    for &(ms, v) in points {
        match last {
            None => {
                let _ = write!(path, "M{:.1},{:.1}", x(ms), y(v));
            }
            Some(prev) => {
                let _ = write!(
                    path,
                    " L{:.1},{:.1} L{:.1},{:.1}",
                    x(ms),
                    y(prev),
                    x(ms),
                    y(v)
                );
            }
        }
        last = Some(v);
    }
    let _ = writeln!(
        svg,
        r##"<path class="series" d="{path}" fill="none" stroke="#1e88e5" stroke-width="2"><title>{}</title></path>"##,
        escape(what)
    );
    if let Some((value, name)) = limit {
        let yy = y(*value);
        let _ = writeln!(
            svg,
            r##"<line class="limit" x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e53935" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#e53935">{}</text>"##,
            left + plot_width,
            left + plot_width,
            yy - 4.0,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open_svg(width: f64, height: f64, title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<text class="title" x="8" y="18" font-weight="bold">{}</text>"#,
        escape(title)
    );
    svg
}

fn bars_text(title: &str, bars: &[Bar], width: usize) -> Vec<String> {
    let label_width = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0)
        .min(width / 3);
    let note_width = bars
        .iter()
        .map(|b| b.note.chars().count())
        .max()
        .unwrap_or(0);
    // Bars get what the labels and notes leave, at least 8 cells; notes are cut to fit.
    const MIN_BAR: usize = 8;
    let note_width = note_width.min(width.saturating_sub(2 + label_width + 2 + MIN_BAR));
    let room = width
        .saturating_sub(2 + label_width + 2 + note_width)
        .max(1);
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let mut lines = title_lines(title, width);
    for bar in bars {
        let cells = if max > 0.0 {
            ((bar.value / max) * room as f64).round().max(1.0) as usize
        } else {
            1
        };
        let label = shorten(&bar.label, label_width);
        lines.push(format!(
            "  {label:<label_width$} {} {}",
            "█".repeat(cells),
            shorten(&bar.note, note_width)
        ));
    }
    lines
}

fn steps_text(
    title: &str,
    what: &str,
    points: &[(f64, f64)],
    limit: Option<&(f64, String)>,
    width: usize,
) -> Vec<String> {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let cells = width.saturating_sub(4).clamp(8, 72);
    let end_ms = points.last().map_or(0.0, |p| p.0);
    let max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0);
    let mut line = String::from("  ");
    for i in 0..cells {
        let at = end_ms * i as f64 / cells as f64;
        // The value in force at `at`: the last point at or before it.
        let v = points
            .iter()
            .take_while(|p| p.0 <= at)
            .last()
            .map_or(0.0, |p| p.1);
        let level = ((v / max) * (LEVELS.len() - 1) as f64).round() as usize;
        line.push(if v == 0.0 { ' ' } else { LEVELS[level] });
    }
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let mut summary = format!("{what} over {end_ms:.0} ms: peak {peak:.0}");
    if let Some((value, name)) = limit {
        let _ = write!(summary, " (limit {value:.0}: {name})");
    }
    let mut lines = title_lines(title, width);
    lines.push(line);
    let options = textwrap::Options::new(width)
        .initial_indent("  ")
        .subsequent_indent("  ");
    lines.extend(
        textwrap::wrap(&summary, options)
            .into_iter()
            .map(String::from),
    );
    lines
}

/// `chart: TITLE`, wrapped at `width`.
fn title_lines(title: &str, width: usize) -> Vec<String> {
    let options = textwrap::Options::new(width).subsequent_indent("       ");
    textwrap::wrap(&format!("chart: {title}"), options)
        .into_iter()
        .map(String::from)
        .collect()
}

/// `text` cut to `max` characters, the last an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chart {
        Chart::bars(
            "wall time",
            vec![
                Bar::new("sequential", 2.0, "2.00 s", Tone::Plain),
                Bar::new("4 threads", 0.5, "0.50 s, 4.0x faster", Tone::Good),
            ],
        )
    }

    #[test]
    fn bars_are_as_long_as_their_values() {
        let lines = sample().to_text(60);
        assert_eq!(lines[0], "chart: wall time");
        let cells = |l: &str| l.chars().filter(|&c| c == '█').count();
        // 4 times as long, give or take the rounding of each to whole cells.
        let (long, short) = (cells(&lines[1]), cells(&lines[2]));
        assert!(
            long.abs_diff(4 * short) <= 2,
            "{long} and {short}: {lines:?}"
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:?}");
    }

    #[test]
    fn long_titles_and_notes_still_fit() {
        let chart = Chart::bars(
            "a title that goes on and on, much longer than any terminal line would be, on purpose",
            vec![Bar::new(
                "a label",
                1.0,
                "a note that is also far too long to sit beside a bar in forty columns",
                Tone::Plain,
            )],
        );
        for width in [40, 80] {
            let lines = chart.to_text(width);
            assert!(
                lines.iter().all(|l| l.chars().count() <= width),
                "{lines:?}"
            );
            assert!(lines.iter().any(|l| l.contains('█')), "{lines:?}");
        }
    }

    #[test]
    fn the_svg_is_one_chart_element() {
        let svg = sample().to_svg();
        assert!(svg.starts_with("<svg") && svg.contains(r#"class="chart""#));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches(r#"<g class="bar">"#).count(), 2);
    }

    #[test]
    fn steps_show_the_value_over_time_and_the_limit() {
        let chart = Chart::Steps {
            title: "inside".into(),
            what: "workers inside".into(),
            points: vec![(0.0, 0.0), (1.0, 2.0), (50.0, 1.0), (60.0, 0.0)],
            limit: Some((2.0, "2 permits".into())),
        };
        let svg = chart.to_svg();
        assert!(svg.contains(r#"class="limit""#) && svg.contains("2 permits"));
        let text = chart.to_text(40);
        assert!(text[2].contains("peak 2"), "{text:?}");
    }
}
