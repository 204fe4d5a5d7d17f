// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The worker's heartbeat thread: renews the lease of every task the worker holds, a
//! few times per lease, independent of the tasks themselves (they run in other
//! processes) and of the thread that takes tasks.
//!
//! A renewal resets the idle time of the task's stream entry, but only while this
//! worker still owns the entry (the renew script checks); a task that another worker
//! took over stays lost, and its finish here will be discarded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Connection;

use super::worker::Serving;
use crate::thread::{JoinHandle, Thread};

/// Renewals per lease: a lease survives two missed beats.
const BEATS_PER_LEASE: u32 = 3;

pub(crate) fn start(serving: Arc<Serving>) -> JoinHandle<()> {
    Thread::new(move || run(&serving))
        .name("cluster-worker-heartbeat")
        .daemon(true)
        .start()
        .expect("cannot start the cluster worker's heartbeat thread")
}

/// How often the thread looks at what it holds: a task with a short lease, newly
/// taken, is renewed in time even while the others' leases are long.
const LOOK_EVERY: Duration = Duration::from_millis(100);

fn run(serving: &Serving) {
    let mut con: Option<Connection> = None;
    let mut last_beat = Instant::now();
    loop {
        let (entries, shortest) = {
            let held = serving.held.lock();
            let shortest = held
                .tasks
                .values()
                .map(|t| t.lease)
                .min()
                .unwrap_or(serving.lease)
                .min(serving.lease);
            (held.tasks.keys().cloned().collect::<Vec<_>>(), shortest)
        };
        let interval = shortest / BEATS_PER_LEASE;
        if last_beat.elapsed() >= interval {
            last_beat = Instant::now();
            if con.is_none() {
                con = serving.reconnect().ok();
            }
            if let Some(c) = con.as_mut() {
                if serving.beat(c, &entries).is_err() {
                    con = None; // tried again next beat, on a new connection
                }
            }
        }
        if serving.stop_beating.wait_timeout(interval.min(LOOK_EVERY)) {
            return;
        }
    }
}
