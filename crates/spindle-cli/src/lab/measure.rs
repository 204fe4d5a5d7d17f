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

/// Why an experiment could not measure what it set out to: one of its threads panicked
/// or hung. The lab reports it as the experiment's result instead of crashing.
#[derive(Debug)]
pub struct Failed(pub String);

/// The result of a thread that must end normally within `limit`.
pub fn joined<T>(handle: JoinHandle<T>, limit: Duration) -> Result<T, Failed> {
    let name = handle.info().name();
    match join_within(handle, limit) {
        Some(Ok(value)) => Ok(value),
        Some(Err(p)) => Err(Failed(format!(
            "thread \"{name}\" panicked: {}",
            p.message()
        ))),
        None => Err(Failed(format!(
            "thread \"{name}\" was still running after {}",
            human(limit)
        ))),
    }
}

/// A duration for people: `1.50 s`, `12.3 ms`, `850 µs`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.001 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
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
    }

    #[test]
    fn parked_time_is_not_cpu_time() {
        let before = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(50));
        assert!(thread_cpu_time() - before < Duration::from_millis(25));
    }
}
