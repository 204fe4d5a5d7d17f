//! What deadlock detection costs with many threads alive and blocked (issue 11, "Cost
//! that does not grow with the process"): 10,000 threads parked in chains of 100 locks,
//! each chain ending in an `Event` wait, then
//!
//! - (a) a sleeping `lock()` (one that must park: another thread holds the lock until
//!   the locker is parked, then lets go), CPU time of the locking thread, `WaitFor`
//!   against `Off` in paired rounds, median of the rounds' ratios (goal: ≤ 1.5);
//! - (b) `deadlock::check()` against parking_lot's `deadlock::check_deadlock()` over the
//!   same shape of chains on its own mutexes (goal: within 2×);
//! - (c) `thread::active_count()`;
//! - (d) how long a contended `lock()` elsewhere takes while a `check()` runs beside it.
//!
//!   cargo bench --manifest-path benches/deadlock-cost/Cargo.toml --bench deadlock_scale
//!
//! `DEADLOCK_SCALE_THREADS` (default 10000, a multiple of 100) sets the population.
//! Not criterion: each measurement needs the population set up first, and the ratios
//! are taken from pairs measured close together, as `interleaved_summary` does.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadlock_cost::{ParkingLotChains, SpindleChains, median, quantile, thread_cpu_time};
use spindle::deadlock::{self, Detection};
use spindle::thread::{ThreadInfo, ThreadState};

const CHAIN: usize = 100;

/// A thread that, on request, takes `lock` and holds it until `locker` is parked on it,
/// then lets go: every `lock()` of the locker must sleep.
struct Holder {
    lock: Arc<spindle::sync::Mutex<()>>,
    requested: Arc<AtomicU64>,
    held: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Holder {
    /// A holder for locks taken by the calling thread.
    fn start() -> Holder {
        let lock = Arc::new(spindle::sync::Mutex::named("contended", ()));
        let (requested, held) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let locker: ThreadInfo = spindle::thread::current();
        let thread = {
            let (lock, requested, held, stop) = (
                Arc::clone(&lock),
                Arc::clone(&requested),
                Arc::clone(&held),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                let mut served = 0;
                while !stop.load(Ordering::SeqCst) {
                    let round = requested.load(Ordering::SeqCst);
                    if round == served {
                        std::thread::yield_now();
                        continue;
                    }
                    let g = lock.lock();
                    held.store(round, Ordering::SeqCst);
                    while locker.state() != ThreadState::Blocked {
                        std::thread::yield_now();
                    }
                    drop(g);
                    served = round;
                }
            })
        };
        Holder {
            lock,
            requested,
            held,
            stop,
            thread: Some(thread),
        }
    }

    /// One sleeping `lock()` + unlock by the calling thread: (CPU time, wall time) of
    /// the `lock()` call.
    fn sleeping_lock(&self) -> (Duration, Duration) {
        let round = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        while self.held.load(Ordering::SeqCst) != round {
            std::hint::spin_loop();
        }
        let (cpu, wall) = (thread_cpu_time(), Instant::now());
        let g = self.lock.lock();
        let took = (thread_cpu_time() - cpu, wall.elapsed());
        drop(black_box(g));
        took
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// CPU time per sleeping `lock()` under `mode`, over `ops` of them.
fn sleeping_locks(holder: &Holder, mode: Detection, ops: u32) -> f64 {
    deadlock::set_detection(mode);
    let total: Duration = (0..ops).map(|_| holder.sleeping_lock().0).sum();
    deadlock::set_detection(Detection::WaitFor);
    total.as_secs_f64() / f64::from(ops)
}

/// (a): `WaitFor` and `Off` in pairs, alternating which goes first; prints the medians
/// and the median of the pairs' ratios, which it returns.
fn sleeping_lock_ratio(label: &str, rounds: usize, ops: u32) -> f64 {
    let holder = Holder::start();
    sleeping_locks(&holder, Detection::Off, ops); // warm up
    let (mut on, mut off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (w, o) = if round % 2 == 0 {
            let w = sleeping_locks(&holder, Detection::WaitFor, ops);
            (w, sleeping_locks(&holder, Detection::Off, ops))
        } else {
            let o = sleeping_locks(&holder, Detection::Off, ops);
            (sleeping_locks(&holder, Detection::WaitFor, ops), o)
        };
        on.push(w);
        off.push(o);
        ratios.push(w / o);
    }
    let ratio = median(&mut ratios);
    println!(
        "(a) sleeping lock(), {label}: CPU per lock() WaitFor {:.1} µs, Off {:.1} µs; \
         median ratio of {rounds} paired rounds of {ops}: {ratio:.2} (middle half {:.2} to {:.2}) [goal <= 1.5]",
        median(&mut on) * 1e6,
        median(&mut off) * 1e6,
        quantile(&mut ratios, 0.25),
        quantile(&mut ratios, 0.75),
    );
    ratio
}

/// Median CPU time of `f` over `n` calls, in seconds.
fn cpu_median(n: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = thread_cpu_time();
            f();
            (thread_cpu_time() - t).as_secs_f64()
        })
        .collect();
    median(&mut times)
}

