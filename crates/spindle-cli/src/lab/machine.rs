//! What the machine offers an experiment: how many cores this process may use, and how
//! busy other programs kept them while it measured. A claim about running on several
//! cores cannot be shown on one core, nor while other programs hold the cores; the lab
//! says "not measured" then, instead of a verdict the machine could not support.

use std::time::{Duration, Instant};

/// The cores this process may run on (its CPU affinity and quota, as the standard
/// library reads them).
pub fn cores_available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A reading of the CPU time spent so far: by this process, and by every program on
/// the cores this process may use. Two readings give the share of those cores that
/// other programs used in between ([`Usage`]).
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    at: Instant,
    own: Duration,
    /// Busy and total time of the allowed cores, in clock ticks, where the system
    /// says (Linux's `/proc/stat`).
    cores: Option<(u64, u64)>,
}

impl CpuReading {
    pub fn now() -> CpuReading {
        CpuReading {
            at: Instant::now(),
            own: process_cpu_time(),
            cores: allowed_cores_ticks(),
        }
    }

    /// What happened between `self` and `later`; `children` is the CPU time that this
    /// process's worker processes used meanwhile (they are its own work too).
    pub fn until(&self, later: &CpuReading, children: Duration) -> Usage {
        let wall = later.at.duration_since(self.at);
        let secs = wall.as_secs_f64().max(1e-9);
        let own_cores = (later.own.saturating_sub(self.own) + children).as_secs_f64() / secs;
        let others = match (self.cores, later.cores) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => Some(
                others_cores(busy1 - busy0, total1 - total0, cores_available(), own_cores),
            ),
            _ => None,
        };
        Usage {
            others_cores: others,
        }
    }
}

/// The cores other programs kept busy: of `cores` cores, busy `busy` of `total` clock
/// ticks (all cores together), less what this process used (`own_cores`).
fn others_cores(busy: u64, total: u64, cores: usize, own_cores: f64) -> f64 {
    let busy_cores = busy as f64 / total as f64 * cores as f64;
    (busy_cores - own_cores).max(0.0)
}

/// CPU use over a stretch of time.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Cores other programs kept busy on average, where the system says.
    pub others_cores: Option<f64>,
}

impl Usage {
    /// The cores left to this process on average: those available less what other
    /// programs used (all of them when the system does not say).
    pub fn spare_cores(&self) -> f64 {
        cores_available() as f64 - self.others_cores.unwrap_or(0.0)
    }
}

/// The CPU time this process has used, all threads together.
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant that every
    // supported Unix defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// (busy, total) clock ticks of the cores this process may run on, from `/proc/stat`.
#[cfg(target_os = "linux")]
fn allowed_cores_ticks() -> Option<(u64, u64)> {
    let allowed = allowed_cpus()?;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let (mut busy, mut total) = (0u64, 0u64);
    let mut seen = 0;
    for line in stat.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let Some(cpu) = fields.next().and_then(|id| id.parse::<usize>().ok()) else {
            continue; // the "cpu" line of all cores together
        };
        if !allowed.contains(&cpu) {
            continue;
        }
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let ticks: Vec<u64> = fields.take(8).filter_map(|t| t.parse().ok()).collect();
        if ticks.len() < 8 {
            return None;
        }
        let idle = ticks[3] + ticks[4];
        let all: u64 = ticks.iter().sum();
        // Steal is time the hypervisor gave to another machine: busy, for us.
        busy += all - idle;
        total += all;
        seen += 1;
    }
    (seen > 0).then_some((busy, total))
}

#[cfg(not(target_os = "linux"))]
fn allowed_cores_ticks() -> Option<(u64, u64)> {
    None
}

/// The CPUs this process may run on.
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into
    // `set`, which is that large and writable; pid 0 is this thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, within the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_programs_are_the_busy_time_less_this_processs() {
        // 2 cores, 3 of 4 ticks busy (1.5 cores), 1 core of it ours: others used 0.5.
        assert_eq!(others_cores(300, 400, 2, 1.0), 0.5);
        // Ours rounded up past the ticks' resolution: never below zero.
        assert_eq!(others_cores(100, 400, 2, 0.6), 0.0);
        assert_eq!(others_cores(0, 400, 2, 0.0), 0.0);
    }

    #[test]
    fn a_reading_says_what_other_programs_used() {
        let before = CpuReading::now();
        std::thread::sleep(Duration::from_millis(50));
        let usage = before.until(&CpuReading::now(), Duration::ZERO);
        #[cfg(target_os = "linux")]
        assert!(
            usage.others_cores.is_some(),
            "/proc/stat is readable on Linux"
        );
        if let Some(others) = usage.others_cores {
            assert!(
                (0.0..=cores_available() as f64).contains(&others),
                "{usage:?}"
            );
        }
    }
}
