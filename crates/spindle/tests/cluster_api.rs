//! The cluster executor's surface against a real `redis-server`: the same `Future`,
//! `as_completed`, `wait` and `map` as the process pool, pools, passwords, frame
//! limits and status. A `harness = false` test (workers are this binary started again).
//! Needs the feature `cluster`.

#[path = "common/cases.rs"]
mod cases;
mod cluster_common;

use std::time::Duration;

use cluster_common::*;
use spindle::cluster::{ClusterError, ClusterExecutor, Worker};
use spindle::futures::{ReturnWhen, TaskError, as_completed, wait};

const LEASE: Duration = Duration::from_secs(2);

fn executor(url: &str, pool: &str) -> ClusterExecutor {
    ClusterExecutor::builder(url)
        .pool(pool)
        .lease(LEASE)
        .build()
        .unwrap()
}

fn futures_work_with_as_completed_and_wait() {
    let server = RedisServer::start();
    let url = server.url();
    let _worker = WorkerProcess::start(&url, "p", 2, LEASE);
    let cluster = executor(&url, "p");
    let futures: Vec<_> = (1..=10u64).map(|n| cluster.submit(SQUARE, n)).collect();
    let status = wait(&futures, ReturnWhen::AllCompleted, Some(PATIENCE));
    assert_eq!(status.done.len(), 10);
    let mut squares: Vec<u64> = as_completed(futures).map(|f| f.result().unwrap()).collect();
    squares.sort();
    assert_eq!(squares, (1..=10u64).map(|n| n * n).collect::<Vec<_>>());
    // A panic is the first exception `wait` reports.
    let mixed = vec![
        cluster.submit(PANICS_ON_ODD, 2),
        cluster.submit(PANICS_ON_ODD, 3),
    ];
    let status = wait(&mixed, ReturnWhen::FirstException, Some(PATIENCE));
    assert!(status.done.contains(&1), "{status:?}");
}

fn map_keeps_input_order_and_gives_each_item_its_result() {
    let server = RedisServer::start();
    let url = server.url();
    let _a = WorkerProcess::start(&url, "map", 2, LEASE);
    let _b = WorkerProcess::start(&url, "map", 2, LEASE);
    let cluster = executor(&url, "map");
    let squares: Vec<u64> = cluster.map(SQUARE, 0..50u64).map(Result::unwrap).collect();
    assert_eq!(squares, (0..50u64).map(|n| n * n).collect::<Vec<_>>());
    for chunksize in [1, 7, 100] {
        let results: Vec<Result<u64, TaskError>> = cluster
            .map_chunked(PANICS_ON_ODD, 0..30u64, chunksize)
            .collect();
        assert_eq!(results.len(), 30);
        for (n, r) in results.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, n as u64),
                Err(TaskError::Panicked(p)) => {
                    assert_eq!(n % 2, 1);
                    assert_eq!(p.message(), format!("odd: {n}"));
                }
                other => panic!("item {n}: {other:?}"),
            }
        }
    }
    let status = pool_status(&url, "map");
    assert_eq!(status.done, status.submitted, "{status:?}");
}

fn the_default_pool_joins_a_programs_client_and_workers() {
    let server = RedisServer::start();
    let url = server.url();
    let cluster = ClusterExecutor::connect(&url).unwrap();
    let pool = cluster.pool().to_owned();
    assert!(pool.starts_with("cluster_api-"), "{pool}");
    let worker = Worker::connect(&url).unwrap();
    assert_eq!(
        worker.pool(),
        pool,
        "the same program, the same default pool"
    );
    drop(worker);
    let _worker = WorkerProcess::start(&url, &pool, 1, LEASE);
    assert_eq!(get(cluster.submit(SQUARE, 12)), Ok(144));
}

fn a_password_in_the_url_is_used_and_never_shown() {
    let server = RedisServer::with_password("s3cret");
    let url = server.url();
    assert!(url.contains("s3cret"));
    let _worker = WorkerProcess::start(&url, "pw", 1, LEASE);
    let cluster = executor(&url, "pw");
    assert_eq!(get(cluster.submit(SQUARE, 3)), Ok(9));
    assert!(!cluster.url().contains("s3cret"), "{}", cluster.url());
    assert!(!format!("{cluster:?}").contains("s3cret"));
    let wrong = format!("redis://:wrong@127.0.0.1:{}", server.port());
    let err = ClusterExecutor::connect(&wrong).unwrap_err();
    assert!(matches!(err, ClusterError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("redis://:***@127.0.0.1:{}", server.port())),
        "{text}"
    );
    assert!(!text.contains("wrong"), "{text}");
    let none = format!("redis://127.0.0.1:{}", server.port());
    assert!(
        ClusterExecutor::connect(&none).is_err(),
        "no password, no entry"
    );
}

