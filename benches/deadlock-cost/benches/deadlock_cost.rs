//! Uncontended lock + unlock, alone and nested two deep, under each detection mode.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spindle::deadlock::{self, Detection};

fn spindle_mode(c: &mut Criterion, group: &str, mode: Detection, label: &str) {
    deadlock::set_detection(mode);
    let mut g = c.benchmark_group(group);
    let (a, b) = (spindle::sync::Mutex::new(0u64), spindle::sync::Mutex::new(0u64));
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = all
}
criterion_main!(benches);
