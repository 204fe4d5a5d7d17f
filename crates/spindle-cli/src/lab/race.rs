//! race: a read-modify-write that is not one atomic step loses updates when threads run
//! it at once; a lock (or one atomic instruction) does not. Then the tutorials' stories of
//! a check-then-act race: two withdrawals from one account, two bookings of the last seat.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use spindle::sync::{Barrier, Mutex};
use spindle::thread::{JoinHandle, Thread};

use super::measure::{StartLine, failed, human, joined, plural};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};

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
/// The longest pause between a check and the act that relies on it, staged.
const PAUSE: Duration = Duration::from_millis(100);
/// The work between check and act in the unforced trials: a few hundred instructions.
const UNFORCED_WORK: Duration = Duration::from_nanos(300);

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
            c.lost(),
            c.increments,
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
        "{unsynchronised} of {increments} updates lost without a lock, {with_mutex} with a Mutex, \
         {with_fetch_add} with fetch_add; the account went to {} and the last seat was sold \
         {} without a lock (staged), {} and {} with one; unforced, the seat was sold \
         twice in {doubles} of {trials} trials",
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

/// What the unforced trials showed, in words that do not claim more than they did.
fn unforced_outcome(doubles: usize, trials: usize) -> String {
    if doubles == 0 {
        format!(
            "never sold the last seat twice in {trials} trials here: the window between \
             check and act is short, and this machine did not hit it (it is still there)"
        )
    } else if doubles == trials {
        format!("sold the last seat twice in every one of {trials} trials here")
    } else {
        format!(
            "sold the last seat twice in {doubles} of {trials} trials here: the same code \
             gave different results from one run to the next"
        )
    }
}

/// What two check-then-act threads left behind.
struct Taken {
    succeeded: u32,
    left: i64,
}

/// Two threads each check that `amount` of `what` is available, pause (the time a real
/// program spends between the two: a database call, a page render), then take it. The
/// pause lasts until the other thread has checked too, at most `PAUSE`: the unlucky
/// interleaving that a busy server meets by chance, here every time (staged). With
/// `locked`, the check and the taking happen under one Mutex, so the other thread cannot
/// check in the meantime, and the pause runs its full length.
fn check_then_act(what: &str, stock: i64, amount: i64, locked: bool) -> Result<Taken, Unmeasured> {
    let unlocked = Arc::new(AtomicI64::new(stock));
    let guarded = Arc::new(Mutex::named(what, stock));
    let both_checked = Arc::new(Barrier::new(2));
    let how = if locked { "Mutex" } else { "no lock" };
    let handles = ["A", "B"]
        .into_iter()
        .map(|who| {
            let (unlocked, guarded, both) =
                (unlocked.clone(), guarded.clone(), both_checked.clone());
            // A timeout breaks the barrier, which then lets the other thread straight on.
            let pause = move || {
                let _ = both.wait_timeout(PAUSE);
            };
            start(format!("{what} {who}, {how}"), move || {
                if locked {
                    let mut left = guarded.lock();
                    if *left < amount {
                        return false;
                    }
                    pause();
                    *left -= amount;
                    true
                } else {
                    if unlocked.load(Ordering::SeqCst) < amount {
                        return false;
                    }
                    pause();
                    let left = unlocked.load(Ordering::SeqCst);
                    unlocked.store(left - amount, Ordering::SeqCst);
                    true
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut succeeded = 0;
    for h in handles {
        succeeded += u32::from(joined(h, HANG_LIMIT)?);
    }
    let left = if locked {
        *guarded.lock()
    } else {
        unlocked.load(Ordering::SeqCst)
    };
    Ok(Taken { succeeded, left })
}

/// The last seat, booked by two customers at once, `trials` times, with nothing forcing
/// the interleaving: both start together (a barrier between trials puts the seat back,
/// a start line has both running), check, work `UNFORCED_WORK`, and book. How many
/// trials sold it twice.
fn unforced(trials: usize) -> Result<usize, Unmeasured> {
    let seats = Arc::new(AtomicI64::new(1));
    let reset = Arc::clone(&seats);
    let together = Arc::new(Barrier::with_action(2, move || {
        reset.store(1, Ordering::SeqCst);
    }));
    let line = Arc::new(StartLine::new(2));
    let customers = (1..=2)
        .map(|i| {
            let (seats, together, line) =
                (Arc::clone(&seats), Arc::clone(&together), Arc::clone(&line));
            start(format!("customer {i}"), move || {
                let mut booked = Vec::with_capacity(trials);
                for trial in 0..trials {
                    if together.wait_timeout(HANG_LIMIT).is_err() {
                        break;
                    }
                    line.cross(trial);
                    let ok = seats.load(Ordering::SeqCst) >= 1 && {
                        let work = std::time::Instant::now();
                        while work.elapsed() < UNFORCED_WORK {
                            std::hint::spin_loop();
                        }
                        let left = seats.load(Ordering::SeqCst);
                        seats.store(left - 1, Ordering::SeqCst);
                        true
                    };
                    booked.push(ok);
                }
                booked
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut booked = Vec::new();
    for c in customers {
        booked.push(joined(c, HANG_LIMIT)?);
    }
    if booked.iter().any(|b| b.len() != trials) {
        return Err(failed("a customer stopped before the last trial"));
    }
    Ok((0..trials)
        .filter(|&t| booked[0][t] && booked[1][t])
        .count())
}
