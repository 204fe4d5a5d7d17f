//! The trace hook hears process-pool tasks as it hears thread-pool ones: `TaskSubmitted`
//! on the submitting thread, `TaskStarted` and `TaskFinished` on the supervisor thread
//! of the worker that ran the task, and the recorder's Chrome trace holds a task span
//! for each.
//!
//! A `harness = false` test, as `process_faults.rs`: workers re-run this binary, so
//! `main` calls `spindle::process::init()` before anything else, then runs the cases,
//! one at a time (the trace hook is one per process), each bounded in time. It speaks
//! enough of libtest's command line for `cargo test` and `cargo nextest`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::cases::Case;

use serde_json::Value;
use spindle::futures::{Future, TaskError};
use spindle::process::ProcessPoolExecutor;
use spindle::trace::{EventKind, Recorder, TraceEvent};

/// The longest any single wait may take: generous, as the machine is small and shared.
const PATIENCE: Duration = Duration::from_secs(30);

spindle::task! {
    const SQUARE = fn square(x: u64) -> u64 { x * x }

    const PANICS = fn panics(message: String) -> u32 { panic!("{message}") }

    const ABORTS = fn aborts(_x: ()) { std::process::abort() }

    const SLEEPS_MS = fn sleeps_ms(ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }
}

fn get<T>(f: Future<T>) -> Result<T, TaskError> {
    assert!(
        f.wait_timeout(PATIENCE),
        "a future did not complete within {PATIENCE:?}"
    );
    f.result()
}

/// What the hook heard of one task.
#[derive(Debug, Default)]
struct Heard<'a> {
    submitted: Vec<&'a TraceEvent>,
    started: Vec<&'a TraceEvent>,
    finished: Vec<(&'a TraceEvent, bool)>,
}

/// The task events of a recording, by task id.
fn by_task(events: &[TraceEvent]) -> HashMap<u64, Heard<'_>> {
    let mut tasks: HashMap<u64, Heard<'_>> = HashMap::new();
    for e in events {
        match &e.kind {
            EventKind::TaskSubmitted { task, .. } => {
                tasks.entry(*task).or_default().submitted.push(e)
            }
            EventKind::TaskStarted { task } => tasks.entry(*task).or_default().started.push(e),
            EventKind::TaskFinished { task, ok } => {
                tasks.entry(*task).or_default().finished.push((e, *ok))
            }
            _ => {}
        }
    }
    tasks
}

/// Checks that `task` was heard once submitted (on this thread, under a name starting
/// with `name`), once started and once finished with `ok`, the start and the end on
/// one pool supervisor thread, in that order. Returns that thread's id.
fn assert_traced_once(heard: &HashMap<u64, Heard<'_>>, task: u64, name: &str, ok: bool) -> u64 {
    let h = heard
        .get(&task)
        .unwrap_or_else(|| panic!("task {task} ({name}) was not heard at all"));
    let me = spindle::thread::current().id();
    assert_eq!(h.submitted.len(), 1, "task {task}: {h:?}");
    assert_eq!(h.started.len(), 1, "task {task}: {h:?}");
    assert_eq!(h.finished.len(), 1, "task {task}: {h:?}");
    let (submitted, started, (finished, heard_ok)) = (h.submitted[0], h.started[0], h.finished[0]);
    match &submitted.kind {
        EventKind::TaskSubmitted { name: heard, .. } => {
            assert!(heard.starts_with(name), "task {task} is named {heard:?}")
        }
        other => unreachable!("{other:?}"),
    }
    assert_eq!(
        submitted.thread_id, me,
        "submitted on the submitting thread"
    );
    assert_eq!(heard_ok, ok, "task {task} ({name}): ok");
    assert_eq!(started.thread_id, finished.thread_id, "task {task}: {h:?}");
    assert!(
        started.thread_name.starts_with("process-pool-supervisor-"),
        "task {task} started on {}",
        started.thread_name
    );
    assert!(submitted.time <= started.time && started.time <= finished.time);
    started.thread_id
}

/// The Chrome trace's task spans, by task id.
fn task_spans(json: &str) -> HashMap<u64, Vec<Value>> {
    let trace: Value = serde_json::from_str(json).expect("valid JSON");
    let mut spans: HashMap<u64, Vec<Value>> = HashMap::new();
    for e in trace["traceEvents"].as_array().expect("traceEvents") {
        if e["ph"] == "X" && e["cat"] == "task" {
            let task = e["args"]["task"]
                .as_u64()
                .expect("a task span names its task");
            spans.entry(task).or_default().push(e.clone());
        }
    }
    spans
}

