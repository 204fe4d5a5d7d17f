// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The worker's serving loop: takes as many tasks as it has idle local processes, from
//! the pool's stream or from workers gone silent, starts each with the start script,
//! and hands it to a local process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Connection;

use super::error::ClusterError;
use super::finish::Finished;
use super::keys::GROUP;
use super::local::LocalPool;
use super::scripts::{self, Entry, SCRIPTS};
use super::signals;
use super::worker::{HeldTask, Serving, reconnect_window};

/// The longest one blocking read waits at the server: how soon a stop is noticed.
const BLOCK: Duration = Duration::from_millis(250);
/// The shortest pause between two reclaims.
const MIN_RECLAIM_GAP: Duration = Duration::from_millis(20);

/// Serves until a signal asks to stop or the server stays unreachable.
pub(crate) fn serve(
    serving: &Arc<Serving>,
    con: Connection,
    local: &Arc<LocalPool>,
    processes: usize,
) -> Result<(), ClusterError> {
    let mut link = Link {
        con: Some(con),
        lost_since: None,
    };
    let mut reclaim = Reclaim {
        due: Instant::now(),
        scan_from: "-".to_owned(),
    };
    while !signals::stop_requested() {
        let free = {
            let mut held = serving.held.lock();
            if let Some(e) = held.fatal.take() {
                return Err(e);
            }
            let mut free = held.reserve(processes);
            if free == 0 {
                // Every local process is busy: the finisher takes their next tasks.
                held.wait_timeout(BLOCK);
                free = held.reserve(processes);
            }
            free
        };
        if free == 0 {
            continue;
        }
        let taken = match link.con.as_mut() {
            Some(con) => take(serving, con, &mut reclaim, free),
            None => serving.reconnect().map(|c| {
                link.con = Some(c);
                Vec::new()
            }),
        };
        match taken {
            Ok(started) => {
                link.lost_since = None;
                run_started(serving, local, started, free);
            }
            Err(e) => {
                release(serving, free);
                link.lost(serving, e)?;
            }
        }
    }
    Ok(())
}

/// Gives back `reserved` local processes that no task was taken for.
pub(crate) fn release(serving: &Serving, reserved: usize) {
    serving.held.lock().reserved -= reserved;
    serving.held.notify_all();
}

/// The serving loop's connection, and since when the server has been unreachable.
struct Link {
    con: Option<Connection>,
    lost_since: Option<Instant>,
}

impl Link {
    /// The connection failed: drop it; an error once the server has been unreachable
    /// for the reconnect window.
    fn lost(&mut self, serving: &Serving, e: ClusterError) -> Result<(), ClusterError> {
        self.con = None;
        let since = *self.lost_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= reconnect_window(serving.lease) {
            return Err(e);
        }
        crate::thread::sleep(Duration::from_millis(200));
        Ok(())
    }
}

/// When to look for tasks of silent workers next, and where the last look stopped.
struct Reclaim {
    due: Instant,
    scan_from: String,
}

/// An entry the start script has ruled on: `verdict` "run" means run it now, as the
/// run numbered `token`, under a lease of `lease_ms` (0: the worker's own).
pub(crate) struct Started {
    entry: Entry,
    verdict: String,
    token: i64,
    lease_ms: u64,
}

