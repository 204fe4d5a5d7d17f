// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! Turning a recording's events into spans: per thread, how long it stayed in each state
//! and ran each task. The Chrome export and the timeline both draw from this one model.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::{EventKind, TraceEvent};
use crate::thread::state::ThreadState;

/// A recording as spans, times in nanoseconds since the recording started.
#[derive(Debug)]
pub(crate) struct Spans {
    /// One track per thread that did anything, in thread id order.
    pub(crate) tracks: Vec<Track>,
}

/// What one thread did.
#[derive(Debug)]
pub(crate) struct Track {
    pub(crate) thread_id: u64,
    pub(crate) name: Arc<str>,
    /// Back to back, in time order; split where a task starts or ends, so that each
    /// one lies either inside a task span or outside every task span.
    pub(crate) states: Vec<StateSpan>,
    pub(crate) tasks: Vec<TaskSpan>,
    pub(crate) marks: Vec<Mark>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StateSpan {
    pub(crate) state: ThreadState,
    /// What it waited on; for I/O, what the I/O was.
    pub(crate) waiting_on: Option<Arc<str>>,
    /// Time in a blocking call outside spindle (see `blocking_io`): `Runnable` by
    /// state, but off the CPU.
    pub(crate) io: bool,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// The name of a span of time a thread spent in blocking I/O.
pub(crate) const IO_LABEL: &str = "I/O";

impl StateSpan {
    /// The state's name (`Blocked`), or `I/O`.
    pub(crate) fn label(&self) -> String {
        if self.io {
            IO_LABEL.to_owned()
        } else {
            self.state.to_string()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskSpan {
    pub(crate) task: u64,
    /// The name it was submitted under, if the submission was recorded.
    pub(crate) name: Option<String>,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) outcome: TaskOutcome,
}

/// How a task span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskOutcome {
    Returned,
    Panicked,
    /// Still running when the thread or the recording ended.
    Unfinished,
}

impl TaskOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskOutcome::Returned => "ok",
            TaskOutcome::Panicked => "panicked",
            TaskOutcome::Unfinished => "unfinished",
        }
    }
}

impl TaskSpan {
    /// `task 7 (app::fetch_page)`, or `task 7` when the submission was not recorded.
    pub(crate) fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("task {} ({name})", self.task),
            None => format!("task {}", self.task),
        }
    }
}

/// A task span's label as people read it: `task 7 (app::fetch_page)` is `task 7
/// (fetch_page)` (see [`readable_task_name`]); any other label is kept.
pub(crate) fn readable_task_label(label: &str) -> String {
    let named = label
        .strip_prefix("task ")
        .and_then(|rest| rest.split_once(" ("))
        .and_then(|(id, name)| Some((id, name.strip_suffix(')')?)))
        .filter(|(id, _)| id.bytes().all(|b| b.is_ascii_digit()));
    match named {
        Some((id, name)) => format!("task {id} ({})", readable_task_name(name)),
        None => label.to_owned(),
    }
}

/// What people call a task submitted as `name`, a Rust type path as `type_name` gives
/// it: a function by its name (`fetch_page`), a closure by where it was written
/// (`closure in download::run`). Names that are not paths are kept as they are.
pub(crate) fn readable_task_name(name: &str) -> String {
    if !name.contains("::") {
        return name.to_owned();
    }
    // Generic arguments say how, not what: `MapResults<..>::next` is `MapResults::next`.
    let mut path = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            c if depth == 0 => path.push(c),
            _ => {}
        }
    }
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let named: Vec<&str> = segments
        .iter()
        .copied()
        .filter(|s| !s.starts_with('{'))
        .collect();
    let closure = segments.last().is_some_and(|s| s.starts_with('{'));
    match (closure, named.as_slice()) {
        (_, []) => name.to_owned(),
        (true, [.., module, function]) => format!("closure in {module}::{function}"),
        (true, [function]) => format!("closure in {function}"),
        (false, [.., function]) => (*function).to_owned(),
    }
}

/// Something that happened at one moment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mark {
    pub(crate) at: u64,
    pub(crate) kind: MarkKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MarkKind {
    ThreadStart,
    ThreadEnd,
    LockAcquired { lock: Arc<str>, waited: Duration },
    TaskSubmitted { task: u64, name: String },
}

/// Nanoseconds as the (fractional) microseconds Chrome traces count in.
pub(crate) fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Nanoseconds from `origin` to `t` (0 for anything earlier).
fn since(origin: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX)
}

