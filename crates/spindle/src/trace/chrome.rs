// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! The Chrome trace-event format (what `chrome://tracing` and Perfetto open): a track
//! per thread, a complete (`X`) event per state span and per task, an instant (`i`) event
//! for each thread start and end, contended lock acquisition and task submission.
//! Times are microseconds since the recording started.

use serde_json::{Value, json};

use super::spans::{MarkKind, Spans, Track, micros};

/// The process id every event carries: a recording covers one process.
pub(crate) const PID: u64 = 1;
/// The `cat` of state spans.
pub(crate) const STATE_CATEGORY: &str = "state";
/// The `cat` of task spans and submissions.
pub(crate) const TASK_CATEGORY: &str = "task";

/// The whole trace: `{"traceEvents": [...], "displayTimeUnit": "ms"}`.
pub(crate) fn to_json(spans: &Spans) -> Value {
    let mut events = vec![json!({
        "name": "process_name", "ph": "M", "pid": PID, "args": {"name": "spindle"},
    })];
    for track in &spans.tracks {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": PID, "tid": track.thread_id,
            "args": {"name": &*track.name},
        }));
        events.push(json!({
            "name": "thread_sort_index", "ph": "M", "pid": PID, "tid": track.thread_id,
            "args": {"sort_index": track.thread_id},
        }));
    }
    // Time order; at one timestamp a task comes before the state spans it encloses, so
    // that viewers which need parents first see them first.
    let mut timed: Vec<(u64, Value)> = spans.tracks.iter().flat_map(track_events).collect();
    timed.sort_by_key(|(at, _)| *at);
    events.extend(timed.into_iter().map(|(_, e)| e));
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

