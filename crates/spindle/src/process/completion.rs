// Layer 10 (process): worker processes, over the futures layer.
//! Where a worker's reply meets the caller's [`Future`]: the one place the process pool
//! touches the futures module's executor side (its `Promise`), and where a task's end
//! reaches the trace hook.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::futures::{Future, Promise, TaskError, TaskInfo, next_task_id};
use crate::trace::{self, EventKind};

/// The executor's end of one submitted task, its result type erased.
pub(crate) trait Completion: Send {
    /// The task's id (the futures module's, as [`Future::task_id`] reports it).
    fn task(&self) -> u64;
    /// Marks the future running, answered for by thread `runner` (the supervisor of the
    /// worker it goes to); false if it was cancelled first (then drop it).
    fn start(&mut self, runner: u64) -> bool;
    /// Cancels a future that never started (shutdown with `cancel_futures`).
    fn cancel(self: Box<Self>);
    /// Fails a task that no worker ran (the pool is broken, or it could not be sent).
    fn fail(self: Box<Self>, error: TaskError);
    /// Completes a task its worker ran with the worker's result bytes, decoded. On `Err`
    /// (bytes that do not decode) the future has failed, saying so, and the error text
    /// is returned for the worker's supervisor.
    fn deliver(self: Box<Self>, result: &[u8]) -> Result<(), String>;
    /// Fails a task its worker ran: it panicked, could not run, timed out, or its
    /// worker died.
    fn fail_running(self: Box<Self>, error: TaskError);
}

/// A pending future of the pool described by `origin`, and the completion that
/// resolves it with the result decoded.
pub(crate) fn pending<O>(origin: &Arc<str>) -> (Future<O>, Box<dyn Completion>)
where
    O: DeserializeOwned + Send + 'static,
{
    with_decoder(origin, |bytes| {
        postcard::from_bytes::<O>(bytes).map_err(|e| e.to_string())
    })
}

/// As [`pending`], for a future of the result's encoded bytes, as the worker sent them.
pub(crate) fn pending_encoded(origin: &Arc<str>) -> (Future<Vec<u8>>, Box<dyn Completion>) {
    with_decoder(origin, |bytes| Ok(bytes.to_vec()))
}

fn with_decoder<O: Send + 'static>(
    origin: &Arc<str>,
    decode: fn(&[u8]) -> Result<O, String>,
) -> (Future<O>, Box<dyn Completion>) {
    let task = next_task_id();
    let (future, promise) = Future::pending(TaskInfo::new(task, Arc::clone(origin)));
    (
        future,
        Box::new(Typed {
            task,
            promise,
            decode,
        }),
    )
}

struct Typed<O> {
    task: u64,
    promise: Promise<O>,
    decode: fn(&[u8]) -> Result<O, String>,
}

impl<O: Send + 'static> Completion for Typed<O> {
    fn task(&self) -> u64 {
        self.task
    }

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
        match (self.decode)(result) {
            Ok(value) => {
                self.complete(Ok(value));
                Ok(())
            }
            Err(e) => {
                let why = format!("garbage frame: the result does not decode ({e})");
                let error = TaskError::WorkerDied(format!("{why}; the worker was stopped"));
                self.complete(Err(error));
                Err(why)
            }
        }
    }

    fn fail_running(self: Box<Self>, error: TaskError) {
        self.complete(Err(error));
    }
}

impl<O> Typed<O> {
    /// Completes a task a worker ran, on the thread that heard its end (its worker's
    /// supervisor). The trace hook hears `TaskFinished` first, so that a recording
    /// stopped once the future is done holds it.
    fn complete(self, result: Result<O, TaskError>) {
        let (task, ok) = (self.task, result.is_ok());
        trace::emit(|| EventKind::TaskFinished { task, ok });
        self.promise.set_result(result);
    }
}

/// The error for a task the worker could not run (its `Reply::Failed`): an unknown
/// task, an argument that does not decode, a result that does not encode.
pub(crate) fn worker_refused(message: &str) -> TaskError {
    TaskError::WorkerDied(format!("the worker could not run the task: {message}"))
}
