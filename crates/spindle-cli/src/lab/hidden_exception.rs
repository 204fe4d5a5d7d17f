//! hidden-exception: Python's `executor.map` raises an item's exception only when the
//! iteration reaches it, and a submitted future's exception only if someone calls
//! `result()`: otherwise it vanishes. spindle loses neither. `map` gives the failing item
//! its own `Err` with the panic message (and every other item its value), and a future
//! whose panic nobody read hands that panic to the excepthook when it is dropped.

use std::time::{Duration, Instant};

use spindle::futures::{TaskError, ThreadPoolExecutor};
use spindle::thread::{self, Thread};

use super::measure::{failed, human, joined};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured, quiet};

pub const EXPERIMENT: Experiment = Experiment {
    name: "hidden-exception",
    claim: "Mapping a function over a pool where one item fails: spindle reports the error \
            that Python's executor.map is known to hide, and a panic in a future nobody \
            reads reaches the excepthook instead of vanishing.",
    summary: "map with one panicking item, and a submitted panic nobody reads",
    run,
};

/// How the failing item's panic reads.
const MAP_PANIC: &str = "item 4 is corrupt";
/// How the unread future's panic reads.
const UNREAD_PANIC: &str = "nobody reads this future";

/// What `map` gave for each item.
struct Mapped {
    items: usize,
    ok: usize,
    /// The index and the message of each item that failed with a panic.
    panicked: Vec<(usize, String)>,
}

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let items = step.scale().pick(100, 20);
    let limit = Duration::from_secs(10);
    let _expected = quiet::expect_panics();

    step.phase("map over a pool of 4, one item failing");
    let mapped = joined(named("maps", move || map_one_failing(items))?, limit)?;

    step.phase("a panic in a future nobody reads");
    let (reported, waited) = joined(
        named("drops a future unread", move || drop_unread(limit))?,
        limit * 2,
    )?;
    step.end_phase();

    let mut f = Findings::new();
    let failed_item = mapped.panicked.first().map(|(i, _)| *i);
    let map_message = mapped.panicked.first().map(|(_, m)| m.clone());
    f.row(format!("map over {} items", mapped.items), "item 4 panics");
    f.row("items with a value", mapped.ok.to_string());
    f.row(
        "items with Err(Panicked)",
        match &mapped.panicked[..] {
            [] => "none".to_owned(),
            failed => failed
                .iter()
                .map(|(i, m)| format!("item {i}: {m:?}"))
                .collect::<Vec<_>>()
                .join(", "),
        },
    );
    f.row(
        "unread panic at the excepthook",
        match &reported {
            Some(m) => format!("{m:?} (after {})", human(waited)),
            None => format!("not heard within {}", human(waited)),
        },
    );
    f.figure("items", mapped.items);
    f.figure("map_ok", mapped.ok);
    f.figure("map_panicked", mapped.panicked.len());
    f.figure("map_failed_item", failed_item);
    f.figure("map_error_message", map_message.clone());
    f.figure("unread_reported", reported.is_some());
    f.figure("unread_message", reported.clone());

    let lost = mapped.items - mapped.ok - mapped.panicked.len();
    f.figure("map_lost", lost);
    f.chart(Chart::bars(
        format!("what map gave for {} items", mapped.items),
        vec![
            Bar::new(
                "a value",
                mapped.ok as f64,
                mapped.ok.to_string(),
                Tone::Good,
            ),
            Bar::new(
                "Err(Panicked)",
                mapped.panicked.len() as f64,
                mapped.panicked.len().to_string(),
                Tone::Bad,
            ),
            Bar::new("nothing (lost)", lost as f64, lost.to_string(), Tone::Plain),
        ],
    ));
    let map_reports = mapped.ok == mapped.items - 1
        && failed_item == Some(4)
        && map_message.as_deref() == Some(MAP_PANIC);
    let unread_reported = reported.as_deref() == Some(UNREAD_PANIC);
    f.check(
        "map gives the failing item its own Err with the panic message, and every other item its value",
        map_reports,
    );
    f.check(
        "a panic in a future nobody reads reaches the excepthook instead of vanishing",
        unread_reported,
    );
    Ok(f.conclude(format!(
        "map gave {} of {} items a value and item {} Err(Panicked({:?})); the unread \
             future's panic {}",
        mapped.ok,
        mapped.items,
        failed_item.map_or("none".to_owned(), |i| i.to_string()),
        map_message.unwrap_or_default(),
        if unread_reported {
            "reached the excepthook"
        } else {
            "was lost"
        }
    )))
}

/// Maps over `0..items` on a pool of 4 where item 4 panics, reading every result.
fn map_one_failing(items: usize) -> Mapped {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .thread_name_prefix("map worker")
        .build();
    let mut mapped = Mapped {
        items,
        ok: 0,
        panicked: Vec::new(),
    };
    let results = pool.map(square_unless_corrupt, 0..items);
    for (i, result) in results.enumerate() {
        match result {
            Ok(square) if square == i * i => mapped.ok += 1,
            Ok(_) => {}
            Err(TaskError::Panicked(p)) => mapped.panicked.push((i, p.message().to_owned())),
            Err(_) => {}
        }
    }
    mapped
}

/// The square of `i`, except for item 4, which panics.
fn square_unless_corrupt(i: usize) -> usize {
    if i == 4 {
        panic!("{MAP_PANIC}");
    }
    i * i
}

/// Submits a task that panics, waits for it to end, drops its future unread, and
/// returns the message the excepthook heard for it (if it did within `limit`).
fn drop_unread(limit: Duration) -> (Option<String>, Duration) {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("pool worker")
        .build();
    let before = quiet::heard().len();
    let started = Instant::now();
    let future = pool.submit(|| -> u32 { panic!("{UNREAD_PANIC}") });
    future.wait_timeout(limit);
    drop(future);
    loop {
        let heard = quiet::heard();
        if let Some(m) = heard[before..].iter().find(|m| m.as_str() == UNREAD_PANIC) {
            return (Some(m.clone()), started.elapsed());
        }
        if started.elapsed() > limit {
            return (None, started.elapsed());
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Starts a thread named `name` running `body`.
fn named<T: Send + 'static>(
    name: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<thread::JoinHandle<T>, Unmeasured> {
    Thread::new(body)
        .name(name)
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))
}
