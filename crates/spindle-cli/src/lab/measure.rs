//! Measuring tools shared by the experiments: wall time, a thread's CPU time, joins
//! that cannot hang, and how durations are written.

use std::time::{Duration, Instant};

use spindle::thread::{JoinHandle, Panicked};

/// Runs `f` and returns its result with the wall time it took.
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed())
}

/// The CPU time the calling thread has used so far (its `CLOCK_THREAD_CPUTIME_ID`):
/// time spent parked does not count, time spent spinning does.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant that every
    // supported Unix defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Joins `handle` if its thread ends within `limit`: the safety net of experiments that
/// could hang if spindle regressed. `None` means it was still running (it is left behind;
/// the program's exit ends it).
pub fn join_within<T>(handle: JoinHandle<T>, limit: Duration) -> Option<Result<T, Panicked>> {
    if handle.wait_timeout(limit) {
        Some(handle.join())
    } else {
        None
    }
}

/// Why an experiment has no verdict. The lab reports it as the experiment's result
/// instead of crashing, and the exit status says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmeasured {
    /// It could not measure what it set out to: a thread panicked or hung, an input was
    /// unreadable, a server did not start. Its verdict is "not measured".
    Failed(String),
    /// It needs something this machine lacks; the text says what and how to install it
    /// (`needs redis-server (install it: apt-get install redis-server)`). Its verdict is
    /// "skipped", which the exit status ignores.
    Skipped(String),
}

/// `Unmeasured::Failed(why)`: for `map_err`.
pub fn failed(why: impl Into<String>) -> Unmeasured {
    Unmeasured::Failed(why.into())
}

/// The result of a thread that must end normally within `limit`.
pub fn joined<T>(handle: JoinHandle<T>, limit: Duration) -> Result<T, Unmeasured> {
    let name = handle.info().name();
    match join_within(handle, limit) {
        Some(Ok(value)) => Ok(value),
        Some(Err(p)) => Err(failed(format!(
            "thread \"{name}\" panicked: {}",
            p.message()
        ))),
        None => Err(failed(format!(
            "thread \"{name}\" was still running after {}",
            human(limit)
        ))),
    }
}

/// Where threads line up to start a round at the same moment, all of them running: a
/// barrier wakes its waiters one after another (each tens of microseconds after the
/// last), which decides who goes first before the race begins. Here each thread spins
/// (yielding now and then, so that it still works on one core) until all have arrived.
pub struct StartLine {
    arrived: std::sync::atomic::AtomicUsize,
    parties: usize,
}

impl StartLine {
    pub fn new(parties: usize) -> StartLine {
        StartLine {
            arrived: std::sync::atomic::AtomicUsize::new(0),
            parties,
        }
    }

    /// Arrives for round `round` (0, 1, 2... in turn) and returns once every party has.
    pub fn cross(&self, round: usize) {
        use std::sync::atomic::Ordering;
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let everyone = self.parties * (round + 1);
        let mut spins = 0u32;
        while self.arrived.load(Ordering::SeqCst) < everyone {
            spins += 1;
            if spins % 64 == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// The middle value of `values` (the upper of the two middle ones), `None` if empty.
pub fn median<T: Ord + Copy>(values: &[T]) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// A large count for people: `18,862,087`.
pub fn digits(n: u64) -> String {
    let plain = n.to_string();
    let mut out = String::with_capacity(plain.len() + plain.len() / 3);
    for (i, c) in plain.chars().enumerate() {
        if i > 0 && (plain.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 thread`, `4 threads`: a count and its noun, in agreement.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A duration for people: `1.50 s`, `12.3 ms`, `850 µs`, `300 ns`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.001 {
        format!("{:.1} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.0} µs", s * 1e6)
    } else {
        format!("{:.0} ns", s * 1e9)
    }
}

/// A duration as a JSON figure: seconds, rounded to the microsecond.
pub fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

/// A ratio as a JSON figure, rounded to three decimals.
pub fn ratio(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_picks_a_readable_unit() {
        assert_eq!(human(Duration::from_millis(1500)), "1.50 s");
        assert_eq!(human(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(human(Duration::from_micros(850)), "850 µs");
        assert_eq!(human(Duration::from_nanos(300)), "300 ns");
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[4, 1, 3, 2]), Some(3));
        assert_eq!(median::<u32>(&[]), None);
    }

    #[test]
    fn large_counts_are_grouped_by_thousands() {
        assert_eq!(digits(18_862_087), "18,862,087");
        assert_eq!(digits(999), "999");
        assert_eq!(digits(1000), "1,000");
        assert_eq!(digits(0), "0");
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(plural(1, "reader"), "1 reader");
        assert_eq!(plural(0, "thread"), "0 threads");
        assert_eq!(plural(4, "thread"), "4 threads");
    }

    #[test]
    fn parked_time_is_not_cpu_time() {
        let before = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(50));
        assert!(thread_cpu_time() - before < Duration::from_millis(25));
    }
}
