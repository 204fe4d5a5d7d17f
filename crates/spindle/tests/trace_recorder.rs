//! The trace hook and the recorder, on a real program: what they hear, and the Chrome
//! trace a recording exports.
//!
//! The hook is one per process and the tests of this file run as threads of one process,
//! so each test holds `ONE_HOOK_AT_A_TIME`, and looks only at threads it started.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use spindle::sync::{Event, Mutex};
use spindle::thread::{JoinHandle, Thread, ThreadInfo, ThreadState};
use spindle::trace::{self, EventKind, Recorder, TraceEvent};

static ONE_HOOK_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_HOOK_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits (at most 10 s) until `thread` is in `state`.
fn wait_for_state(thread: &ThreadInfo, state: ThreadState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while thread.state() != state {
        assert!(
            Instant::now() < deadline,
            "{} never became {state}: {:?}",
            thread.name(),
            thread
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn start<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    Thread::new(f).name(name).start().unwrap()
}

/// The threads of the recorded program, by what they do.
struct Program {
    sleeper: ThreadInfo,
    holder: ThreadInfo,
    blocked: ThreadInfo,
    waiter: ThreadInfo,
}

impl Program {
    fn all(&self) -> [&ThreadInfo; 4] {
        [&self.sleeper, &self.holder, &self.blocked, &self.waiter]
    }
}

/// A thread that sleeps, one blocked on a mutex another holds, one waiting on an event.
fn run_program() -> Program {
    let ledger = Arc::new(Mutex::named("ledger", 0u32));
    let held = Arc::new(Event::named("held"));
    let go = Arc::new(Event::named("go"));
    let blocked_info: Arc<std::sync::OnceLock<ThreadInfo>> = Arc::default();

    let sleeper = start("rec-sleeper", || {
        spindle::thread::sleep(Duration::from_millis(20))
    });

    let holder = {
        let (ledger, held, blocked) = (ledger.clone(), held.clone(), blocked_info.clone());
        start("rec-holder", move || {
            let mut guard = ledger.lock();
            held.set();
            // Keep the lock until the other thread is certainly parked on it.
            let deadline = Instant::now() + Duration::from_secs(10);
            while blocked
                .get()
                .is_none_or(|b| b.state() != ThreadState::Blocked)
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            *guard += 1;
        })
    };
    let blocked = {
        let (ledger, held) = (ledger.clone(), held.clone());
        start("rec-blocked", move || {
            assert!(held.wait_timeout(Duration::from_secs(10)));
            *ledger.lock() += 1;
        })
    };
    blocked_info.set(blocked.info()).unwrap();

    let waiter = {
        let go = go.clone();
        start("rec-waiter", move || go.wait())
    };
    wait_for_state(&waiter.info(), ThreadState::Waiting);
    go.set();

    let program = Program {
        sleeper: sleeper.info(),
        holder: holder.info(),
        blocked: blocked.info(),
        waiter: waiter.info(),
    };
    sleeper.join().unwrap();
    holder.join().unwrap();
    blocked.join().unwrap();
    waiter.join().unwrap();
    assert_eq!(*ledger.lock(), 2);
    program
}

/// The trace's events on `thread`'s track with phase `ph` and name `name`.
fn events<'a>(trace: &'a Value, thread: &ThreadInfo, ph: &str, name: &str) -> Vec<&'a Value> {
    trace["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
        .iter()
        .filter(|e| e["tid"].as_u64() == Some(thread.id()) && e["ph"] == ph && e["name"] == name)
        .collect()
}

#[test]
fn a_recording_exports_a_chrome_trace_of_every_threads_states() {
    let _one = exclusive();
    let recorder = Recorder::start();
    let program = run_program();
    recorder.stop();

    let trace: Value = serde_json::from_str(&recorder.to_chrome_json()).expect("valid JSON");
    assert_eq!(trace["displayTimeUnit"], "ms");

    for thread in program.all() {
        let names = events(&trace, thread, "M", "thread_name");
        assert_eq!(names.len(), 1, "one name for {}", thread.name());
        assert_eq!(names[0]["args"]["name"], thread.name().as_str());
        assert_eq!(events(&trace, thread, "i", "ThreadStart").len(), 1);
        assert_eq!(events(&trace, thread, "i", "ThreadEnd").len(), 1);

        // State spans follow one another without overlapping.
        let mut spans: Vec<(f64, f64)> = trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["tid"].as_u64() == Some(thread.id()) && e["cat"] == "state")
            .map(|e| (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap()))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(!spans.is_empty());
        for pair in spans.windows(2) {
            assert!(
                pair[0].0 + pair[0].1 <= pair[1].0 + 1e-3,
                "{pair:?} overlap"
            );
        }
    }

    let slept = events(&trace, &program.sleeper, "X", "TimedWaiting");
    assert!(
        !slept.is_empty(),
        "the sleeper's sleep is a TimedWaiting span"
    );
    assert!(slept.iter().all(|s| s["args"]["waiting_on"] == "sleep"));

    let blocked = events(&trace, &program.blocked, "X", "Blocked");
    assert!(!blocked.is_empty(), "the blocked thread has a Blocked span");
    assert!(blocked[0]["dur"].as_f64().unwrap() > 0.0);
    assert_eq!(blocked[0]["args"]["waiting_on"], "Mutex \"ledger\"");

    let acquired = events(&trace, &program.blocked, "i", "LockAcquired");
    assert!(
        acquired
            .iter()
            .any(|a| a["args"]["lock"] == "Mutex \"ledger\""
                && a["args"]["waited_us"].as_f64().unwrap() > 0.0),
        "{acquired:?}"
    );

    let waited = events(&trace, &program.waiter, "X", "Waiting");
    assert!(!waited.is_empty());
    assert!(
        waited
            .iter()
            .all(|w| w["args"]["waiting_on"] == "Event \"go\"")
    );
    // The holder never waited for the ledger. (It may block for a few microseconds on
    // the `held` event's own state lock while the other thread starts waiting on that
    // event, as `threading.Event.set` may block on its condition's lock: that span is
    // true, and names that lock.)
    assert!(!events(&trace, &program.holder, "X", "Runnable").is_empty());
    let holder_blocked = events(&trace, &program.holder, "X", "Blocked");
    assert!(
        holder_blocked.iter().all(|b| {
            let on = b["args"]["waiting_on"].as_str().unwrap();
            on.starts_with("Event state lock") && !on.contains("ledger")
        }),
        "{holder_blocked:?}"
    );
}

