//! A greedy thread re-takes a lock in a tight loop while another asks for it now and
//! then: how long does the other wait, and how many times is it passed over?
//!
//! Three locks: a plain lock that lets whoever asks next take it (`std::sync::Mutex`, a
//! futex lock like most languages' mutexes), spindle's default `Mutex` (it barges too,
//! but hands the lock straight to a waiter every half millisecond or so: parking_lot's
//! eventual fairness), and spindle's `unlock_fair` (straight to the longest waiter,
//! every time).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use spindle::sync::{Mutex, MutexGuard};
use spindle::thread::{self, Thread};

use crate::lab::Unmeasured;
use crate::lab::machine::CpuReading;
use crate::lab::measure::{failed, joined, median, ratio};

/// How long the greedy thread holds the lock each time.
pub const HOLD: Duration = Duration::from_micros(5);
/// How long the waiting thread stays away between two requests.
const AWAY: Duration = Duration::from_millis(1);
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// Which lock, and how the greedy thread lets go of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOff {
    /// `std::sync::Mutex`: whoever asks next, the greedy thread included, takes it; no
    /// waiter is ever favoured.
    Unfair,
    /// spindle's `Mutex`, plain unlock: barging, except that a waiter gets the lock
    /// handed straight to it every half millisecond or so.
    Barging,
    /// spindle's `MutexGuard::unlock_fair`: straight to the longest waiter, if any.
    Fair,
}

/// What the waiting thread went through, over all its attempts.
pub struct Starvation {
    pub median_wait: Duration,
    pub longest_wait: Duration,
    /// How many times the greedy thread took the lock during one wait: typically...
    pub median_passed_over: u64,
    /// ...and at most (starvation is a claim about what can happen: the worst wait).
    pub max_passed_over: u64,
    /// The cores left to the lab while it ran, where the system says.
    pub spare_cores: Option<f64>,
}

/// One turn with the lock: take it, run the closure holding it, let go of it.
type Turn = Box<dyn FnMut(&mut dyn FnMut()) + Send>;

/// A greedy thread takes the lock over and over, holding it `HOLD` each time; another
/// asks for it `attempts` times, `AWAY` apart, and counts how many times the greedy
/// thread took it meanwhile. Each runs on a core of its own where two are allowed: a
/// waiter woken onto the greedy thread's core would wait for that core, for
/// milliseconds, whatever the lock does, and that wait is not the lock's. Also returns what other programs used of the cores: on a
/// busy machine the waiter itself waits for a core, and the lock's hand-off is lost in
/// that wait.
pub fn run(attempts: usize, hand_off: HandOff) -> Result<Starvation, Unmeasured> {
    let (greedy_turn, waiter_turn): (Turn, Turn) = match hand_off {
        HandOff::Unfair => {
            let lock = Arc::new(std::sync::Mutex::new(()));
            let other = Arc::clone(&lock);
            (
                Box::new(move |hold| {
                    let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    hold();
                }),
                Box::new(move |note| {
                    let _guard = other.lock().unwrap_or_else(PoisonError::into_inner);
                    note();
                }),
            )
        }
        HandOff::Barging | HandOff::Fair => {
            let lock = Arc::new(Mutex::named("contended", ()));
            let other = Arc::clone(&lock);
            (
                Box::new(move |hold| {
                    let guard = lock.lock();
                    hold();
                    if hand_off == HandOff::Fair {
                        MutexGuard::unlock_fair(guard);
                    } else {
                        drop(guard);
                    }
                }),
                Box::new(move |note| {
                    let _guard = other.lock();
                    note();
                }),
            )
        }
    };
    measure(attempts, greedy_turn, waiter_turn)
}

fn measure(
    attempts: usize,
    mut greedy_turn: Turn,
    mut waiter_turn: Turn,
) -> Result<Starvation, Unmeasured> {
    let passed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let cores = allowed_cores();
    let waiter = {
        let passed = Arc::clone(&passed);
        let thread = Thread::new(move || {
            let (mut waits, mut passed_over) = (Vec::new(), Vec::new());
            for _ in 0..attempts {
                thread::sleep(AWAY);
                let before = passed.load(Ordering::SeqCst);
                let asked = Instant::now();
                // Read while the lock is held: the greedy thread cannot add to it then.
                waiter_turn(&mut || {
                    waits.push(asked.elapsed());
                    passed_over.push(passed.load(Ordering::SeqCst) - before);
                });
            }
            (waits, passed_over)
        });
        on_core(thread.name("waits for the lock now and then"), &cores, 1)
    };
    let before = CpuReading::now();
    let greedy = {
        let (passed, stop) = (Arc::clone(&passed), Arc::clone(&stop));
        let thread = Thread::new(move || {
            while !stop.load(Ordering::Relaxed) {
                greedy_turn(&mut || {
                    passed.fetch_add(1, Ordering::SeqCst);
                    let held = Instant::now();
                    while held.elapsed() < HOLD {
                        std::hint::spin_loop();
                    }
                });
            }
        });
        on_core(thread.name("greedy: re-takes the lock"), &cores, 0)
            .start()
            .map_err(|e| failed(format!("could not start a thread: {e}")))?
    };
    let waited = waiter
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))
        .and_then(|waiter| joined(waiter, HANG_LIMIT));
    stop.store(true, Ordering::Relaxed);
    joined(greedy, HANG_LIMIT)?;
    let usage = before.until(&CpuReading::now(), Duration::ZERO);
    let (waits, passed_over) = waited?;
    let none = || failed("the waiting thread made no attempt");
    Ok(Starvation {
        median_wait: median(&waits).ok_or_else(none)?,
        longest_wait: waits.iter().copied().max().ok_or_else(none)?,
        median_passed_over: median(&passed_over).ok_or_else(none)?,
        max_passed_over: passed_over.iter().copied().max().ok_or_else(none)?,
        spare_cores: usage.others_cores.map(|_| ratio(usage.spare_cores())),
    })
}

/// `thread`, pinned to the `which`th of `cores` when there are two to keep it apart.
fn on_core<T: Send + 'static>(thread: Thread<T>, cores: &[usize], which: usize) -> Thread<T> {
    match cores {
        [_, _, ..] => thread.affinity([cores[which]]),
        _ => thread,
    }
}

/// The cores this process may run on, in order (empty if the system does not say).
fn allowed_cores() -> Vec<usize> {
    // SAFETY: `set` is a plain bit set, zeroed, then filled by sched_getaffinity for this
    // process (pid 0) with its own size; CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&core| libc::CPU_ISSET(core, &set))
            .collect()
    }
}
