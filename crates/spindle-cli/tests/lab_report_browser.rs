//! The HTML report of a whole `spindle lab --quick` run, laid out by a real browser
//! (headless Chromium, Debian's `chromium` package) in a window 1280 pixels wide: no
//! element is wider than its column, every experiment has one section with one chart
//! and one timeline, and the page stays under 1 MB.
//!
//! Without Chromium this test fails, saying how to install it: a check skipped in
//! silence would report a layout nobody looked at.

mod lab_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab_common::{EXPERIMENTS, spindle};
use serde_json::Value;

/// The longest Chromium may take to lay the page out.
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

/// Measures the laid-out page and writes what it found, as JSON, into the page itself
/// (where `--dump-dom` prints it). An element is "wider than its column" when it
/// reaches past the left or right edge of the section (or page body) holding it, or
/// when it clips content of its own (a scrolling box: something cut off).
const MEASURE: &str = r#"<script>
(function () {
  var out = { viewport: window.innerWidth, pageWidth: document.documentElement.scrollWidth,
              sections: [], tooWide: [] };
  var columns = [document.body].concat(Array.prototype.slice.call(document.querySelectorAll('section')));
  columns.forEach(function (column) {
    var style = getComputedStyle(column);
    var box = column.getBoundingClientRect();
    var left = box.left + parseFloat(style.paddingLeft), right = box.right - parseFloat(style.paddingRight);
    Array.prototype.forEach.call(column.querySelectorAll('*'), function (el) {
      if (el.tagName === 'SCRIPT' || el.closest('pre#layout-check')) { return; }
      // Inside a picture, only the picture's own box counts (its parts scale with it).
      if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') { return; }
      var r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) { return; }
      var clipped = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible';
      if (r.left < left - 0.5 || r.right > right + 0.5 || clipped) {
        out.tooWide.push({ column: column.id || 'body', tag: el.tagName, cls: el.getAttribute('class'),
                           left: r.left, right: r.right, columnLeft: left, columnRight: right, clipped: clipped });
      }
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('section'), function (s) {
    out.sections.push({ id: s.id, charts: s.querySelectorAll('svg.chart').length,
                        timelines: s.querySelectorAll('svg.timeline').length,
                        parts: s.querySelectorAll('ul.parts li').length });
  });
  var pre = document.createElement('pre');
  pre.id = 'layout-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;

#[test]
fn the_report_fits_a_1280_pixel_window_in_a_real_browser() {
    let chromium = find_chromium();
    let dir = scratch();
    let report = dir.join("report.html");
    let run = spindle(&["lab", "--quick", "--report", report.to_str().unwrap()]);
    assert!(
        matches!(run.code, Some(0 | 1 | 3)),
        "the lab ran: {:?}\n{}",
        run.code,
        run.stderr
    );
    let html = std::fs::read_to_string(&report).expect("the report was written");
    assert!(html.len() < 1_000_000, "the page is {} bytes", html.len());
    assert!(
        !html.contains("<script"),
        "the report itself runs no scripts"
    );

    let checked = dir.join("checked.html");
    std::fs::write(
        &checked,
        html.replace("</body>", &format!("{MEASURE}</body>")),
    )
    .expect("the page to measure is written");
    let dom = dump_dom(&chromium, &checked, &dir.join("profile"));
    let found = layout_check(&dom);

    assert_eq!(
        found["viewport"], 1280,
        "the window is 1280 pixels wide: {found}"
    );
    assert!(
        found["pageWidth"].as_f64().unwrap() <= 1280.0,
        "nothing scrolls sideways: {found}"
    );
    let too_wide = found["tooWide"].as_array().unwrap();
    assert!(
        too_wide.is_empty(),
        "wider than their column: {too_wide:#?}"
    );
    let sections = found["sections"].as_array().unwrap();
    let ids: Vec<&str> = sections.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, EXPERIMENTS, "one section per experiment");
    for s in sections {
        // An experiment with no verdict of its own (it failed, or was skipped) has
        // nothing to chart; every other one has one chart.
        let measured = s["parts"].as_u64().unwrap() > 0;
        assert_eq!(s["charts"], u64::from(measured), "one chart: {s}");
        assert_eq!(s["timelines"], 1, "one timeline: {s}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Chromium, or a failure that says how to install it.
fn find_chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "this test lays the lab's report out in a real browser and needs Chromium: \
             install it with `apt-get update && apt-get install -y chromium` (Debian), \
             then run the test again"
        )
    })
}

/// A fresh folder for this run's files.
fn scratch() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The DOM of `page` after Chromium has loaded it (and run its script) in a window
/// 1280 pixels wide, with a profile of its own.
fn dump_dom(chromium: &Path, page: &Path, profile: &Path) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1024",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut dom).expect("the DOM is UTF-8");
        dom
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("Chromium did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let dom = reader.join().unwrap();
    assert!(status.success(), "Chromium failed ({status}): {dom}");
    dom
}

/// The JSON the measuring script left in the page.
fn layout_check(dom: &str) -> Value {
    let start = dom
        .find("<pre id=\"layout-check\">")
        .unwrap_or_else(|| panic!("the measuring script ran: {dom}"))
        + "<pre id=\"layout-check\">".len();
    let end = start + dom[start..].find("</pre>").expect("the result is closed");
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}
