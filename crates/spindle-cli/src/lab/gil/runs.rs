//! The gil experiment's measured runs: the CPU-bound sums one after another, on plain
//! threads, on threads sharing one Gil, and I/O-bound threads holding or releasing it.
//! Each CPU-bound run says the CPU time it used and what the machine did meanwhile.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use spindle::sync::Gil;
use spindle::thread::{self, Thread};

use super::super::Unmeasured;
use super::super::machine::{CpuReading, Usage};
use super::super::measure::{failed, joined, ratio, thread_cpu_time, timed};
use super::{HANG_LIMIT, THREADS};

/// The CPU-bound task: a sum that the compiler cannot fold, with a hook per iteration.
pub(super) fn sum_to(n: u64, mut tick: impl FnMut()) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(black_box(i));
        tick();
    }
    sum
}

/// The `n` for which `sum_to(n)` takes about `target` on this machine (and build).
pub(super) fn size_for(target: Duration) -> u64 {
    const PROBE: u64 = 100_000;
    let fastest = (0..3)
        .map(|_| timed(|| check_sum(PROBE, sum_to(PROBE, || {}))).1)
        .min()
        .expect("three probes");
    let scale = target.as_secs_f64() / fastest.as_secs_f64().max(1e-6);
    // Round to two significant digits, so that the figure reads as a plain number.
    let n = (PROBE as f64 * scale).max(PROBE as f64);
    let unit = 10f64.powi(n.log10().floor() as i32 - 1);
    ((n / unit).round() * unit) as u64
}

pub(super) fn check_sum(n: u64, sum: u64) {
    assert_eq!(
        sum,
        n * (n - 1) / 2,
        "the CPU-bound task computed a wrong sum"
    );
}

/// One CPU-bound run: its wall time, the CPU time its threads (or worker processes)
/// used, and the machine's use meanwhile.
#[derive(Clone, Copy)]
pub(super) struct Run {
    pub(super) wall: Duration,
    cpu: Duration,
    pub(super) usage: Option<Usage>,
}

impl Run {
    pub(super) const NONE: Run = Run {
        wall: Duration::MAX,
        cpu: Duration::ZERO,
        usage: None,
    };

    /// Runs `work`, which says the CPU time it used, timing it and reading the
    /// machine's use around it.
    pub(super) fn measure(
        work: impl FnOnce() -> Result<Spent, Unmeasured>,
    ) -> Result<Run, Unmeasured> {
        let before = CpuReading::now();
        let (spent, wall) = timed(work);
        let spent = spent?;
        let usage = before.until(&CpuReading::now(), spent.in_workers);
        Ok(Run {
            wall,
            cpu: spent.total,
            usage: Some(usage),
        })
    }

    /// The least disturbed of two runs: the faster one.
    pub(super) fn best(self, other: Run) -> Run {
        if other.wall < self.wall { other } else { self }
    }

    /// How many cores were busy on average: CPU time over wall time.
    pub(super) fn parallelism(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    /// This run's wall time over `other`'s.
    pub(super) fn wall_over(&self, other: &Run) -> f64 {
        self.wall.as_secs_f64() / other.wall.as_secs_f64()
    }

    /// The cores left to this process during the run, rounded; `None` where the system
    /// does not say what other programs used.
    pub(super) fn spare_cores(&self) -> Option<f64> {
        let usage = self.usage?;
        usage.others_cores?;
        Some(ratio(usage.spare_cores()))
    }
}

/// A parallel run beside the sequential run of the same round. A virtual machine's cores
/// can change speed by half within seconds: two best-of-rounds wall times, taken at
/// different moments, would compare those moments; a run and the sequential run just
/// before it share one.
#[derive(Clone, Copy)]
pub(super) struct Beside {
    pub(super) run: Run,
    pub(super) sequential: Run,
}

impl Beside {
    pub(super) const NONE: Beside = Beside {
        run: Run::NONE,
        sequential: Run::NONE,
    };

