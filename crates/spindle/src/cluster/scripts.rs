// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The protocol's atomic steps, each one server-side Lua script: submit, start (or
//! take: read and start), finish, cancel, renew and reclaim. Each runs whole or not at all, so no interleaving of
//! workers, clients and failures can publish a task's result twice.
//!
//! A task's record (`spindle:{P}:task:<id>`) moves through these states:
//!
//! | state       | set by                         | next                                    |
//! |-------------|--------------------------------|-----------------------------------------|
//! | `queued`    | submit; reclaim (lease lost)   | `running` (start), `cancelled` (cancel, only if never started) |
//! | `running`   | start (`starts` + 1, `worker`) | gone (finish publishes the result), `queued` (reclaim) |
//! | `cancelled` | cancel                         | gone (expires; a worker holding its entry acknowledges it) |
//!
//! `starts` is also the fencing token of a run: finish publishes only if the record is
//! still `running`, with the same `starts` and `worker` as when this run started.
//! A worker that lost its lease (stopped, cut off) and comes back finds its token
//! stale, and its result is discarded. Start refuses a task past `max` starts and
//! publishes `WorkerDied` for it instead.
//!
//! Scripts touch only keys of one pool (one hash tag). Start, finish and cancel are
//! given every key they touch; reclaim reads task records found through stream
//! entries, in the same slot.

use std::sync::LazyLock;

use redis::{Connection, Script, Value};

/// Records and result streams outlive their readers by at most this long.
pub(crate) const RESULT_TTL_MS: u64 = 24 * 3600 * 1000;
/// A queued task's record lives this long (a task nobody takes for a week fails).
pub(crate) const TASK_TTL_MS: u64 = 7 * 24 * 3600 * 1000;
/// A cancelled task's tombstone, for a worker that took its entry before the cancel.
pub(crate) const CANCELLED_TTL_MS: u64 = 3600 * 1000;
/// Pending entries a reclaim looks at per call (it pages through the rest).
pub(crate) const RECLAIM_SCAN: usize = 100;

const SUBMIT: &str = r"
-- KEYS: tasks, record, counts. ARGV: id, task, arg, chunk, timeout_ms, reply, lease_ms,
-- max_deliveries, record_ttl_ms
local entry = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'task', ARGV[2], 'arg', ARGV[3],
  'chunk', ARGV[4], 'timeout', ARGV[5], 'reply', ARGV[6])
redis.call('HSET', KEYS[2], 'state', 'queued', 'starts', 0, 'lease', ARGV[7], 'max', ARGV[8],
  'reply', ARGV[6], 'entry', entry)
redis.call('PEXPIRE', KEYS[2], ARGV[9])
redis.call('HINCRBY', KEYS[3], 'submitted', 1)
return entry
";

/// The start step as a Lua function, shared by START (one entry) and TAKE (the next
/// entries of the stream, read and started in one call).
macro_rules! start_fn {
    () => {
        r"
-- Starts the task of stream entry `entry` (record key `record`) for `worker`:
-- returns {verdict, starts, lease_ms}; only 'run' means the caller runs the task.
local function start(tasks, record, reply, counts, entry, worker, group, id, ttl)
  local st = redis.call('HMGET', record, 'state', 'starts', 'max', 'worker', 'lease')
  local function retire()
    redis.call('XACK', tasks, group, entry)
    redis.call('XDEL', tasks, entry)
  end
  local function publish(kind, body)
    redis.call('XADD', reply, '*', 'id', id, 'kind', kind, 'body', body)
    redis.call('PEXPIRE', reply, ttl)
  end
  if not st[1] then
    retire()
    publish('died', 'the task record expired at the server before a worker started it')
    redis.call('HINCRBY', counts, 'done', 1)
    return {'gone', 0, 0}
  end
  if st[1] == 'cancelled' then
    retire()
    return {'cancelled', 0, 0}
  end
  if st[1] ~= 'queued' then
    return {'held', 0, 0}
  end
  local starts = tonumber(st[2]) + 1
  if starts > tonumber(st[3]) then
    retire()
    publish('died', 'the task was started ' .. st[2] .. ' times (max_deliveries) and each ' ..
      'time its worker stopped renewing its lease; the last was ' .. (st[4] or 'unknown'))
    redis.call('DEL', record)
    redis.call('HINCRBY', counts, 'exhausted', 1)
    redis.call('HINCRBY', counts, 'done', 1)
    return {'exhausted', 0, 0}
  end
  redis.call('HSET', record, 'state', 'running', 'starts', starts, 'worker', worker)
  publish('started', '')
  redis.call('HINCRBY', counts, 'started', 1)
  return {'run', starts, st[5]}
end
"
    };
}

