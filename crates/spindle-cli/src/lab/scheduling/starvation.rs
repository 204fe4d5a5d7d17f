//! A greedy thread re-takes a lock in a tight loop while another asks for it now and
//! then: how long does the other wait, and how many times is it passed over?

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// How the greedy thread lets go of the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOff {
    /// A plain unlock: whoever asks next, the greedy thread included, may take it
    /// (spindle hands it to the longest waiter only every half millisecond or so).
    Barging,
    /// `MutexGuard::unlock_fair`: straight to the longest waiter, if there is one.
    Fair,
}

/// What the waiting thread went through, over all its attempts. Medians, not maxima,
/// decide: on a busy machine one attempt can be held up for milliseconds by other
/// programs (the waiter off the CPU before it even asks), whatever the lock does.
pub struct Starvation {
    pub median_wait: Duration,
    pub longest_wait: Duration,
    /// How many times the greedy thread took the lock during one wait: typically...
    pub median_passed_over: u64,
    /// ...and at most.
    pub max_passed_over: u64,
    /// The cores left to the lab while it ran, where the system says.
    pub spare_cores: Option<f64>,
}

/// A greedy thread takes the lock over and over, holding it `HOLD` each time; another
/// asks for it `attempts` times, `AWAY` apart, and counts how many times the greedy
/// thread took it meanwhile. Also returns what other programs used of the cores: on a
/// busy machine the waiter itself waits for a core, and the lock's hand-off is lost in
/// that wait.
pub fn run(attempts: usize, hand_off: HandOff) -> Result<Starvation, Unmeasured> {
    let lock = Arc::new(Mutex::named("contended", ()));
    let passed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (lock, passed) = (Arc::clone(&lock), Arc::clone(&passed));
        Thread::new(move || {
            let (mut waits, mut passed_over) = (Vec::new(), Vec::new());
            for _ in 0..attempts {
                thread::sleep(AWAY);
                let before = passed.load(Ordering::SeqCst);
                let asked = Instant::now();
                let guard = lock.lock();
                waits.push(asked.elapsed());
                passed_over.push(passed.load(Ordering::SeqCst) - before);
                drop(guard);
            }
            (waits, passed_over)
        })
        .name("waits for the lock now and then")
    };
    let before = CpuReading::now();
    let greedy = {
        let (lock, passed, stop) = (Arc::clone(&lock), Arc::clone(&passed), Arc::clone(&stop));
        Thread::new(move || {
            while !stop.load(Ordering::Relaxed) {
                let guard = lock.lock();
                passed.fetch_add(1, Ordering::SeqCst);
                let held = Instant::now();
                while held.elapsed() < HOLD {
                    std::hint::spin_loop();
                }
                match hand_off {
                    HandOff::Barging => drop(guard),
                    HandOff::Fair => MutexGuard::unlock_fair(guard),
                }
            }
        })
        .name("greedy: re-takes the lock")
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