/// Up to `free` tasks, started: reclaimed ones when a reclaim is due, else new ones.
fn take(
    serving: &Serving,
    con: &mut Connection,
    reclaim: &mut Reclaim,
    free: usize,
) -> Result<Vec<Started>, ClusterError> {
    let now = Instant::now();
    if now >= reclaim.due {
        let (claimed, next_in, scan_from) = reclaim_once(serving, con, free, &reclaim.scan_from)?;
        let more_to_scan = scan_from != "-";
        reclaim.scan_from = scan_from;
        let pause = match next_in {
            _ if more_to_scan => MIN_RECLAIM_GAP,
            Some(ms) => Duration::from_millis(ms).clamp(MIN_RECLAIM_GAP, serving.lease / 2),
            None => serving.lease / 2,
        };
        reclaim.due = now + pause;
        if !claimed.is_empty() {
            return start_entries(serving, con, claimed);
        }
    }
    // Busy: the next entries, read and started in one round trip.
    let taken = take_now(serving, con, free)?;
    if !taken.is_empty() {
        return Ok(taken);
    }
    // Idle: wait at the server for an entry (until the next reclaim is due).
    let block = reclaim
        .due
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(1), BLOCK);
    let reply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg(&serving.consumer)
        .arg("COUNT")
        .arg(free)
        .arg("BLOCK")
        .arg(block.as_millis() as u64)
        .arg("STREAMS")
        .arg(serving.keys.tasks())
        .arg(">")
        .query::<redis::Value>(con)
        .map_err(|e| serving.server.failed("reading the task stream", e))?;
    start_entries(serving, con, scripts::read_reply(reply))
}

/// The take script: up to `free` new entries, each started.
fn take_now(
    serving: &Serving,
    con: &mut Connection,
    free: usize,
) -> Result<Vec<Started>, ClusterError> {
    let cmd = take_cmd(serving, free);
    let mut reply = cmd.query::<redis::Value>(con);
    if reply.as_ref().is_err_and(scripts::is_noscript) {
        reply = SCRIPTS.load(con).and_then(|()| cmd.query(con));
    }
    let reply = reply.map_err(|e| serving.server.failed("taking tasks", e))?;
    Ok(parse_taken(reply))
}

/// The take script's call (for a pipeline: the scripts are loaded).
pub(crate) fn take_cmd(serving: &Serving, free: usize) -> redis::Cmd {
    let (free, ttl) = (free.to_string(), scripts::RESULT_TTL_MS.to_string());
    scripts::evalsha(
        &SCRIPTS.take,
        &[&serving.keys.tasks(), &serving.keys.counts()],
        &[
            GROUP.as_bytes(),
            serving.consumer.as_bytes(),
            free.as_bytes(),
            ttl.as_bytes(),
            serving.keys.task_prefix().as_bytes(),
        ],
    )
}

/// The take script's reply: per entry, `{id, fields, verdict, starts, lease_ms}`.
pub(crate) fn parse_taken(reply: redis::Value) -> Vec<Started> {
    scripts::items(reply)
        .into_iter()
        .filter_map(|one| {
            let mut parts = scripts::items(one).into_iter();
            let id = parts.next()?;
            let fields = parts.next()?;
            let entry = scripts::entries(redis::Value::Array(vec![redis::Value::Array(vec![
                id, fields,
            ])]))
            .pop()?;
            Some(verdict(entry, parts.collect()))
        })
        .collect()
}

/// What the start script said about `entry`: `{verdict, starts, lease_ms}`.
fn verdict(entry: Entry, said: Vec<redis::Value>) -> Started {
    let mut said = said.into_iter();
    Started {
        entry,
        verdict: said.next().map(|v| scripts::text(&v)).unwrap_or_default(),
        token: said.next().as_ref().and_then(scripts::int).unwrap_or(0),
        lease_ms: said
            .next()
            .as_ref()
            .and_then(scripts::int)
            .and_then(|ms| u64::try_from(ms).ok())
            .unwrap_or(0),
    }
}