// ---- the cases ----

fn each_process_task_is_submitted_started_and_finished_once() {
    let recorder = Recorder::start();
    let pool = ProcessPoolExecutor::new(2);
    let nine = pool.submit(SQUARE, 3);
    let sixteen = pool.submit(SQUARE, 4);
    let boom = pool.submit(PANICS, "boom".to_owned());
    let crash = pool.submit(ABORTS, ());
    let late = pool.submit_with_timeout(SLEEPS_MS, 60_000, Duration::from_millis(200));
    let ids = [nine.task_id(), sixteen.task_id(), boom.task_id()];
    let (crash_id, late_id) = (crash.task_id(), late.task_id());
    let mapped: Vec<u64> = pool.map(SQUARE, [5, 6, 7]).map(Result::unwrap).collect();
    let chunked: Vec<u64> = (pool.map_chunked(SQUARE, 0..10, 5))
        .map(Result::unwrap)
        .collect();

    assert_eq!(get(nine), Ok(9));
    assert_eq!(get(sixteen), Ok(16));
    assert!(matches!(get(boom), Err(TaskError::Panicked(p)) if p.message() == "boom"));
    assert!(matches!(get(crash), Err(TaskError::WorkerDied(_))));
    assert_eq!(get(late), Err(TaskError::Timeout));
    assert_eq!(mapped, [25, 36, 49]);
    assert_eq!(chunked.len(), 10);
    recorder.stop();
    drop(pool);

    let events = recorder.events();
    let heard = by_task(&events);
    let mut expected = vec![
        (ids[0], SQUARE.name(), true),
        (ids[1], SQUARE.name(), true),
        (ids[2], PANICS.name(), false),
        (crash_id, ABORTS.name(), false),
        (late_id, SLEEPS_MS.name(), false),
    ];
    // map's tasks: one per chunk, named after the task, found by their submissions.
    let mut map_tasks: Vec<(u64, &str)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskSubmitted { task, name } if name.contains("(map, ") => {
                Some((*task, name.as_str()))
            }
            _ => None,
        })
        .collect();
    map_tasks.sort();
    let names: Vec<&str> = map_tasks.iter().map(|(_, n)| *n).collect();
    let square = SQUARE.name();
    assert_eq!(
        names,
        [1, 1, 1, 5, 5].map(|n| match n {
            1 => format!("{square} (map, 1 item)"),
            n => format!("{square} (map, {n} items)"),
        }),
        "the map's submissions"
    );
    expected.extend(map_tasks.iter().map(|&(task, _)| (task, square, true)));
    assert_eq!(heard.len(), expected.len(), "tasks heard: {heard:?}");

    let spans = task_spans(&recorder.to_chrome_json());
    for (task, name, ok) in expected {
        let thread = assert_traced_once(&heard, task, name, ok);
        let span = spans.get(&task).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(span.len(), 1, "task {task}'s spans: {span:?}");
        let span = &span[0];
        assert_eq!(span["tid"].as_u64(), Some(thread), "{span}");
        assert_eq!(span["args"]["outcome"], if ok { "ok" } else { "panicked" });
        let label = span["name"].as_str().unwrap();
        assert!(
            label.starts_with(&format!("task {task} ({name}")),
            "task {task}'s span is labelled {label:?}"
        );
    }
}

fn a_workers_queued_tasks_start_when_it_gets_to_them() {
    // One worker: every task after the first waits in its pipe behind the one running,
    // and must be heard to start only when the worker starts it.
    let recorder = Recorder::start();
    let pool = ProcessPoolExecutor::new(1);
    let futures: Vec<_> = (0..4).map(|_| pool.submit(SLEEPS_MS, 30)).collect();
    let ids: Vec<u64> = futures.iter().map(Future::task_id).collect();
    for f in futures {
        assert_eq!(get(f), Ok(30));
    }
    recorder.stop();
    drop(pool);

    let events = recorder.events();
    let heard = by_task(&events);
    let threads: Vec<u64> = (ids.iter())
        .map(|&id| assert_traced_once(&heard, id, SLEEPS_MS.name(), true))
        .collect();
    assert!(threads.iter().all(|&t| t == threads[0]), "one supervisor");
    let spans: Vec<(Instant, Instant)> = (ids.iter())
        .map(|id| (heard[id].started[0].time, heard[id].finished[0].0.time))
        .collect();
    for (i, (start, end)) in spans.iter().enumerate() {
        assert!(
            *end - *start >= Duration::from_millis(25),
            "task {i} ran {:?}: {spans:?}",
            *end - *start
        );
        if i > 0 {
            assert!(spans[i - 1].1 <= *start, "tasks overlap: {spans:?}");
        }
    }
}

