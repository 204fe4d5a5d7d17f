//! `spindle trace render`: a recorded trace becomes a well-formed SVG, a row per thread.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use spindle::sync::Mutex;
use spindle::thread::{Thread, ThreadState};
use spindle::trace::Recorder;

fn spindle_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spindle"))
}

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spindle-render-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `spindle trace render TRACE -o SVG`: whether it succeeded, and its stderr.
fn render(trace: &Path, svg: &Path) -> (bool, String) {
    let out = spindle_cmd()
        .args(["trace", "render"])
        .arg(trace)
        .arg("-o")
        .arg(svg)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The states drawn as bars in the row of thread `thread` (each bar's `data-state`;
/// the legend, which lists states whether or not they were drawn, is not a row).
fn drawn_states(svg: &str, thread: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(svg);
    let attr = |e: &quick_xml::events::BytesStart, name: &str| {
        e.try_get_attribute(name)
            .unwrap()
            .map(|a| a.unescape_value().unwrap().into_owned())
    };
    let mut in_row = false;
    let mut depth = 0usize;
    let mut states = Vec::new();
    loop {
        match reader.read_event().expect("the SVG is well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) => {
                if e.name().as_ref() == b"g" && attr(&e, "class").as_deref() == Some("row") {
                    in_row = attr(&e, "data-name").as_deref() == Some(thread);
                    depth = 0;
                }
                depth += 1;
                if in_row
                    && e.name().as_ref() == b"rect"
                    && attr(&e, "class").as_deref() == Some("state")
                {
                    states.push(attr(&e, "data-state").expect("a drawn state names itself"));
                }
            }
            quick_xml::events::Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_row = false;
                }
            }
            _ => {}
        }
    }
    states
}

/// Waits until `info` reads `state`, failing the test after 10 s.
fn wait_for_state(info: &spindle::thread::ThreadInfo, state: ThreadState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while info.state() != state {
        assert!(
            Instant::now() < deadline,
            "{} never read {state:?}: it reads {:?}",
            info.name(),
            info.state()
        );
        std::thread::yield_now();
    }
}

/// The `data-name` of each row group of an SVG timeline, checking that it is
/// well-formed XML.
fn row_names(svg: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut rows = Vec::new();
    loop {
        match reader.read_event().expect("the SVG is well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"g" => {
                let class = e
                    .try_get_attribute("class")
                    .unwrap()
                    .map(|a| a.unescape_value().unwrap().into_owned());
                if class.as_deref() == Some("row") {
                    let name = e
                        .try_get_attribute("data-name")
                        .unwrap()
                        .map(|a| a.unescape_value().unwrap().into_owned());
                    rows.push(name.unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    rows
}

#[test]
fn renders_a_recorded_trace_with_one_row_per_thread() {
    let dir = scratch("recorded");
    let (trace, svg) = (dir.join("trace.json"), dir.join("timeline.svg"));

    let recorder = Recorder::start();
    let gate = Arc::new(Mutex::named("gate", ()));
    let held = gate.lock();
    let g = Arc::clone(&gate);
    let blocked = Thread::new(move || drop(g.lock()))
        .name("render-blocked")
        .start()
        .unwrap();
    let sleeper = Thread::new(|| spindle::thread::sleep(Duration::from_millis(5)))
        .name("render-sleeper")
        .start()
        .unwrap();
    // Released only once it is seen blocked on the gate: its Blocked span exists.
    wait_for_state(&blocked.info(), ThreadState::Blocked);
    drop(held);
    blocked.join().unwrap();
    sleeper.join().unwrap();
    recorder.stop();
    recorder.write_chrome_json(&trace).unwrap();

    let (ok, stderr) = render(&trace, &svg);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    // The trace's threads: one thread_name record each.
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let mut threads: Vec<String> = json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap().to_owned())
        .collect();
    let text = std::fs::read_to_string(&svg).unwrap();
    let mut rows = row_names(&text);
    assert_eq!(
        rows.len(),
        threads.len(),
        "rows {rows:?}, threads {threads:?}"
    );
    assert!(
        stderr.contains(&format!("({} threads)", threads.len())),
        "{stderr}"
    );
    rows.sort();
    threads.sort();
    assert_eq!(rows, threads);
    for name in ["render-blocked", "render-sleeper"] {
        assert_eq!(rows.iter().filter(|r| *r == name).count(), 1, "{rows:?}");
    }
    // Bars drawn in the threads' own rows, not just the legend's entries.
    let blocked = drawn_states(&text, "render-blocked");
    assert!(blocked.iter().any(|s| s == "Blocked"), "{blocked:?}");
    let slept = drawn_states(&text, "render-sleeper");
    assert!(slept.iter().any(|s| s == "TimedWaiting"), "{slept:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn events_it_cannot_draw_are_counted_in_a_warning() {
    let dir = scratch("partly-bad");
    let (trace, svg) = (dir.join("trace.json"), dir.join("timeline.svg"));
    std::fs::write(
        &trace,
        r#"{"traceEvents": [
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "main"}},
            {"name": "Runnable", "ph": "X", "pid": 1, "tid": 1, "ts": 0, "dur": 10},
            {"name": "tick", "ph": "i", "s": "t", "pid": 1, "tid": 1, "ts": 5},
            {"ph": "X", "ts": "abc"},
            5
        ]}"#,
    )
    .unwrap();

    let (ok, stderr) = render(&trace, &svg);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(
            "warning: skipped 2 of 5 trace events that spindle cannot draw \
             (first: event 3: \"ts\" is not a number)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("1 × not a JSON object"), "{stderr}");
    assert!(stderr.contains("(1 thread)"), "{stderr}");
    let text = std::fs::read_to_string(&svg).expect("the SVG is written");
    assert_eq!(row_names(&text), ["main"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_trace_with_nothing_drawable_is_an_error() {
    let dir = scratch("nothing");
    let (trace, svg) = (dir.join("w.json"), dir.join("w.svg"));
    std::fs::write(&trace, r#"{"traceEvents":[{"ph":"X","ts":"abc"},5]}"#).unwrap();

    let (ok, stderr) = render(&trace, &svg);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(
            "warning: skipped 2 of 2 trace events that spindle cannot draw \
             (first: event 0: \"ts\" is not a number)"
        ),
        "{stderr}"
    );
    let error = stderr
        .lines()
        .find(|l| l.starts_with("spindle trace render: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(error.contains(&*trace.to_string_lossy()), "{error}");
    assert!(error.contains("no thread spindle can draw"), "{error}");
    assert!(!stderr.contains("wrote"), "{stderr}");
    assert!(!svg.exists(), "no SVG for a trace with nothing to draw");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn malformed_json_is_an_error_naming_the_file() {
    let dir = scratch("malformed");
    let (trace, svg) = (dir.join("broken.json"), dir.join("broken.svg"));
    std::fs::write(&trace, r#"{"traceEvents": [{"ph": "X", "#).unwrap();

    let (ok, stderr) = render(&trace, &svg);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains(&*trace.to_string_lossy()), "{stderr}");
    assert!(stderr.contains("not valid JSON"), "{stderr}");
    assert!(!svg.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = spindle_cmd()
        .args([
            "trace",
            "render",
            "/no/such/trace.json",
            "-o",
            "/tmp/never.svg",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/trace.json"), "{err}");
}
