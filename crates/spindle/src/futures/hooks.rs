// Layer 9 (futures): executors and futures, over everything below.
//! What a future keeps, besides its outcome, while it is not done: who runs it, who
//! watches it, and its done callbacks. Most futures need none of it (a worker's id fits
//! in the future's slot), so it is allocated only when something registers.

use std::sync::Arc;
use std::task::Waker;

use super::error::TaskError;
use super::waiter::Waiter;

/// A done callback: sees the outcome once, by reference.
pub(crate) type Callback<T> = Box<dyn FnOnce(&Result<T, TaskError>) + Send>;

/// An executor's own way to cancel a task that has not started: `true` if it is cancelled.
pub(crate) type RemoteCancel = Arc<dyn Fn() -> bool + Send + Sync>;

/// An `as_completed` or `wait` call watching a future, with the future's index in its list.
pub(crate) type Watcher = (Arc<Waiter>, usize);

/// Who must hear when the future is done, and who answers for it meanwhile.
///
/// The first watcher sits inline (`as_completed` over many pending futures registers one
/// on each: one small allocation apiece); anything rarer lives in [`More`].
pub(crate) struct Hooks<T> {
    /// The thread running the task (or answering for it: a process pool's supervisor);
    /// 0 while nobody does.
    pub(crate) runner: u64,
    pub(crate) watcher: Option<Watcher>,
    pub(crate) more: Option<Box<More<T>>>,
}

/// The rarer hooks, and a value being delivered to the callbacks added before completion.
pub(crate) struct More<T> {
    /// Done callbacks not yet run, in the order they were added.
    pub(crate) callbacks: Vec<Callback<T>>,
    /// Watchers after the first.
    pub(crate) watchers: Vec<Watcher>,
    /// The async task awaiting this future, if any.
    pub(crate) waker: Option<Waker>,
    /// The executor, for descriptions, when the pool table does not know it (process pools).
    pub(crate) origin: Option<Arc<str>>,
    /// How `Future::cancel` asks an executor whose tasks start elsewhere (the cluster's,
    /// where the server decides whether a task has started); `None`: cancel here.
    pub(crate) remote_cancel: Option<RemoteCancel>,
    /// While the value is delivered (stage `VALUE` with `DELIVERING`): the value, when it
    /// is not out on loan to a callback.
    pub(crate) delivered: Option<Result<T, TaskError>>,
    /// While delivering: the thread the value is lent to (0: none), and whether the
    /// completing thread has run all its callbacks.
    pub(crate) lender: u64,
    pub(crate) completer_done: bool,
}

impl<T> Hooks<T> {
    pub(crate) fn new(runner: u64) -> Hooks<T> {
        Hooks {
            runner,
            watcher: None,
            more: None,
        }
    }

    pub(crate) fn more(&mut self) -> &mut More<T> {
        self.more.get_or_insert_with(|| {
            Box::new(More {
                callbacks: Vec::new(),
                watchers: Vec::new(),
                waker: None,
                origin: None,
                remote_cancel: None,
                delivered: None,
                lender: 0,
                completer_done: false,
            })
        })
    }

    pub(crate) fn watch(&mut self, watcher: Watcher) {
        if self.watcher.is_none() {
            self.watcher = Some(watcher);
        } else {
            self.more().watchers.push(watcher);
        }
    }

    pub(crate) fn unwatch(&mut self, waiter: &Arc<Waiter>) {
        if self
            .watcher
            .as_ref()
            .is_some_and(|(w, _)| Arc::ptr_eq(w, waiter))
        {
            self.watcher = None;
        }
        if let Some(more) = &mut self.more {
            more.watchers.retain(|(w, _)| !Arc::ptr_eq(w, waiter));
        }
    }

    pub(crate) fn origin(&self) -> Option<&Arc<str>> {
        self.more.as_ref().and_then(|m| m.origin.as_ref())
    }

    /// Takes whoever must hear of the completion: watchers, callbacks, waker.
    pub(crate) fn take_listeners(&mut self) -> Listeners<T> {
        let mut watchers: Vec<Watcher> = self.watcher.take().into_iter().collect();
        let (callbacks, waker) = match &mut self.more {
            Some(more) => {
                watchers.append(&mut more.watchers);
                (std::mem::take(&mut more.callbacks), more.waker.take())
            }
            None => (Vec::new(), None),
        };
        Listeners {
            watchers,
            callbacks,
            waker,
        }
    }
}

/// Whoever must hear that a future is done, taken from its hooks at that moment.
pub(crate) struct Listeners<T> {
    pub(crate) watchers: Vec<Watcher>,
    pub(crate) callbacks: Vec<Callback<T>>,
    pub(crate) waker: Option<Waker>,
}

impl<T> Listeners<T> {
    pub(crate) fn none() -> Listeners<T> {
        Listeners {
            watchers: Vec::new(),
            callbacks: Vec::new(),
            waker: None,
        }
    }

    /// Tells the watchers and wakes the waker (the callbacks are the caller's to run).
    pub(crate) fn notify(&mut self, failed: bool) {
        for (waiter, index) in self.watchers.drain(..) {
            waiter.arrive(index, failed);
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}
