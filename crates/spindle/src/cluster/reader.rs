// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The client's reader thread: it reads the client's result stream and completes the
//! futures, trimming what it has read so the stream never grows.

use std::sync::Arc;

use redis::Connection;

use super::client::Shared;
use super::scripts::{self, Entry};
use super::server::REPLY_TIMEOUT;
use crate::futures::TaskError;
use crate::thread::{JoinHandle, Thread};

/// How long one blocking read waits at the server before it looks at the table again.
const BLOCK_MS: u64 = 1000;
/// Entries read per round trip.
const BATCH: usize = 1000;

/// Starts the reader of `shared`'s results on `con`.
pub(crate) fn start(shared: Arc<Shared>, con: Connection) -> JoinHandle<()> {
    Thread::new(move || run(&shared, con))
        .name("cluster-result-reader")
        .daemon(true)
        .start()
        .expect("cannot start the cluster result reader thread")
}

fn run(shared: &Shared, mut con: Connection) {
    // A blocking read may take BLOCK_MS at the server before its reply.
    let _ = con.set_read_timeout(Some(
        REPLY_TIMEOUT + std::time::Duration::from_millis(BLOCK_MS),
    ));
    let mut last = "0-0".to_owned();
    let mut trim_below: Option<String> = None;
    loop {
        {
            let table = shared.table.lock();
            if table.shutdown && table.waiting.is_empty() {
                return;
            }
        }
        let mut pipe = redis::pipe();
        if let Some(threshold) = trim_below.take() {
            pipe.cmd("XTRIM")
                .arg(&shared.results)
                .arg("MINID")
                .arg(threshold)
                .ignore();
        }
        pipe.cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&shared.results)
            .arg(&last);
        let reply = match pipe.query::<Vec<redis::Value>>(&mut con) {
            Ok(mut replies) => replies.pop().unwrap_or(redis::Value::Nil),
            Err(e) => {
                let error = TaskError::BrokenPool(format!(
                    "lost the connection to the cluster's server: {}",
                    shared.server.failed("waiting for results", e)
                ));
                shared.fail_all(&error);
                return;
            }
        };
        let entries = scripts::read_reply(reply);
        if let Some(entry) = entries.last() {
            last = entry.id.clone();
            trim_below = Some(next_id(&last));
        }
        for entry in entries {
            deliver(shared, entry);
        }
    }
}

/// Hands one result entry to its task.
fn deliver(shared: &Shared, mut entry: Entry) {
    let kind = entry.field_text("kind");
    if kind == "wake" {
        return;
    }
    let id = entry.field_text("id");
    let Some(seq) = id.rsplit(':').next().and_then(|s| s.parse::<u64>().ok()) else {
        return;
    };
    if kind == "started" {
        let task = shared.table.lock().waiting.get(&seq).cloned();
        if let Some(task) = task {
            task.started();
        }
        return;
    }
    // Removed before it completes: a task is completed once, by whoever removes it.
    let task = {
        let mut table = shared.table.lock();
        let task = table.waiting.remove(&seq);
        if table.waiting.is_empty() {
            shared.table.notify_all();
        }
        task
    };
    if let Some(task) = task {
        let body = entry.take_field("body");
        let thread = entry.field_text("thread");
        task.finish(&kind, body, thread);
    }
}

/// The smallest stream id after `id` (`ms-seq` → `ms-(seq+1)`): trimming below it
/// removes `id` and everything before.
fn next_id(id: &str) -> String {
    match id.split_once('-') {
        Some((ms, seq)) => match seq.parse::<u64>() {
            Ok(seq) => format!("{ms}-{}", seq + 1),
            Err(_) => id.to_owned(),
        },
        None => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::next_id;

    #[test]
    fn the_id_after_is_one_sequence_number_on() {
        assert_eq!(next_id("1700000000000-0"), "1700000000000-1");
        assert_eq!(next_id("5-41"), "5-42");
    }
}
