// Layer 10 (process): worker processes, over the futures layer.
//! Looking again before sleeping, for the readers of a worker's pipes: a frame that
//! arrives a few microseconds later then costs no wake-up, which on an idle virtual
//! machine is most of what a round trip to a worker costs.
//!
//! As parking_lot's locks do, a waiter first spins briefly, then yields the CPU
//! between looks (so that a spinner never keeps the thread it waits for off a core),
//! for at most a budget. The budget adapts: a reader whose frames came within the
//! longest budget keeps spinning; one whose frames keep coming later (long tasks)
//! halves it each time, down to nothing, and sleeps at once. And a yield that took
//! long means other programs want the CPU (the machine is busy, and its cores never
//! idle, so a wake-up is cheap anyway): then the reader stops spinning for a while.

use std::time::{Duration, Instant};

/// A yield that takes longer than this gave the CPU to another program for a time
/// slice (the pool's own threads give it back within tens of microseconds).
const SLOW_YIELD: Duration = Duration::from_micros(250);
/// A frame that came within this many times the longest budget was prompt: looking
/// again for it pays. (A reader whose budget was cut sleeps, and waking it makes even
/// a prompt frame late: judged by the budget alone, one late frame would cut the
/// budget for good.)
const PROMPT: u32 = 4;
/// How long a reader stops spinning once it saw the machine busy (the pool's own
/// threads can make a yield slow too, in a burst of tasks: the rest is brief).
const BUSY_REST: Duration = Duration::from_millis(2);

/// What one reader learned about its waits.
pub(crate) struct Spinner {
    max: Duration,
    budget: Duration,
    /// No spinning before this (the machine was busy).
    rest_until: Option<Instant>,
}

/// One wait in progress.
pub(crate) struct Wait {
    began: Instant,
    until: Instant,
    round: u32,
    /// A yield of this wait was slow: the machine is busy.
    busy: bool,
}

impl Spinner {
    /// A spinner that looks again for at most `max` before sleeping.
    pub(crate) fn new(max: Duration) -> Spinner {
        Spinner {
            max,
            budget: max,
            rest_until: None,
        }
    }

    /// Starts a wait: the reader found nothing to read.
    pub(crate) fn begin(&self) -> Wait {
        let began = Instant::now();
        let resting = self.rest_until.is_some_and(|t| began < t);
        Wait {
            began,
            until: if resting { began } else { began + self.budget },
            round: 0,
            busy: false,
        }
    }

    /// The frame the reader waited for has come: learns whether looking again pays.
    pub(crate) fn arrived(&mut self, wait: &Wait) {
        let now = Instant::now();
        if wait.busy {
            self.rest_until = Some(now + BUSY_REST);
        }
        self.budget = if now - wait.began <= self.max * PROMPT {
            self.max
        } else {
            self.budget / 2
        };
    }
}

impl Wait {
    /// Waits a little before the caller looks again; false once the budget is spent
    /// (the caller sleeps then).
    pub(crate) fn again(&mut self) -> bool {
        if Instant::now() >= self.until {
            return false;
        }
        if self.round < 6 {
            for _ in 0..1 << self.round {
                std::hint::spin_loop();
            }
        } else {
            let before = Instant::now();
            std::thread::yield_now();
            if before.elapsed() > SLOW_YIELD {
                self.busy = true;
                return false;
            }
        }
        self.round += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_shrinks_for_late_frames_and_comes_back_for_prompt_ones() {
        let mut spinner = Spinner::new(Duration::from_millis(5));
        let late = Wait {
            began: Instant::now() - Duration::from_millis(50),
            until: Instant::now(),
            round: 0,
            busy: false,
        };
        spinner.arrived(&late);
        assert_eq!(spinner.budget, Duration::from_micros(2500));
        for _ in 0..30 {
            spinner.arrived(&late);
        }
        assert_eq!(spinner.budget, Duration::ZERO);
        let mut wait = spinner.begin();
        assert!(!wait.again(), "no budget: sleep at once");
        spinner.arrived(&spinner.begin());
        assert_eq!(spinner.budget, Duration::from_millis(5));
        let mut wait = spinner.begin();
        assert!(wait.again());
    }

    #[test]
    fn a_busy_machine_stops_the_spinning_for_a_while() {
        let mut spinner = Spinner::new(Duration::from_millis(5));
        let mut busy = spinner.begin();
        busy.busy = true;
        spinner.arrived(&busy);
        assert!(!spinner.begin().again(), "resting");
        spinner.rest_until = Some(Instant::now());
        assert!(spinner.begin().again(), "rested");
    }
}
