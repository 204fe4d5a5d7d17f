// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! Drawing a [`Timeline`] as a self-contained SVG image: a row per thread, a colour per
//! state, tasks as a thin band above the states, a time axis in milliseconds, a legend;
//! optionally rows grouped under the phases of a run, each with its duration.
//!
//! A recording can hold many thousands of spans shorter than a pixel (threads contending
//! for a lock change state every few microseconds). Drawn one by one they would make the
//! image megabytes large and show nothing more, so neighbouring spans that are together
//! narrower than a pixel are drawn as one bar (`pieces.rs`), in the colour of the state
//! that took most of its time, its hover text giving the shares.

mod pieces;

use std::fmt::Write;

use super::spans::{IO_LABEL, readable_task_label};
use super::timeline::{Timeline, TimelineRow, TimelineSpan};
use pieces::{Piece, pieces};

const PLOT_WIDTH: f64 = 960.0;
/// The narrowest plot drawn, whatever width is asked for.
const MIN_PLOT_WIDTH: f64 = 240.0;
const RIGHT_MARGIN: f64 = 16.0;
/// Roughly the advance of one 12 px sans-serif character.
const CHAR_WIDTH: f64 = 7.0;
const AXIS_Y: f64 = 46.0;
const ROWS_TOP: f64 = 52.0;
const ROW_HEIGHT: f64 = 26.0;
const PHASE_HEIGHT: f64 = 22.0;
const LEGEND_GAP: f64 = 22.0;
/// A row draws at most about this many bars per band: past it, spans are merged into
/// wider bars (each still in the colour of what took most of its time).
const MAX_PIECES: usize = 160;

/// The states everyone expects in the legend, in the order they are listed.
const STATE_COLOURS: [(&str, &str); 7] = [
    ("Runnable", "#43a047"),
    ("Blocked", "#e53935"),
    ("Waiting", "#ffb300"),
    ("TimedWaiting", "#1e88e5"),
    (IO_LABEL, "#8d6e63"),
    ("New", "#bdbdbd"),
    ("Terminated", "#616161"),
];
/// Always in the legend, whether they occur or not.
const CORE_STATES: usize = 4;
/// For span names that are not thread states (other tools' traces), picked by name.
const OTHER_COLOURS: [&str; 7] = [
    "#26a69a", "#5c6bc0", "#ec407a", "#7cb342", "#ffa726", "#78909c", "#ab47bc",
];
const TASK_COLOUR: &str = "#6a1b9a";
const TASK_PANICKED_COLOUR: &str = "#d81b60";
const TASK_UNFINISHED_COLOUR: &str = "#b39ddb";
/// Beyond this many kinds of span the legend says how many more there are.
const LEGEND_LIMIT: usize = 24;

/// How [`Timeline::to_svg_with`] draws: the image's width, the height of a row, and the
/// phases of the run, under which rows are grouped.
///
/// ```
/// use spindle::trace::SvgOptions;
///
/// let options = SvgOptions::new()
///     .width(800.0)
///     .row_height(18.0)
///     .phase("sequential", 0.0, 1500.0)
///     .phase("4 threads", 1500.0, 2100.0);
/// assert_eq!(options.phases.len(), 2);
/// assert_eq!(options.phases[1].name, "4 threads");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SvgOptions {
    /// The whole image's width in pixels; `None`: a plot 960 pixels wide beside the
    /// thread names.
    pub width: Option<f64>,
    /// The height of a thread's row in pixels; `None`: 26.
    pub row_height: Option<f64>,
    /// Stretches of the run, in time order. Each row goes under the phase in which its
    /// thread's first span begins, below a heading with the phase's name and duration;
    /// rows that begin outside every phase come first, without a heading.
    pub phases: Vec<TimelinePhase>,
}

impl SvgOptions {
    /// The defaults: 960 pixels of plot, rows of 26 pixels, no phases.
    ///
    /// ```
    /// assert!(spindle::trace::SvgOptions::new().phases.is_empty());
    /// ```
    pub fn new() -> SvgOptions {
        SvgOptions::default()
    }

    /// Draws the image `pixels` wide (the plot shrinks to fit, down to 240 pixels).
    ///
    /// ```
    /// let o = spindle::trace::SvgOptions::new().width(640.0);
    /// assert_eq!(o.width, Some(640.0));
    /// ```
    pub fn width(mut self, pixels: f64) -> SvgOptions {
        self.width = Some(pixels);
        self
    }

