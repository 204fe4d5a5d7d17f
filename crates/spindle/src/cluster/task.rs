// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! A cluster task as its client sees it: the future's state, which the client's reader
//! thread completes when the task's result arrives, and a `cancel` that asks the
//! server, where it is decided whether a worker has started the task.

use std::sync::{Arc, Weak};

use parking_lot::Mutex as InternalMutex;
use serde::de::DeserializeOwned;

use super::client::Shared;
use super::local;
use crate::futures::{Future, Promise, TaskError, TaskInfo, next_task_id};
use crate::trace::{self, EventKind};

/// The client's side of one submitted task, its result type erased: what the reader
/// thread and `shutdown` act on.
pub(crate) trait Pending: Send + Sync {
    /// A worker started the task (a retried task may say so again).
    fn started(&self);
    /// The task's result entry arrived: `kind` is `ok` (then `body` is the encoded
    /// value) or an error kind.
    fn finish(&self, kind: &str, body: Vec<u8>, thread: String);
    /// The task can have no result (the connection was lost, or it was never sent).
    fn fail(&self, error: TaskError);
    /// The server cancelled the task: cancel the future.
    fn cancel_here(&self) -> bool;
    /// Whether a worker has been heard starting it.
    fn is_started(&self) -> bool;
}

/// One task's promise, with what its future's `cancel` needs to reach the server.
pub(crate) struct ClusterTask<O> {
    /// The executor's end of the future, until the task's outcome is stored.
    promise: InternalMutex<Option<Promise<O>>>,
    /// The task's id in traces and [`Future::task_id`].
    id: u64,
    seq: u64,
    client: Weak<Shared>,
}

impl<O: DeserializeOwned + Send + 'static> ClusterTask<O> {
    /// A pending task numbered `seq` by its client, and its future.
    pub(crate) fn new(shared: &Arc<Shared>, seq: u64) -> (Arc<ClusterTask<O>>, Future<O>) {
        let info = TaskInfo::new(next_task_id(), Arc::clone(shared.origin()));
        let id = info.id;
        let (future, promise) = Future::pending(info);
        let task = Arc::new(ClusterTask {
            promise: InternalMutex::new(Some(promise)),
            id,
            seq,
            client: Arc::downgrade(shared),
        });
        // Python's rule, decided at the server: only a task no worker has started is
        // cancelled, even if this client has not yet heard that it started.
        let weak = Arc::downgrade(&task);
        if let Some(promise) = task.promise.lock().as_ref() {
            promise.set_remote_cancel(Arc::new(move || {
                weak.upgrade().is_some_and(|task| task.cancel_at_server())
            }));
        }
        (task, future)
    }

    /// The id trace events and [`Future::task_id`] use.
    pub(crate) fn trace_id(&self) -> u64 {
        self.id
    }

    fn complete(&self, outcome: Result<O, TaskError>) {
        let Some(promise) = self.promise.lock().take() else {
            return; // already completed or cancelled
        };
        let (task, ok) = (self.id, outcome.is_ok());
        trace::emit(|| EventKind::TaskFinished { task, ok });
        promise.set_result(outcome);
    }

    /// What the future's `cancel` does while the task has not started here.
    fn cancel_at_server(&self) -> bool {
        {
            let promise = self.promise.lock();
            match promise.as_ref() {
                None => return false, // completed meanwhile
                Some(p) if p.is_cancelled() => return true,
                Some(p) if p.is_done() || p.is_running() => return false,
                Some(_) => {}
            }
        }
        match self.client.upgrade() {
            Some(shared) => shared.cancel(self.seq),
            None => false,
        }
    }
}

impl<O: DeserializeOwned + Send + 'static> Pending for ClusterTask<O> {
    fn started(&self) {
        let mut promise = self.promise.lock();
        let Some(p) = promise.as_mut() else {
            return;
        };
        if p.is_running() || p.is_done() {
            return;
        }
        if p.set_running_or_notify_cancel() {
            // It runs on another machine: no thread here answers for it.
            p.set_runner(0);
            let task = self.id;
            trace::emit(|| EventKind::TaskStarted { task });
        }
    }

    fn finish(&self, kind: &str, body: Vec<u8>, thread: String) {
        let outcome = if kind == "ok" {
            postcard::from_bytes::<O>(&body).map_err(|e| {
                TaskError::WorkerDied(format!(
                    "the result does not decode ({e}): was its worker built from another \
                     version of this program?"
                ))
            })
        } else {
            let text = String::from_utf8_lossy(&body).into_owned();
            Err(
                local::decode_error(kind, text.clone(), thread).unwrap_or_else(|| {
                    TaskError::WorkerDied(format!(
                        "the worker sent a result of kind {kind:?}, unknown to this build: {text}"
                    ))
                }),
            )
        };
        self.complete(outcome);
    }

    fn fail(&self, error: TaskError) {
        self.complete(Err(error));
    }

    fn cancel_here(&self) -> bool {
        let promise = self.promise.lock();
        promise.as_ref().is_some_and(|p| p.try_cancel())
    }

    fn is_started(&self) -> bool {
        self.promise.lock().as_ref().is_some_and(|p| p.is_running())
    }
}
