//! `spindle cluster`: tasks on many machines through Redis (`spindle::cluster`).
//!
//! * `status.rs`: `spindle cluster status URL [--pool NAME] [--json]`.
//! * `worker.rs`: the hidden `__cluster-worker` role, a worker of the demonstration.
//! * `demo.rs`: the demonstration that remote concurrency loses nothing: two worker
//!   processes that share only a Redis server, one SIGKILLed mid-task, every result
//!   arriving once (shown by `spindle lab remote`).
//! * `local_redis.rs`: a throwaway `redis-server` for the demonstration.
//! * `child.rs`: how the demonstration starts its children (out of the terminal's
//!   Ctrl-C, dying with the thread that started them).

mod child;
pub mod demo;
mod local_redis;
pub mod status;
pub mod worker;