    /// Draws each thread's row `pixels` high (at least 12).
    ///
    /// ```
    /// let o = spindle::trace::SvgOptions::new().row_height(16.0);
    /// assert_eq!(o.row_height, Some(16.0));
    /// ```
    pub fn row_height(mut self, pixels: f64) -> SvgOptions {
        self.row_height = Some(pixels);
        self
    }

    /// Adds a phase called `name`, from `start_us` to `end_us` (microseconds, on the
    /// timeline's clock).
    ///
    /// ```
    /// let o = spindle::trace::SvgOptions::new().phase("warm-up", 0.0, 250.0);
    /// assert_eq!(o.phases[0].end_us, 250.0);
    /// ```
    pub fn phase(mut self, name: impl Into<String>, start_us: f64, end_us: f64) -> SvgOptions {
        self.phases.push(TimelinePhase {
            name: name.into(),
            start_us,
            end_us,
        });
        self
    }
}

/// A named stretch of a run, for [`SvgOptions::phase`].
///
/// ```
/// use spindle::trace::TimelinePhase;
/// let p = TimelinePhase { name: "sequential".into(), start_us: 0.0, end_us: 400.0 };
/// assert_eq!(p.end_us - p.start_us, 400.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePhase {
    /// What the run did then, for people (`4 threads, no GIL`).
    pub name: String,
    /// When it began, in microseconds.
    pub start_us: f64,
    /// When it ended, in microseconds.
    pub end_us: f64,
}

impl Timeline {
    /// Draws the timeline as a standalone SVG document: one row per thread (a `<g
    /// class="row">` labelled with the thread's name), its states as coloured bars (a
    /// colour per state; `<rect class="state" data-state="Blocked">`), its tasks as a
    /// thin band above them (`<rect class="task">`), a time axis in milliseconds and a
    /// legend of every colour drawn. Hovering a bar shows what it was (`<title>`).
    /// Spans narrower than a pixel are merged with their neighbours.
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
    /// // A bar was drawn for the sleep (the legend alone would not say so).
    /// assert!(svg.contains(r#"class="state" data-state="TimedWaiting""#));
    /// ```
    pub fn to_svg(&self) -> String {
        self.to_svg_with(&SvgOptions::new())
    }

    /// [`to_svg`](Timeline::to_svg), drawn as `options` say: at a given width (the
    /// image also scales to its container, having a `viewBox`), with rows grouped under
    /// the run's phases.
    ///
    /// ```
    /// use spindle::trace::{SvgOptions, Timeline, TimelineRow, TimelineSpan};
    ///
    /// let span = |label: &str, start_us: f64, dur_us: f64| TimelineSpan {
    ///     label: label.into(), start_us, dur_us, detail: None,
    /// };
    /// let row = |id: u64, name: &str, start_us: f64| TimelineRow {
    ///     thread_id: id, name: name.into(),
    ///     states: vec![span("Runnable", start_us, 400.0)], tasks: vec![],
    /// };
    /// let timeline = Timeline { rows: vec![row(1, "sequential", 0.0), row(2, "worker 1", 500.0)] };
    /// let options = SvgOptions::new().width(700.0).phase("alone", 0.0, 450.0).phase("together", 450.0, 900.0);
    /// let svg = timeline.to_svg_with(&options);
    /// assert!(svg.contains(r#"width="700""#));
    /// assert!(svg.contains(r#"<g class="phase" data-name="together""#));
    /// ```
    pub fn to_svg_with(&self, options: &SvgOptions) -> String {
        let label_width = label_width(&self.rows);
        let width = options
            .width
            .unwrap_or(label_width + PLOT_WIDTH + RIGHT_MARGIN)
            .max(label_width + MIN_PLOT_WIDTH + RIGHT_MARGIN);
        let row_height = options.row_height.unwrap_or(ROW_HEIGHT).max(12.0);
        let scale = Scale::new(self, label_width, width - label_width - RIGHT_MARGIN);
        let layout = Layout::new(self, &options.phases, row_height);
        let rows_bottom = ROWS_TOP + layout.height;
        let legend = Legend::new(self);
        let height = rows_bottom + LEGEND_GAP + legend.height(width) + 8.0;

        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
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
        for item in &layout.items {
            match *item {
                Item::Phase { phase, top } => draw_phase(&mut svg, phase, top, &scale, width),
                Item::Row { row, top, shade } => {
                    let row = &self.rows[row];
                    draw_row(&mut svg, row, top, row_height, shade, &scale, width);
                }
            }
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

/// What goes where, top to bottom: phase headings and rows.
struct Layout<'a> {
    items: Vec<Item<'a>>,
    height: f64,
}

enum Item<'a> {
    Phase {
        phase: &'a TimelinePhase,
        top: f64,
    },
    Row {
        /// Its index in the timeline's rows.
        row: usize,
        top: f64,
        /// Alternate rows are shaded.
        shade: bool,
    },
}

impl<'a> Layout<'a> {
    fn new(timeline: &Timeline, phases: &'a [TimelinePhase], row_height: f64) -> Layout<'a> {
        // Group 0: rows outside every phase; group i + 1: rows of phase i.
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); phases.len() + 1];
        for (i, row) in timeline.rows.iter().enumerate() {
            let group = first_start(row)
                .and_then(|start| {
                    phases
                        .iter()
                        .position(|p| p.start_us <= start && start < p.end_us)
                })
                .map_or(0, |p| p + 1);
            groups[group].push(i);
        }
        let mut items = Vec::new();
        let mut top = ROWS_TOP;
        let mut shade = false;
        for (group, rows) in groups.iter().enumerate() {
            if group > 0 {
                items.push(Item::Phase {
                    phase: &phases[group - 1],
                    top,
                });
                top += PHASE_HEIGHT;
            }
            for &row in rows {
                items.push(Item::Row { row, top, shade });
                top += row_height;
                shade = !shade;
            }
        }
        Layout {
            items,
            height: top - ROWS_TOP,
        }
    }
}

