//! Generated sequences of queue calls, each checked against a model of CPython 3.13's
//! `queue` module: what every call returns and, after each call, everything observable
//! (`len`, `is_empty`, `is_full`, `unfinished_tasks`, `is_shutdown`).
//!
//! Examples pick a few orders of calls; these find the ones nobody thought to write:
//! a ring wrapping around many laps at every capacity, a list crossing its blocks,
//! `shutdown(immediate)` with tasks marked done while their items are still queued,
//! timeouts on a full or empty queue, each after any history. Every queue type runs,
//! unbounded, bounded small (a ring for `Queue`) and bounded large (a growable buffer).

mod queue_common;

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use queue_common::AnyQueue;
use spindle::queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, TaskDoneError};

/// A call, with what it needs.
#[derive(Clone, Debug)]
enum Call {
    Put(i64),
    TryPut(i64),
    PutTimeout(i64),
    Get,
    TryGet,
    GetTimeout,
    TaskDone,
    JoinTimeout,
    Shutdown { immediate: bool },
}

/// How long the timed calls wait when the model says they must time out: short, so a
/// case runs fast, and long enough that a queue that does not wait would still fail.
const TIMEOUT: Duration = Duration::from_micros(200);

fn call() -> impl Strategy<Value = Call> {
    // Puts and gets dominate, so that queues fill, wrap and cross blocks; shutdowns are
    // rare, so that most of a sequence runs before one.
    let item = -50i64..50;
    prop_oneof![
        6 => item.clone().prop_map(Call::Put),
        3 => item.clone().prop_map(Call::TryPut),
        1 => item.prop_map(Call::PutTimeout),
        5 => Just(Call::Get),
        3 => Just(Call::TryGet),
        1 => Just(Call::GetTimeout),
        3 => Just(Call::TaskDone),
        1 => Just(Call::JoinTimeout),
        1 => any::<bool>().prop_map(|immediate| Call::Shutdown { immediate }),
    ]
}

/// The queue's size limit in a case: unbounded, small (every capacity up to 5), or
/// large enough that `Queue` keeps a growable buffer instead of a ring.
fn maxsize() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![Just(None), (1usize..=5).prop_map(Some), Just(Some(1 << 16))]
}

/// CPython's `queue.Queue`, `LifoQueue` and `PriorityQueue`, one thread, no waiting.
struct Model {
    items: VecDeque<i64>,
    kind: &'static str,
    maxsize: Option<usize>,
    unfinished: usize,
    shutdown: bool,
}

impl Model {
    fn full(&self) -> bool {
        self.maxsize.is_some_and(|max| self.items.len() >= max)
    }

    fn put(&mut self, item: i64) -> Result<(), PutError<i64>> {
        if self.shutdown {
            return Err(PutError::ShutDown(item));
        }
        if self.full() {
            return Err(PutError::Full(item));
        }
        self.items.push_back(item);
        self.unfinished += 1;
        Ok(())
    }

    fn get(&mut self) -> Result<i64, GetError> {
        let at = match self.kind {
            "Queue" => Some(0),
            "LifoQueue" => self.items.len().checked_sub(1),
            _ => (0..self.items.len()).min_by_key(|&i| self.items[i]),
        };
        match at.and_then(|i| self.items.remove(i)) {
            Some(item) => Ok(item),
            None if self.shutdown => Err(GetError::ShutDown),
            None => Err(GetError::Empty),
        }
    }

    fn task_done(&mut self) -> Result<(), TaskDoneError> {
        if self.unfinished == 0 {
            return Err(TaskDoneError);
        }
        self.unfinished -= 1;
        Ok(())
    }

    fn shutdown(&mut self, immediate: bool) {
        self.shutdown = true;
        if immediate {
            // CPython: each item removed counts as done, down to 0 and no further.
            let removed = self.items.len();
            self.items.clear();
            self.unfinished = self.unfinished.saturating_sub(removed);
        }
    }
}

/// Runs `calls` on a fresh queue of type `Q` and on the model, comparing each result
/// and, after each call, every observable.
fn check<Q: AnyQueue>(maxsize: Option<usize>, calls: &[Call]) -> Result<(), TestCaseError> {
    let q = match maxsize {
        None => Q::new(),
        Some(max) => Q::bounded(max),
    };
    let mut m = Model {
        items: VecDeque::new(),
        kind: Q::KIND,
        maxsize,
        unfinished: 0,
        shutdown: false,
    };
    for (step, call) in calls.iter().enumerate() {
        let at = format!("step {step}, {call:?}, on {q:?}");
        match *call {
            // A blocking call runs only where the model says it returns at once; where it
            // would block, its timed form checks that it does wait and give up.
            Call::Put(item) if m.shutdown || !m.full() => {
                prop_assert_eq!(q.put(item), m.put(item), "{}", at)
            }
            Call::Put(item) | Call::PutTimeout(item) => {
                prop_assert_eq!(q.put_timeout(item, TIMEOUT), m.put(item), "{}", at)
            }
            Call::TryPut(item) => prop_assert_eq!(q.try_put(item), m.put(item), "{}", at),
            Call::Get if m.shutdown || !m.items.is_empty() => {
                prop_assert_eq!(q.get(), m.get(), "{}", at)
            }
            Call::Get | Call::GetTimeout => {
                prop_assert_eq!(q.get_timeout(TIMEOUT), m.get(), "{}", at)
            }
            Call::TryGet => prop_assert_eq!(q.try_get(), m.get(), "{}", at),
            Call::TaskDone => prop_assert_eq!(q.task_done(), m.task_done(), "{}", at),
            Call::JoinTimeout => {
                prop_assert_eq!(q.join_timeout(TIMEOUT), m.unfinished == 0, "{}", at)
            }
            Call::Shutdown { immediate } => {
                q.shutdown(immediate);
                m.shutdown(immediate);
            }
        }
        let seen = (
            q.len(),
            q.is_empty(),
            q.is_full(),
            q.unfinished_tasks(),
            q.is_shutdown(),
        );
        let expected = (
            m.items.len(),
            m.items.is_empty(),
            m.full(),
            m.unfinished,
            m.shutdown,
        );
        prop_assert_eq!(
            seen,
            expected,
            "(len, is_empty, is_full, unfinished_tasks, is_shutdown) after {}",
            at
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    fn queue_matches_cpython(maxsize in maxsize(), calls in prop::collection::vec(call(), 0..300)) {
        check::<Queue<i64>>(maxsize, &calls)?;
    }

    #[test]
    fn lifo_queue_matches_cpython(maxsize in maxsize(), calls in prop::collection::vec(call(), 0..300)) {
        check::<LifoQueue<i64>>(maxsize, &calls)?;
    }

    #[test]
    fn priority_queue_matches_cpython(maxsize in maxsize(), calls in prop::collection::vec(call(), 0..300)) {
        check::<PriorityQueue<i64>>(maxsize, &calls)?;
    }
}
