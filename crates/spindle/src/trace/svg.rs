//! Drawing a [`Timeline`] as a self-contained SVG image: a row per thread, a colour per
//! state, tasks as a thin band above the states, a time axis in milliseconds, a legend.

use std::fmt::Write;

use super::timeline::{Timeline, TimelineRow, TimelineSpan};

const PLOT_WIDTH: f64 = 960.0;
const RIGHT_MARGIN: f64 = 16.0;
/// Roughly the advance of one 12 px sans-serif character.
const CHAR_WIDTH: f64 = 7.0;
const AXIS_Y: f64 = 46.0;
const ROWS_TOP: f64 = 52.0;
const ROW_HEIGHT: f64 = 26.0;
const LEGEND_GAP: f64 = 22.0;

/// The states everyone expects in the legend, in the order they are listed.
const STATE_COLOURS: [(&str, &str); 6] = [
    ("Runnable", "#43a047"),
    ("Blocked", "#e53935"),
    ("Waiting", "#ffb300"),
    ("TimedWaiting", "#1e88e5"),
    ("New", "#bdbdbd"),
    ("Terminated", "#616161"),
];
/// Always in the legend, whether they occur or not.
const CORE_STATES: usize = 4;
/// For span names that are not thread states (other tools' traces), picked by name.
const OTHER_COLOURS: [&str; 8] = [
    "#8d6e63", "#26a69a", "#5c6bc0", "#ec407a", "#7cb342", "#ffa726", "#78909c", "#ab47bc",
];
const TASK_COLOUR: &str = "#6a1b9a";
const TASK_PANICKED_COLOUR: &str = "#d81b60";
const TASK_UNFINISHED_COLOUR: &str = "#b39ddb";
/// Beyond this many kinds of span the legend says how many more there are.
const LEGEND_LIMIT: usize = 24;

impl Timeline {
    /// Draws the timeline as a standalone SVG document: one row per thread (a `<g
    /// class="row">` labelled with the thread's name), its states as coloured bars (a
    /// colour per state), its tasks as a thin band above them, a time axis in
    /// milliseconds and a legend. Hovering a bar shows what it was (`<title>`).
    ///
    /// ```
    /// use spindle::trace::Recorder;
    ///
    /// let recorder = Recorder::start();
    /// spindle::thread::spawn(|| spindle::thread::sleep(std::time::Duration::from_millis(2)))
    ///     .join()
    ///     .unwrap();
    /// recorder.stop();
    /// let svg = recorder.timeline().to_svg();
    /// assert!(svg.starts_with("<svg"));
    /// assert!(svg.contains("TimedWaiting"));
    /// ```
    pub fn to_svg(&self) -> String {
        let label_width = label_width(&self.rows);
        let width = label_width + PLOT_WIDTH + RIGHT_MARGIN;
        let rows_bottom = ROWS_TOP + ROW_HEIGHT * self.rows.len() as f64;
        let scale = Scale::new(self, label_width);
        let legend = Legend::new(self);
        let height = rows_bottom + LEGEND_GAP + legend.height(width) + 8.0;

        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let threads = self.rows.len();
        let _ = writeln!(
            svg,
            r#"<text class="title" x="8" y="18" font-weight="bold">{threads} thread{}, {}</text>"#,
            if threads == 1 { "" } else { "s" },
            duration(scale.range_us)
        );
        scale.draw_axis(&mut svg, rows_bottom);
        for (i, row) in self.rows.iter().enumerate() {
            draw_row(&mut svg, row, i, &scale, width);
        }
        legend.draw(&mut svg, rows_bottom + LEGEND_GAP, width);
        svg.push_str("</svg>\n");
        svg
    }
}

/// Room for the longest thread name, within reason (longer ones are cut short).
fn label_width(rows: &[TimelineRow]) -> f64 {
    let longest = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    (longest as f64 * CHAR_WIDTH + 16.0).clamp(90.0, 260.0)
}

/// From microseconds to x coordinates.
struct Scale {
    start_us: f64,
    range_us: f64,
    left: f64,
}

impl Scale {
    fn new(timeline: &Timeline, left: f64) -> Scale {
        let start_us = timeline.start_us();
        let range_us = timeline.end_us() - start_us;
        Scale {
            start_us,
            // An empty or instant timeline still gets an axis: one millisecond.
            range_us: if range_us > 0.0 { range_us } else { 1000.0 },
            left,
        }
    }

