//! The same threads, run many times: in what order did their steps happen?

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use spindle::sync::{Barrier, Mutex};
use spindle::thread::Thread;

use crate::lab::Unmeasured;
use crate::lab::measure::{StartLine, failed, joined};

/// Threads taking part, each known by a letter.
pub const THREADS: usize = 3;
/// Times each thread appends its letter in one run.
pub const APPENDS: usize = 8;
/// Work between two appends: long enough that the threads overlap.
const WORK: Duration = Duration::from_micros(5);
const LETTERS: [char; THREADS] = ['A', 'B', 'C'];
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// What the runs showed.
pub struct Orders {
    /// How many different orders came out.
    pub distinct: usize,
    /// How many runs gave the most common one.
    pub most_common: usize,
    /// The three most common orders, with how often each came out.
    pub examples: Vec<(String, usize)>,
}

/// Runs the program `runs` times: `THREADS` threads start together (a start line), and
/// each appends its letter to a shared log `APPENDS` times, working a little between.
/// The same threads serve every run, so that only the scheduling differs.
pub fn run(runs: usize) -> Result<Orders, Unmeasured> {
    let log = Arc::new(Mutex::named("log", String::new()));
    let finished: Arc<StdMutex<Vec<String>>> = Arc::new(StdMutex::new(Vec::new()));
    // Between runs, the last one's log is kept and a fresh one begins.
    let (keep_log, keep) = (Arc::clone(&log), Arc::clone(&finished));
    let between = Arc::new(Barrier::with_action(THREADS, move || {
        let order = std::mem::take(&mut *keep_log.lock());
        if !order.is_empty() {
            keep.lock().unwrap_or_else(|e| e.into_inner()).push(order);
        }
    }));
    let line = Arc::new(StartLine::new(THREADS));
    let handles = LETTERS
        .iter()
        .map(|&letter| {
            let (log, between, line) = (Arc::clone(&log), Arc::clone(&between), Arc::clone(&line));
            Thread::new(move || {
                // One more wait than runs: the last one keeps the last run's log.
                for run in 0..=runs {
                    if between.wait_timeout(HANG_LIMIT).is_err() {
                        return false;
                    }
                    if run == runs {
                        break;
                    }
                    line.cross(run);
                    for _ in 0..APPENDS {
                        let work = Instant::now();
                        while work.elapsed() < WORK {
                            std::hint::spin_loop();
                        }
                        log.lock().push(letter);
                    }
                }
                true
            })
            .name(format!("appends {letter}"))
            .start()
            .map_err(|e| failed(format!("could not start a thread: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for h in handles {
        if !joined(h, HANG_LIMIT)? {
            return Err(failed("a run did not start in time (its barrier broke)"));
        }
    }
    let orders = finished.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if orders.len() != runs {
        return Err(failed(format!(
            "{} of {runs} runs were logged",
            orders.len()
        )));
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for order in orders {
        *counts.entry(order).or_default() += 1;
    }
    let mut by_count: Vec<(String, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Orders {
        distinct: by_count.len(),
        most_common: by_count.first().map_or(0, |(_, n)| *n),
        examples: by_count.into_iter().take(3).collect(),
    })
}
