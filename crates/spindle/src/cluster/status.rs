// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! What a server's pools are doing: their workers, and their tasks queued, running
//! and done. Read-only; `spindle cluster status` prints it.

use std::time::Duration;

use redis::Connection;
use serde::Serialize;

use super::error::ClusterError;
use super::keys::{self, GROUP, Keys};
use super::scripts;
use super::server::Server;

/// One pool on a server, as [`status`] reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PoolStatus {
    /// The pool's name.
    pub pool: String,
    /// Its workers, by name.
    pub workers: Vec<WorkerStatus>,
    /// Tasks in the stream that no worker has taken.
    pub queued: u64,
    /// Tasks a worker has taken and not finished (running, or about to).
    pub running: u64,
    /// Tasks whose result was published (values and errors alike).
    pub done: u64,
    /// Tasks ever submitted.
    pub submitted: u64,
    /// Tasks cancelled before any worker started them.
    pub cancelled: u64,
    /// Tasks that failed with `WorkerDied` after `max_deliveries` starts.
    pub failed_after_max_deliveries: u64,
    /// Times a worker took over a task whose holder stopped renewing its lease.
    pub taken_over: u64,
    /// Results a worker finished after losing the task's lease, discarded (the task's
    /// result came, once, from the run that held it).
    pub late_results_discarded: u64,
}

/// One worker of a pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WorkerStatus {
    /// The worker's name in the pool (`host:pid:nonce`).
    pub name: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u64,
    /// Its local worker processes.
    pub processes: u64,
    /// Tasks it holds now.
    pub tasks_held: u64,
    /// Seconds since its last heartbeat, by the server's clock (a live worker beats a
    /// few times per lease).
    pub seconds_since_heartbeat: f64,
}

/// The pools on the server at `url` (only `pool`, if given), sorted by name: their
/// workers and task counts. Fails within 5 s, naming the URL, if nothing answers there.
///
/// ```
/// let err = spindle::cluster::status("redis://127.0.0.1:1", None).unwrap_err();
/// assert!(err.to_string().contains("redis://127.0.0.1:1"));
/// ```
pub fn status(url: &str, pool: Option<&str>) -> Result<Vec<PoolStatus>, ClusterError> {
    let server = Server::open(url)?;
    let mut con = server.connect_checked()?;
    let mut names: Vec<String> = match pool {
        Some(p) => vec![p.to_owned()],
        None => redis::cmd("SMEMBERS")
            .arg(keys::POOLS)
            .query(&mut con)
            .map_err(|e| server.failed("listing the pools", e))?,
    };
    names.sort();
    let now_ms = server_ms(&server, &mut con)?;
    let mut pools = Vec::new();
    for name in names {
        let keys = Keys::new(&name)?;
        let exists: bool = redis::cmd("EXISTS")
            .arg(keys.tasks())
            .query(&mut con)
            .map_err(|e| server.failed("reading a pool", e))?;
        if exists || pool.is_some() {
            pools.push(read_pool(&server, &mut con, &keys, now_ms)?);
        }
    }
    Ok(pools)
}

fn server_ms(server: &Server, con: &mut Connection) -> Result<u64, ClusterError> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME")
        .query(con)
        .map_err(|e| server.failed("reading the server's clock", e))?;
    Ok(secs * 1000 + micros / 1000)
}

fn read_pool(
    server: &Server,
    con: &mut Connection,
    keys: &Keys,
    now_ms: u64,
) -> Result<PoolStatus, ClusterError> {
    let failed = |e| server.failed("reading a pool", e);
    let mut pipe = redis::pipe();
    pipe.cmd("XLEN").arg(keys.tasks());
    pipe.cmd("HGETALL").arg(keys.counts());
    pipe.cmd("HGETALL").arg(keys.workers());
    type Counts = Vec<(String, u64)>;
    type Infos = Vec<(String, String)>;
    let (len, counts, workers): (u64, Counts, Infos) = pipe.query(con).map_err(failed)?;
    // The summary form: [count, first, last, [[consumer, count], ...]]; an error when
    // the stream or group does not exist.
    let summary: redis::Value = redis::cmd("XPENDING")
        .arg(keys.tasks())
        .arg(GROUP)
        .query(con)
        .unwrap_or(redis::Value::Nil);
    let mut summary = scripts::items(summary).into_iter();
    let running = summary.next().as_ref().and_then(scripts::int).unwrap_or(0) as u64;
    let held: Vec<(String, u64)> = summary
        .nth(2)
        .map(scripts::items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|pair| {
            let mut pair = scripts::items(pair).into_iter();
            let name = scripts::text(&pair.next()?);
            let n = scripts::int(&pair.next()?)? as u64;
            Some((name, n))
        })
        .collect();
    let count = |name: &str| {
        counts
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    };
    let mut workers: Vec<WorkerStatus> = workers
        .into_iter()
        .map(|(name, info)| {
            let info: serde_json::Value = serde_json::from_str(&info).unwrap_or_default();
            let field = |f: &str| info.get(f).and_then(serde_json::Value::as_u64).unwrap_or(0);
            let beat = field("beat_ms");
            WorkerStatus {
                tasks_held: held.iter().find(|(n, _)| *n == name).map_or(0, |(_, n)| *n),
                host: info
                    .get("host")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?")
                    .to_owned(),
                pid: field("pid"),
                processes: field("processes"),
                seconds_since_heartbeat: Duration::from_millis(now_ms.saturating_sub(beat))
                    .as_secs_f64(),
                name,
            }
        })
        .collect();
    workers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(PoolStatus {
        pool: keys.pool().to_owned(),
        workers,
        queued: len.saturating_sub(running),
        running,
        done: count("done"),
        submitted: count("submitted"),
        cancelled: count("cancelled"),
        failed_after_max_deliveries: count("exhausted"),
        taken_over: count("taken_over"),
        late_results_discarded: count("discarded"),
    })
}
