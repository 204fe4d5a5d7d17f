// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! A cluster task as its client sees it: the future's state, which the client's reader
//! thread completes when the task's result arrives, and a `cancel` that asks the
//! server, where it is decided whether a worker has started the task.

use std::sync::{Arc, Weak};

use serde::de::DeserializeOwned;

use super::client::Shared;
use super::local;
use crate::futures::{Core, Future, HoldsCore, TaskError, TaskInfo, next_task_id};
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

/// One task's future state, with what its `cancel` needs to reach the server.
pub(crate) struct ClusterTask<O> {
    core: Core<O>,
    seq: u64,
    client: Weak<Shared>,
}

impl<O: DeserializeOwned + Send + 'static> ClusterTask<O> {
    /// A pending task numbered `seq` by its client, and its future.
    pub(crate) fn new(shared: &Arc<Shared>, seq: u64) -> (Arc<ClusterTask<O>>, Future<O>) {
        let info = TaskInfo::new(next_task_id(), Arc::clone(shared.origin()));
        let task = Arc::new(ClusterTask {
            core: Core::new(info),
            seq,
            client: Arc::downgrade(shared),
        });
        let future = Future::from_cell(Arc::clone(&task) as Arc<dyn HoldsCore<O>>);
        (task, future)
    }

    /// The id trace events and [`Future::task_id`] use.
    pub(crate) fn trace_id(&self) -> u64 {
        self.core.task.id
    }

    fn complete(&self, outcome: Result<O, TaskError>) {
        let (task, ok) = (self.core.task.id, outcome.is_ok());
        trace::emit(|| EventKind::TaskFinished { task, ok });
        self.core.set_result(outcome);
    }
}

impl<O: DeserializeOwned + Send + 'static> Pending for ClusterTask<O> {
    fn started(&self) {
        if self.core.is_running() || self.core.is_done() {
            return;
        }
        if self.core.set_running_or_notify_cancel() {
            // It runs on another machine: no thread here answers for it.
            self.core.task.set_runner(0);
            let task = self.core.task.id;
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
        self.core.cancel()
    }

    fn is_started(&self) -> bool {
        self.core.is_running()
    }
}

impl<O: DeserializeOwned + Send + 'static> HoldsCore<O> for ClusterTask<O> {
    fn core(&self) -> &Core<O> {
        &self.core
    }

    /// Python's rule, decided at the server: only a task no worker has started is
    /// cancelled, even if this client has not yet heard that it started.
    fn cancel(&self) -> bool {
        if self.core.is_cancelled() {
            return true;
        }
        if self.core.is_done() || self.core.is_running() {
            return false;
        }
        match self.client.upgrade() {
            Some(shared) => shared.cancel(self.seq),
            None => false,
        }
    }
}