/// Builds the spans of `events` (in time order), recorded from `origin` to `end`.
pub(crate) fn build(events: &[TraceEvent], origin: Instant, end: Instant) -> Spans {
    let task_names: HashMap<u64, &str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskSubmitted { task, name } => Some((*task, name.as_str())),
            _ => None,
        })
        .collect();
    let mut by_thread: BTreeMap<u64, Vec<&TraceEvent>> = BTreeMap::new();
    for e in events {
        by_thread.entry(e.thread_id).or_default().push(e);
    }
    let last = events
        .iter()
        .map(|e| since(origin, e.time))
        .max()
        .unwrap_or(0);
    let end = since(origin, end).max(last);
    let tracks = by_thread
        .into_iter()
        .map(|(thread_id, events)| {
            let mut builder = TrackBuilder::new(&task_names);
            for e in &events {
                builder.add(since(origin, e.time), &e.kind);
            }
            let name = Arc::clone(&events.last().expect("grouped, so not empty").thread_name);
            builder.finish(thread_id, name, end)
        })
        .collect();
    Spans { tracks }
}

/// Walks one thread's events, keeping the state it is in and the tasks it runs.
struct TrackBuilder<'a> {
    task_names: &'a HashMap<u64, &'a str>,
    /// The state the thread is in, since when; `None` before its first event and after
    /// it ended.
    current: Option<StateSpan>,
    /// Tasks started and not yet finished (a task may run another inline).
    running: Vec<(u64, u64)>,
    /// The blocking I/O the thread is in, if any (`blocking_io`).
    in_io: Option<Arc<str>>,
    first: Option<u64>,
    states: Vec<StateSpan>,
    tasks: Vec<TaskSpan>,
    marks: Vec<Mark>,
}

impl<'a> TrackBuilder<'a> {
    fn new(task_names: &'a HashMap<u64, &'a str>) -> Self {
        TrackBuilder {
            task_names,
            current: None,
            running: Vec::new(),
            in_io: None,
            first: None,
            states: Vec::new(),
            tasks: Vec::new(),
            marks: Vec::new(),
        }
    }

    fn add(&mut self, at: u64, kind: &EventKind) {
        self.first.get_or_insert(at);
        match kind {
            EventKind::ThreadStart => {
                self.enter(at, ThreadState::Runnable, None, false);
                self.mark(at, MarkKind::ThreadStart);
            }
            EventKind::ThreadEnd => {
                self.in_io = None;
                self.close_state(at);
                self.close_tasks(at);
                self.mark(at, MarkKind::ThreadEnd);
            }
            EventKind::State { state, waiting_on } => match (&self.in_io, state, waiting_on) {
                // Back from a wait inside the I/O call: still in I/O.
                (Some(io), ThreadState::Runnable, None) => {
                    let io = Some(Arc::clone(io));
                    self.enter(at, ThreadState::Runnable, io, true);
                }
                _ => self.enter(at, *state, waiting_on.clone(), false),
            },
            EventKind::Io { what: Some(what) } => {
                self.in_io = Some(Arc::clone(what));
                let running = self
                    .current
                    .as_ref()
                    .is_none_or(|cur| cur.state == ThreadState::Runnable);
                if running {
                    self.enter(at, ThreadState::Runnable, Some(Arc::clone(what)), true);
                }
            }
            EventKind::Io { what: None } => {
                self.in_io = None;
                if self.current.as_ref().is_some_and(|cur| cur.io) {
                    self.enter(at, ThreadState::Runnable, None, false);
                }
            }
            EventKind::LockAcquired { lock, waited } => {
                self.ensure_state(at);
                let kind = MarkKind::LockAcquired {
                    lock: lock.clone(),
                    waited: *waited,
                };
                self.mark(at, kind);
            }
            EventKind::TaskSubmitted { task, name } => {
                self.ensure_state(at);
                let kind = MarkKind::TaskSubmitted {
                    task: *task,
                    name: name.clone(),
                };
                self.mark(at, kind);
            }
            EventKind::TaskStarted { task } => {
                self.ensure_state(at);
                self.split_state(at);
                self.running.push((*task, at));
            }
            EventKind::TaskFinished { task, ok } => {
                self.ensure_state(at);
                self.split_state(at);
                let outcome = if *ok {
                    TaskOutcome::Returned
                } else {
                    TaskOutcome::Panicked
                };
                // A task started before the recording began runs from the thread's first event.
                let start = match self.running.iter().rposition(|(t, _)| t == task) {
                    Some(i) => self.running.remove(i).1,
                    None => self.first.unwrap_or(at),
                };
                self.push_task(*task, start, at, outcome);
            }
        }
    }

    /// A thread first seen doing something other than changing state is running.
    fn ensure_state(&mut self, at: u64) {
        if self.current.is_none() {
            self.enter(at, ThreadState::Runnable, None, false);
        }
    }

