//! Where a worker's reply meets the caller's [`Future`]: the one place the process pool
//! touches the futures module's executor side (its `Promise`).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::futures::{Future, Promise, TaskError, TaskInfo, next_task_id};

/// The executor's end of one submitted task, its result type erased.
pub(crate) trait Completion: Send {
    /// Marks the future running, answered for by thread `runner` (the supervisor of the
    /// worker it goes to); false if it was cancelled first (then drop it).
    fn start(&mut self, runner: u64) -> bool;
    /// Cancels a future that never started (shutdown with `cancel_futures`).
    fn cancel(self: Box<Self>);
    /// Fails the task.
    fn fail(self: Box<Self>, error: TaskError);
    /// Decodes the worker's result bytes and completes the future with them. On `Err`
    /// (bytes that do not decode) the future has failed, saying so, and the error text
    /// is returned for the worker's supervisor.
    fn deliver(self: Box<Self>, result: &[u8]) -> Result<(), String>;
}

/// A pending future of the pool described by `origin`, and the completion that
/// resolves it.
pub(crate) fn pending<O>(origin: &Arc<str>) -> (Future<O>, Box<dyn Completion>)
where
    O: DeserializeOwned + Send + 'static,
{
    let (future, promise) = Future::pending(TaskInfo::new(next_task_id(), Arc::clone(origin)));
    (future, Box::new(Typed { promise }))
}

/// A future that has already failed: the task could not even be queued.
pub(crate) fn failed<O>(origin: &Arc<str>, error: TaskError) -> Future<O>
where
    O: DeserializeOwned + Send + 'static,
{
    let (future, completion) = pending::<O>(origin);
    completion.fail(error);
    future
}

struct Typed<O> {
    promise: Promise<O>,
}

impl<O: DeserializeOwned + Send + 'static> Completion for Typed<O> {
    fn start(&mut self, runner: u64) -> bool {
        let run = self.promise.set_running_or_notify_cancel();
        if run {
            self.promise.set_runner(runner);
        }
        run
    }

    fn cancel(self: Box<Self>) {
        self.promise.cancel();
    }

    fn fail(self: Box<Self>, error: TaskError) {
        self.promise.set_result(Err(error));
    }

    fn deliver(self: Box<Self>, result: &[u8]) -> Result<(), String> {
        match postcard::from_bytes::<O>(result) {
            Ok(value) => {
                self.promise.set_result(Ok(value));
                Ok(())
            }
            Err(e) => {
                let why = format!("garbage frame: the result does not decode ({e})");
                let error = TaskError::WorkerDied(format!("{why}; the worker was stopped"));
                self.promise.set_result(Err(error));
                Err(why)
            }
        }
    }
}

/// The error for a task the worker could not run (its `Reply::Failed`): the result
/// over the frame limit, in practice.
pub(crate) fn worker_refused(message: &str) -> TaskError {
    TaskError::WorkerDied(format!("the worker could not run the task: {message}"))
}
