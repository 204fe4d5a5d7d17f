//! `spindle trace render`: a recorded trace becomes a well-formed SVG, a row per thread.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use spindle::sync::Mutex;
use spindle::thread::Thread;
use spindle::trace::Recorder;

fn spindle_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spindle"))
}

#[test]
fn renders_a_recorded_trace_with_one_row_per_thread() {
    let dir = std::env::temp_dir().join(format!("spindle-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    spindle::thread::sleep(Duration::from_millis(20));
    drop(held);
    blocked.join().unwrap();
    sleeper.join().unwrap();
    recorder.stop();
    recorder.write_chrome_json(&trace).unwrap();

    let out = spindle_cmd()
        .args(["trace", "render"])
        .arg(&trace)
        .arg("-o")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(&svg).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
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
    for name in ["render-blocked", "render-sleeper"] {
        assert_eq!(rows.iter().filter(|r| *r == name).count(), 1, "{rows:?}");
    }
    assert!(text.contains("Blocked") && text.contains("TimedWaiting"));
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
