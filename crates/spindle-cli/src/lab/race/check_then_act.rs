//! The check-then-act stories: two withdrawals from one account, two bookings of the
//! last seat, staged so that the bad interleaving happens every run; and the last seat
//! booked again and again with nothing forcing it, to count how often it happens.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use spindle::sync::{Barrier, Mutex};

use super::super::Unmeasured;
use super::super::measure::{StartLine, failed, joined};
use super::{HANG_LIMIT, start};

/// The longest pause between a check and the act that relies on it, staged.
pub(super) const PAUSE: Duration = Duration::from_millis(100);
/// The work between check and act in the unforced trials: a few hundred instructions.
pub(super) const UNFORCED_WORK: Duration = Duration::from_nanos(300);

/// What the unforced trials showed, in words that do not claim more than they did.
pub(super) fn unforced_outcome(doubles: usize, trials: usize) -> String {
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
pub(super) struct Taken {
    pub(super) succeeded: u32,
    pub(super) left: i64,
}

/// Two threads each check that `amount` of `what` is available, pause (the time a real
/// program spends between the two: a database call, a page render), then take it. The
/// pause lasts until the other thread has checked too, at most `PAUSE`: the unlucky
/// interleaving that a busy server meets by chance, here every time (staged). With
/// `locked`, the check and the taking happen under one Mutex, so the other thread cannot
/// check in the meantime, and the pause runs its full length.
pub(super) fn check_then_act(
    what: &str,
    stock: i64,
    amount: i64,
    locked: bool,
) -> Result<Taken, Unmeasured> {
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
pub(super) fn unforced(trials: usize) -> Result<usize, Unmeasured> {
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