const START: &str = concat!(
    start_fn!(),
    r"
-- KEYS: tasks, record, reply, counts. ARGV: entry, worker, group, id, result_ttl_ms
return start(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
"
);

const TAKE: &str = concat!(
    start_fn!(),
    r"
-- KEYS: tasks, counts. ARGV: group, worker, count, result_ttl_ms, record_prefix
-- Reads up to `count` new entries (without blocking) and starts each: returns, per
-- entry, {entry id, fields, verdict, starts, lease_ms}. The records and reply streams
-- are found through the entries' fields, in the pool's slot.
local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', tonumber(ARGV[3]),
  'STREAMS', KEYS[1], '>')
local out = {}
if not read then return out end
for _, e in ipairs(read[1][2]) do
  local fields, id, reply = e[2], '', ''
  for j = 1, #fields, 2 do
    if fields[j] == 'id' then id = fields[j + 1] end
    if fields[j] == 'reply' then reply = fields[j + 1] end
  end
  local v = start(KEYS[1], ARGV[5] .. id, reply, KEYS[2], e[1], ARGV[2], ARGV[1], id, ARGV[4])
  table.insert(out, {e[1], fields, v[1], v[2], v[3]})
end
return out
"
);

const FINISH: &str = r"
-- KEYS: tasks, record, reply, counts. ARGV: entry, worker, group, id, result_ttl_ms,
-- token, kind, body, thread
local st = redis.call('HMGET', KEYS[2], 'state', 'starts', 'worker')
if st[1] ~= 'running' or st[2] ~= ARGV[6] or st[3] ~= ARGV[2] then
  redis.call('HINCRBY', KEYS[4], 'discarded', 1)
  return 0
end
redis.call('XADD', KEYS[3], '*', 'id', ARGV[4], 'kind', ARGV[7], 'body', ARGV[8], 'thread', ARGV[9])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('XACK', KEYS[1], ARGV[3], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HINCRBY', KEYS[4], 'done', 1)
return 1
";

const CANCEL: &str = r"
-- KEYS: tasks, record, counts. ARGV: tombstone_ttl_ms
local st = redis.call('HMGET', KEYS[2], 'state', 'starts', 'entry')
if st[1] == 'cancelled' then return 1 end
if st[1] ~= 'queued' or st[2] ~= '0' then return 0 end
redis.call('HSET', KEYS[2], 'state', 'cancelled')
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('XDEL', KEYS[1], st[3])
redis.call('HINCRBY', KEYS[3], 'cancelled', 1)
return 1
";

const RENEW: &str = r"
-- KEYS: tasks, workers. ARGV: group, worker, info_json, entries...
-- Resets the idle time of each entry this worker still owns (its lease); returns the
-- entries it no longer owns. Records the heartbeat in the workers hash, in server time.
local lost = {}
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
local t = redis.call('TIME')
local info = cjson.decode(ARGV[3])
info['beat_ms'] = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
info['held'] = #ARGV - 3 - #lost
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(info))
return lost
";

const RECLAIM: &str = r"
-- KEYS: tasks, counts, workers. ARGV: group, worker, max_claims, scan_from, record_prefix,
-- scan_count, default_lease_ms
-- Claims entries of other workers idle past their task's lease (the holder stopped
-- renewing it) and puts their records back to 'queued'. Returns the claimed entries,
-- the milliseconds until the next lease here runs out (-1: none seen), and where the
-- next scan starts ('-' once the whole list was seen).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[4], '+', tonumber(ARGV[6]))
local claimed, next_in, last = {}, -1, '-'
for _, p in ipairs(pending) do
  local id, owner, idle = p[1], p[2], tonumber(p[3])
  last = '(' .. id
  if owner ~= ARGV[2] then
    local e = redis.call('XRANGE', KEYS[1], id, id)
    if #e == 0 then
      redis.call('XACK', KEYS[1], ARGV[1], id)
    else
      local fields, task = e[1][2], nil
      for j = 1, #fields, 2 do
        if fields[j] == 'id' then task = fields[j + 1] end
      end
      local record = ARGV[5] .. (task or '')
      local lease = tonumber(redis.call('HGET', record, 'lease') or ARGV[7])
      if idle >= lease then
        if #claimed < tonumber(ARGV[3]) then
          local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], lease, id)
          if #got > 0 then
            if redis.call('HGET', record, 'state') == 'running' then
              redis.call('HSET', record, 'state', 'queued')
              redis.call('HINCRBY', KEYS[2], 'taken_over', 1)
            end
            table.insert(claimed, got[1])
          end
        end
      elseif next_in < 0 or lease - idle < next_in then
        next_in = lease - idle
      end
    end
  end
