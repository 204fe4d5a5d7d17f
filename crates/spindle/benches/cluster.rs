//! The cluster against the engine under it, in one run, on one local `redis-server`:
//!
//! * `raw`: one task's round trip of plain stream commands, as a hand-written queue
//!   would do it: `XADD` the task, `XREADGROUP` it, `XADD` its result and `XACK`/`XDEL`
//!   it, `XREAD` the result and `XDEL` it. No scripts, no leases, no processes.
//! * `cluster_map`: tiny tasks through `ClusterExecutor::map_chunked` on two local
//!   workers (worker processes of this binary, one local process each), chunksize 1
//!   and 100.
//! * `submit_to_result`: one task at a time, submit to result.
//!
//! Then a summary: each rate as a ratio of the raw rate, and the p50 submit-to-result
//! latency. Needs `redis-server` (`apt-get install redis-server`).
//!
//! `cargo bench -p spindle --features cluster --bench cluster`

#[path = "../tests/cluster_common/redis_server.rs"]
#[allow(dead_code)] // the tests use more of it
mod redis_server;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use redis_server::RedisServer;
use spindle::cluster::{ClusterExecutor, Worker};

const POOL: &str = "bench";
const WORKER_URL: &str = "SPINDLE_CLUSTER_BENCH_WORKER";

spindle::task! {
    const ADD_ONE = fn add_one(x: u64) -> u64 { x + 1 }
}

/// The raw engine: one task's round trip of stream commands.
struct Raw {
    client: redis::Connection,
    worker: redis::Connection,
}

impl Raw {
    fn new(url: &str) -> Raw {
        let open = || redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut client = open();
        let _: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg("raw:tasks")
            .arg("g")
            .arg("0")
            .arg("MKSTREAM")
            .query(&mut client);
        Raw {
            client,
            worker: open(),
        }
    }

    fn round_trip(&mut self, x: u64) -> u64 {
        let _: String = redis::cmd("XADD")
            .arg("raw:tasks")
            .arg("*")
            .arg("arg")
            .arg(x)
            .query(&mut self.client)
            .unwrap();
        let read: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("w")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg("raw:tasks")
            .arg(">")
            .query(&mut self.worker)
            .unwrap();
        let (id, arg) = first_entry(read);
        let _: () = redis::pipe()
            .cmd("XADD")
            .arg("raw:results")
            .arg("*")
            .arg("value")
            .arg(arg + 1)
            .ignore()
            .cmd("XACK")
            .arg("raw:tasks")
            .arg("g")
            .arg(&id)
            .ignore()
            .cmd("XDEL")
            .arg("raw:tasks")
            .arg(&id)
            .ignore()
            .query(&mut self.worker)
            .unwrap();
        let read: redis::Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg("raw:results")
            .arg("0")
            .query(&mut self.client)
            .unwrap();
        let (id, value) = first_entry(read);
        let _: () = redis::cmd("XDEL")
            .arg("raw:results")
            .arg(&id)
            .query(&mut self.client)
            .unwrap();
        value
    }
}

/// The id and the first field's value (a number) of the first entry of an `XREAD`
/// reply: `[[stream, [[id, [field, value]]]]]`.
fn first_entry(reply: redis::Value) -> (String, u64) {
    fn items(v: redis::Value) -> Vec<redis::Value> {
        match v {
            redis::Value::Array(items) => items,
            other => panic!("unexpected reply {other:?}"),
        }
    }
    fn text(v: &redis::Value) -> String {
        match v {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("unexpected reply {other:?}"),
        }
    }
    let stream = items(reply).swap_remove(0);
    let entries = items(stream).swap_remove(1);
    let mut entry = items(items(entries).swap_remove(0));
    let fields = items(entry.swap_remove(1));
    (text(&entry[0]), text(&fields[1]).parse().unwrap())
}

fn worker_process(url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(WORKER_URL, url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn items_per_second(items: u64, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    items as f64 / start.elapsed().as_secs_f64()
}

fn map_rate(cluster: &ClusterExecutor, items: u64, chunksize: usize) -> f64 {
    items_per_second(items, || {
        let total: u64 = cluster
            .map_chunked(ADD_ONE, 0..items, chunksize)
            .map(Result::unwrap)
            .sum();
        assert_eq!(total, items * (items + 1) / 2);
    })
}

fn main() {
    spindle::process::init();
    if let Ok(url) = std::env::var(WORKER_URL) {
        let worker = Worker::builder(&url)
            .pool(POOL)
            .processes(1)
            .build()
            .unwrap();
        worker.run().unwrap();
        return;
    }
    let server = RedisServer::start();
    let url = server.url();
    let mut workers: Vec<Child> = (0..2).map(|_| worker_process(&url)).collect();
    let cluster = ClusterExecutor::builder(&url).pool(POOL).build().unwrap();
    while spindle::cluster::status(&url, Some(POOL)).unwrap()[0]
        .workers
        .len()
        < 2
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut raw = Raw::new(&url);

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("cluster");
        g.throughput(Throughput::Elements(1));
        g.bench_function("raw_stream_round_trip", |b| {
            let mut x = 0;
            b.iter(|| x = raw.round_trip(x))
        });
        g.bench_function("submit_to_result", |b| {
            let mut x = 0;
            b.iter(|| x = cluster.submit(ADD_ONE, x).result().unwrap())
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("cluster_map");
        for (chunksize, items) in [(1usize, 500u64), (100, 20_000)] {
            g.throughput(Throughput::Elements(items));
            g.bench_with_input(
                BenchmarkId::new("chunksize", chunksize),
                &chunksize,
                |b, &chunksize| {
                    b.iter(|| {
                        let total: u64 = cluster
                            .map_chunked(ADD_ONE, 0..items, chunksize)
                            .map(Result::unwrap)
                            .sum();
                        assert_eq!(total, items * (items + 1) / 2);
                    })
                },
            );
        }
        g.finish();
    }

    // The summary: the same measurements, side by side, as ratios of the raw rate.
    let raw_rate = items_per_second(2000, || {
        for x in 0..2000 {
            raw.round_trip(x);
        }
    });
    let chunk1 = map_rate(&cluster, 2000, 1);
    let chunk100 = map_rate(&cluster, 50_000, 100);
    let mut latencies: Vec<Duration> = (0..300u64)
        .map(|x| {
            let start = Instant::now();
            cluster.submit(ADD_ONE, x).result().unwrap();
            start.elapsed()
        })
        .collect();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    println!("\ncluster summary (2 local workers, 1 local process each, one redis-server):");
    println!("  raw stream round trip:       {raw_rate:>9.0} tasks/s (1.00x)");
    println!(
        "  cluster map, chunksize 1:    {chunk1:>9.0} tasks/s ({:.2}x raw)",
        chunk1 / raw_rate
    );
    println!(
        "  cluster map, chunksize 100:  {chunk100:>9.0} tasks/s ({:.2}x raw)",
        chunk100 / raw_rate
    );
    println!("  p50 submit-to-result latency: {p50:.2?} (one task at a time)");

    c.final_summary();
    drop(cluster);
    for w in &mut workers {
        // SAFETY: signals our own child, not yet reaped.
        unsafe { libc::kill(w.id() as libc::pid_t, libc::SIGTERM) };
        let _ = w.wait();
    }
    drop(server);
}
