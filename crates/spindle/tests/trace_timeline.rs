//! Timelines: read back from Chrome traces (spindle's and others'), drawn as SVG.
//!
//! Only `a_recording_reads_back_as_the_same_timeline` records (the trace hook is one per
//! process); the other tests build their traces by hand.

use std::sync::Arc;
use std::time::Duration;

use spindle::sync::Mutex;
use spindle::thread::Thread;
use spindle::trace::{Recorder, Timeline, TimelineError, TimelineRow, TimelineSpan};

fn span(label: &str, start_us: f64, dur_us: f64) -> TimelineSpan {
    TimelineSpan {
        label: label.to_owned(),
        start_us,
        dur_us,
        detail: None,
    }
}

fn row(thread_id: u64, name: &str, states: Vec<TimelineSpan>) -> TimelineRow {
    TimelineRow {
        thread_id,
        name: name.to_owned(),
        states,
        tasks: Vec::new(),
    }
}

/// The `<g>` elements of class `class`.
fn groups<'a, 'i>(doc: &'a roxmltree::Document<'i>, class: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some(class))
        .collect()
}

/// The text of a row's thread-name label (without its tooltip).
fn row_label(row: roxmltree::Node) -> String {
    let label = row
        .children()
        .find(|n| n.attribute("class") == Some("thread-name"))
        .expect("every row has a label");
    label
        .children()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

#[test]
fn a_recording_reads_back_as_the_same_timeline() {
    let recorder = Recorder::start();
    let shared = Arc::new(Mutex::named("shared", 0));
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let shared = Arc::clone(&shared);
            Thread::new(move || {
                for _ in 0..50 {
                    *shared.lock() += 1;
                }
                spindle::thread::sleep(Duration::from_millis(1));
            })
            .name(format!("timeline-{i}"))
            .start()
            .unwrap()
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    recorder.stop();

    let recorded = recorder.timeline();
    let read_back = Timeline::from_chrome_json(&recorder.to_chrome_json()).unwrap();
    assert_eq!(read_back, recorded);
    for i in 0..3 {
        let name = format!("timeline-{i}");
        let row = recorded.rows.iter().find(|r| r.name == name).unwrap();
        assert!(row.states.iter().any(|s| s.label == "TimedWaiting"));
        assert!(
            row.states
                .windows(2)
                .all(|w| w[0].end_us() <= w[1].start_us + 1e-3)
        );
    }

    let svg = recorded.to_svg();
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let rows = groups(&doc, "row");
    assert_eq!(rows.len(), recorded.rows.len());
    for (drawn, row) in rows.iter().zip(&recorded.rows) {
        assert_eq!(
            drawn.attribute("data-thread"),
            Some(row.thread_id.to_string().as_str())
        );
        assert_eq!(drawn.attribute("data-name"), Some(row.name.as_str()));
        // Long names (the test harness's thread is named after the test) are cut short.
        let label = row_label(*drawn);
        let shown = label.strip_suffix('…').unwrap_or(&label);
        assert!(row.name.starts_with(shown), "{label:?} for {:?}", row.name);
    }
}

#[test]
fn the_svg_has_a_row_per_thread_a_legend_and_a_time_axis() {
    let timeline = Timeline {
        rows: vec![
            row(1, "MainThread", vec![span("Runnable", 0.0, 2500.0)]),
            row(
                2,
                "Thread-1",
                vec![
                    span("Runnable", 0.0, 1000.0),
                    span("Blocked", 1000.0, 1500.0),
                ],
            ),
            row(3, "idle", vec![]),
        ],
    };
    let svg = timeline.to_svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(
        doc.root_element().tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );

    let rows = groups(&doc, "row");
    let names: Vec<_> = rows.iter().map(|r| row_label(*r)).collect();
    assert_eq!(names, ["MainThread", "Thread-1", "idle"]);
    // Thread-1's two states are two bars of different colours.
    let bars: Vec<_> = rows[1]
        .children()
        .filter(|n| n.has_tag_name("rect") && n.children().any(|c| c.has_tag_name("title")))
        .map(|n| n.attribute("fill").unwrap())
        .collect();
    assert_eq!(bars.len(), 2);
    assert_ne!(bars[0], bars[1]);

    let legend = groups(&doc, "legend");
    assert_eq!(legend.len(), 1);
    let entries: Vec<String> = legend[0]
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::to_owned))
        .collect();
    for state in ["Runnable", "Blocked", "Waiting", "TimedWaiting"] {
        assert!(entries.iter().any(|e| e == state), "{state} in {entries:?}");
    }

    let ticks: Vec<String> = groups(&doc, "axis")[0]
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::to_owned))
        .collect();
    assert_eq!(ticks.first().map(String::as_str), Some("0.0 ms"));
    assert!(ticks.iter().all(|t| t.ends_with(" ms")), "{ticks:?}");
    assert!(ticks.len() >= 4, "{ticks:?}");
}