    fn x(&self, us: f64) -> f64 {
        self.left + (us - self.start_us) / self.range_us * PLOT_WIDTH
    }

    /// Tick marks at a round number of milliseconds, about eight of them, with grid lines
    /// down through the rows.
    fn draw_axis(&self, svg: &mut String, rows_bottom: f64) {
        let range_ms = self.range_us / 1000.0;
        let step = round_step(range_ms / 8.0);
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let right = self.left + PLOT_WIDTH;
        let _ = writeln!(svg, r#"<g class="axis">"#);
        let _ = writeln!(
            svg,
            r##"<line x1="{:.2}" y1="{AXIS_Y}" x2="{right:.2}" y2="{AXIS_Y}" stroke="#424242"/>"##,
            self.left
        );
        let mut i = 0u32;
        loop {
            let ms = step * f64::from(i);
            if ms > range_ms * (1.0 + 1e-9) {
                break;
            }
            let x = self.left + ms / range_ms * PLOT_WIDTH;
            let _ = writeln!(
                svg,
                r##"<line class="tick" x1="{x:.2}" y1="{}" x2="{x:.2}" y2="{rows_bottom:.2}" stroke="#e0e0e0"/>"##,
                AXIS_Y - 4.0
            );
            let _ = writeln!(
                svg,
                r#"<text x="{x:.2}" y="{}" text-anchor="middle">{ms:.decimals$} ms</text>"#,
                AXIS_Y - 8.0
            );
            i += 1;
        }
        let _ = writeln!(svg, "</g>");
    }
}

/// 1, 2 or 5 times a power of ten, at least `at_least`.
fn round_step(at_least: f64) -> f64 {
    if at_least <= 0.0 || !at_least.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(at_least.log10().floor());
    let m = at_least / power;
    let factor = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    factor * power
}

fn draw_row(svg: &mut String, row: &TimelineRow, index: usize, scale: &Scale, width: f64) {
    let top = ROWS_TOP + ROW_HEIGHT * index as f64;
    let name = escape(&row.name);
    let _ = writeln!(
        svg,
        r#"<g class="row" data-thread="{}" data-name="{name}">"#,
        row.thread_id
    );
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="{top:.2}" width="{width:.0}" height="{ROW_HEIGHT}" fill="{}"/>"##,
        if index % 2 == 0 { "#fafafa" } else { "#f0f0f0" }
    );
    let max_chars = ((scale.left - 16.0) / CHAR_WIDTH) as usize;
    let _ = writeln!(
        svg,
        r#"<text class="thread-name" x="8" y="{:.2}"><title>{name}</title>{}</text>"#,
        top + 18.0,
        escape(&shorten(&row.name, max_chars))
    );
    for span in &row.tasks {
        draw_span(svg, row, span, scale, top + 2.0, 5.0, task_colour(span));
    }
    for span in &row.states {
        draw_span(
            svg,
            row,
            span,
            scale,
            top + 8.0,
            14.0,
            state_colour(&span.label),
        );
    }
    let _ = writeln!(svg, "</g>");
}

fn draw_span(
    svg: &mut String,
    row: &TimelineRow,
    span: &TimelineSpan,
    scale: &Scale,
    y: f64,
    height: f64,
    colour: &str,
) {
    let x = scale.x(span.start_us);
    // Too short to see at this scale still leaves a hairline.
    let w = (scale.x(span.end_us()) - x).max(0.5);
    let mut tip = format!(
        "{}: {} for {} at {}",
        row.name,
        span.label,
        duration(span.dur_us),
        duration(span.start_us - scale.start_us)
    );
    if let Some(detail) = &span.detail {
        let _ = write!(tip, " ({detail})");
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{height}" fill="{colour}"><title>{}</title></rect>"#,
        escape(&tip)
    );
}

fn state_colour(label: &str) -> &'static str {
    if let Some((_, colour)) = STATE_COLOURS.iter().find(|(name, _)| *name == label) {
        return colour;
    }
    // FNV-1a: the same name gets the same colour in every drawing.
    let hash = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    OTHER_COLOURS[(hash % OTHER_COLOURS.len() as u64) as usize]
}