    /// How many times faster than the sequential run of its round.
    pub(super) fn speedup(&self) -> f64 {
        if self.sequential.wall == Duration::MAX {
            return 0.0;
        }
        self.sequential.wall_over(&self.run)
    }

    /// The median round by speed-up (of an even number, the upper of the middle two):
    /// not the best, which would pick the round where the machine sped up between the
    /// two runs (a speed-up over the number of cores), nor the worst.
    pub(super) fn median(mut rounds: Vec<Beside>) -> Beside {
        rounds.sort_by(|a, b| a.speedup().total_cmp(&b.speedup()));
        rounds
            .get(rounds.len() / 2)
            .copied()
            .unwrap_or(Beside::NONE)
    }
}

/// The CPU time a run used: in all, and the part of it worker processes used (which
/// this process's own clock does not count).
pub(super) struct Spent {
    pub(super) total: Duration,
    pub(super) in_workers: Duration,
}

impl Spent {
    /// CPU time of this process's own threads.
    fn here(total: Duration) -> Spent {
        Spent {
            total,
            in_workers: Duration::ZERO,
        }
    }
}

pub(super) fn run_sequential(n: u64) -> Result<Run, Unmeasured> {
    Run::measure(|| {
        let h = Thread::new(move || {
            let start = thread_cpu_time();
            for _ in 0..THREADS {
                check_sum(n, sum_to(n, || {}));
            }
            thread_cpu_time() - start
        })
        .name("sequential sums")
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))?;
        joined(h, HANG_LIMIT).map(Spent::here)
    })
}

/// Runs `work` on each of `THREADS` threads named `role N`; each returns the CPU time it
/// used, and so does this, in total.
fn on_threads(
    role: &str,
    work: impl Fn() -> Duration + Send + Sync + 'static,
) -> Result<Duration, Unmeasured> {
    let work = Arc::new(work);
    let handles = (1..=THREADS)
        .map(|i| {
            let work = Arc::clone(&work);
            Thread::new(move || work())
                .name(format!("{role} {i}"))
                .start()
                .map_err(|e| failed(format!("could not start a thread: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    handles
        .into_iter()
        .map(|h| joined(h, HANG_LIMIT))
        .sum::<Result<Duration, _>>()
}

pub(super) fn run_threads(n: u64) -> Result<Run, Unmeasured> {
    Run::measure(|| {
        on_threads("no GIL", move || {
            let start = thread_cpu_time();
            check_sum(n, sum_to(n, || {}));
            thread_cpu_time() - start
        })
        .map(Spent::here)
    })
}

/// The same threads, each holding a shared Gil and ticking as CPython does between
/// bytecodes. Also returns how often a holder was made to hand the Gil over.
pub(super) fn run_under_gil(n: u64) -> Result<(Run, u64), Unmeasured> {
    let gil = Arc::new(Gil::new());
    let shared = Arc::clone(&gil);
    let run = Run::measure(|| {
        on_threads("under the Gil", move || {
            let start = thread_cpu_time();
            let mut g = shared.acquire();
            check_sum(n, sum_to(n, || g.tick()));
            drop(g);
            thread_cpu_time() - start
        })
        .map(Spent::here)
    })?;
    Ok((run, gil.forced_switches()))
}

/// Threads under one Gil that each wait `naps` times, with the Gil held or released.
pub(super) fn run_io(naps: u32, nap: Duration, release: bool) -> Result<Duration, Unmeasured> {
    let gil = Arc::new(Gil::new());
    let role = if release {
        "I/O, Gil released"
    } else {
        "I/O, Gil held"
    };
    let (cpu, wall) = timed(|| {
        on_threads(role, move || {
            let mut g = gil.acquire();
            for _ in 0..naps {
                if release {
                    g.allow_threads(|| thread::sleep(nap));
                } else {
                    thread::sleep(nap);
                }
                g.tick();
            }
            Duration::ZERO
        })
    });
    cpu.map(|_| wall)
}
