//! The worker's finisher thread: publishes each finished task's outcome with the
//! finish script, many per round trip. A finish whose run lost its lease is discarded
//! by the script; one the server could not hear is tried again until the server has
//! been gone for the reconnect window.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redis::Connection;

use super::keys::GROUP;
use super::local;
use super::scripts::{self, SCRIPTS};
use super::worker::{Serving, reconnect_window};
use crate::futures::TaskError;
use crate::thread::{JoinHandle, Thread};

/// A local process finished the task of stream entry `entry`.
pub(crate) struct Finished {
    pub(crate) entry: String,
    pub(crate) outcome: Result<Vec<u8>, TaskError>,
}

/// Outcomes published per round trip, at most.
const BATCH: usize = 256;

pub(crate) fn start(serving: Arc<Serving>, done: Receiver<Finished>) -> JoinHandle<()> {
    Thread::new(move || run(&serving, &done))
        .name("cluster-worker-finisher")
        .daemon(true)
        .start()
        .expect("cannot start the cluster worker's finisher thread")
}

fn run(serving: &Serving, done: &Receiver<Finished>) {
    let mut con: Option<Connection> = None;
    loop {
        let first = match done.recv_timeout(Duration::from_millis(500)) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match done.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        publish(serving, &mut con, batch);
    }
}

/// Publishes `batch`, retrying through lost connections; then lets its tasks go.
fn publish(serving: &Serving, con: &mut Option<Connection>, batch: Vec<Finished>) {
    let cmds: Vec<redis::Cmd> = {
        let held = serving.held.lock();
        batch
            .iter()
            .filter_map(|f| {
                Some(finish_cmd(
                    serving,
                    &f.entry,
                    held.tasks.get(&f.entry)?,
                    &f.outcome,
                ))
            })
            .collect()
    };
    let give_up = Instant::now() + reconnect_window(serving.lease);
    loop {
        let sent = match con.as_mut() {
            Some(c) => {
                let mut pipe = redis::pipe();
                for cmd in &cmds {
                    pipe.add_command(cmd.clone());
                }
                let mut sent = pipe.query::<Vec<redis::Value>>(c);
                if sent.as_ref().is_err_and(scripts::is_noscript) {
                    sent = SCRIPTS.load(c).and_then(|()| pipe.query(c));
                }
                sent.map_err(|e| serving.server.failed("publishing results", e))
            }
            None => serving.reconnect().map(|c| {
                *con = Some(c);
                Vec::new()
            }),
        };
        match sent {
            Ok(replies) if con.is_some() && (replies.len() == cmds.len()) => break,
            Ok(_) => continue, // just connected: send now
            Err(e) => {
                *con = None;
                if Instant::now() >= give_up {
                    serving.held.lock().fatal.get_or_insert(e);
                    break;
                }
                crate::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    let mut held = serving.held.lock();
    for f in &batch {
        held.tasks.remove(&f.entry);
    }
    drop(held);
    serving.held.notify_all();
}

/// The finish script's call for one outcome.
fn finish_cmd(
    serving: &Serving,
    entry: &str,
    task: &super::worker::HeldTask,
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
