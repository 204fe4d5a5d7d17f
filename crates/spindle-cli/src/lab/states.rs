//! states: a thread's life as another thread sees it. The observed thread is held in each
//! state until the observer has seen it there, so every state is seen, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use spindle::sync::{Event, Mutex};
use spindle::thread::{Thread, ThreadInfo, ThreadState};

use super::measure::human;
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};

pub const EXPERIMENT: Experiment = Experiment {
    name: "states",
    claim: "A thread goes through New, Runnable, TimedWaiting (a wait with a timeout), \
            Blocked (on a lock), Waiting (without a timeout) and Terminated, and another \
            thread can observe each state and what it waits on.",
    summary: "one thread's lifecycle, New to Terminated, observed from outside",
    run,
};

/// How long the observer looks for one state before it gives up.
const LOOK_FOR: Duration = Duration::from_secs(10);

/// What the observer expects, in order: a state, and what the thread waits on in it.
const EXPECTED: [(ThreadState, Option<&str>); 6] = [
    (ThreadState::New, None),
    (ThreadState::Runnable, None),
    (ThreadState::TimedWaiting, Some("\"timer\"")),
    (ThreadState::Blocked, Some("\"gate\"")),
    (ThreadState::Waiting, Some("\"go\"")),
    (ThreadState::Terminated, None),
];

/// What makes the observed thread move on from each state; the observer releases one
/// step at a time, and everything at the end so that a failed run leaves nothing stuck.
struct Steps {
    stop_spinning: AtomicBool,
    timer: Event,
    gate: Mutex<()>,
    go: Event,
}

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    step.phase("an observer watches one thread's life");
    let steps = Arc::new(Steps {
        stop_spinning: AtomicBool::new(false),
        timer: Event::named("timer"),
        gate: Mutex::named("gate", ()),
        go: Event::named("go"),
    });
    let mut gate = Some(steps.gate.lock());
    let s = Arc::clone(&steps);
    let observed = Thread::new(move || {
        while !s.stop_spinning.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        s.timer.wait_timeout(LOOK_FOR * 2);
        drop(s.gate.lock());
        s.go.wait();
    })
    .name("observed");

    let info = observed.info();
    let mut seen = Vec::new();
    seen.push(look_for(&info, EXPECTED[0]));
    let handle = observed.start().expect("the OS starts a thread");
    for (i, &expected) in EXPECTED.iter().enumerate().skip(1) {
        let sighting = look_for(&info, expected);
        let found = sighting.found;
        seen.push(sighting);
        if !found {
            break;
        }
        // Let the thread on to its next state.
        match i {
            1 => steps.stop_spinning.store(true, Ordering::SeqCst),
            2 => steps.timer.set(),
            3 => drop(gate.take()),
            4 => steps.go.set(),
            _ => {}
        }
    }
    // Release whatever is still holding the thread, had a state not been seen.
    steps.stop_spinning.store(true, Ordering::SeqCst);
    steps.timer.set();
    drop(gate.take());
    steps.go.set();
    let ended = handle.wait_timeout(LOOK_FOR);
    step.end_phase();

    let mut f = Findings::new();
    f.staged(
        "the observed thread is held in each state (spinning, a timed wait, a lock held \
         by the observer, an event) until the observer has seen it there, so that every \
         state is seen in every run; unheld, most of them last microseconds.",
    );
    for s in &seen {
        f.row(
            format!("looking for {}", s.wanted),
            match (&s.found, &s.waiting_on) {
                (true, Some(on)) => format!("seen, waiting on {on}"),
                (true, None) => "seen".to_owned(),
                (false, _) => format!("not seen within {LOOK_FOR:?}: it read {}", s.last),
            },
        );
    }
    let sequence: Vec<String> = seen
        .iter()
        .filter(|s| s.found)
        .map(|s| s.wanted.to_string())
        .collect();
    let all_seen = seen.len() == EXPECTED.len() && seen.iter().all(|s| s.found);
    f.figure(
        "observed",
        Value::from(
            sequence
                .iter()
                .map(|s| Value::from(s.as_str()))
                .collect::<Vec<_>>(),
        ),
    );
    f.figure(
        "waiting_on",
        Value::from(
            seen.iter()
                .filter_map(|s| s.waiting_on.clone().map(Value::from))
                .collect::<Vec<_>>(),
        ),
    );
    f.figure("thread_ended", ended);
    f.chart(Chart::bars(
        "how long the observer looked before it saw each state",
        seen.iter()
            .map(|s| {
                let note = if s.found {
                    human(s.after)
                } else {
                    format!("not seen in {}", human(s.after))
                };
                let tone = if s.found { Tone::Good } else { Tone::Bad };
                Bar::new(s.wanted.to_string(), s.after.as_secs_f64(), note, tone)
            })
            .collect(),
    ));
    f.check(
        "another thread observes each state, in order, New to Terminated",
        all_seen && ended,
    );
    let names_waits = EXPECTED.iter().filter_map(|(_, on)| *on).all(|on| {
        seen.iter()
            .any(|s| s.waiting_on.as_deref().is_some_and(|w| w.contains(on)))
    });
    f.check(
        "and what the thread waits on, by name (timer, gate, go)",
        names_waits,
    );
    Ok(f.conclude(format!("observed {}", sequence.join(" -> "))))
}

/// What the observer saw while looking for one state.
struct Sighting {
    wanted: ThreadState,
    found: bool,
    /// The state it read last (the wanted one if found).
    last: ThreadState,
    waiting_on: Option<String>,
    /// How long it looked.
    after: Duration,
}

/// Polls `info` until it reads `state` (waiting on something whose name contains `on`).
fn look_for(info: &ThreadInfo, (state, on): (ThreadState, Option<&str>)) -> Sighting {
    let began = Instant::now();
    let deadline = began + LOOK_FOR;
    loop {
        let now = info.state();
        let waiting_on = info.waiting_on();
        let matches = now == state
            && match on {
                None => true,
                Some(on) => waiting_on.as_deref().is_some_and(|w| w.contains(on)),
            };
        if matches || Instant::now() >= deadline {
            return Sighting {
                wanted: state,
                found: matches,
                last: now,
                waiting_on: if matches { waiting_on } else { None },
                after: began.elapsed(),
            };
        }
        std::thread::yield_now();
    }
}