fn a_quick_workers_batched_replies_are_heard_in_order() {
    // Tiny traced tasks on one worker: it holds many requests at once, and its
    // supervisor reads their replies (a `Started` notice, then the result, for each)
    // many at a time; each task must still be heard to start after the one before it
    // finished, and to finish after it started.
    let recorder = Recorder::start();
    let pool = ProcessPoolExecutor::new(1);
    let futures: Vec<_> = (0..500).map(|x| pool.submit(SQUARE, x)).collect();
    let ids: Vec<u64> = futures.iter().map(Future::task_id).collect();
    for (x, f) in (0..).zip(futures) {
        assert_eq!(get(f), Ok(x * x));
    }
    recorder.stop();
    drop(pool);

    let events = recorder.events();
    let heard = by_task(&events);
    for &id in &ids {
        assert_traced_once(&heard, id, SQUARE.name(), true);
    }
    // The order the one supervisor heard them in (a recording keeps one thread's
    // events in order, even at one instant): start, finish, start, finish, ...
    let order: Vec<(u64, bool)> = (events.iter())
        .filter_map(|e| match e.kind {
            EventKind::TaskStarted { task } => Some((task, true)),
            EventKind::TaskFinished { task, .. } => Some((task, false)),
            _ => None,
        })
        .collect();
    let expected: Vec<(u64, bool)> = ids
        .iter()
        .flat_map(|&id| [(id, true), (id, false)])
        .collect();
    if let Some(i) = (0..expected.len()).find(|&i| order.get(i) != Some(&expected[i])) {
        panic!(
            "heard {:?} where {:?} was due (task ids {}..)",
            order.get(i.saturating_sub(2)..(i + 3).min(order.len())),
            &expected[i.saturating_sub(2)..(i + 3).min(expected.len())],
            ids[0]
        );
    }
    assert_eq!(order.len(), expected.len());
}

fn untraced_tasks_cost_no_start_notice_and_still_run() {
    // Submitted before the recording starts: not announced, and finished as usual
    // (a finish without a start, as for a thread-pool task older than the recording).
    let pool = ProcessPoolExecutor::new(1);
    let early = pool.submit(SLEEPS_MS, 100);
    let id = early.task_id();
    let recorder = Recorder::start();
    assert_eq!(get(early), Ok(100));
    let after = pool.submit(SQUARE, 2);
    let after_id = after.task_id();
    assert_eq!(get(after), Ok(4));
    recorder.stop();
    drop(pool);

    let events = recorder.events();
    let heard = by_task(&events);
    let early = &heard[&id];
    assert!(early.submitted.is_empty() && early.started.is_empty());
    assert_eq!(early.finished.len(), 1);
    assert_traced_once(&heard, after_id, SQUARE.name(), true);
}

const CASES: &[Case] = &[
    (
        "each_process_task_is_submitted_started_and_finished_once",
        each_process_task_is_submitted_started_and_finished_once,
    ),
    (
        "a_workers_queued_tasks_start_when_it_gets_to_them",
        a_workers_queued_tasks_start_when_it_gets_to_them,
    ),
    (
        "a_quick_workers_batched_replies_are_heard_in_order",
        a_quick_workers_batched_replies_are_heard_in_order,
    ),
    (
        "untraced_tasks_cost_no_start_notice_and_still_run",
        untraced_tasks_cost_no_start_notice_and_still_run,
    ),
];

/// How long one case may take before the whole run is declared hung.
const CASE_LIMIT: Duration = Duration::from_secs(90);

fn main() {
    spindle::process::init();
    common::cases::run(CASES, CASE_LIMIT, || {});
}
