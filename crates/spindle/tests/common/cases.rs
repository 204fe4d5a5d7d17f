//! A small test runner for binaries with `harness = false` (the process-pool tests, whose
//! `main` must call `spindle::process::init()` first, before any test runs).
//!
//! It understands the part of libtest's command line that cargo test and cargo nextest
//! use (`--list`, a name filter, `--exact`), runs each case on a thread named after it
//! with a time limit, and ends with the plain `N passed, N failed` line.

use std::time::{Duration, Instant};

/// A case: its name and its body (which fails by panicking).
pub type Case = (&'static str, fn());

/// Runs the `cases` the command line selects, each within `limit`; `after_each` runs on
/// the case's thread once its body has returned (a check every case must pass). Exits
/// the process with 1 if any failed, 2 if one hung.
pub fn run(cases: &[Case], limit: Duration, after_each: fn()) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    if flag("--list") {
        if !flag("--ignored") {
            for (name, _) in cases {
                println!("{name}: test");
            }
        }
        return;
    }
    let filter: Option<&String> = args.iter().find(|a| !a.starts_with('-'));
    let selected = |name: &str| match filter {
        None => true,
        Some(f) if flag("--exact") => name == f,
        Some(f) => name.contains(f.as_str()),
    };
    let (mut passed, mut failed) = (0, 0);
    for &(name, case) in cases {
        if !selected(name) {
            continue;
        }
        let start = Instant::now();
        let runner = spindle::thread::Thread::new(move || {
            case();
            after_each();
        })
        .name(name)
        .start()
        .unwrap();
        if !runner.wait_timeout(limit) {
            println!("test {name} ... HUNG after {limit:?}");
            std::process::exit(2);
        }
        match runner.join() {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({:.2?})", start.elapsed());
            }
            Err(p) => {
                failed += 1;
                println!("test {name} ... FAILED: {}", p.message());
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