end
if #pending < tonumber(ARGV[6]) then last = '-' end
-- Workers silent for ten of their leases (at least a minute) and holding nothing
-- leave the list.
local workers = redis.call('HGETALL', KEYS[3])
for i = 1, #workers, 2 do
  local name = workers[i]
  local ok, info = pcall(cjson.decode, workers[i + 1])
  if name ~= ARGV[2] and ok and info['beat_ms'] then
    local quiet = math.max(10 * (info['lease_ms'] or 0), 60000)
    if now - info['beat_ms'] > quiet then
      local held = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, name)
      if #held == 0 then
        redis.call('HDEL', KEYS[3], name)
        redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
      end
    end
  end
end
return {claimed, next_in, last}
";

const LEAVE: &str = r"
-- KEYS: tasks, workers. ARGV: group, worker
redis.call('HDEL', KEYS[2], ARGV[2])
local held = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #held == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return #held
";

/// The protocol's scripts, hashed once.
pub(crate) struct Scripts {
    pub(crate) submit: Script,
    pub(crate) start: Script,
    pub(crate) take: Script,
    pub(crate) finish: Script,
    pub(crate) cancel: Script,
    pub(crate) renew: Script,
    pub(crate) reclaim: Script,
    pub(crate) leave: Script,
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    submit: Script::new(SUBMIT),
    start: Script::new(START),
    take: Script::new(TAKE),
    finish: Script::new(FINISH),
    cancel: Script::new(CANCEL),
    renew: Script::new(RENEW),
    reclaim: Script::new(RECLAIM),
    leave: Script::new(LEAVE),
});

impl Scripts {
    /// Loads every script into the server's cache, so that pipelines can call them by
    /// hash (`EVALSHA`).
    pub(crate) fn load(&self, con: &mut Connection) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for source in [SUBMIT, START, TAKE, FINISH, CANCEL, RENEW, RECLAIM, LEAVE] {
            pipe.cmd("SCRIPT").arg("LOAD").arg(source);
        }
        pipe.query::<Vec<String>>(con).map(drop)
    }
}

/// An `EVALSHA` of `script` for a pipeline (the scripts were [loaded](Scripts::load)).
pub(crate) fn evalsha(script: &Script, keys: &[&str], args: &[&[u8]]) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys.len()).arg(keys);
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}

/// Whether `e` says the server lost its script cache (it restarted): load and retry.
pub(crate) fn is_noscript(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

/// A reply as text (bulk or simple strings), else empty.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Okay => "OK".to_owned(),
        _ => String::new(),
    }
}

/// A reply as an integer (integers, or numbers sent as strings).
pub(crate) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// A reply's elements (arrays, sets; an empty list for nil).
pub(crate) fn items(value: Value) -> Vec<Value> {
    match value {
        Value::Array(v) | Value::Set(v) => v,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

/// One stream entry: its id and its fields.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) fields: Vec<(String, Vec<u8>)>,
}

impl Entry {
    /// The field `name`'s bytes, if present.
    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    pub(crate) fn field_text(&self, name: &str) -> String {
        self.field(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }

    pub(crate) fn take_field(&mut self, name: &str) -> Vec<u8> {
        self.fields
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, v)| std::mem::take(v))
            .unwrap_or_default()
    }
}

/// Entries from an `[id, [field, value, ...]]` list (`XRANGE`, `XCLAIM`, one stream of
/// an `XREAD`); deleted entries (nil fields) are left out.
pub(crate) fn entries(value: Value) -> Vec<Entry> {
    items(value)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = items(entry).into_iter();
            let id = text(&parts.next()?);
            let flat = parts.next()?;
            if matches!(flat, Value::Nil) {
                return None;
            }
            let mut fields = Vec::new();
            let mut flat = items(flat).into_iter();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                let v = match v {
                    Value::BulkString(b) => b,
                    other => text(&other).into_bytes(),
                };
                fields.push((text(&k), v));
            }
            Some(Entry { id, fields })
        })
        .collect()
}

/// The entries of an `XREAD` / `XREADGROUP` reply (one stream asked for); none on nil.
pub(crate) fn read_reply(value: Value) -> Vec<Entry> {
    let mut streams = items(value).into_iter();
    // RESP2: [[name, entries]]; RESP3: a map name → entries, flattened by `items`.
    match streams.next() {
        Some(Value::Array(pair)) => pair.into_iter().nth(1).map(entries).unwrap_or_default(),
        Some(_name) => streams.next().map(entries).unwrap_or_default(),
        None => Vec::new(),
    }
}
