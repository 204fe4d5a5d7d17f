//! race: a read-modify-write that is not one atomic step loses updates when threads run
//! it at once; a lock (or one atomic instruction) does not. Then the tutorials' stories of
//! a check-then-act race: two withdrawals from one account, two bookings of the last seat.

mod check_then_act;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use spindle::sync::{Barrier, Mutex};
use spindle::thread::{JoinHandle, Thread};

use super::measure::{digits, failed, human, joined, plural};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};
use check_then_act::{PAUSE, UNFORCED_WORK, check_then_act, unforced, unforced_outcome};

pub const EXPERIMENT: Experiment = Experiment {
    name: "race",
    claim: "Threads that read, modify and write shared data without synchronisation lose \
            updates, and a check-then-act lets two threads through where only one fits; a \
            Mutex (or an atomic fetch_add) loses nothing.",
    summary: "lost updates without a lock, none with Mutex or fetch_add; bank and tickets",
    run,
};

const THREADS: usize = 4;
const HANG_LIMIT: Duration = Duration::from_secs(60);

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let window = step
        .scale()
        .pick(Duration::from_millis(300), Duration::from_millis(100));
    let trials = step.scale().pick(300, 100);
    let mut f = Findings::new();

    step.phase(format!("{THREADS} threads counting without a lock"));
    let unsynchronised = count(window, Counter::LoadThenStore)?;
    step.phase(format!("{THREADS} threads counting under a Mutex"));
    let with_mutex = count(window, Counter::Mutex)?;
    step.phase(format!("{THREADS} threads counting with fetch_add"));
    let with_fetch_add = count(window, Counter::FetchAdd)?;
    let counting = format!(
        "{THREADS} threads incrementing one counter for {}",
        human(window)
    );
    let lost_note = |c: &Counted| {
        format!(
            "{} of {} lost ({:.0}%)",
            digits(c.lost()),
            digits(c.increments),
            c.lost() as f64 / c.increments.max(1) as f64 * 100.0
        )
    };
    f.chart(Chart::bars(
        format!("updates lost, {counting}"),
        vec![
            Bar::new(
                "no lock (load, then store)",
                unsynchronised.lost() as f64,
                lost_note(&unsynchronised),
                Tone::Bad,
            ),
            Bar::new(
                "under a Mutex",
                with_mutex.lost() as f64,
                lost_note(&with_mutex),
                Tone::Good,
            ),
            Bar::new(
                "atomic fetch_add",
                with_fetch_add.lost() as f64,
                lost_note(&with_fetch_add),
                Tone::Good,
            ),
        ],
    ));
    for (how, counted) in [
        ("load then store (no lock)", &unsynchronised),
        ("under a Mutex", &with_mutex),
        ("fetch_add", &with_fetch_add),
    ] {
        f.row(format!("{counting}, {how}"), lost_note(counted));
    }
    let (unsynchronised, with_mutex, with_fetch_add, increments) = (
        unsynchronised.lost(),
        with_mutex.lost(),
        with_fetch_add.lost(),
        unsynchronised.increments,
    );

    step.phase("check-then-act, staged: bank account and ticket booking");
    let bank_broken = check_then_act("account", 100, 80, false)?;
    let bank_fixed = check_then_act("account", 100, 80, true)?;
    let seats_broken = check_then_act("seat", 1, 1, false)?;
    let seats_fixed = check_then_act("seat", 1, 1, true)?;
    step.phase(format!(
        "check-then-act, unforced: {trials} bookings of the last seat"
    ));
    let doubles = unforced(trials)?;
    step.end_phase();

    let gap = human(PAUSE);
    f.staged(format!(
        "the bank and ticket stories force the bad interleaving: a barrier holds each \
         thread between its check and its act until the other has checked too (at most \
         {gap}), so it happens every run. Unforced, two threads started together, with \
         {} of work between check and act, {}",
        human(UNFORCED_WORK),
        unforced_outcome(doubles, trials)
    ));
    f.row(
        "balance 100, two withdrawals of 80: check, pause (staged), debit",
        format!(
            "{} succeeded, balance {}",
            bank_broken.succeeded, bank_broken.left
        ),
    );
    f.row(
        "the same, check and debit under one Mutex",
        format!(
            "{} succeeded, balance {}",
            bank_fixed.succeeded, bank_fixed.left
        ),
    );
    f.row(
        "1 seat left, two bookings: check, pause (staged), book",
        format!(
            "{} booked, seats left {}",
            seats_broken.succeeded, seats_broken.left
        ),
    );
    f.row(
        "the same, check and booking under one Mutex",
        format!(
            "{} booked, seats left {}",
            seats_fixed.succeeded, seats_fixed.left
        ),
    );
    f.row(
        format!("1 seat, two bookings started together, unforced, {trials} trials"),
        format!("sold twice in {doubles} of {trials}"),
    );

    f.figure("increments_unsynchronised", increments);
    f.figure("lost_updates_unsynchronised", unsynchronised);
    f.figure("lost_updates_mutex", with_mutex);
    f.figure("lost_updates_fetch_add", with_fetch_add);
    f.figure("bank_withdrawals_unsynchronised", bank_broken.succeeded);
    f.figure("bank_balance_unsynchronised", bank_broken.left);
    f.figure("bank_withdrawals_mutex", bank_fixed.succeeded);
    f.figure("bank_balance_mutex", bank_fixed.left);
    f.figure("seats_booked_unsynchronised", seats_broken.succeeded);
    f.figure("seats_booked_mutex", seats_fixed.succeeded);
    f.figure("unforced_trials", trials);
    f.figure("unforced_sold_twice", doubles);

    f.check(
        "without a lock, concurrent read-modify-writes lose updates",
        unsynchronised > 0,
    );
    f.check("under a Mutex, none is lost", with_mutex == 0);
    f.check(
        "with an atomic fetch_add, none is lost",
        with_fetch_add == 0,
    );
    f.check(
        "a check-then-act without a lock lets both threads through (staged)",
        bank_broken.left < 0 && seats_broken.succeeded > 1,
    );
    f.check(
        "check and act under one Mutex let only one through",
        bank_fixed.succeeded == 1 && bank_fixed.left >= 0 && seats_fixed.succeeded == 1,
    );
    Ok(f.conclude(format!(
        "{} of {} updates lost without a lock, {with_mutex} with a Mutex, \
         {with_fetch_add} with fetch_add; the account went to {} and the last seat was sold \
         {} without a lock (staged), {} and {} with one; unforced, the seat was sold \
         twice in {doubles} of {trials} trials",
        digits(unsynchronised),
        digits(increments),
        bank_broken.left,
        plural(seats_broken.succeeded as usize, "time"),
        bank_fixed.left,
        plural(seats_fixed.succeeded as usize, "time")
    )))
}

