//! Uncontended lock + unlock, alone and nested two deep, under each detection mode.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use spindle::deadlock::{self, Detection};

fn spindle_mode(c: &mut Criterion, group: &str, mode: Detection, label: &str) {
    deadlock::set_detection(mode);
    let mut g = c.benchmark_group(group);
    let (a, b) = (
        spindle::sync::Mutex::new(0u64),
        spindle::sync::Mutex::new(0u64),
    );
    if group == "lock_unlock" {
        g.bench_function(label, |bench| bench.iter(|| *black_box(&a).lock() += 1));
    } else {
        g.bench_function(label, |bench| {
            bench.iter(|| {
                let mut x = black_box(&a).lock();
                *black_box(&b).lock() += 1;
                *x += 1;
            })
        });
    }
    g.finish();
    deadlock::set_detection(Detection::WaitFor);
}

fn parking_lot_dd(c: &mut Criterion, group: &str) {
    let mut g = c.benchmark_group(group);
    let (a, b) = (parking_lot::Mutex::new(0u64), parking_lot::Mutex::new(0u64));
    if group == "lock_unlock" {
        g.bench_function("parking_lot_deadlock_detection", |bench| {
            bench.iter(|| *black_box(&a).lock() += 1)
        });
    } else {
        g.bench_function("parking_lot_deadlock_detection", |bench| {
            bench.iter(|| {
                let mut x = black_box(&a).lock();
                *black_box(&b).lock() += 1;
                *x += 1;
            })
        });
    }
    g.finish();
}

fn all(c: &mut Criterion) {
    for group in ["lock_unlock", "nested_two_locks"] {
        spindle_mode(c, group, Detection::Off, "spindle_off");
        spindle_mode(c, group, Detection::WaitFor, "spindle_waitfor");
        spindle_mode(c, group, Detection::LockOrder, "spindle_lockorder");
        parking_lot_dd(c, group);
    }
}

/// Times `ops` rounds of `body` under `mode`, per round.
fn timed(mode: Detection, ops: u32, body: &dyn Fn()) -> f64 {
    deadlock::set_detection(mode);
    let start = Instant::now();
    for _ in 0..ops {
        body();
    }
    let per_op = start.elapsed().as_secs_f64() * 1e9 / f64::from(ops);
    deadlock::set_detection(Detection::WaitFor);
    per_op
}

/// Criterion measures one mode after the other, so a machine that speeds up or slows
/// down in between moves the ratios. This times the modes in pairs, close together,
/// round after round, and prints the median of the rounds' ratios to `Off`.
fn interleaved_summary(_: &mut Criterion) {
    const ROUNDS: usize = 41;
    const OPS: u32 = 200_000;
    let (a, b) = (
        spindle::sync::Mutex::new(0u64),
        spindle::sync::Mutex::new(0u64),
    );
    let one = || *black_box(&a).lock() += 1;
    let nested = || {
        let mut x = black_box(&a).lock();
        *black_box(&b).lock() += 1;
        *x += 1;
    };
    let bodies: [(&str, &dyn Fn()); 2] = [("lock_unlock", &one), ("nested_two_locks", &nested)];
    for (what, body) in bodies {
        for mode in [Detection::WaitFor, Detection::LockOrder] {
            let mut ratios: Vec<f64> = (0..ROUNDS)
                .map(|round| {
                    let (off, on) = if round % 2 == 0 {
                        let off = timed(Detection::Off, OPS, body);
                        (off, timed(mode, OPS, body))
                    } else {
                        let on = timed(mode, OPS, body);
                        (timed(Detection::Off, OPS, body), on)
                    };
                    on / off
                })
                .collect();
            ratios.sort_by(f64::total_cmp);
            println!(
                "interleaved, {ROUNDS} rounds: {what}: {mode:?} / Off, median {:.2} (middle half {:.2} to {:.2})",
                ratios[ROUNDS / 2],
                ratios[ROUNDS / 4],
                ratios[3 * ROUNDS / 4],
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = all, interleaved_summary
}
criterion_main!(benches);
