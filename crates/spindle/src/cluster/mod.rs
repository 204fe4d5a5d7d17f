// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The process pool's tasks on workers on any number of machines, through Redis
//! Streams (Redis 6.2 or later, or Valkey): change the executor, not the code. Built
//! with the cargo feature `cluster`.
//!
//! The tasks are the ones registered with [`task!`](crate::task), submitted through
//! the same [`TaskHandle`](crate::process::TaskHandle); the caller gets the same
//! [`Future`](crate::futures::Future), [`as_completed`](crate::futures::as_completed),
//! [`wait`](crate::futures::wait()) and `map`. What Dask's `Client.submit` and mpi4py's
//! `MPIPoolExecutor` give Python, plus: results exactly once, a dead worker's tasks run
//! again elsewhere, and a crashing task contained to its own process.
//!
//! # A worker and a client
//!
//! One program can be both (the example `cluster_squares` is): a worker is
//! [`process::init`](crate::process::init) first in `main`, then
//! [`Worker::connect`]`(url)?.`[`run`](Worker::run)`()`; a client connects a
//! [`ClusterExecutor`] and submits.
//!
//! ```no_run
//! use spindle::cluster::{ClusterExecutor, Worker};
//! use spindle::futures::as_completed;
//!
//! spindle::task! {
//!     const SQUARE = fn square(x: u64) -> u64 { x * x }
//! }
//!
//! fn main() -> Result<(), spindle::cluster::ClusterError> {
//!     spindle::process::init(); // first: the worker's local processes are this program
//!     let url = "redis://127.0.0.1:6379";
//!     if std::env::args().nth(1).as_deref() == Some("worker") {
//!         return Worker::connect(url)?.run(); // until SIGTERM or Ctrl-C
//!     }
//!     let cluster = ClusterExecutor::connect(url)?;
//!     let futures: Vec<_> = (1..=10).map(|n| cluster.submit(SQUARE, n)).collect();
//!     let total: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
//!     assert_eq!(total, 385);
//!     Ok(())
//! }
//! ```
//!
//! # Pools
//!
//! A pool is the queue its executors and workers share. The default pool is the
//! program's file name and a fingerprint of its registered tasks (their names and
//! argument and result types), so the client and workers of one program meet, and a
//! worker of a build with other tasks, or other types, never takes its tasks. Name a
//! pool ([`ClusterBuilder::pool`], [`WorkerBuilder::pool`]) to share it between
//! programs that register the same tasks. Pools on one server never see each other's
//! tasks.
//!
//! # What happens when things fail
//!
//! Results arrive exactly once; a task runs at least once.
//!
//! | what happens                                     | the future gets                           | runs again? |
//! |--------------------------------------------------|-------------------------------------------|-------------|
//! | the task panics                                  | `Err(TaskError::Panicked(..))`            | no          |
//! | the task crashes its local process (abort, segfault, exit) | `Err(WorkerDied("killed by signal 6"))` at once | no |
//! | the task runs past its timeout                   | `Err(TaskError::Timeout)` (its process killed) | no     |
//! | the worker process is killed, its machine lost, its network cut | its lease runs out: another worker runs it | yes, up to `max_deliveries` starts |
//! | ... `max_deliveries` times                       | `Err(WorkerDied("... started 3 times ..."))` | no       |
//! | the worker gets SIGTERM or SIGINT                | its tasks finish; `run` returns `Ok(())`   | no          |
//! | the client's connection to Redis is lost         | `Err(TaskError::BrokenPool(..))`, naming the URL | -    |
//!
//! A task's side effects may therefore happen twice; its result is delivered once.
//!
//! # The protocol
//!
//! One stream of tasks per pool, read by one consumer group of workers; one hash per
//! task (state, start count, lease, holder); one result stream per client. Every key
//! of a pool carries the pool's hash tag, so the scripts stay valid on Redis Cluster.
//! Submit, start, finish, cancel, renew and reclaim are each one server-side script:
//! finish publishes a result only if this run still holds the task (its start count is
//! the fencing token), then acknowledges and deletes the entry.
//!
//! A worker takes only as many tasks as it has idle local processes. Its heartbeat
//! thread renews the lease of each task it holds a few times per lease, independent of
//! the task, which runs in another process. Live workers take over an entry whose
//! lease ran out (`XPENDING` + `XCLAIM`, atomically, in the reclaim script). The lease
//! is one setting per task, carried with it from the executor: never a fixed
//! visibility timeout that a long task could outlive.
//!
//! Result streams are trimmed as their client reads them and expire a day after their
//! last result; task records are deleted when their result is published (a queued
//! task's record expires after a week). Arguments over the frame limit (64 MiB by
//! default) are refused at once; results over it fail their task, with the process
//! pool's errors.
//!
//! # Security
//!
//! A password in the URL (`redis://:password@host:6379`, or `user:password@` with ACLs)
//! and TLS (`rediss://`, with `#insecure` to accept a self-signed certificate) work as
//! the `redis` crate supports them. Errors and status show the URL with its password
//! as `***`. Anyone who can write to the server can make every worker run any
//! registered task with any argument: Redis must not be reachable by untrusted clients.

mod client;
mod error;
mod finish;
mod keys;
mod lease;
mod local;
mod map;
mod reader;
mod scripts;
mod server;
mod signals;
mod status;
mod take;
mod task;
mod worker;

pub use client::{ClusterBuilder, ClusterExecutor};
pub use error::ClusterError;
pub use status::{PoolStatus, WorkerStatus, status};
pub use worker::{Worker, WorkerBuilder};