fn task_colour(span: &TimelineSpan) -> &'static str {
    match span.detail.as_deref() {
        Some("panicked") => TASK_PANICKED_COLOUR,
        Some("unfinished") => TASK_UNFINISHED_COLOUR,
        _ => TASK_COLOUR,
    }
}

/// What the colours mean: the usual thread states, then whatever else occurs.
struct Legend {
    entries: Vec<(String, &'static str)>,
    more: usize,
}

impl Legend {
    fn new(timeline: &Timeline) -> Legend {
        let mut entries: Vec<(String, &'static str)> = STATE_COLOURS[..CORE_STATES]
            .iter()
            .map(|(name, colour)| ((*name).to_owned(), *colour))
            .collect();
        let mut more = 0;
        let mut add = |label: &str, colour: &'static str| {
            if entries.iter().any(|(l, _)| l == label) {
                return;
            }
            if entries.len() < LEGEND_LIMIT {
                entries.push((label.to_owned(), colour));
            } else {
                more += 1;
            }
        };
        for row in &timeline.rows {
            for span in &row.states {
                add(&span.label, state_colour(&span.label));
            }
        }
        for row in &timeline.rows {
            for span in &row.tasks {
                let label = match span.detail.as_deref() {
                    Some("panicked") => "task (panicked)",
                    Some("unfinished") => "task (unfinished)",
                    _ => "task",
                };
                add(label, task_colour(span));
            }
        }
        Legend { entries, more }
    }

    /// Entries flow left to right and wrap, each at its position.
    fn layout(&self, width: f64) -> Vec<(f64, f64, String, &'static str)> {
        let mut items: Vec<(String, &'static str)> = self.entries.clone();
        if self.more > 0 {
            items.push((format!("and {} more", self.more), "#ffffff"));
        }
        let (mut x, mut y) = (8.0, 0.0);
        let mut placed = Vec::with_capacity(items.len());
        for (label, colour) in items {
            let item_width = 16.0 + label.chars().count() as f64 * CHAR_WIDTH + 18.0;
            if x + item_width > width && x > 8.0 {
                x = 8.0;
                y += 18.0;
            }
            placed.push((x, y, label, colour));
            x += item_width;
        }
        placed
    }

    fn height(&self, width: f64) -> f64 {
        self.layout(width)
            .last()
            .map_or(0.0, |(_, y, _, _)| y + 14.0)
    }

    fn draw(&self, svg: &mut String, top: f64, width: f64) {
        let _ = writeln!(svg, r#"<g class="legend">"#);
        for (x, y, label, colour) in self.layout(width) {
            let y = top + y;
            let _ = writeln!(
                svg,
                r##"<g class="legend-item"><rect x="{x:.2}" y="{y:.2}" width="12" height="12" fill="{colour}" stroke="#9e9e9e" stroke-width="0.5"/><text x="{:.2}" y="{:.2}">{}</text></g>"##,
                x + 16.0,
                y + 10.0,
                escape(&label)
            );
        }
        let _ = writeln!(svg, "</g>");
    }
}

/// `850.0 µs`, `12.345 ms`, `2.500 s`.
fn duration(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.3} ms", us / 1000.0)
    } else {
        format!("{:.3} s", us / 1_000_000.0)
    }
}

/// `name` cut to `max` characters, the last one an ellipsis.
fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_owned()
    } else {
        let mut short: String = name.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// Text made safe for XML content and attribute values: markup characters escaped, and
/// characters XML 1.0 forbids (most control characters) replaced.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(round_step(0.7), 1.0);
        assert_eq!(round_step(1.3), 2.0);
        assert_eq!(round_step(30.0), 50.0);
        assert!((round_step(0.0013) - 0.002).abs() < 1e-12);
        assert_eq!(round_step(0.0), 1.0);
    }

    #[test]
    fn escaping_leaves_nothing_xml_forbids() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y\u{fffe}"), "x\u{fffd}y\u{fffd}");
    }

    #[test]
    fn long_names_are_cut_with_an_ellipsis() {
        assert_eq!(shorten("worker-pool-thread-17", 8), "worker-…");
        assert_eq!(shorten("io", 8), "io");
    }

    #[test]
    fn unknown_span_names_keep_their_colour() {
        assert_eq!(state_colour("parse"), state_colour("parse"));
        assert_eq!(state_colour("Blocked"), "#e53935");
    }
}