    fn enter(&mut self, at: u64, state: ThreadState, waiting_on: Option<Arc<str>>, io: bool) {
        if let Some(cur) = &self.current {
            if cur.state == state && cur.waiting_on == waiting_on && cur.io == io {
                return;
            }
        }
        self.close_state(at);
        self.current = Some(StateSpan {
            state,
            waiting_on,
            io,
            start: at,
            end: at,
        });
    }

    /// Ends the current state span at `at` and starts the same state again there.
    fn split_state(&mut self, at: u64) {
        if let Some(cur) = self.current.clone() {
            self.close_state(at);
            self.current = Some(StateSpan {
                start: at,
                end: at,
                ..cur
            });
        }
    }

    fn close_state(&mut self, at: u64) {
        if let Some(mut span) = self.current.take() {
            span.end = at;
            if span.end > span.start {
                self.states.push(span);
            }
        }
    }

    fn close_tasks(&mut self, at: u64) {
        while let Some((task, start)) = self.running.pop() {
            self.push_task(task, start, at, TaskOutcome::Unfinished);
        }
    }

    fn push_task(&mut self, task: u64, start: u64, end: u64, outcome: TaskOutcome) {
        let name = self.task_names.get(&task).map(|n| (*n).to_owned());
        self.tasks.push(TaskSpan {
            task,
            name,
            start,
            end,
            outcome,
        });
    }

    fn mark(&mut self, at: u64, kind: MarkKind) {
        self.marks.push(Mark { at, kind });
    }

    fn finish(mut self, thread_id: u64, name: Arc<str>, end: u64) -> Track {
        self.close_state(end);
        self.close_tasks(end);
        // Inline tasks finish inner first: order by start, outer (longer) first on ties.
        self.tasks
            .sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        Track {
            thread_id,
            name,
            states: self.states,
            tasks: self.tasks,
            marks: self.marks,
        }
    }
}

#[cfg(test)]
pub(crate) mod script {
    use std::time::{Duration, Instant};

    use crate::thread::ThreadState;
    use crate::trace::{EventKind, TraceEvent};

    /// Events of one recording, `at` in microseconds after `origin`.
    pub(crate) struct Script {
        pub(crate) origin: Instant,
        pub(crate) events: Vec<TraceEvent>,
    }

    impl Script {
        pub(crate) fn new() -> Self {
            Script {
                origin: Instant::now(),
                events: Vec::new(),
            }
        }

        pub(crate) fn at(mut self, us: u64, thread: u64, name: &str, kind: EventKind) -> Self {
            self.events.push(TraceEvent {
                time: self.origin + Duration::from_micros(us),
                thread_id: thread,
                thread_name: name.into(),
                kind,
            });
            self
        }

        pub(crate) fn end(&self, us: u64) -> Instant {
            self.origin + Duration::from_micros(us)
        }
    }

    pub(crate) fn state(state: ThreadState, on: Option<&str>) -> EventKind {
        EventKind::State {
            state,
            waiting_on: on.map(std::sync::Arc::from),
        }
    }

    pub(crate) fn submitted(task: u64, name: &str) -> EventKind {
        EventKind::TaskSubmitted {
            task,
            name: name.to_owned(),
        }
    }

    pub(crate) fn finished(task: u64, ok: bool) -> EventKind {
        EventKind::TaskFinished { task, ok }
    }

