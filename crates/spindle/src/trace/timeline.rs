// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! A recording as rows of spans, one row per thread, ready to draw.

use std::collections::BTreeMap;

use serde_json::Value;

use super::chrome::TASK_CATEGORY;
use super::error::TimelineError;
use super::spans::{Spans, micros};

/// What each thread did over time: one row per thread, with the spans of its states and
/// of the tasks it ran, in microseconds. Get one from a [`Recorder`](super::Recorder),
/// or read any Chrome trace with [`from_chrome_json`](Timeline::from_chrome_json);
/// draw it with [`to_svg`](Timeline::to_svg).
///
/// ```
/// use spindle::trace::{Timeline, TimelineRow, TimelineSpan};
///
/// let span = |label: &str, start_us, dur_us| TimelineSpan {
///     label: label.to_owned(),
///     start_us,
///     dur_us,
///     detail: None,
/// };
/// let timeline = Timeline {
///     rows: vec![TimelineRow {
///         thread_id: 1,
///         name: "MainThread".to_owned(),
///         states: vec![span("Runnable", 0.0, 400.0), span("Blocked", 400.0, 600.0)],
///         tasks: vec![],
///     }],
/// };
/// assert_eq!((timeline.start_us(), timeline.end_us()), (0.0, 1000.0));
/// assert!(timeline.to_svg().contains("MainThread"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// One row per thread, in thread order.
    pub rows: Vec<TimelineRow>,
}

/// One thread's row of a [`Timeline`].
///
/// ```
/// use spindle::trace::TimelineRow;
///
/// let row = TimelineRow {
///     thread_id: 2,
///     name: "Thread-1".to_owned(),
///     states: vec![],
///     tasks: vec![],
/// };
/// assert!(row.states.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    /// The thread's id (the trace's `tid`).
    pub thread_id: u64,
    /// The thread's name.
    pub name: String,
    /// The thread's states, back to back in time order (labelled `Runnable`, `Blocked`, ...).
    pub states: Vec<TimelineSpan>,
    /// The tasks the thread ran, in order of start.
    pub tasks: Vec<TimelineSpan>,
}

/// A stretch of time on a [`TimelineRow`]: a state, or a task.
///
/// ```
/// use spindle::trace::TimelineSpan;
///
/// let blocked = TimelineSpan {
///     label: "Blocked".to_owned(),
///     start_us: 120.0,
///     dur_us: 30.5,
///     detail: Some("Mutex \"accounts\"".to_owned()),
/// };
/// assert_eq!(blocked.end_us(), 150.5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineSpan {
    /// The state (`Blocked`), or the task (`task 3 (fetch)`).
    pub label: String,
    /// When it began, in microseconds (for a recording: since the recording started).
    pub start_us: f64,
    /// How long it lasted, in microseconds.
    pub dur_us: f64,
    /// What a state waited on, or how a task ended (`ok`, `panicked`, `unfinished`).
    pub detail: Option<String>,
}

impl TimelineSpan {
    /// When it ended, in microseconds.
    ///
    /// ```
    /// use spindle::trace::TimelineSpan;
    /// let s = TimelineSpan { label: "Waiting".into(), start_us: 5.0, dur_us: 2.0, detail: None };
    /// assert_eq!(s.end_us(), 7.0);
    /// ```
    pub fn end_us(&self) -> f64 {
        self.start_us + self.dur_us
    }
}