#[test]
fn a_wait_with_a_timeout_is_timed_waiting() {
    let _one = exclusive();
    let recorder = Recorder::start();
    let go = Arc::new(Event::named("go-timed"));
    let waiter = {
        let go = go.clone();
        start("rec-timed", move || {
            assert!(go.wait_timeout(Duration::from_secs(10)))
        })
    };
    wait_for_state(&waiter.info(), ThreadState::TimedWaiting);
    go.set();
    let info = waiter.info();
    waiter.join().unwrap();
    recorder.stop();

    let trace: Value = serde_json::from_str(&recorder.to_chrome_json()).unwrap();
    let waited = events(&trace, &info, "X", "TimedWaiting");
    assert!(!waited.is_empty());
    assert!(
        waited
            .iter()
            .all(|w| w["args"]["waiting_on"] == "Event \"go-timed\"")
    );
}

#[test]
fn a_thread_already_waiting_when_recording_starts_shows_its_wait_from_the_start() {
    let _one = exclusive();
    let go = Arc::new(Event::named("go-early"));
    let waiter = {
        let go = go.clone();
        start("rec-early", move || go.wait())
    };
    let info = waiter.info();
    wait_for_state(&info, ThreadState::Waiting);
    let recorder = Recorder::start();
    go.set();
    waiter.join().unwrap();
    recorder.stop();

    let first = recorder
        .events()
        .into_iter()
        .find(|e| e.thread_id == info.id())
        .expect("the waiter is in the recording");
    assert_eq!(
        first.kind,
        EventKind::State {
            state: ThreadState::Waiting,
            waiting_on: Some("Event \"go-early\"".into())
        }
    );
    let row = recorder
        .timeline()
        .rows
        .into_iter()
        .find(|r| r.thread_id == info.id())
        .unwrap();
    assert_eq!(row.states[0].label, "Waiting");
    assert_eq!(row.states[0].start_us, 0.0);
}

#[test]
fn events_come_merged_in_time_order() {
    let _one = exclusive();
    let recorder = Recorder::start();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            start(&format!("rec-order-{i}"), || {
                spindle::thread::sleep(Duration::from_millis(1))
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    recorder.stop();
    let all = recorder.events();
    assert!(all.windows(2).all(|w| w[0].time <= w[1].time));
    for i in 0..3 {
        let name = format!("rec-order-{i}");
        let mine: Vec<&TraceEvent> = all.iter().filter(|e| *e.thread_name == *name).collect();
        assert_eq!(mine.first().map(|e| &e.kind), Some(&EventKind::ThreadStart));
        assert_eq!(mine.last().map(|e| &e.kind), Some(&EventKind::ThreadEnd));
    }
}

/// What a hook heard about the threads named `name`.
fn heard(log: &std::sync::Mutex<Vec<TraceEvent>>, name: &str) -> Vec<EventKind> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|e| &*e.thread_name == name)
        .map(|e| e.kind.clone())
        .collect()
}

