// Layer 9 (futures): executors and futures, over everything below.
//! A task waiting in a pool's queue: its closure and its future's state, in one
//! allocation that the future shares.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::Mutex as InternalMutex;

use super::error::TaskError;
use super::state::{Core, HoldsCore};
use super::task::TaskInfo;
use crate::thread::Panicked;
use crate::trace::{self, EventKind};

/// What a pool's queue holds, whatever the task returns.
pub(crate) trait Job: Send + Sync {
    /// Runs the task on worker `worker` (unless it was cancelled) and completes its future.
    fn run(&self, worker: &str);
    /// Cancels the future of a task that will not run.
    fn cancel(&self);
    /// Fails the future of a task that cannot run.
    fn fail(&self, error: TaskError);
}

/// A closure to run and the state of its future.
pub(crate) struct Task<F, T> {
    core: Core<T>,
    /// Taken (and run, or dropped) exactly once, by whoever holds the queue's [`Queued`].
    f: InternalMutex<Option<F>>,
}

impl<F, T> Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(f: F, info: TaskInfo) -> Arc<Task<F, T>> {
        Arc::new(Task {
            core: Core::new(info),
            f: InternalMutex::new(Some(f)),
        })
    }
}

impl<F: Send, T: Send> HoldsCore<T> for Task<F, T> {
    fn core(&self) -> &Core<T> {
        &self.core
    }
}

impl<F, T> Job for Task<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&self, worker: &str) {
        let Some(f) = self.f.lock().take() else {
            return;
        };
        if !self.core.set_running_or_notify_cancel() {
            return; // cancelled while queued: `f` is dropped unrun
        }
        let task = self.core.task.id;
        trace::emit(|| EventKind::TaskStarted { task });
        let outcome = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            let p = Panicked::from_payload(&*payload, worker.to_owned());
            // A payload whose own `Drop` panics must not take the worker down.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
            TaskError::Panicked(p)
        });
        let ok = outcome.is_ok();
        trace::emit(|| EventKind::TaskFinished { task, ok });
        self.core.set_result(outcome);
    }

    fn cancel(&self) {
        drop(self.f.lock().take());
        self.core.cancel();
    }

    fn fail(&self, error: TaskError) {
        drop(self.f.lock().take());
        self.core.set_result(Err(error));
    }
}

/// A job in a pool's queue. Dropped without being run, cancelled or failed (which should
/// never happen), it fails its future rather than leave it pending forever.
pub(crate) struct Queued(Option<Arc<dyn Job>>);

impl Queued {
    pub(crate) fn new(job: Arc<dyn Job>) -> Queued {
        Queued(Some(job))
    }

    fn take(mut self) -> Arc<dyn Job> {
        self.0.take().expect("a queued job is taken once")
    }

    pub(crate) fn run(self, worker: &str) {
        self.take().run(worker);
    }

    pub(crate) fn cancel(self) {
        self.take().cancel();
    }

    pub(crate) fn fail(self, error: TaskError) {
        self.take().fail(error);
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(job) = self.0.take() {
            job.fail(TaskError::WorkerDied(
                "the task was dropped before it could run".to_owned(),
            ));
        }
    }
}
