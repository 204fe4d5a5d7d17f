// Layer 9 (futures): executors and futures, over everything below.
//! What a thread blocked on a future waits for, as thread states and deadlock detection
//! see it: `Future of task 3 (ThreadPoolExecutor "io")`, held up by the thread that must
//! act before the wait can end, and only until the future reaches what the wait needs.

use super::state::Core;
use crate::wait::{Holder, Waitable};

/// What a wait on a future needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Need {
    /// The future is done (`wait`, `wait_timeout`).
    Done,
    /// Done, and the outcome in place for `result` (every callback added before
    /// completion has seen a value).
    Settled,
    /// A done future's value is back from the callback it was lent to.
    Lend,
}

/// A thread's wait on one future.
pub(crate) struct FutureWait<'a, T> {
    pub(crate) core: &'a Core<T>,
    pub(crate) need: Need,
}

// SAFETY: a `FutureWait` reads only the core's state word, task id and, under the core's
// lock, its link (ids of threads, the origin): never the `T` in it. So it may be shared
// whatever `T` is.
unsafe impl<T> Sync for FutureWait<'_, T> {}

impl<T> Waitable for FutureWait<'_, T> {
    fn describe(&self) -> String {
        let future = match self.core.origin() {
            Some(origin) => format!("Future of task {} ({origin})", self.core.id),
            None => format!("Future of task {}", self.core.id),
        };
        match self.need {
            Need::Lend => format!("the value of {future}, lent to a done callback"),
            Need::Done | Need::Settled => future,
        }
    }

    fn holds_up_a_chain(&self) -> bool {
        true
    }

    /// The thread running the task (or delivering its value to callbacks, or holding it
    /// on loan) must act before the wait ends; read in the future's state, so the wait
    /// names nobody from the instant the future reaches what it needs.
    fn holders(&self, _waiter: u64, out: &mut Vec<Holder>) {
        self.core.holders(self.need, out);
    }
}
