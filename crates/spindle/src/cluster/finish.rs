// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The worker's finisher thread: publishes each finished task's outcome with the
//! finish script, many per round trip, and in the same round trip takes the next tasks
//! for the local processes those outcomes freed (the take script), so that a busy
//! worker goes from one task to the next in one round trip. A finish whose run lost
//! its lease is discarded by the script; one the server could not hear is tried again
//! until the server has been gone for the reconnect window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Connection;

use super::keys::GROUP;
use super::local::{self, LocalPool};
use super::scripts::{self, SCRIPTS};
use super::signals;
use super::take::{self, parse_taken, run_started, take_cmd};
use super::worker::{HeldTask, Serving, reconnect_window};
use crate::futures::TaskError;
use crate::thread::{JoinHandle, Thread};

/// A local process finished the task of stream entry `entry`.
pub(crate) struct Finished {
    pub(crate) entry: String,
    pub(crate) outcome: Result<Vec<u8>, TaskError>,
}

/// Outcomes published per round trip, at most.
const BATCH: usize = 256;

pub(crate) fn start(
    serving: Arc<Serving>,
    local: Arc<LocalPool>,
    processes: usize,
) -> JoinHandle<()> {
    Thread::new(move || run(&serving, &local, processes))
        .name("cluster-worker-finisher")
        .daemon(true)
        .start()
        .expect("cannot start the cluster worker's finisher thread")
}

/// Publishes outcomes as they come, until the worker stops and holds nothing.
fn run(serving: &Arc<Serving>, local: &LocalPool, processes: usize) {
    let mut con: Option<Connection> = None;
    loop {
        let (batch, free) = {
            let mut held = serving.held.lock();
            while held.outcomes.is_empty() {
                if held.stopping && held.tasks.is_empty() {
                    return;
                }
                held.wait_timeout(Duration::from_millis(500));
            }
            let n = held.outcomes.len().min(BATCH);
            let batch: Vec<Finished> = held.outcomes.drain(..n).collect();
            // The processes these outcomes free, taken for again right away.
            let finishing = batch
                .iter()
                .filter(|f| held.tasks.contains_key(&f.entry))
                .count();
            let free = if held.stopping || signals::stop_requested() {
                0
            } else {
                processes.saturating_sub(held.tasks.len() - finishing + held.reserved)
            };
            held.reserved += free;
            (batch, free)
        };
        publish(serving, &mut con, local, batch, free);
    }
}

/// Publishes `batch` and takes up to `free` new tasks, in one round trip, retrying
/// through lost connections; then lets the finished tasks go and runs the new ones.
fn publish(
    serving: &Arc<Serving>,
    con: &mut Option<Connection>,
    local: &LocalPool,
    batch: Vec<Finished>,
    free: usize,
) {
    let mut pipe = redis::pipe();
    {
        let mut held = serving.held.lock();
        if held.gone {
            for f in &batch {
                held.tasks.remove(&f.entry);
            }
            held.reserved -= free;
            drop(held);
            serving.held.notify_all();
            return;
        }
        for f in &batch {
            if let Some(task) = held.tasks.get(&f.entry) {
                pipe.add_command(finish_cmd(serving, &f.entry, task, &f.outcome));
            }
        }
    }
    if free > 0 {
        pipe.add_command(take_cmd(serving, free));
    }
    let give_up = Instant::now() + reconnect_window(serving.lease);
    let replies = loop {
        let sent = match con.as_mut() {
            Some(c) => {
                let mut sent = pipe.query::<Vec<redis::Value>>(c);
                if sent.as_ref().is_err_and(scripts::is_noscript) {
                    sent = SCRIPTS.load(c).and_then(|()| pipe.query(c));
                }
                sent.map_err(|e| serving.server.failed("publishing results", e))
            }
            None => match serving.reconnect() {
                Ok(c) => {
                    *con = Some(c);
                    continue;
                }
                Err(e) => Err(e),
            },
        };
        match sent {
            Ok(replies) => break Some(replies),
            Err(e) => {
                *con = None;
                if Instant::now() >= give_up {
                    let mut held = serving.held.lock();
                    held.fatal.get_or_insert(e);
                    held.gone = true;
                    break None;
                }
                crate::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    {
        let mut held = serving.held.lock();
        for f in &batch {
            held.tasks.remove(&f.entry);
        }
    }
    serving.held.notify_all();
    match replies {
        Some(mut replies) if free > 0 => {
            let taken = replies.pop().map(parse_taken).unwrap_or_default();
            run_started(serving, local, taken, free);
        }
        _ => take::release(serving, free),
    }
}

/// The finish script's call for one outcome.
fn finish_cmd(
    serving: &Serving,
    entry: &str,
    task: &HeldTask,
    outcome: &Result<Vec<u8>, TaskError>,
) -> redis::Cmd {
    let (kind, body, thread): (&str, Vec<u8>, String) = match outcome {
        Ok(bytes) => ("ok", bytes.clone(), String::new()),
        Err(e) => {
            let (kind, text, thread) = local::encode_error(e);
            let thread = if thread.is_empty() {
                thread
            } else {
                format!("{thread} of cluster worker {}", serving.consumer)
            };
            (kind, text.into_bytes(), thread)
        }
    };
    let record = serving.keys.task(&task.id);
    let token = task.token.to_string();
    let ttl = scripts::RESULT_TTL_MS.to_string();
    scripts::evalsha(
        &SCRIPTS.finish,
        &[
            &serving.keys.tasks(),
            &record,
            &task.reply,
            &serving.keys.counts(),
        ],
        &[
            entry.as_bytes(),
            serving.consumer.as_bytes(),
            GROUP.as_bytes(),
            task.id.as_bytes(),
            ttl.as_bytes(),
            token.as_bytes(),
            kind.as_bytes(),
            &body,
            thread.as_bytes(),
        ],
    )
}