/// When a row's first span begins.
fn first_start(row: &TimelineRow) -> Option<f64> {
    row.states
        .iter()
        .chain(&row.tasks)
        .map(|s| s.start_us)
        .min_by(f64::total_cmp)
}

/// From microseconds to x coordinates.
struct Scale {
    start_us: f64,
    range_us: f64,
    left: f64,
    plot_width: f64,
}

impl Scale {
    fn new(timeline: &Timeline, left: f64, plot_width: f64) -> Scale {
        let start_us = timeline.start_us();
        let range_us = timeline.end_us() - start_us;
        Scale {
            start_us,
            // An empty or instant timeline still gets an axis: one millisecond.
            range_us: if range_us > 0.0 { range_us } else { 1000.0 },
            left,
            plot_width,
        }
    }

    fn x(&self, us: f64) -> f64 {
        self.left + (us - self.start_us) / self.range_us * self.plot_width
    }

    /// Microseconds per pixel.
    fn pixel_us(&self) -> f64 {
        self.range_us / self.plot_width
    }

    /// Tick marks at a round number of milliseconds, about eight of them, with grid lines
    /// down through the rows.
    fn draw_axis(&self, svg: &mut String, rows_bottom: f64) {
        let range_ms = self.range_us / 1000.0;
        let step = round_step(range_ms / 8.0);
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let right = self.left + self.plot_width;
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
            let x = self.left + ms / range_ms * self.plot_width;
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

/// A phase's heading: its name and duration, and a bracket over its stretch of time.
fn draw_phase(svg: &mut String, phase: &TimelinePhase, top: f64, scale: &Scale, width: f64) {
    let (x1, x2) = (scale.x(phase.start_us), scale.x(phase.end_us));
    let dur = phase.end_us - phase.start_us;
    let _ = writeln!(
        svg,
        r#"<g class="phase" data-name="{}" data-duration-us="{dur:.1}">"#,
        escape(&phase.name)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="{top:.2}" width="{width:.0}" height="{PHASE_HEIGHT}" fill="#e8eaf6"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{x1:.2}" y="{:.2}" width="{:.2}" height="6" fill="#9fa8da"><title>{}</title></rect>"##,
        top + PHASE_HEIGHT - 7.0,
        (x2 - x1).max(1.0),
        escape(&format!("{}: {}", phase.name, duration(dur)))
    );
    let _ = writeln!(
        svg,
        r#"<text x="8" y="{:.2}" font-weight="bold">{} · {}</text>"#,
        top + 13.0,
        escape(&phase.name),
        duration(dur)
    );
    let _ = writeln!(svg, "</g>");
}

fn draw_row(
    svg: &mut String,
    row: &TimelineRow,
    top: f64,
    height: f64,
    shade: bool,
    scale: &Scale,
    width: f64,
) {
    let name = escape(&row.name);
    let _ = writeln!(
        svg,
        r#"<g class="row" data-thread="{}" data-name="{name}">"#,
        row.thread_id
    );
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="{top:.2}" width="{width:.0}" height="{height}" fill="{}"/>"##,
        if shade { "#f0f0f0" } else { "#fafafa" }
    );
    let max_chars = ((scale.left - 16.0) / CHAR_WIDTH) as usize;
    let _ = writeln!(
        svg,
        r#"<text class="thread-name" x="8" y="{:.2}"><title>{name}</title>{}</text>"#,
        top + height / 2.0 + 4.0,
        escape(&shorten(&row.name, max_chars))
    );
    // Tasks: a thin band at the top; states below, most of the row.
    let task_height = (height * 0.2).max(3.0);
    let state_top = top + 2.0 + task_height + 1.0;
    let state_height = (top + height - 2.0 - state_top).max(4.0);
    for piece in pieces(&row.tasks, task_key, scale.pixel_us(), MAX_PIECES) {
        draw_piece(svg, row, &piece, Band::Task, scale, top + 2.0, task_height);
    }
    for piece in pieces(&row.states, state_key, scale.pixel_us(), MAX_PIECES) {
        draw_piece(
            svg,
            row,
            &piece,
            Band::State,
            scale,
            state_top,
            state_height,
        );
    }
    let _ = writeln!(svg, "</g>");
}

#[derive(Clone, Copy)]
enum Band {
    State,
    Task,
}

fn draw_piece(
    svg: &mut String,
    row: &TimelineRow,
    piece: &Piece,
    band: Band,
    scale: &Scale,
    y: f64,
    height: f64,
) {
    let x = scale.x(piece.start_us);
    // Too short to see at this scale still leaves a hairline.
    let w = (scale.x(piece.end_us) - x).max(0.5);
    let at = duration(piece.start_us - scale.start_us);
    let main = &piece.longest;
    // A task by its function's name, not its type path.
    let label = match band {
        Band::Task => readable_task_label(&main.label),
        Band::State => main.label.clone(),
    };
    let mut tip = if piece.uniform {
        format!(
            "{}: {label} for {} at {at}",
            row.name,
            duration(piece.end_us - piece.start_us)
        )
    } else {
        format!(
            "{}: {} spans in {} at {at}: {}; longest {label} for {}",
            row.name,
            piece.spans,
            duration(piece.end_us - piece.start_us),
            piece.shares_text(),
            duration(main.dur_us)
        )
    };
    if let Some(detail) = &main.detail {
        let _ = write!(tip, " ({detail})");
    }
    let (class, colour) = match band {
        Band::State => ("state", state_colour(&piece.key)),
        Band::Task => ("task", task_colour_of(&piece.key)),
    };
    let merged = if piece.spans > 1 {
        format!(r#" data-spans="{}""#, piece.spans)
    } else {
        String::new()
    };
    let _ = writeln!(
        svg,
        r#"<rect class="{class}" data-state="{}"{merged} x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{height:.1}" fill="{colour}"><title>{}</title></rect>"#,
        escape(&piece.key),
        escape(&tip)
    );
}

/// What a state span is drawn as (its colour and legend entry): its label.
fn state_key(span: &TimelineSpan) -> &str {
    &span.label
}

/// What a task span is drawn as: `task`, `task (panicked)` or `task (unfinished)`.
fn task_key(span: &TimelineSpan) -> &str {
    match span.detail.as_deref() {
        Some("panicked") => "task (panicked)",
        Some("unfinished") => "task (unfinished)",
        _ => "task",
    }
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

fn task_colour_of(key: &str) -> &'static str {
    match key {
        "task (panicked)" => TASK_PANICKED_COLOUR,
        "task (unfinished)" => TASK_UNFINISHED_COLOUR,
        _ => TASK_COLOUR,
    }
}

/// What the colours mean: the usual thread states, then whatever else is drawn.
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
                add(state_key(span), state_colour(state_key(span)));
            }
        }
        for row in &timeline.rows {
            for span in &row.tasks {
                add(task_key(span), task_colour_of(task_key(span)));
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

    fn span(label: &str, start_us: f64, dur_us: f64, detail: Option<&str>) -> TimelineSpan {
        TimelineSpan {
            label: label.to_owned(),
            start_us,
            dur_us,
            detail: detail.map(str::to_owned),
        }
    }

    fn row(
        id: u64,
        name: &str,
        states: Vec<TimelineSpan>,
        tasks: Vec<TimelineSpan>,
    ) -> TimelineRow {
        TimelineRow {
            thread_id: id,
            name: name.to_owned(),
            states,
            tasks,
        }
    }

    /// The value of each `attr="..."` in `svg` on elements that also carry `marker`.
    fn attrs<'a>(svg: &'a str, marker: &str, attr: &str) -> Vec<&'a str> {
        svg.lines()
            .filter(|l| l.contains(marker))
            .filter_map(|l| {
                let at = l.find(&format!(" {attr}=\""))? + attr.len() + 3;
                Some(&l[at..at + l[at..].find('"')?])
            })
            .collect()
    }

    #[test]
    fn hover_text_names_a_task_by_its_function() {
        let t = Timeline {
            rows: vec![row(
                1,
                "downloader_0",
                vec![span("Runnable", 0.0, 100.0, None)],
                vec![span(
                    "task 4 (spindle_cli::lab::download::fetch_image)",
                    10.0,
                    50.0,
                    Some("ok"),
                )],
            )],
        };
        let svg = t.to_svg();
        assert!(
            svg.contains("downloader_0: task 4 (fetch_image) for 50.0 µs"),
            "{svg}"
        );
        assert!(!svg.contains("spindle_cli::"), "{svg}");
    }

    #[test]
    fn every_colour_drawn_is_in_the_legend_io_included() {
        let t = Timeline {
            rows: vec![row(
                1,
                "fetcher",
                vec![
                    span("Runnable", 0.0, 100.0, None),
                    span(IO_LABEL, 100.0, 500.0, Some("GET /img/1")),
                    span("custom", 600.0, 100.0, None),
                ],
                vec![span("task 1", 0.0, 700.0, Some("unfinished"))],
            )],
        };
        let svg = t.to_svg();
        let drawn = attrs(&svg, r#"<rect class=""#, "fill");
        let legend = attrs(&svg, "legend-item", "fill");
        assert_eq!(drawn.len(), 4, "{svg}");
        for fill in &drawn {
            assert!(
                legend.contains(fill),
                "{fill} drawn but not in the legend {legend:?}"
            );
        }
        assert_ne!(state_colour(IO_LABEL), state_colour("Runnable"));
        assert!(svg.contains(">I/O</text>"), "{svg}");
    }

    #[test]
    fn rows_go_under_the_phase_their_thread_began_in() {
        let t = Timeline {
            rows: vec![
                row(
                    1,
                    "driver",
                    vec![span("Runnable", 0.0, 1000.0, None)],
                    vec![],
                ),
                row(
                    2,
                    "late",
                    vec![span("Runnable", 700.0, 100.0, None)],
                    vec![],
                ),
                row(
                    3,
                    "early",
                    vec![span("Runnable", 100.0, 100.0, None)],
                    vec![],
                ),
            ],
        };
        let options = SvgOptions::new()
            .phase("first", 50.0, 500.0)
            .phase("second", 500.0, 1000.0);
        let svg = t.to_svg_with(&options);
        let order: Vec<&str> = svg
            .lines()
            .filter_map(|l| {
                let at = l.find("data-name=\"")? + 11;
                Some(&l[at..at + l[at..].find('"')?])
            })
            .collect();
        assert_eq!(order, ["driver", "first", "early", "second", "late"]);
        assert!(svg.contains("second · 500.0 µs"), "{svg}");
    }

    #[test]
    fn unknown_span_names_keep_their_colour() {
        assert_eq!(state_colour("parse"), state_colour("parse"));
        assert_eq!(state_colour("Blocked"), "#e53935");
        assert_ne!(state_colour(IO_LABEL), state_colour("Runnable"));
    }
}