/// What [`Timeline::read_chrome_json`] made of a trace: the timeline, and the events it
/// left out, those it does not draw by design apart from those it could not use.
///
/// ```
/// use spindle::trace::Timeline;
///
/// let read = Timeline::read_chrome_json(r#"[{"ph": "X", "ts": "abc"}, 5]"#).unwrap();
/// assert!(read.timeline.rows.is_empty());
/// assert_eq!((read.events, read.skipped), (2, 2));
/// assert_eq!(read.first_skipped, Some((0, "\"ts\" is not a number")));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TimelineRead {
    /// The timeline, as [`Timeline::from_chrome_json`] returns it.
    pub timeline: Timeline,
    /// How many events the trace holds.
    pub events: usize,
    /// Well-formed events of kinds a timeline does not draw: instants, counters, flows,
    /// process metadata.
    pub ignored: usize,
    /// Events meant to be drawn that could not be.
    pub skipped: usize,
    /// Why events were skipped, each reason with its count, in the order first met.
    pub reasons: Vec<(&'static str, usize)>,
    /// The first skipped event: its index in the trace's event list, and why.
    pub first_skipped: Option<(usize, &'static str)>,
}

impl TimelineRead {
    fn skip(&mut self, index: usize, why: &'static str) {
        self.skipped += 1;
        match self.reasons.iter_mut().find(|(r, _)| *r == why) {
            Some((_, n)) => *n += 1,
            None => self.reasons.push((why, 1)),
        }
        if self.first_skipped.is_none_or(|(first, _)| index < first) {
            self.first_skipped = Some((index, why));
        }
    }
}

impl Timeline {
    /// Reads a Chrome trace-event JSON trace: what
    /// [`Recorder::to_chrome_json`](super::Recorder::to_chrome_json) writes, or any other
    /// trace in the format (an array of events, or an object with `traceEvents`). Rows
    /// come from `thread_name` metadata and from the threads that have spans; spans come
    /// from complete (`X`) events and from matched begin/end (`B`/`E`) pairs; events of
    /// category `task` are tasks. Other events are left out: to learn how many, and why,
    /// use [`read_chrome_json`](Timeline::read_chrome_json).
    ///
    /// ```
    /// use spindle::trace::Timeline;
    ///
    /// let json = r#"{"traceEvents": [
    ///     {"name": "thread_name", "ph": "M", "pid": 1, "tid": 7, "args": {"name": "io"}},
    ///     {"name": "Waiting", "ph": "X", "pid": 1, "tid": 7, "ts": 10, "dur": 90,
    ///      "args": {"waiting_on": "Event \"ready\""}}
    /// ]}"#;
    /// let t = Timeline::from_chrome_json(json).unwrap();
    /// assert_eq!(t.rows[0].name, "io");
    /// assert_eq!(t.rows[0].states[0].detail.as_deref(), Some("Event \"ready\""));
    /// assert_eq!(t.end_us(), 100.0);
    /// ```
    pub fn from_chrome_json(json: &str) -> Result<Timeline, TimelineError> {
        Timeline::read_chrome_json(json).map(|read| read.timeline)
    }

    /// As [`from_chrome_json`](Timeline::from_chrome_json), and says what it left out:
    /// events of kinds a timeline does not draw (instants, counters, flows, process
    /// metadata), and events meant to be drawn that cannot be (not an object, no phase,
    /// a timestamp that is not a number, no thread id, an `E` without its `B`...),
    /// counted by reason, with the first of them.
    ///
    /// ```
    /// use spindle::trace::Timeline;
    ///
    /// let json = r#"{"traceEvents": [
    ///     {"name": "Runnable", "ph": "X", "tid": 1, "ts": 0, "dur": 5},
    ///     {"name": "tick", "ph": "i", "tid": 1, "ts": 2},
    ///     {"name": "Blocked", "ph": "X", "tid": 1, "ts": "soon"},
    ///     5
    /// ]}"#;
    /// let read = Timeline::read_chrome_json(json).unwrap();
    /// assert_eq!(read.timeline.rows[0].states.len(), 1);
    /// assert_eq!((read.events, read.ignored, read.skipped), (4, 1, 2));
    /// assert_eq!(read.first_skipped, Some((2, "\"ts\" is not a number")));
    /// assert_eq!(read.reasons, [("\"ts\" is not a number", 1), ("not a JSON object", 1)]);
    /// ```
    pub fn read_chrome_json(json: &str) -> Result<TimelineRead, TimelineError> {
        let root: Value =
            serde_json::from_str(json).map_err(|e| TimelineError::InvalidJson(e.to_string()))?;
        let events = match &root {
            Value::Array(events) => events,
            Value::Object(trace) => trace
                .get("traceEvents")
                .and_then(Value::as_array)
                .ok_or_else(|| TimelineError::NotATrace("no \"traceEvents\" array".into()))?,
            _ => {
                return Err(TimelineError::NotATrace(
                    "neither an array of events nor an object with \"traceEvents\"".into(),
                ));
            }
        };
        let mut read = TimelineRead {
            timeline: Timeline::default(),
            events: events.len(),
            ignored: 0,
            skipped: 0,
            reasons: Vec::new(),
            first_skipped: None,
        };
        let mut rows: BTreeMap<(u64, u64), RowBuilder> = BTreeMap::new();
        for (index, event) in events.iter().enumerate() {
            let used = match (event["ph"].as_str(), id(&event["tid"])) {
                (Some(ph), Some(tid)) => rows
                    .entry((id(&event["pid"]).unwrap_or(0), tid))
                    .or_default()
                    .add(index, ph, event),
                (ph, _) => without_thread(ph, event),
            };
            match used {
                Ok(true) => {}
                Ok(false) => read.ignored += 1,
                Err(why) => read.skip(index, why),
            }
        }
        for row in rows.values_mut() {
            for (index, _, _) in std::mem::take(&mut row.open) {
                read.skip(index, "a \"B\" that no \"E\" ends");
            }
        }
        let mut rows: Vec<_> = rows.into_iter().collect();
        rows.sort_by_key(|((pid, tid), row)| (*pid, row.sort_index.unwrap_or(*tid as i64), *tid));
        read.timeline.rows = rows
            .into_iter()
            .map(|((_, tid), row)| row.finish(tid))
            .collect();
        Ok(read)
    }

    /// When the earliest span begins, in microseconds (0 for a timeline without spans).
    ///
    /// ```
    /// assert_eq!(spindle::trace::Timeline::default().start_us(), 0.0);
    /// ```
    pub fn start_us(&self) -> f64 {
        self.spans()
            .map(|s| s.start_us)
            .min_by(f64::total_cmp)
            .unwrap_or(0.0)
    }

    /// When the latest span ends, in microseconds (0 for a timeline without spans).
    ///
    /// ```
    /// assert_eq!(spindle::trace::Timeline::default().end_us(), 0.0);
    /// ```
    pub fn end_us(&self) -> f64 {
        self.spans()
            .map(TimelineSpan::end_us)
            .max_by(f64::total_cmp)
            .unwrap_or(0.0)
    }

    /// The part of the timeline from `start_us` to `end_us`: spans cut to that window,
    /// and only the rows with a span in it (a thread idle across the window keeps its
    /// row: its wait is a span too). To draw one stretch of a long recording.
    ///
    /// ```
    /// use spindle::trace::{Timeline, TimelineRow, TimelineSpan};
    ///
    /// let span = |label: &str, start_us: f64, dur_us: f64| TimelineSpan {
    ///     label: label.into(), start_us, dur_us, detail: None,
    /// };
    /// let row = |id: u64, states: Vec<TimelineSpan>| TimelineRow {
    ///     thread_id: id, name: format!("t{id}"), states, tasks: vec![],
    /// };
    /// let whole = Timeline {
    ///     rows: vec![
    ///         row(1, vec![span("Runnable", 0.0, 100.0), span("Waiting", 100.0, 900.0)]),
    ///         row(2, vec![span("Runnable", 600.0, 50.0)]),
    ///     ],
    /// };
    /// let early = whole.clip(50.0, 300.0);
    /// assert_eq!(early.rows.len(), 1); // thread 2 did nothing then
    /// let cut: Vec<_> = early.rows[0].states.iter().map(|s| (s.start_us, s.dur_us)).collect();
    /// assert_eq!(cut, [(50.0, 50.0), (100.0, 200.0)]);
    /// ```
    pub fn clip(&self, start_us: f64, end_us: f64) -> Timeline {
        let cut = |spans: &[TimelineSpan]| -> Vec<TimelineSpan> {
            spans
                .iter()
                .filter(|s| s.end_us() > start_us && s.start_us < end_us)
                .map(|s| {
                    let from = s.start_us.max(start_us);
                    let to = s.end_us().min(end_us);
                    TimelineSpan {
                        start_us: from,
                        dur_us: to - from,
                        ..s.clone()
                    }
                })
                .collect()
        };
        let rows = self
            .rows
            .iter()
            .map(|row| TimelineRow {
                thread_id: row.thread_id,
                name: row.name.clone(),
                states: cut(&row.states),
                tasks: cut(&row.tasks),
            })
            .filter(|row| !row.states.is_empty() || !row.tasks.is_empty())
            .collect();
        Timeline { rows }
    }

    fn spans(&self) -> impl Iterator<Item = &TimelineSpan> {
        self.rows
            .iter()
            .flat_map(|r| r.states.iter().chain(&r.tasks))
    }

    /// The timeline of a recording, with the same numbers its Chrome export carries.
    pub(crate) fn from_spans(spans: &Spans) -> Timeline {
        let rows = spans
            .tracks
            .iter()
            .map(|track| TimelineRow {
                thread_id: track.thread_id,
                name: track.name.to_string(),
                states: track
                    .states
                    .iter()
                    .map(|s| TimelineSpan {
                        label: s.label(),
                        start_us: micros(s.start),
                        dur_us: micros(s.end - s.start),
                        detail: s.waiting_on.as_deref().map(str::to_owned),
                    })
                    .collect(),
                tasks: track
                    .tasks
                    .iter()
                    .map(|t| TimelineSpan {
                        label: t.label(),
                        start_us: micros(t.start),
                        dur_us: micros(t.end - t.start),
                        detail: Some(t.outcome.as_str().to_owned()),
                    })
                    .collect(),
            })
            .collect();
        Timeline { rows }
    }
}

/// What reading one event came to: `Ok(true)` drawn (or metadata that is), `Ok(false)`
/// of a kind a timeline does not draw, `Err` why it could not be used.
type EventUse = Result<bool, &'static str>;

/// One row as it is read from the trace.
#[derive(Default)]
struct RowBuilder {
    name: Option<String>,
    sort_index: Option<i64>,
    states: Vec<TimelineSpan>,
    tasks: Vec<TimelineSpan>,
    /// Spans begun by `B` events, waiting for their `E`; each with the `B`'s index in the
    /// trace and whether it is a task.
    open: Vec<(usize, bool, TimelineSpan)>,
}

impl RowBuilder {
    /// Reads event `index`, of phase `ph`, on this row's thread.
    fn add(&mut self, index: usize, ph: &str, event: &Value) -> EventUse {
        match ph {
            "M" => match event["name"].as_str() {
                Some("thread_name") => {
                    let name = event["args"]["name"].as_str();
                    self.name = Some(name.ok_or("a thread_name without a name")?.to_owned());
                    Ok(true)
                }
                Some("thread_sort_index") => {
                    let index = event["args"]["sort_index"].as_i64();
                    self.sort_index = Some(index.ok_or("a thread_sort_index without an index")?);
                    Ok(true)
                }
                _ => Ok(false),
            },
            "X" => {
                let start_us = timestamp(event)?;
                let dur_us = match &event["dur"] {
                    Value::Null => 0.0,
                    dur => number(dur).ok_or("\"dur\" is not a number")?.max(0.0),
                };
                self.place(is_task(event), span(event, start_us, dur_us));
                Ok(true)
            }
            "B" => {
                let start_us = timestamp(event)?;
                self.open
                    .push((index, is_task(event), span(event, start_us, 0.0)));
                Ok(true)
            }
            "E" => {
                let end_us = timestamp(event)?;
                let (_, task, mut s) = self
                    .open
                    .pop()
                    .ok_or("an \"E\" with no \"B\" open on its thread")?;
                s.dur_us = (end_us - s.start_us).max(0.0);
                self.place(task, s);
                Ok(true)
            }
            ph => undrawn(ph),
        }
    }

    fn place(&mut self, task: bool, span: TimelineSpan) {
        if task {
            self.tasks.push(span);
        } else {
            self.states.push(span);
        }
    }

    fn finish(mut self, tid: u64) -> TimelineRow {
        // By start; of two spans starting together, the enclosing (longer) one first.
        let by_start = |a: &TimelineSpan, b: &TimelineSpan| {
            a.start_us
                .total_cmp(&b.start_us)
                .then_with(|| b.dur_us.total_cmp(&a.dur_us))
        };
        self.states.sort_by(by_start);
        self.tasks.sort_by(by_start);
        TimelineRow {
            thread_id: tid,
            name: self.name.unwrap_or_else(|| format!("thread {tid}")),
            states: self.states,
            tasks: self.tasks,
        }
    }
}

/// Reads an event that names no thread (or no phase): fine only for kinds that are not
/// drawn anyway.
fn without_thread(ph: Option<&str>, event: &Value) -> EventUse {
    let Some(ph) = ph else {
        return Err(match event {
            Value::Object(o) if o.contains_key("ph") => "\"ph\" is not a string",
            Value::Object(_) => "no \"ph\"",
            _ => "not a JSON object",
        });
    };
    let no_tid = match event["tid"] {
        Value::Null => "no \"tid\"",
        _ => "\"tid\" is not a thread id",
    };
    match ph {
        "M" => match event["name"].as_str() {
            Some("thread_name" | "thread_sort_index") => Err(no_tid),
            _ => Ok(false),
        },
        "X" | "B" | "E" => Err(timestamp(event).err().unwrap_or(no_tid)),
        ph => undrawn(ph),
    }
}

/// An event of a phase a timeline does not draw: `Ok(false)` if the phase is one of the
/// format's, `Err` if it is none.
fn undrawn(ph: &str) -> EventUse {
    const PHASES: &[&str] = &[
        "i", "I", "C", "b", "n", "e", "s", "t", "f", "P", "O", "N", "D", "S", "T", "p", "F", "V",
        "v", "R", "c", "(", ")",
    ];
    if PHASES.contains(&ph) {
        Ok(false)
    } else {
        Err("\"ph\" is not a trace event phase")
    }
}

/// An event's `ts`, in microseconds.
fn timestamp(event: &Value) -> Result<f64, &'static str> {
    match &event["ts"] {
        Value::Null => Err("no \"ts\""),
        ts => number(ts).ok_or("\"ts\" is not a number"),
    }
}