    pub(crate) fn acquired(lock: &str, waited_us: u64) -> EventKind {
        EventKind::LockAcquired {
            lock: lock.into(),
            waited: Duration::from_micros(waited_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::script::{Script, finished, state, submitted};
    use super::*;

    #[test]
    fn a_thread_runs_from_its_start_and_its_waits_become_spans() {
        let s = Script::new()
            .at(10, 2, "w", EventKind::ThreadStart)
            .at(20, 2, "w", state(ThreadState::Blocked, Some("Mutex \"m\"")))
            .at(50, 2, "w", state(ThreadState::Runnable, None))
            .at(60, 2, "w", EventKind::ThreadEnd);
        let spans = build(&s.events, s.origin, s.end(100));
        let t = &spans.tracks[0];
        let got: Vec<_> = t.states.iter().map(|s| (s.state, s.start, s.end)).collect();
        assert_eq!(
            got,
            [
                (ThreadState::Runnable, 10_000, 20_000),
                (ThreadState::Blocked, 20_000, 50_000),
                (ThreadState::Runnable, 50_000, 60_000),
            ]
        );
        assert_eq!(t.states[1].waiting_on.as_deref(), Some("Mutex \"m\""));
        assert_eq!(t.marks.len(), 2);
    }

    #[test]
    fn open_spans_close_when_the_recording_ends() {
        let waiting = state(ThreadState::Waiting, Some("Event"));
        let s = Script::new().at(5, 1, "MainThread", waiting);
        let spans = build(&s.events, s.origin, s.end(40));
        let st = &spans.tracks[0].states;
        assert_eq!((st.len(), st[0].start, st[0].end), (1, 5_000, 40_000));
    }

    #[test]
    fn tasks_split_the_state_spans_so_they_nest() {
        let s = Script::new()
            .at(0, 1, "main", submitted(7, "fetch"))
            .at(0, 3, "worker", state(ThreadState::Waiting, Some("Queue")))
            .at(10, 3, "worker", state(ThreadState::Runnable, None))
            .at(12, 3, "worker", EventKind::TaskStarted { task: 7 })
            .at(30, 3, "worker", finished(7, false))
            .at(31, 3, "worker", EventKind::TaskStarted { task: 8 });
        let spans = build(&s.events, s.origin, s.end(40));
        let w = &spans.tracks[1];
        assert_eq!(w.tasks.len(), 2);
        assert_eq!(w.tasks[0].label(), "task 7 (fetch)");
        assert_eq!((w.tasks[0].start, w.tasks[0].end), (12_000, 30_000));
        assert_eq!(w.tasks[0].outcome, TaskOutcome::Panicked);
        assert_eq!(w.tasks[1].label(), "task 8");
        assert_eq!(w.tasks[1].outcome, TaskOutcome::Unfinished);
        let bounds: Vec<_> = w.states.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(
            bounds,
            [
                (0, 10_000),
                (10_000, 12_000),
                (12_000, 30_000),
                (30_000, 31_000),
                (31_000, 40_000)
            ]
        );
        // The submitter is running from its first event.
        assert_eq!(spans.tracks[0].states[0].state, ThreadState::Runnable);
    }

    fn io(what: Option<&str>) -> EventKind {
        EventKind::Io {
            what: what.map(Arc::from),
        }
    }

    #[test]
    fn blocking_io_is_a_span_of_its_own_even_around_a_wait_inside_it() {
        let s = Script::new()
            .at(0, 2, "fetcher", EventKind::ThreadStart)
            .at(10, 2, "fetcher", io(Some("GET /a")))
            .at(
                20,
                2,
                "fetcher",
                state(ThreadState::Blocked, Some("Mutex \"pool\"")),
            )
            .at(25, 2, "fetcher", state(ThreadState::Runnable, None))
            .at(40, 2, "fetcher", io(None))
            .at(50, 2, "fetcher", EventKind::ThreadEnd);
        let spans = build(&s.events, s.origin, s.end(60));
        let got: Vec<_> = spans.tracks[0]
            .states
            .iter()
            .map(|s| {
                (
                    s.label(),
                    s.waiting_on.as_deref().map(str::to_owned),
                    s.start / 1000,
                )
            })
            .collect();
        let get = Some("GET /a".to_owned());
        assert_eq!(
            got,
            [
                ("Runnable".to_owned(), None, 0),
                ("I/O".to_owned(), get.clone(), 10),
                ("Blocked".to_owned(), Some("Mutex \"pool\"".to_owned()), 20),
                ("I/O".to_owned(), get, 25),
                ("Runnable".to_owned(), None, 40),
            ]
        );
    }

    #[test]
    fn task_names_read_as_people_call_them() {
        let cases = [
            ("spindle_cli::lab::download::fetch_image", "fetch_image"),
            (
                "spindle_cli::lab::download::run::{{closure}}::{{closure}}",
                "closure in download::run",
            ),
            ("main::{{closure}}", "closure in main"),
            (
                "spindle::futures::map::MapResults<core::ops::range::Range<usize>, app::work, u64>::refill::{{closure}}",
                "closure in MapResults::refill",
            ),
            ("sum_below (map, 3 items)", "sum_below (map, 3 items)"),
            ("parse <input>", "parse <input>"),
        ];
        for (raw, readable) in cases {
            assert_eq!(readable_task_name(raw), readable, "{raw}");
        }
    }

    #[test]
    fn task_labels_shorten_only_the_name() {
        assert_eq!(
            readable_task_label("task 12 (app::fetch::{{closure}})"),
            "task 12 (closure in app::fetch)"
        );
        assert_eq!(readable_task_label("task 3"), "task 3");
        assert_eq!(readable_task_label("task x (a::b)"), "task x (a::b)");
        assert_eq!(readable_task_label("layout"), "layout");
    }
}