#[test]
fn names_that_look_like_markup_stay_text() {
    let name = "<worker & \"friend\"> 'x'\u{1}";
    let timeline = Timeline {
        rows: vec![TimelineRow {
            thread_id: 9,
            name: name.to_owned(),
            states: vec![TimelineSpan {
                label: "</g>".to_owned(),
                start_us: 0.0,
                dur_us: 10.0,
                detail: Some("Mutex \"a<b>\"".to_owned()),
            }],
            tasks: vec![span("task 1 (<&>)", 2.0, 3.0)],
        }],
    };
    let svg = timeline.to_svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed despite the names");
    let rows = groups(&doc, "row");
    assert_eq!(rows.len(), 1);
    // The control character, which XML cannot carry, is replaced; the rest is intact.
    assert_eq!(row_label(rows[0]), "<worker & \"friend\"> 'x'\u{fffd}");
}

#[test]
fn other_tools_traces_are_read_too() {
    // The array form, begin/end pairs, string ids, a thread without a name.
    let json = r#"[
        {"name": "thread_name", "ph": "M", "pid": 7, "tid": 2, "args": {"name": "render"}},
        {"name": "frame", "ph": "B", "pid": 7, "tid": 2, "ts": 100},
        {"name": "layout", "ph": "X", "pid": 7, "tid": 2, "ts": 110, "dur": 20},
        {"ph": "E", "pid": 7, "tid": 2, "ts": 160},
        {"name": "job 1", "cat": "task", "ph": "X", "pid": 7, "tid": "5", "ts": "120", "dur": 30},
        {"name": "counter", "ph": "C", "pid": 7, "tid": 2, "ts": 100, "args": {"n": 1}}
    ]"#;
    let t = Timeline::from_chrome_json(json).unwrap();
    assert_eq!(t.rows.len(), 2);
    let render = &t.rows[0];
    assert_eq!((render.thread_id, render.name.as_str()), (2, "render"));
    let labels: Vec<_> = render
        .states
        .iter()
        .map(|s| (s.label.as_str(), s.start_us, s.dur_us))
        .collect();
    assert_eq!(labels, [("frame", 100.0, 60.0), ("layout", 110.0, 20.0)]);
    let unnamed = &t.rows[1];
    assert_eq!(unnamed.name, "thread 5");
    assert_eq!(unnamed.tasks, [span("job 1", 120.0, 30.0)]);
    assert_eq!((t.start_us(), t.end_us()), (100.0, 160.0));

    let svg = t.to_svg();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(groups(&doc, "row").len(), 2);
}

#[test]
fn text_that_is_not_a_trace_is_an_error() {
    assert!(matches!(
        Timeline::from_chrome_json("{\"traceEvents\": ["),
        Err(TimelineError::InvalidJson(_))
    ));
    assert!(matches!(
        Timeline::from_chrome_json("{\"events\": []}"),
        Err(TimelineError::NotATrace(_))
    ));
    assert!(matches!(
        Timeline::from_chrome_json("42"),
        Err(TimelineError::NotATrace(_))
    ));
    assert_eq!(
        Timeline::from_chrome_json("[]").unwrap(),
        Timeline::default()
    );
}

#[test]
fn an_empty_timeline_still_draws() {
    let svg = Timeline::default().to_svg();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert!(groups(&doc, "row").is_empty());
    assert_eq!(groups(&doc, "legend").len(), 1);
}

#[test]
fn tasks_are_drawn_as_a_band_above_the_states_and_named_in_the_legend() {
    let task = |label: &str, start_us, dur_us, outcome: &str| TimelineSpan {
        detail: Some(outcome.to_owned()),
        ..span(label, start_us, dur_us)
    };
    let timeline = Timeline {
        rows: vec![TimelineRow {
            thread_id: 4,
            name: "pool-0".to_owned(),
            states: vec![span("Runnable", 0.0, 100.0)],
            tasks: vec![
                task("task 1 (fetch)", 10.0, 30.0, "ok"),
                task("task 2", 50.0, 20.0, "panicked"),
            ],
        }],
    };
    let svg = timeline.to_svg();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let row = groups(&doc, "row")[0];
    let bars: Vec<(f64, String)> = row
        .children()
        .filter(|n| n.has_tag_name("rect"))
        .filter_map(|n| {
            let title = n.children().find(|c| c.has_tag_name("title"))?;
            let y: f64 = n.attribute("y")?.parse().ok()?;
            Some((y, title.text()?.to_owned()))
        })
        .collect();
    assert_eq!(bars.len(), 3, "{bars:?}");
    let state_y = bars.iter().find(|(_, t)| t.contains("Runnable")).unwrap().0;
    for (y, title) in bars.iter().filter(|(_, t)| t.contains("task")) {
        assert!(*y < state_y, "{title} is above the states");
    }
    assert!(
        bars.iter()
            .any(|(_, t)| t.contains("task 2") && t.contains("panicked"))
    );

    let legend: Vec<String> = groups(&doc, "legend")[0]
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::to_owned))
        .collect();
    assert!(legend.iter().any(|e| e == "task"), "{legend:?}");
    assert!(legend.iter().any(|e| e == "task (panicked)"), "{legend:?}");
}