fn logging_hook() -> Arc<std::sync::Mutex<Vec<TraceEvent>>> {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    trace::set_hook(move |e| sink.lock().unwrap().push(e.clone()));
    log
}

#[test]
fn set_hook_hears_thread_start_end_and_state_changes_until_cleared() {
    let _one = exclusive();
    let log = logging_hook();
    start("hook-heard", || {
        spindle::thread::sleep(Duration::from_millis(1))
    })
    .join()
    .unwrap();
    trace::clear_hook();
    start("hook-unheard", || {
        spindle::thread::sleep(Duration::from_millis(1))
    })
    .join()
    .unwrap();

    let kinds = heard(&log, "hook-heard");
    assert_eq!(kinds.first(), Some(&EventKind::ThreadStart));
    assert_eq!(kinds.last(), Some(&EventKind::ThreadEnd));
    assert!(kinds.contains(&EventKind::State {
        state: ThreadState::TimedWaiting,
        waiting_on: Some("sleep".into()),
    }));
    assert!(kinds.contains(&EventKind::State {
        state: ThreadState::Runnable,
        waiting_on: None,
    }));
    assert_eq!(heard(&log, "hook-unheard"), []);
}

#[test]
fn stopping_a_recorder_leaves_a_hook_set_since_in_place() {
    let _one = exclusive();
    let recorder = Recorder::start();
    let log = logging_hook(); // replaces the recorder's hook
    start("hook-after-recorder", || ()).join().unwrap();
    recorder.stop();
    start("hook-after-stop", || ()).join().unwrap();
    trace::clear_hook();

    assert!(!heard(&log, "hook-after-recorder").is_empty());
    assert!(
        !heard(&log, "hook-after-stop").is_empty(),
        "stop removed someone else's hook"
    );
    assert!(
        recorder
            .events()
            .iter()
            .all(|e| &*e.thread_name != "hook-after-recorder"),
        "the replaced recorder kept recording"
    );
}

#[test]
fn a_recorder_replaces_the_hook_and_stops_when_dropped() {
    let _one = exclusive();
    let log = logging_hook();
    let recorder = Recorder::start();
    start("rec-replaced", || ()).join().unwrap();
    drop(recorder);
    start("rec-dropped", || ()).join().unwrap();
    assert_eq!(heard(&log, "rec-replaced"), []);
    assert_eq!(
        heard(&log, "rec-dropped"),
        [],
        "the old hook does not come back"
    );

    // Nothing listens any more: a new hook starts from nothing.
    let fresh = logging_hook();
    start("rec-fresh", || ()).join().unwrap();
    trace::clear_hook();
    assert_eq!(
        heard(&fresh, "rec-fresh"),
        [EventKind::ThreadStart, EventKind::ThreadEnd]
    );
}

#[test]
fn a_recorder_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Recorder>();
}

/// Regression guard: the recorder keeps one buffer per `ThreadLocal` slot, and a slot
/// of a thread that ended is reused by the next new thread. Each thread's events must
/// still carry its own id and name, never those of the slot's earlier owner.
#[test]
fn threads_that_reuse_a_finished_threads_slot_keep_their_own_names() {
    let _one = exclusive();
    let recorder = Recorder::start();
    let mut expected = Vec::new();
    for i in 0..4 {
        let h = start(&format!("slot-user-{i}"), || {
            spindle::thread::sleep(Duration::from_millis(1));
        });
        expected.push((h.info().id(), h.info().name()));
        h.join().unwrap();
    }
    recorder.stop();
    let events = recorder.events();
    for (id, name) in expected {
        let mine: Vec<_> = events.iter().filter(|e| e.thread_id == id).collect();
        assert!(
            mine.iter().all(|e| *e.thread_name == *name),
            "{name}'s events carry another name: {mine:?}"
        );
        let kinds: Vec<_> = mine.iter().map(|e| &e.kind).collect();
        assert_eq!(
            kinds.first(),
            Some(&&EventKind::ThreadStart),
            "{name}: {kinds:?}"
        );
        assert_eq!(
            kinds.last(),
            Some(&&EventKind::ThreadEnd),
            "{name}: {kinds:?}"
        );
        assert!(
            kinds.iter().any(
                |k| matches!(k, EventKind::State { waiting_on: Some(on), .. } if &**on == "sleep")
            ),
            "{name} slept: {kinds:?}"
        );
    }
}