/// One thread's timed events, each with its start in nanoseconds.
fn track_events(track: &Track) -> Vec<(u64, Value)> {
    let tid = track.thread_id;
    let mut out = Vec::with_capacity(track.tasks.len() + track.states.len() + track.marks.len());
    for t in &track.tasks {
        let mut args = json!({"task": t.task, "outcome": t.outcome.as_str()});
        if let Some(name) = &t.name {
            args["name"] = json!(name);
        }
        out.push((
            t.start,
            json!({
                "name": t.label(), "cat": TASK_CATEGORY, "ph": "X", "pid": PID, "tid": tid,
                "ts": micros(t.start), "dur": micros(t.end - t.start), "args": args,
            }),
        ));
    }
    for s in &track.states {
        let mut args = json!({});
        if let Some(on) = &s.waiting_on {
            args["waiting_on"] = json!(&**on);
        }
        out.push((
            s.start,
            json!({
                "name": s.label(), "cat": STATE_CATEGORY, "ph": "X", "pid": PID,
                "tid": tid, "ts": micros(s.start), "dur": micros(s.end - s.start), "args": args,
            }),
        ));
    }
    for m in &track.marks {
        let (name, cat, args) = match &m.kind {
            MarkKind::ThreadStart => ("ThreadStart", "thread", json!({})),
            MarkKind::ThreadEnd => ("ThreadEnd", "thread", json!({})),
            MarkKind::LockAcquired { lock, waited } => (
                "LockAcquired",
                "lock",
                json!({"lock": &**lock, "waited_us": waited.as_nanos() as f64 / 1000.0}),
            ),
            MarkKind::TaskSubmitted { task, name } => (
                "TaskSubmitted",
                TASK_CATEGORY,
                json!({"task": task, "name": name}),
            ),
        };
        out.push((
            m.at,
            json!({
                "name": name, "cat": cat, "ph": "i", "s": "t", "pid": PID, "tid": tid,
                "ts": micros(m.at), "args": args,
            }),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thread::ThreadState::{Blocked, Runnable};
    use crate::trace::EventKind::{TaskStarted, ThreadEnd, ThreadStart};
    use crate::trace::spans::build;
    use crate::trace::spans::script::{Script, acquired, finished, state, submitted};

    fn events_named<'a>(trace: &'a Value, name: &str) -> Vec<&'a Value> {
        trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == name)
            .collect()
    }

    fn export(s: &Script, end_us: u64) -> Value {
        // Through the text and back, as a viewer would read it.
        let text = to_json(&build(&s.events, s.origin, s.end(end_us))).to_string();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn tasks_become_complete_events_on_the_workers_track() {
        let s = Script::new()
            .at(1, 1, "MainThread", submitted(4, "resize"))
            .at(2, 5, "pool-0", TaskStarted { task: 4 })
            .at(9, 5, "pool-0", finished(4, true))
            .at(10, 5, "pool-0", TaskStarted { task: 6 })
            .at(12, 5, "pool-0", finished(6, false));
        let trace = export(&s, 20);
        assert_eq!(trace["displayTimeUnit"], "ms");

        let resize = events_named(&trace, "task 4 (resize)");
        assert_eq!(resize.len(), 1);
        let t = resize[0];
        assert_eq!(
            (t["ph"].as_str(), t["cat"].as_str()),
            (Some("X"), Some("task"))
        );
        assert_eq!((t["tid"].as_u64(), t["ts"].as_f64()), (Some(5), Some(2.0)));
        assert_eq!(t["dur"].as_f64(), Some(7.0));
        assert_eq!(t["args"]["outcome"], "ok");
        assert_eq!(t["args"]["name"], "resize");

        let unnamed = events_named(&trace, "task 6");
        assert_eq!(unnamed[0]["args"]["outcome"], "panicked");

        let submitted = events_named(&trace, "TaskSubmitted");
        assert_eq!(submitted.len(), 1);
        let (ph, tid) = (submitted[0]["ph"].as_str(), submitted[0]["tid"].as_u64());
        assert_eq!((ph, tid), (Some("i"), Some(1)));
        assert_eq!(submitted[0]["args"]["task"], 4);
    }

    #[test]
    fn every_thread_gets_a_named_track_and_spans_for_its_states() {
        let s = Script::new()
            .at(0, 2, "Thread-1", ThreadStart)
            .at(3, 2, "Thread-1", state(Blocked, Some("Mutex \"m\"")))
            .at(8, 2, "Thread-1", state(Runnable, None))
            .at(8, 2, "Thread-1", acquired("Mutex \"m\"", 5))
            .at(9, 2, "Thread-1", ThreadEnd);
        let trace = export(&s, 10);
        let names = events_named(&trace, "thread_name");
        assert_eq!(names.len(), 1);
        assert_eq!(names[0]["tid"].as_u64(), Some(2));
        assert_eq!(names[0]["args"]["name"], "Thread-1");

        let blocked = events_named(&trace, "Blocked");
        assert_eq!(blocked.len(), 1);
        let (ts, dur) = (blocked[0]["ts"].as_f64(), blocked[0]["dur"].as_f64());
        assert_eq!((ts, dur), (Some(3.0), Some(5.0)));
        assert_eq!(blocked[0]["args"]["waiting_on"], "Mutex \"m\"");
        assert_eq!(events_named(&trace, "Runnable").len(), 2);

        let acquired = events_named(&trace, "LockAcquired");
        assert_eq!(acquired[0]["args"]["lock"], "Mutex \"m\"");
        assert_eq!(acquired[0]["args"]["waited_us"].as_f64(), Some(5.0));
        assert_eq!(events_named(&trace, "ThreadStart").len(), 1);
        assert_eq!(
            events_named(&trace, "ThreadEnd")[0]["ts"].as_f64(),
            Some(9.0)
        );
    }

    #[test]
    fn a_task_precedes_the_state_spans_that_start_with_it() {
        let s = Script::new()
            .at(0, 3, "w", state(Runnable, None))
            .at(4, 3, "w", TaskStarted { task: 1 })
            .at(6, 3, "w", finished(1, true));
        let trace = export(&s, 8);
        let at_4: Vec<_> = trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ts"].as_f64() == Some(4.0))
            .map(|e| e["cat"].as_str().unwrap())
            .collect();
        assert_eq!(at_4, ["task", "state"]);
    }
}