fn is_task(event: &Value) -> bool {
    event["cat"] == TASK_CATEGORY
}

/// A span of `event`: its name, and what it waited on or how it ended, if it says.
fn span(event: &Value, start_us: f64, dur_us: f64) -> TimelineSpan {
    let args = &event["args"];
    let detail = args["waiting_on"].as_str().or(args["outcome"].as_str());
    TimelineSpan {
        label: event["name"].as_str().unwrap_or("(unnamed)").to_owned(),
        start_us,
        dur_us,
        detail: detail.map(str::to_owned),
    }
}

/// A timestamp or duration: a JSON number, or a number written as a string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A process or thread id: a JSON integer (negative ones kept apart by their bits), or
/// one written as a string.
fn id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_i64().map(|i| i as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thread::ThreadState::{Blocked, Runnable, Waiting};
    use crate::trace::EventKind::{TaskStarted, ThreadEnd, ThreadStart};
    use crate::trace::chrome;
    use crate::trace::spans::build;
    use crate::trace::spans::script::{Script, acquired, finished, state, submitted};

    #[test]
    fn a_recording_with_tasks_reads_back_from_its_chrome_trace() {
        let s = Script::new()
            .at(0, 1, "MainThread", state(Runnable, None))
            .at(3, 1, "MainThread", submitted(1, "parse <input>"))
            .at(4, 1, "MainThread", state(Waiting, Some("Future of task 1")))
            .at(5, 4, "pool-0", ThreadStart)
            .at(6, 4, "pool-0", TaskStarted { task: 1 })
            .at(7, 4, "pool-0", state(Blocked, Some("Mutex \"cache\"")))
            .at(9, 4, "pool-0", state(Runnable, None))
            .at(9, 4, "pool-0", acquired("Mutex \"cache\"", 2))
            .at(12, 4, "pool-0", finished(1, false))
            .at(13, 4, "pool-0", TaskStarted { task: 2 })
            .at(15, 4, "pool-0", ThreadEnd);
        let spans = build(&s.events, s.origin, s.end(20));
        let direct = Timeline::from_spans(&spans);
        let json = chrome::to_json(&spans).to_string();
        assert_eq!(Timeline::from_chrome_json(&json).unwrap(), direct);

        let pool = &direct.rows[1];
        let tasks: Vec<_> = pool
            .tasks
            .iter()
            .map(|t| (t.label.as_str(), t.start_us, t.dur_us, t.detail.as_deref()))
            .collect();
        assert_eq!(
            tasks,
            [
                ("task 1 (parse <input>)", 6.0, 6.0, Some("panicked")),
                ("task 2", 13.0, 2.0, Some("unfinished")),
            ]
        );
        let states: Vec<_> = pool.states.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            states,
            [
                "Runnable", "Runnable", "Blocked", "Runnable", "Runnable", "Runnable"
            ]
        );
        assert_eq!((direct.start_us(), direct.end_us()), (0.0, 20.0));
    }

    #[test]
    fn io_reads_back_from_its_chrome_trace_as_io() {
        let io = |what: Option<&str>| crate::trace::EventKind::Io {
            what: what.map(std::sync::Arc::from),
        };
        let s = Script::new()
            .at(0, 2, "fetcher", ThreadStart)
            .at(2, 2, "fetcher", io(Some("GET /a")))
            .at(8, 2, "fetcher", io(None))
            .at(9, 2, "fetcher", ThreadEnd);
        let spans = build(&s.events, s.origin, s.end(10));
        let direct = Timeline::from_spans(&spans);
        let json = chrome::to_json(&spans).to_string();
        assert_eq!(Timeline::from_chrome_json(&json).unwrap(), direct);
        let states: Vec<_> = direct.rows[0]
            .states
            .iter()
            .map(|s| (s.label.as_str(), s.detail.as_deref(), s.dur_us))
            .collect();
        assert_eq!(
            states,
            [
                ("Runnable", None, 2.0),
                ("I/O", Some("GET /a"), 6.0),
                ("Runnable", None, 1.0)
            ]
        );
    }

    #[test]
    fn every_event_it_cannot_draw_is_counted_with_its_reason() {
        let json = r#"[
            {"name": "thread_name", "ph": "M", "tid": 1, "args": {"name": "main"}},
            {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "p"}},
            {"name": "Runnable", "ph": "X", "tid": 1, "ts": 0, "dur": 4},
            {"name": "mark", "ph": "i", "s": "g", "ts": 1},
            {"name": "n", "ph": "C", "tid": 1, "ts": 1},
            {"name": "a", "ph": "X", "tid": 1, "ts": "abc"},
            {"name": "b", "ph": "X", "tid": 1},
            {"name": "c", "ph": "X", "tid": 1, "ts": 1, "dur": "long"},
            {"name": "d", "ph": "X", "ts": 1},
            {"name": "e", "ph": "X", "tid": [1], "ts": 1},
            {"ph": "E", "tid": 1, "ts": 9},
            {"name": "f", "ph": "B", "tid": 1, "ts": 2},
            {"name": "thread_name", "ph": "M", "args": {"name": "lost"}},
            {"name": "thread_name", "ph": "M", "tid": 2, "args": {}},
            {"ph": "Z", "tid": 1},
            {"ph": 3},
            {},
            7
        ]"#;
        let read = Timeline::read_chrome_json(json).unwrap();
        assert_eq!((read.events, read.ignored, read.skipped), (18, 3, 13));
        assert_eq!(
            read.reasons,
            [
                ("\"ts\" is not a number", 1),
                ("no \"ts\"", 1),
                ("\"dur\" is not a number", 1),
                ("no \"tid\"", 2),
                ("\"tid\" is not a thread id", 1),
                ("an \"E\" with no \"B\" open on its thread", 1),
                ("a thread_name without a name", 1),
                ("\"ph\" is not a trace event phase", 1),
                ("\"ph\" is not a string", 1),
                ("no \"ph\"", 1),
                ("not a JSON object", 1),
                ("a \"B\" that no \"E\" ends", 1),
            ]
        );
        assert_eq!(read.first_skipped, Some((5, "\"ts\" is not a number")));
        // What it could use, it drew, as `from_chrome_json` does.
        assert_eq!(read.timeline, Timeline::from_chrome_json(json).unwrap());
        let main = &read.timeline.rows[0];
        assert_eq!(main.name, "main");
        assert_eq!(main.states.len(), 1);
    }
}