/// One reclaim: the entries claimed, the milliseconds until the next lease seen runs
/// out, and where the next scan starts.
fn reclaim_once(
    serving: &Serving,
    con: &mut Connection,
    max: usize,
    scan_from: &str,
) -> Result<(Vec<Entry>, Option<u64>, String), ClusterError> {
    let reply = SCRIPTS
        .reclaim
        .key(serving.keys.tasks())
        .key(serving.keys.counts())
        .key(serving.keys.workers())
        .arg(GROUP)
        .arg(&serving.consumer)
        .arg(max)
        .arg(scan_from)
        .arg(serving.keys.task_prefix())
        .arg(scripts::RECLAIM_SCAN)
        .arg(serving.lease.as_millis() as u64)
        .invoke::<redis::Value>(con)
        .map_err(|e| {
            serving
                .server
                .failed("reclaiming tasks of silent workers", e)
        })?;
    let mut parts = scripts::items(reply).into_iter();
    let claimed = parts.next().map(scripts::entries).unwrap_or_default();
    let next_in = parts
        .next()
        .as_ref()
        .and_then(scripts::int)
        .and_then(|ms| u64::try_from(ms).ok());
    let scan_from = parts
        .next()
        .map(|v| scripts::text(&v))
        .unwrap_or_else(|| "-".to_owned());
    Ok((claimed, next_in, scan_from))
}

/// Starts each entry with the start script, one round trip for all.
fn start_entries(
    serving: &Serving,
    con: &mut Connection,
    entries: Vec<Entry>,
) -> Result<Vec<Started>, ClusterError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let tasks_key = serving.keys.tasks();
    let counts = serving.keys.counts();
    let ttl = scripts::RESULT_TTL_MS.to_string();
    let mut pipe = redis::pipe();
    for entry in &entries {
        let id = entry.field_text("id");
        let reply = entry.field_text("reply");
        pipe.add_command(scripts::evalsha(
            &SCRIPTS.start,
            &[&tasks_key, &serving.keys.task(&id), &reply, &counts],
            &[
                entry.id.as_bytes(),
                serving.consumer.as_bytes(),
                GROUP.as_bytes(),
                id.as_bytes(),
                ttl.as_bytes(),
            ],
        ));
    }
    let mut replies = pipe.query::<Vec<redis::Value>>(con);
    if replies.as_ref().is_err_and(scripts::is_noscript) {
        replies = SCRIPTS.load(con).and_then(|()| pipe.query(con));
    }
    let replies = replies.map_err(|e| serving.server.failed("starting tasks", e))?;
    Ok(entries
        .into_iter()
        .zip(replies)
        .map(|(entry, said)| verdict(entry, scripts::items(said)))
        .collect())
}

/// Hands each task the start script said to run to the local pool, and gives back the
/// `reserved` processes (now held, or idle again). Each outcome goes to the finisher.
pub(crate) fn run_started(
    serving: &Arc<Serving>,
    local: &LocalPool,
    started: Vec<Started>,
    reserved: usize,
) {
    let mut runs = Vec::new();
    {
        let mut held = serving.held.lock();
        for Started {
            mut entry,
            verdict,
            token,
            lease_ms,
        } in started
        {
            if verdict != "run" {
                continue; // cancelled, expired, exhausted: the script has dealt with it
            }
            let lease = match lease_ms {
                0 => serving.lease,
                ms => Duration::from_millis(ms),
            };
            let chunk = entry
                .field_text("chunk")
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0);
            let timeout = entry
                .field_text("timeout")
                .parse::<u64>()
                .ok()
                .filter(|&ms| ms > 0)
                .map(Duration::from_millis);
            // Held before it runs: its outcome, however fast, finds it.
            held.tasks.insert(
                entry.id.clone(),
                HeldTask {
                    id: entry.field_text("id"),
                    token,
                    lease,
                    reply: entry.field_text("reply"),
                },
            );
            let name = entry.field_text("task");
            let arg = entry.take_field("arg");
            runs.push((entry.id, name, arg, chunk, timeout));
        }
        held.reserved -= reserved;
    }
    serving.held.notify_all();
    for (entry, name, arg, chunk, timeout) in runs {
        let future = local.run(&name, &arg, chunk, timeout);
        let serving = Arc::clone(serving);
        future.add_done_callback(move |outcome| {
            let outcome = match outcome {
                Ok(result) => Ok(result.0.clone()),
                Err(e) => Err(e.clone()),
            };
            serving
                .held
                .lock()
                .outcomes
                .push(Finished { entry, outcome });
            serving.held.notify_all();
        });
    }
}
