//! race: a read-modify-write that is not one atomic step loses updates when threads run
//! it at once; a lock (or one atomic instruction) does not. Then the tutorials' stories of
//! a check-then-act race: two withdrawals from one account, two bookings of the last seat.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use spindle::sync::{Barrier, Mutex};
use spindle::thread;

use super::measure::{human, joined};
use super::{Experiment, Failed, Findings, Step};

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
/// The longest pause between a check and the act that relies on it.
const PAUSE: Duration = Duration::from_millis(100);

fn run(step: &Step<'_>) -> Result<Findings, Failed> {
    let window = step
        .scale()
        .pick(Duration::from_millis(300), Duration::from_millis(100));
    let mut f = Findings::new();

    step.show("counting without a lock");
    let unsynchronised = count(window, Counter::LoadThenStore)?;
    step.show("counting with a Mutex");
    let with_mutex = count(window, Counter::Mutex)?;
    step.show("counting with fetch_add");
    let with_fetch_add = count(window, Counter::FetchAdd)?;
    let counting = format!(
        "{THREADS} threads incrementing one counter for {}",
        human(window)
    );
    for (how, counted) in [
        ("load then store (no lock)", &unsynchronised),
        ("under a Mutex", &with_mutex),
        ("fetch_add", &with_fetch_add),
    ] {
        f.row(
            format!("{counting}, {how}"),
            format!("{} of {} updates lost", counted.lost(), counted.increments),
        );
    }
    let (unsynchronised, with_mutex, with_fetch_add, increments) = (
        unsynchronised.lost(),
        with_mutex.lost(),
        with_fetch_add.lost(),
        unsynchronised.increments,
    );

    step.show("bank account and ticket booking");
    let bank_broken = check_then_act(100, 80, false)?;
    let bank_fixed = check_then_act(100, 80, true)?;
    let seats_broken = check_then_act(1, 1, false)?;
    let seats_fixed = check_then_act(1, 1, true)?;
    let gap = human(PAUSE);
    f.row(
        format!(
            "balance 100, two withdrawals of 80: check, pause (until both checked, at most {gap}), debit"
        ),
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
        "1 seat left, two bookings: check, pause (the same), book",
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

    let holds = unsynchronised > 0
        && with_mutex == 0
        && with_fetch_add == 0
        && bank_broken.left < 0
        && bank_fixed.succeeded == 1
        && bank_fixed.left >= 0
        && seats_broken.succeeded > 1
        && seats_fixed.succeeded == 1;
    Ok(f.conclude(
        holds,
        format!(
            "{unsynchronised} of {increments} updates lost without a lock, {with_mutex} with a Mutex, \
             {with_fetch_add} with fetch_add; the account went to {} and the last seat was sold \
             {} times without a lock, {} and {} with one",
            bank_broken.left, seats_broken.succeeded, bank_fixed.left, seats_fixed.succeeded
        ),
    ))
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

/// Runs `THREADS` threads that each add 1 to a shared counter over and over for
/// `window` (a time, not a count, so that they overlap even on a busy machine), each
/// counting the increments it made.
fn count(window: Duration, how: Counter) -> Result<Counted, Failed> {
    let atomic = Arc::new(AtomicU64::new(0));
    let locked = Arc::new(Mutex::named("counter", 0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (atomic, locked, stop, start) =
                (atomic.clone(), locked.clone(), stop.clone(), start.clone());
            thread::spawn(move || {
                start.wait().expect("the start barrier is never broken");
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
        .collect();
    start.wait().expect("the start barrier is never broken");
    thread::sleep(window);
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

/// What two check-then-act threads left behind.
struct Taken {
    succeeded: u32,
    left: i64,
}

/// Two threads each check that `amount` is available, pause (the time a real program
/// spends between the two: a database call, a page render), then take it. The pause
/// lasts until the other thread has checked too, at most `PAUSE`: the unlucky
/// interleaving that a busy server meets by chance, here every time. With `locked`, the
/// check and the taking happen under one Mutex, so the other thread cannot check in
/// the meantime, and the pause runs its full length.
fn check_then_act(stock: i64, amount: i64, locked: bool) -> Result<Taken, Failed> {
    let unlocked = Arc::new(AtomicI64::new(stock));
    let guarded = Arc::new(Mutex::named("account", stock));
    let both_checked = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (unlocked, guarded, both) =
                (unlocked.clone(), guarded.clone(), both_checked.clone());
            // A timeout breaks the barrier, which then lets the other thread straight on.
            let pause = move || {
                let _ = both.wait_timeout(PAUSE);
            };
            thread::spawn(move || {
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
        .collect();
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
