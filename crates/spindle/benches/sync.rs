//! spindle's locks side by side with std and parking_lot, in one run.
//!
//! Run: `cargo bench -p spindle --bench sync`. Each group measures the same operation
//! for every implementation, so the ratios printed by criterion compare like with like.
//! A last summary runs the two wake-up-bound measurements (contended counter, condition
//! ping-pong) in alternation and prints median ratios, which a noisy machine disturbs
//! less. Deadlock detection is on (its default, `WaitFor`) for every spindle measurement.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// One lock's interface, for the contended counter run against every implementation.
trait Counter: Send + Sync + 'static {
    fn increment(&self);
}

impl Counter for spindle::sync::Mutex<u64> {
    fn increment(&self) {
        *self.lock() += 1;
    }
}

impl Counter for std::sync::Mutex<u64> {
    fn increment(&self) {
        *self.lock().unwrap() += 1;
    }
}

impl Counter for parking_lot::Mutex<u64> {
    fn increment(&self) {
        *self.lock() += 1;
    }
}

fn uncontended_mutex(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutex_uncontended_lock_unlock");
    let spindle_m = spindle::sync::Mutex::new(0u64);
    g.bench_function("spindle", |b| b.iter(|| *black_box(&spindle_m).lock() += 1));
    let std_m = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| {
        b.iter(|| *black_box(&std_m).lock().unwrap() += 1)
    });
    let pl_m = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl_m).lock() += 1));
    g.finish();
}

/// Two threads each add `iters` to one counter; the time is until both are done.
fn contended_run<C: Counter>(counter: Arc<C>, iters: u64) -> Duration {
    let start_flag = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let counter = Arc::clone(&counter);
            let go = Arc::clone(&start_flag);
            thread::spawn(move || {
                while !go.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                for _ in 0..iters {
                    counter.increment();
                }
            })
        })
        .collect();
    let start = Instant::now();
    start_flag.store(true, Ordering::Release);
    for w in workers {
        w.join().unwrap();
    }
    start.elapsed()
}

fn contended_mutex(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutex_contended_2_threads");
    g.bench_function("spindle", |b| {
        b.iter_custom(|iters| contended_run(Arc::new(spindle::sync::Mutex::new(0u64)), iters))
    });
    g.bench_function("std", |b| {
        b.iter_custom(|iters| contended_run(Arc::new(std::sync::Mutex::new(0u64)), iters))
    });
    g.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| contended_run(Arc::new(parking_lot::Mutex::new(0u64)), iters))
    });
    g.finish();
}

fn uncontended_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("rwlock_uncontended_read");
    let spindle_l = spindle::sync::RwLock::new(7u64);
    g.bench_function("spindle", |b| b.iter(|| *black_box(&spindle_l).read()));
    let pl_l = parking_lot::RwLock::new(7u64);
    g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl_l).read()));
    let std_l = std::sync::RwLock::new(7u64);
    g.bench_function("std", |b| b.iter(|| *black_box(&std_l).read().unwrap()));
    g.finish();
}

/// Two threads hand a turn back and forth `iters` times through a condition variable.
fn ping_pong_spindle(iters: u64) -> Duration {
    let cond = Arc::new(spindle::sync::Condition::new(false));
    let other = Arc::clone(&cond);
    let ponger = thread::spawn(move || {
        for _ in 0..iters {
            let mut turn = other.lock();
            turn.wait_until(|mine| *mine);
            *turn = false;
            other.notify_one();
        }
    });
    let start = Instant::now();
    for _ in 0..iters {
        let mut turn = cond.lock();
        *turn = true;
        cond.notify_one();
        turn.wait_until(|theirs| !*theirs);
    }
    let elapsed = start.elapsed();
    ponger.join().unwrap();
    elapsed
}

fn ping_pong_parking_lot(iters: u64) -> Duration {
    let pair = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
    let other = Arc::clone(&pair);
    let ponger = thread::spawn(move || {
        let (m, cv) = &*other;
        for _ in 0..iters {
            let mut turn = m.lock();
            while !*turn {
                cv.wait(&mut turn);
            }
            *turn = false;
            cv.notify_one();
        }
    });
    let (m, cv) = &*pair;
    let start = Instant::now();
    for _ in 0..iters {
        let mut turn = m.lock();
        *turn = true;
        cv.notify_one();
        while *turn {
            cv.wait(&mut turn);
        }
    }
    let elapsed = start.elapsed();
    ponger.join().unwrap();
    elapsed
}

fn condition_ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("condition_ping_pong");
    g.bench_function("spindle", |b| b.iter_custom(ping_pong_spindle));
    g.bench_function("parking_lot", |b| b.iter_custom(ping_pong_parking_lot));
    g.finish();
}

/// The two measurements that depend on how fast the OS wakes a thread are noisy on a
/// small virtual machine, and criterion measures one implementation after the other, so
/// a quiet minute can favour either. This runs them in pairs, round after round (each
/// pair close together in time, alternating which goes first), and prints each one's
/// median per operation and the median of the rounds' ratios.
fn interleaved_summary(_: &mut Criterion) {
    type Run = fn(u64) -> Duration;
    let pairs: [(&str, u64, Run, Run); 2] = [
        (
            "mutex counter, 2 threads (per increment)",
            200_000,
            |n| contended_run(Arc::new(spindle::sync::Mutex::new(0u64)), n / 2),
            |n| contended_run(Arc::new(parking_lot::Mutex::new(0u64)), n / 2),
        ),
        (
            "condition ping-pong (per round trip)",
            2_000,
            ping_pong_spindle,
            ping_pong_parking_lot,
        ),
    ];
    const ROUNDS: usize = 31;
    for (what, ops, spindle_run, parking_lot_run) in pairs {
        let (mut spindle_times, mut parking_lot_times, mut ratios) =
            (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // Alternate which goes first, so neither always meets the machine warmer.
            let (s, p) = if round % 2 == 0 {
                let s = spindle_run(ops);
                (s, parking_lot_run(ops))
            } else {
                let p = parking_lot_run(ops);
                (spindle_run(ops), p)
            };
            ratios.push(s.as_secs_f64() / p.as_secs_f64());
            spindle_times.push(s.as_secs_f64());
            parking_lot_times.push(p.as_secs_f64());
        }
        let median = |mut xs: Vec<f64>| {
            xs.sort_by(f64::total_cmp);
            xs[xs.len() / 2]
        };
        let per_op = |xs: Vec<f64>| median(xs) * 1e9 / ops as f64;
        println!(
            "interleaved, {ROUNDS} rounds: {what}: spindle {:.1} ns, parking_lot {:.1} ns, median ratio of each round's pair {:.2}",
            per_op(spindle_times),
            per_op(parking_lot_times),
            median(ratios),
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = uncontended_mutex, contended_mutex, uncontended_read, condition_ping_pong,
        interleaved_summary
}
criterion_main!(benches);
