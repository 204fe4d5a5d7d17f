//! The gil experiment's four claims, each decided from the figures alone (rounded as
//! the JSON output gives them, so that anyone can decide them again from it).
//!
//! A speed-up needs spare cores. With one core available, the three claims about cores
//! cannot be shown either way: "not measured: only 1 core available". With cores but
//! other programs holding them (fewer than `SPARE_MIN` left to the lab while it
//! measured), a missing speed-up says nothing about threads, and wall times taken at
//! different moments of a busy machine cannot be compared: "not measured" again, rather
//! than a verdict the load decided. Threads under the Gil that kept more than one core
//! busy fail their claim whatever the load.

use crate::lab::verdict::Verdict;

/// Plain threads or processes "speed up" when they keep at least this many cores busy...
pub const PARALLEL_MIN: f64 = 1.5;
/// ...and finish at least this many times faster than sequential code.
pub const SPEEDUP_MIN: f64 = 1.3;
/// Threads under a Gil "take turns" when they keep at most this many cores busy...
pub const GIL_PARALLEL_MAX: f64 = 1.2;
/// ...and take at least this share of the sequential time (no speed-up, give or take).
pub const GIL_TIME_MIN: f64 = 0.85;
/// Fewer spare cores than this while measuring: the machine was too busy to show a
/// speed-up.
pub const SPARE_MIN: f64 = 1.5;
/// I/O under the Gil "stays concurrent" when releasing it takes at most this share of
/// the time holding it takes.
pub const IO_RATIO_MAX: f64 = 0.5;

/// The figures the verdicts come from (each best round's; a speed-up is the median
/// round's, against the sequential run of its own round).
pub struct Figures {
    pub cores: usize,
    pub gil_parallelism: f64,
    pub gil_vs_sequential: f64,
    pub gil_spare_cores: Option<f64>,
    pub threads_parallelism: f64,
    pub threads_speedup: f64,
    pub threads_spare_cores: Option<f64>,
    pub pool_parallelism: f64,
    pub pool_speedup: f64,
    pub pool_spare_cores: Option<f64>,
    pub io_ratio: f64,
}

/// Whether a run had fewer spare cores than a speed-up needs (unknown: not busy).
fn busy(spare: Option<f64>) -> bool {
    spare.is_some_and(|s| s < SPARE_MIN)
}

fn busy_why(spare: Option<f64>, cores: usize) -> String {
    format!(
        "other programs kept the cores busy: {:.2} of {cores} left to the lab",
        spare.unwrap_or(0.0)
    )
}

const ONE_CORE: &str = "only 1 core available";

impl Figures {
    /// Each claim with its verdict and, if not measured, why.
    pub fn parts(&self) -> Vec<(&'static str, Verdict, String)> {
        vec![
            self.gil_threads_take_turns(),
            self.threads_speed_up(),
            self.processes_speed_up(),
            self.io_stays_concurrent(),
        ]
    }

    fn gil_threads_take_turns(&self) -> (&'static str, Verdict, String) {
        let claim = "CPU-bound threads under a GIL do not speed up";
        if self.cores < 2 {
            return (claim, Verdict::NotMeasured, ONE_CORE.to_owned());
        }
        // Threads that kept more than one core busy ran together: the claim fails,
        // whatever else the machine did.
        if self.gil_parallelism > GIL_PARALLEL_MAX {
            return (claim, Verdict::DoesNotHold, String::new());
        }
        if busy(self.gil_spare_cores) {
            // No threads could have sped up then, and wall times measured at different
            // moments of a busy machine cannot be compared.
            let why = busy_why(self.gil_spare_cores, self.cores);
            return (claim, Verdict::NotMeasured, why);
        }
        (
            claim,
            holds(self.gil_vs_sequential >= GIL_TIME_MIN),
            String::new(),
        )
    }

    fn threads_speed_up(&self) -> (&'static str, Verdict, String) {
        let claim = "without a GIL, CPU-bound threads speed up on several cores";
        sped_up(
            claim,
            self.cores,
            self.threads_parallelism,
            self.threads_speedup,
            self.threads_spare_cores,
        )
    }

    fn processes_speed_up(&self) -> (&'static str, Verdict, String) {
        let claim = "a pool of processes speeds CPU-bound work up (it side-steps the GIL)";
        sped_up(
            claim,
            self.cores,
            self.pool_parallelism,
            self.pool_speedup,
            self.pool_spare_cores,
        )
    }