/// How the threads increment the shared counter.
#[derive(Clone, Copy)]
enum Counter {
    /// An atomic load, then an atomic store: each step is atomic, the pair is not.
    LoadThenStore,
    Mutex,
    FetchAdd,
}

/// Increments made, and what the counter read at the end.
struct Counted {
    increments: u64,
    counter: u64,
}

impl Counted {
    fn lost(&self) -> u64 {
        self.increments - self.counter
    }
}

/// Increments per check of the stop flag: few enough checks to keep the loop tight.
const BATCH: u64 = 256;

/// Starts a thread named `name` running `body`.
fn start<T: Send + 'static>(
    name: String,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, Unmeasured> {
    Thread::new(body)
        .name(name)
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))
}

/// Runs `THREADS` threads that each add 1 to a shared counter over and over for
/// `window` (a time, not a count, so that they overlap even on a busy machine), each
/// counting the increments it made.
fn count(window: Duration, how: Counter) -> Result<Counted, Unmeasured> {
    let atomic = Arc::new(AtomicU64::new(0));
    let locked = Arc::new(Mutex::named("counter", 0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let begin = Arc::new(Barrier::new(THREADS + 1));
    let role = match how {
        Counter::LoadThenStore => "adds without a lock",
        Counter::Mutex => "adds under the Mutex",
        Counter::FetchAdd => "adds with fetch_add",
    };
    let handles = (1..=THREADS)
        .map(|i| {
            let (atomic, locked, stop, begin) =
                (atomic.clone(), locked.clone(), stop.clone(), begin.clone());
            start(format!("{role} {i}"), move || {
                begin.wait().expect("the start barrier is never broken");
                let mut made = 0;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..BATCH {
                        match how {
                            Counter::LoadThenStore => {
                                // black_box: one load and one store per increment, as
                                // written, rather than a batch folded into one of each.
                                let seen = black_box(atomic.load(Ordering::Relaxed));
                                atomic.store(seen + 1, Ordering::Relaxed);
                            }
                            Counter::Mutex => *locked.lock() += 1,
                            Counter::FetchAdd => {
                                atomic.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    made += BATCH;
                }
                made
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    begin.wait().expect("the start barrier is never broken");
    spindle::thread::sleep(window);
    stop.store(true, Ordering::Relaxed);
    let mut increments = 0;
    for h in handles {
        increments += joined(h, HANG_LIMIT)?;
    }
    Ok(Counted {
        increments,
        counter: atomic.load(Ordering::SeqCst) + *locked.lock(),
    })
}
