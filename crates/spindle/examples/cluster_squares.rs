//! A cluster worker and its client, in one program: start a Redis server, then a worker
//! in one terminal and the client in another (or as many workers as you like, on as
//! many machines as can reach the server).
//!
//! ```text
//! redis-server --save "" --appendonly no                        # terminal 1
//! cargo run --features cluster --example cluster_squares worker # terminal 2
//! cargo run --features cluster --example cluster_squares client # terminal 3
//! ```
//!
//! A URL may follow the role (default `redis://127.0.0.1:6379`). Stop the worker with
//! Ctrl-C: it finishes the tasks it holds, then exits. Kill it with `kill -9` in the
//! middle of a run instead, and start another: the client still gets every result,
//! once. `spindle cluster status URL` shows the pool, its workers and its tasks.
//!
//! Client and workers meet in the default pool: this program's name and a
//! fingerprint of its tasks.

use std::time::Duration;

use spindle::cluster::{ClusterError, ClusterExecutor, Worker};
use spindle::futures::{TaskError, as_completed};

spindle::task! {
    /// A slow square: long enough to watch the workers share the work.
    const SLOW_SQUARE = fn slow_square(n: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(200));
        n * n
    }

    /// Reports where it ran.
    const WHERE = fn where_(_x: ()) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        // SAFETY: getppid has no preconditions.
        format!("{} (worker pid {})", host.trim(), unsafe { libc::getppid() })
    }

    /// Fails on purpose: a panic comes back as an error, and is not run again.
    const CHECKED_ROOT = fn checked_root(n: i64) -> f64 {
        assert!(n >= 0, "no real square root of {n}");
        (n as f64).sqrt()
    }
}

fn main() -> Result<(), ClusterError> {
    // First: the worker's local processes are this program started again.
    spindle::process::init();
    let mut args = std::env::args().skip(1);
    let role = args.next().unwrap_or_default();
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    match role.as_str() {
        "worker" => {
            let worker = Worker::connect(&url)?;
            eprintln!(
                "worker {} serving pool {:?} at {url}; Ctrl-C stops it",
                worker.name(),
                worker.pool()
            );
            worker.run()?;
            eprintln!("stopped: every task it held has its result");
            Ok(())
        }
        "client" => client(&url),
        _ => {
            eprintln!("usage: cluster_squares worker|client [REDIS_URL]");
            std::process::exit(2);
        }
    }
}

fn client(url: &str) -> Result<(), ClusterError> {
    let cluster = ClusterExecutor::connect(url)?;
    println!(
        "submitting to pool {:?} at {}",
        cluster.pool(),
        cluster.url()
    );
    println!(
        "ran on {}",
        cluster
            .submit(WHERE, ())
            .result()
            .expect("a worker answers")
    );

    let futures: Vec<_> = (1..=20).map(|n| cluster.submit(SLOW_SQUARE, n)).collect();
    let total: u64 = as_completed(futures)
        .map(|f| f.result().expect("a square"))
        .sum();
    println!("sum of the squares of 1..=20: {total}");
    assert_eq!(total, 2870);

    let roots: Vec<Result<f64, TaskError>> = cluster.map(CHECKED_ROOT, [16, -1, 81]).collect();
    for (n, root) in [16, -1, 81].iter().zip(&roots) {
        match root {
            Ok(r) => println!("sqrt({n}) = {r}"),
            Err(e) => println!("sqrt({n}): {e}"),
        }
    }
    Ok(())
}