    fn io_stays_concurrent(&self) -> (&'static str, Verdict, String) {
        let claim = "I/O-bound threads under a GIL stay concurrent (it is released around I/O)";
        (claim, holds(self.io_ratio <= IO_RATIO_MAX), String::new())
    }
}

fn sped_up(
    claim: &'static str,
    cores: usize,
    parallelism: f64,
    speedup: f64,
    spare: Option<f64>,
) -> (&'static str, Verdict, String) {
    if cores < 2 {
        return (claim, Verdict::NotMeasured, ONE_CORE.to_owned());
    }
    if parallelism >= PARALLEL_MIN && speedup >= SPEEDUP_MIN {
        return (claim, Verdict::Holds, String::new());
    }
    if busy(spare) {
        return (claim, Verdict::NotMeasured, busy_why(spare, cores));
    }
    (claim, Verdict::DoesNotHold, String::new())
}

fn holds(yes: bool) -> Verdict {
    if yes {
        Verdict::Holds
    } else {
        Verdict::DoesNotHold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Figures of a quiet 2-core machine where every claim holds.
    fn quiet() -> Figures {
        Figures {
            cores: 2,
            gil_parallelism: 1.0,
            gil_vs_sequential: 1.02,
            gil_spare_cores: Some(1.9),
            threads_parallelism: 1.9,
            threads_speedup: 1.8,
            threads_spare_cores: Some(1.9),
            pool_parallelism: 1.85,
            pool_speedup: 1.7,
            pool_spare_cores: Some(1.9),
            io_ratio: 0.25,
        }
    }

    fn verdicts(f: &Figures) -> Vec<Verdict> {
        f.parts().into_iter().map(|(_, v, _)| v).collect()
    }

    #[test]
    fn a_quiet_machine_shows_all_four() {
        assert_eq!(verdicts(&quiet()), [Verdict::Holds; 4]);
    }

    #[test]
    fn one_core_cannot_show_the_parts_about_cores() {
        let f = Figures {
            cores: 1,
            threads_parallelism: 1.0,
            threads_speedup: 1.0,
            ..quiet()
        };
        let parts = f.parts();
        for (claim, verdict, why) in &parts[..3] {
            assert_eq!(*verdict, Verdict::NotMeasured, "{claim}");
            assert_eq!(why, "only 1 core available");
        }
        assert_eq!(parts[3].1, Verdict::Holds);
    }

    #[test]
    fn a_busy_machine_is_not_taken_for_a_failed_claim() {
        let f = Figures {
            threads_parallelism: 1.0,
            threads_speedup: 1.05,
            threads_spare_cores: Some(0.9),
            gil_spare_cores: Some(0.9),
            ..quiet()
        };
        let v = verdicts(&f);
        assert_eq!(v[0], Verdict::NotMeasured);
        assert_eq!(v[1], Verdict::NotMeasured);
        assert_eq!(v[2], Verdict::Holds);
    }

    #[test]
    fn no_speed_up_on_a_quiet_machine_does_not_hold() {
        let f = Figures {
            threads_parallelism: 1.0,
            threads_speedup: 1.0,
            ..quiet()
        };
        assert_eq!(verdicts(&f)[1], Verdict::DoesNotHold);
    }

    #[test]
    fn wall_times_of_a_busy_machine_are_not_compared() {
        // Under load the Gil's round got more of the machine than the sequential one:
        // it looks faster, but it still kept one core busy at most.
        let f = Figures {
            gil_parallelism: 0.61,
            gil_vs_sequential: 0.76,
            gil_spare_cores: Some(0.61),
            ..quiet()
        };
        assert_eq!(verdicts(&f)[0], Verdict::NotMeasured);
        let quiet_but_faster = Figures {
            gil_spare_cores: Some(1.9),
            ..f
        };
        assert_eq!(verdicts(&quiet_but_faster)[0], Verdict::DoesNotHold);
    }

    #[test]
    fn a_gil_that_lets_threads_run_together_does_not_hold() {
        let f = Figures {
            gil_parallelism: 1.9,
            gil_vs_sequential: 0.55,
            ..quiet()
        };
        assert_eq!(verdicts(&f)[0], Verdict::DoesNotHold);
        // Even on a busy machine: a speed-up under the Gil is its failure, load or not.
        let busy = Figures {
            gil_spare_cores: Some(0.5),
            ..f
        };
        assert_eq!(verdicts(&busy)[0], Verdict::DoesNotHold);
    }

    #[test]
    fn io_held_under_the_gil_does_not_overlap() {
        let f = Figures {
            io_ratio: 0.9,
            ..quiet()
        };
        assert_eq!(verdicts(&f)[3], Verdict::DoesNotHold);
    }
}