fn arguments_and_results_over_the_frame_limit_are_refused() {
    let server = RedisServer::start();
    let url = server.url();
    let _worker = WorkerProcess::start_limited(&url, "frame", 1, LEASE, 4000);
    let cluster = ClusterExecutor::builder(&url)
        .pool("frame")
        .max_frame_size(1000)
        .build()
        .unwrap();
    // The process pool's errors, the same through the cluster.
    assert_eq!(
        get(cluster.submit(LEN, vec![0u8; 5000])),
        Err(TaskError::ArgumentTooLarge { limit: 1000 })
    );
    assert_eq!(get(cluster.submit(LEN, vec![0u8; 500])), Ok(500));
    // The worker's own limit refuses a larger result.
    assert_eq!(
        get(cluster.submit(BYTES, 5000)),
        Err(TaskError::ResultTooLarge { limit: 4000 })
    );
    assert_eq!(get(cluster.submit(BYTES, 3)), Ok(vec![7, 7, 7]));
}

fn bad_pool_names_and_urls_are_refused_clearly() {
    let err = ClusterExecutor::builder("redis://127.0.0.1:1")
        .pool("a{b}")
        .build()
        .unwrap_err();
    assert!(matches!(err, ClusterError::InvalidPool { .. }), "{err:?}");
    let err = ClusterExecutor::connect("http://example.invalid").unwrap_err();
    assert!(matches!(err, ClusterError::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("http://example.invalid"), "{err}");
}

fn status_lists_pools_workers_and_counts() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let worker = WorkerProcess::start(&url, "stat", 2, LEASE);
    let cluster = executor(&url, "stat");
    let running: Vec<_> = (0..2)
        .map(|tag| cluster.submit(SLEEPY, (log.to_str().unwrap().to_owned(), tag, 1500)))
        .collect();
    let queued = cluster.submit(SQUARE, 5);
    wait_until("two tasks to start", || {
        log_lines(&log).iter().filter(|l| l.0 == "start").count() == 2
    });
    let status = pool_status(&url, "stat");
    assert_eq!(
        (status.running, status.queued, status.done),
        (2, 1, 0),
        "{status:?}"
    );
    let w = &status.workers[0];
    assert_eq!(w.pid, u64::from(worker.pid()));
    assert_eq!((w.processes, w.tasks_held), (2, 2), "{w:?}");
    assert!(w.seconds_since_heartbeat < LEASE.as_secs_f64(), "{w:?}");
    for f in running {
        get(f).unwrap();
    }
    get(queued).unwrap();
    let status = pool_status(&url, "stat");
    assert_eq!(
        (status.running, status.queued, status.done, status.submitted),
        (0, 0, 3, 3)
    );
}

fn shutdown_can_cancel_what_no_worker_started() {
    let server = RedisServer::start();
    let url = server.url();
    let cluster = executor(&url, "shut");
    let futures: Vec<_> = (0..5u64).map(|n| cluster.submit(SQUARE, n)).collect();
    cluster.shutdown(true, true);
    for f in futures {
        assert_eq!(f.result(), Err(TaskError::Cancelled));
    }
    assert_eq!(pool_status(&url, "shut").cancelled, 5);
    let submitted =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cluster.submit(SQUARE, 1)));
    assert!(submitted.is_err(), "submit after shutdown panics");
}

const CASES: &[cases::Case] = &[
    (
        "futures_work_with_as_completed_and_wait",
        futures_work_with_as_completed_and_wait,
    ),
    (
        "map_keeps_input_order_and_gives_each_item_its_result",
        map_keeps_input_order_and_gives_each_item_its_result,
    ),
    (
        "the_default_pool_joins_a_programs_client_and_workers",
        the_default_pool_joins_a_programs_client_and_workers,
    ),
    (
        "a_password_in_the_url_is_used_and_never_shown",
        a_password_in_the_url_is_used_and_never_shown,
    ),
    (
        "arguments_and_results_over_the_frame_limit_are_refused",
        arguments_and_results_over_the_frame_limit_are_refused,
    ),
    (
        "bad_pool_names_and_urls_are_refused_clearly",
        bad_pool_names_and_urls_are_refused_clearly,
    ),
    (
        "status_lists_pools_workers_and_counts",
        status_lists_pools_workers_and_counts,
    ),
    (
        "shutdown_can_cancel_what_no_worker_started",
        shutdown_can_cancel_what_no_worker_started,
    ),
];

const CASE_LIMIT: Duration = Duration::from_secs(90);

fn main() {
    spindle::process::init();
    serve_if_worker();
    cases::run(CASES, CASE_LIMIT, || {});
}