/// (d): wall time of sleeping `lock()`s, alone and while another thread runs `check()`
/// in a loop; prints both.
fn lock_beside_check(ops: usize) {
    let holder = Holder::start();
    let walls = |holder: &Holder| -> Vec<f64> {
        (0..ops)
            .map(|_| holder.sleeping_lock().1.as_secs_f64())
            .collect()
    };
    let mut alone = walls(&holder);
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicU64::new(0));
    let checker = {
        let (stop, checks) = (Arc::clone(&stop), Arc::clone(&checks));
        std::thread::spawn(move || {
            let mut longest = Duration::ZERO;
            while !stop.load(Ordering::SeqCst) {
                let t = Instant::now();
                black_box(deadlock::check());
                longest = longest.max(t.elapsed());
                checks.fetch_add(1, Ordering::SeqCst);
            }
            longest
        })
    };
    while checks.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut beside = walls(&holder);
    stop.store(true, Ordering::SeqCst);
    let longest_check = checker.join().expect("the checker ran");
    println!(
        "(d) sleeping lock() wall time, {ops} locks: alone median {:.0} µs, max {:.0} µs; \
         beside a looping check() (longest check {:.1} ms) median {:.0} µs, max {:.1} ms",
        median(&mut alone) * 1e6,
        quantile(&mut alone, 1.0) * 1e6,
        longest_check.as_secs_f64() * 1e3,
        median(&mut beside) * 1e6,
        quantile(&mut beside, 1.0) * 1e3,
    );
}

fn main() {
    let threads: usize = std::env::var("DEADLOCK_SCALE_THREADS")
        .ok()
        .map(|n| {
            n.parse()
                .expect("DEADLOCK_SCALE_THREADS: a number of threads")
        })
        .unwrap_or(10_000);
    assert!(
        threads.is_multiple_of(CHAIN),
        "DEADLOCK_SCALE_THREADS: a multiple of {CHAIN}"
    );
    const ROUNDS: usize = 21;

    // For scale: the same with no other thread alive.
    sleeping_lock_ratio("no other threads", ROUNDS, 200);

    // The population (set up with detection off: it is not what is measured here).
    deadlock::set_detection(Detection::Off);
    let t = Instant::now();
    let spindle_chains = SpindleChains::start(threads, CHAIN);
    deadlock::set_detection(Detection::WaitFor);
    println!(
        "setup: {threads} threads parked in chains of {CHAIN} spindle mutexes in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let ratio_a = sleeping_lock_ratio(&format!("{threads} threads alive"), ROUNDS, 50);

    let found = deadlock::check();
    assert!(found.is_empty(), "chains are not deadlocks: {found:#?}");
    let check = cpu_median(11, || drop(black_box(deadlock::check())));

    let active = cpu_median(11, || {
        for _ in 0..100 {
            black_box(spindle::thread::active_count());
        }
    }) / 100.0;
    println!(
        "(c) thread::active_count() with {threads} threads alive: {:.1} µs per call (CPU)",
        active * 1e6
    );

    lock_beside_check(40);

    let t = Instant::now();
    drop(spindle_chains);
    println!(
        "teardown of the spindle chains: {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let pl_chains = ParkingLotChains::start(threads, CHAIN);
    println!(
        "setup: {threads} threads parked in chains of {CHAIN} parking_lot mutexes in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let found = parking_lot::deadlock::check_deadlock();
    assert!(found.is_empty(), "chains are not deadlocks");
    let pl_check = cpu_median(11, || {
        drop(black_box(parking_lot::deadlock::check_deadlock()))
    });
    drop(pl_chains);

    println!(
        "(b) with {threads} threads in chains of {CHAIN}: deadlock::check() {:.2} ms, \
         parking_lot check_deadlock() {:.2} ms (CPU, median of 11 each, same run): ratio {:.2} [goal <= 2]",
        check * 1e3,
        pl_check * 1e3,
        check / pl_check
    );
    println!(
        "summary: sleeping lock() WaitFor/Off {ratio_a:.2} (goal <= 1.5); check()/check_deadlock() {:.2} (goal <= 2)",
        check / pl_check
    );
}
