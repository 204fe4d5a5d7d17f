// Layer 9 (futures): executors and futures, over everything below.
//! Lending a done future's outcome to its callbacks: an error is copied for each; a
//! value, which need be neither `Clone` nor `Sync`, is moved out to one borrower at a
//! time (`LENT`) and back, waiting while another thread has it. A borrower that lends
//! the same future again (a callback adding a callback to its own future) borrows the
//! value it already holds, nested on its own thread, as CPython runs such a callback at
//! once.

use std::cell::RefCell;
use std::panic::Location;

use super::{
    CANCELLED, Core, DELIVERING, FAILED, LEND_PARKED, LENT, OBSERVED, TAKEN, VALUE, stage,
};
use crate::futures::error::TaskError;
use crate::futures::waitable::Need;
use crate::thread::registry;
use crate::wait;

impl<T> Core<T> {
    /// Calls `f` with the outcome of a done future: a copy of an error, or the value
    /// itself, lent (moved out and back) to one caller at a time, waiting while another
    /// has it.
    pub(super) fn lend(
        &self,
        at: &'static Location<'static>,
        f: impl FnOnce(&Result<T, TaskError>),
    ) {
        let here = self as *const Core<T> as usize;
        if let Some(lent) = OnLoan::find(here) {
            // A callback of this future adds another (or runs one) while this thread
            // holds the value: the new one runs now, nested, as in CPython.
            // SAFETY: `lent` points at the outcome an outer `lend` of this same core
            // (so of this `T`) holds on this thread's stack until it returns.
            return f(unsafe { &*lent.cast::<Result<T, TaskError>>() });
        }
        let me = registry::current_id();
        loop {
            let mut g = self.lock();
            let s = g.state();
            match stage(s) {
                FAILED => {
                    // SAFETY: stage `FAILED`: the slot holds the error.
                    let copy = Err(unsafe { self.error() }.clone());
                    g.update(|s| s | OBSERVED);
                    drop(g);
                    return f(&copy);
                }
                CANCELLED => {
                    drop(g);
                    return f(&Err(TaskError::Cancelled));
                }
                TAKEN => {
                    drop(g);
                    panic!(
                        "add_done_callback: the outcome of task {} was already taken by `.await`",
                        self.id
                    )
                }
                VALUE if s & LENT == 0 => {
                    let outcome = if s & DELIVERING != 0 {
                        let more = g.hooks().more();
                        more.lender = me;
                        more.delivered.take().expect("not on loan")
                    } else {
                        // SAFETY: settled `VALUE`: the slot holds it; `LENT` (set next)
                        // keeps anyone else from reading it until it is back.
                        Ok(unsafe { self.read_value() })
                    };
                    g.update(|s| s | LENT | OBSERVED);
                    drop(g);
                    let loan = Loan {
                        core: self,
                        outcome: Some(outcome),
                    };
                    let lent = loan.outcome.as_ref().expect("lent");
                    let _here = OnLoan::enter(here, (lent as *const Result<T, TaskError>).cast());
                    f(lent);
                    return;
                }
                VALUE => {
                    drop(g);
                    self.park_until(Need::Lend, None, at);
                }
                _ => unreachable!("lend is only called on a done future"),
            }
        }
    }

    /// Puts a lent value back (its loan ended, or the borrower panicked).
    fn give_back(&self, outcome: Result<T, TaskError>) {
        let mut g = self.lock();
        let s = g.state();
        if s & DELIVERING != 0 {
            let more = g.hooks().more();
            more.delivered = Some(outcome);
            more.lender = 0;
        } else {
            match outcome {
                // SAFETY: locked; the loan emptied the slot, `LENT` is cleared next.
                Ok(value) => unsafe { self.write_value(value) },
                Err(_) => unreachable!("only a value is lent"),
            }
        }
        let prev = g.update(|s| s & !(LENT | LEND_PARKED));
        let settle_now = s & DELIVERING != 0
            && g.hooks_ref()
                .and_then(|h| h.more.as_ref())
                .is_some_and(|m| m.completer_done);
        if settle_now {
            self.settle(g);
        } else {
            drop(g);
        }
        if prev & LEND_PARKED != 0 {
            wait::unpark_all(self.lend_key());
        }
    }
}

thread_local! {
    /// The outcomes lent to this thread right now, innermost last: each future's core
    /// (its address) and the outcome, type-erased.
    static LENT_HERE: RefCell<Vec<(usize, *const ())>> = const { RefCell::new(Vec::new()) };
}

/// One outcome lent to this thread, listed in `LENT_HERE` until the borrower is done.
struct OnLoan;

impl OnLoan {
    fn enter(core: usize, outcome: *const ()) -> OnLoan {
        LENT_HERE.with(|l| l.borrow_mut().push((core, outcome)));
        OnLoan
    }

    fn find(core: usize) -> Option<*const ()> {
        LENT_HERE
            .try_with(|l| {
                l.borrow()
                    .iter()
                    .rev()
                    .find(|&&(c, _)| c == core)
                    .map(|&(_, o)| o)
            })
            .ok()
            .flatten()
    }
}

impl Drop for OnLoan {
    fn drop(&mut self) {
        LENT_HERE.with(|l| l.borrow_mut().pop());
    }
}

/// A value out on loan: goes back when the borrower is done (or panicked).
struct Loan<'a, T> {
    core: &'a Core<T>,
    outcome: Option<Result<T, TaskError>>,
}

impl<T> Drop for Loan<'_, T> {
    fn drop(&mut self) {
        if let Some(outcome) = self.outcome.take() {
            self.core.give_back(outcome);
        }
    }
}
