//! The cluster against every fault its contract names (issue 14's list), each case on
//! its own `redis-server`, with worker processes that are this binary started again.
//! A `harness = false` test: `main` must call `spindle::process::init()` first (the
//! workers' local processes are this binary too). Needs the feature `cluster`.

#[path = "common/cases.rs"]
mod cases;
mod cluster_common;

use std::time::{Duration, Instant};

use cluster_common::*;
use spindle::cluster::{ClusterError, ClusterExecutor, Worker};
use spindle::futures::{Future, TaskError};

fn executor(url: &str, pool: &str, lease: Duration) -> ClusterExecutor {
    ClusterExecutor::builder(url)
        .pool(pool)
        .lease(lease)
        .build()
        .unwrap()
}

fn log_arg(log: &std::path::Path) -> String {
    log.to_str().unwrap().to_owned()
}

/// SIGKILL a worker while it holds tasks: each runs again on the other worker, and
/// every task's result arrives exactly once.
fn a_worker_killed_while_holding_tasks_loses_nothing() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let lease = Duration::from_millis(600);
    let victim = WorkerProcess::start(&url, "kill", 2, lease);
    let cluster = executor(&url, "kill", lease);
    let futures: Vec<Future<(u64, u32)>> = (0..12)
        // The first two (the victim's) run long enough to be killed mid-run.
        .map(|tag| {
            cluster.submit(
                SLEEPY,
                (log_arg(&log), tag, if tag < 2 { 2000 } else { 100 }),
            )
        })
        .collect();
    // The victim holds two tasks, mid-run, before the survivor exists.
    wait_until("the victim to start two tasks", || {
        log_lines(&log).iter().filter(|l| l.0 == "start").count() == 2
    });
    let held: Vec<String> = log_lines(&log)
        .into_iter()
        .filter(|l| l.0 == "start")
        .map(|l| l.1)
        .collect();
    victim.signal(libc::SIGKILL);
    let survivor = WorkerProcess::start(&url, "kill", 2, lease);
    let results: Vec<(u64, u32)> = futures.into_iter().map(|f| get(f).unwrap()).collect();
    for (tag, result) in results.iter().enumerate() {
        assert_eq!(result.0, tag as u64);
    }
    for tag in &held {
        let starts = starts_of(&log, tag);
        assert_eq!(
            starts,
            [victim.pid(), survivor.pid()],
            "task {tag} ran on the victim, then again on the survivor"
        );
        let tag: usize = tag.parse().unwrap();
        assert_eq!(
            results[tag].1,
            survivor.pid(),
            "its result came from the survivor"
        );
    }
    let status = pool_status(&url, "kill");
    assert_eq!(status.done, 12, "one result published per task: {status:?}");
    assert_eq!(status.taken_over, 2, "{status:?}");
    assert_eq!((status.queued, status.running), (0, 0), "{status:?}");
}

/// SIGSTOP a worker past its lease: another takes the task over and its result is the
/// one delivered; the stopped worker's late finish, once it resumes, is discarded.
fn a_worker_stopped_past_its_lease_loses_the_task_and_its_late_result() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let lease = Duration::from_millis(500);
    let stopped = WorkerProcess::start(&url, "stop", 1, lease);
    let cluster = executor(&url, "stop", lease);
    let f = cluster.submit(SLEEPY, (log_arg(&log), 1, 1500));
    wait_until("the task to start", || starts_of(&log, "1").len() == 1);
    stopped.signal(libc::SIGSTOP);
    let other = WorkerProcess::start(&url, "stop", 1, lease);
    // The stopped worker's local process is not stopped: it ends its run and writes
    // its result to a worker that cannot read it.
    assert_eq!(get(f), Ok((1, other.pid())));
    assert_eq!(starts_of(&log, "1"), [stopped.pid(), other.pid()]);
    wait_until("the stopped worker's run to end", || {
        log_lines(&log)
            .iter()
            .any(|l| l.0 == "end" && l.2 == stopped.pid())
    });
    stopped.signal(libc::SIGCONT);
    wait_until("the late finish to be discarded", || {
        pool_status(&url, "stop").late_results_discarded == 1
    });
    let status = pool_status(&url, "stop");
    assert_eq!(status.done, 1, "{status:?}");
    assert_eq!(status.taken_over, 1, "{status:?}");
}

/// A task that panics fails with `Panicked`, and is not run again.
fn a_panicking_task_fails_with_panicked_and_is_not_run_again() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let _worker = WorkerProcess::start(&url, "panic", 1, Duration::from_secs(1));
    let cluster = executor(&url, "panic", Duration::from_secs(1));
    let f = cluster.submit(PANICS, (log_arg(&log), "bad input 7".to_owned()));
    match get(f) {
        Err(TaskError::Panicked(p)) => {
            assert_eq!(p.message(), "bad input 7");
            assert!(
                p.thread_name().contains("cluster worker"),
                "{}",
                p.thread_name()
            );
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    // Longer than two leases: a re-run would have happened by now.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(starts_of(&log, "panics").len(), 1);
    assert_eq!(pool_status(&url, "panic").done, 1);
}

/// A task that aborts its process fails with `WorkerDied` at once (long before its
/// lease would run out); the worker replaces the process and serves on.
fn a_task_that_aborts_its_process_fails_at_once_and_the_worker_serves_on() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let lease = Duration::from_secs(60);
    let worker = WorkerProcess::start(&url, "abort", 1, lease);
    let cluster = executor(&url, "abort", lease);
    let started = Instant::now();
    let f = cluster.submit(ABORTS, log_arg(&log));
    assert_eq!(
        get(f),
        Err(TaskError::WorkerDied("killed by signal 6".to_owned()))
    );
    assert!(started.elapsed() < lease / 2, "it waited for the lease");
    assert_eq!(get(cluster.submit(WORKER_PID, ())), Ok(worker.pid()));
    assert_eq!(starts_of(&log, "aborts").len(), 1);
}

/// A task past its timeout is killed and fails with `Timeout`, once: per task, and
/// through the executor's default.
fn a_task_past_its_timeout_fails_with_timeout() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let lease = Duration::from_secs(1);
    let _worker = WorkerProcess::start(&url, "timeout", 1, lease);
    let cluster = executor(&url, "timeout", lease);
    let f = cluster.submit_with_timeout(
        SLEEPY,
        (log_arg(&log), 1, 30_000),
        Duration::from_millis(300),
    );
    assert_eq!(get(f), Err(TaskError::Timeout));
    let by_default = ClusterExecutor::builder(&url)
        .pool("timeout")
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(
        get(by_default.submit(SLEEPY, (log_arg(&log), 2, 30_000))),
        Err(TaskError::Timeout)
    );
    // A fast task under the same default is untouched.
    assert_eq!(
        get(by_default.submit(SLEEPY, (log_arg(&log), 3, 1))).map(|r| r.0),
        Ok(3)
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        starts_of(&log, "1").len(),
        1,
        "a timed-out task never runs again"
    );
    assert_eq!(starts_of(&log, "2").len(), 1);
}

/// `cancel()` succeeds for a task no worker has started (it never runs), and fails for
/// one that has started: the server decides.
fn cancel_succeeds_before_start_and_fails_after() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let lease = Duration::from_secs(2);
    let cluster = executor(&url, "cancel", lease);
    // No worker yet: both are queued.
    let queued = cluster.submit(SLEEPY, (log_arg(&log), 1, 10));
    let running = cluster.submit(SLEEPY, (log_arg(&log), 2, 1500));
    assert!(queued.cancel());
    assert!(queued.cancelled());
    assert!(queued.cancel(), "cancelling again says it is cancelled");
    assert_eq!(queued.result(), Err(TaskError::Cancelled));
    let _worker = WorkerProcess::start(&url, "cancel", 1, lease);
    wait_until("the second task to start", || {
        starts_of(&log, "2").len() == 1
    });
    assert!(!running.cancel(), "a started task cannot be cancelled");
    assert!(!running.cancelled());
    assert_eq!(get(running).map(|r| r.0), Ok(2));
    let after = cluster.submit(SLEEPY, (log_arg(&log), 3, 1));
    get(after).unwrap();
    assert!(
        starts_of(&log, "1").is_empty(),
        "the cancelled task never ran"
    );
    assert_eq!(pool_status(&url, "cancel").cancelled, 1);
}

/// A task that kills its whole worker every time fails with `WorkerDied` after
/// `max_deliveries` starts.
fn a_task_that_kills_its_worker_every_time_fails_after_max_deliveries() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let lease = Duration::from_millis(400);
    let cluster = ClusterExecutor::builder(&url)
        .pool("killer")
        .lease(lease)
        .max_deliveries(2)
        .build()
        .unwrap();
    let f = cluster.submit(KILLS_ITS_WORKER, log_arg(&log));
    let mut workers = Vec::new();
    for round in 1..=2 {
        workers.push(WorkerProcess::start(&url, "killer", 1, lease));
        wait_until("the next start", || {
            starts_of(&log, "killer").len() == round
        });
        workers.last_mut().unwrap().wait_exit();
    }
    let _third = WorkerProcess::start(&url, "killer", 1, lease);
    match get(f) {
        Err(TaskError::WorkerDied(why)) => {
            assert!(why.contains("max_deliveries"), "{why}");
            assert!(why.contains("started 2 times"), "{why}");
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert_eq!(starts_of(&log, "killer").len(), 2);
    let status = pool_status(&url, "killer");
    assert_eq!(status.failed_after_max_deliveries, 1, "{status:?}");
}

/// SIGTERM: the worker takes no new task, finishes the ones it holds, and `run`
/// returns `Ok` (exit status 0). Nothing is lost and nothing runs twice.
fn sigterm_lets_a_worker_finish_its_tasks_and_return_ok() {
    let server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let lease = Duration::from_secs(1);
    let mut first = WorkerProcess::start(&url, "term", 2, lease);
    let cluster = executor(&url, "term", lease);
    let futures: Vec<_> = (0..4)
        .map(|tag| cluster.submit(SLEEPY, (log_arg(&log), tag, 800)))
        .collect();
    wait_until("two tasks to start", || {
        log_lines(&log).iter().filter(|l| l.0 == "start").count() == 2
    });
    first.signal(libc::SIGTERM);
    let status = first.wait_exit();
    assert!(status.success(), "run() did not return Ok: {status:?}");
    let lines = log_lines(&log);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.0 == "end" && l.2 == first.pid())
            .count(),
        2,
        "the held tasks finished: {lines:?}"
    );
    let second = WorkerProcess::start(&url, "term", 2, lease);
    let results: Vec<(u64, u32)> = futures.into_iter().map(|f| get(f).unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.1 == first.pid()).count(), 2);
    assert_eq!(results.iter().filter(|r| r.1 == second.pid()).count(), 2);
    for tag in 0..4 {
        assert_eq!(
            starts_of(&log, &tag.to_string()).len(),
            1,
            "task {tag} ran once"
        );
    }
    let status = pool_status(&url, "term");
    assert!(
        status
            .workers
            .iter()
            .all(|w| w.pid != u64::from(first.pid())),
        "the stopped worker left the pool: {status:?}"
    );
}

/// Two pools on one server never see each other's tasks.
fn two_pools_on_one_server_stay_apart() {
    let server = RedisServer::start();
    let url = server.url();
    let lease = Duration::from_secs(1);
    let _a = WorkerProcess::start(&url, "alpha", 1, lease);
    let _b = WorkerProcess::start(&url, "beta", 1, lease);
    let alpha = executor(&url, "alpha", lease);
    let beta = executor(&url, "beta", lease);
    let fa: Vec<_> = (0..10).map(|_| alpha.submit(POOL_OF_WORKER, ())).collect();
    let fb: Vec<_> = (0..10).map(|_| beta.submit(POOL_OF_WORKER, ())).collect();
    for f in fa {
        assert_eq!(get(f).unwrap(), "alpha");
    }
    for f in fb {
        assert_eq!(get(f).unwrap(), "beta");
    }
    let pools = spindle::cluster::status(&url, None).unwrap();
    let names: Vec<&str> = pools.iter().map(|p| p.pool.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(
        pools.iter().all(|p| p.done == 10 && p.workers.len() == 1),
        "{pools:?}"
    );
}

/// Redis killed while a client waits: the future fails with an error naming the
/// server, instead of hanging.
fn redis_killed_while_a_client_waits_fails_the_future() {
    let mut server = RedisServer::start();
    let url = server.url();
    let log = new_log(server.dir(), "runs");
    let lease = Duration::from_secs(1);
    let mut worker = WorkerProcess::start(&url, "crash", 1, lease);
    let cluster = executor(&url, "crash", lease);
    let f = cluster.submit(SLEEPY, (log_arg(&log), 1, 3000));
    wait_until("the task to start", || starts_of(&log, "1").len() == 1);
    server.kill();
    match get(f) {
        Err(TaskError::BrokenPool(why)) => {
            assert!(why.contains(&url), "{why}");
        }
        other => panic!("expected BrokenPool, got {other:?}"),
    }
    // Later submissions fail at once too, rather than hang.
    match get(cluster.submit(SQUARE, 2)) {
        Err(TaskError::BrokenPool(why)) => assert!(why.contains(&url), "{why}"),
        other => panic!("expected BrokenPool, got {other:?}"),
    }
    // The worker gives up once the server has been gone for its reconnect window
    // and its running task has ended: run() returns an error (exit status 3).
    assert_eq!(worker.wait_exit().code(), Some(3));
}

/// Connecting where nothing answers fails within 5 s, naming the URL: a closed port,
/// and a port whose listener never answers.
fn connecting_where_nothing_answers_fails_within_5s_naming_the_url() {
    let closed = format!("redis://127.0.0.1:{}", redis_server::free_port());
    let silent_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!(
        "redis://127.0.0.1:{}",
        silent_listener.local_addr().unwrap().port()
    );
    for url in [&closed, &silent] {
        let started = Instant::now();
        let err = ClusterExecutor::connect(url).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url}: {:?}",
            started.elapsed()
        );
        assert!(matches!(err, ClusterError::Unreachable { .. }), "{err:?}");
        assert!(err.to_string().contains(url.as_str()), "{err}");
        let started = Instant::now();
        let err = Worker::connect(url).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url}: {:?}",
            started.elapsed()
        );
        assert!(err.to_string().contains(url.as_str()), "{err}");
    }
}

const CASES: &[cases::Case] = &[
    (
        "a_worker_killed_while_holding_tasks_loses_nothing",
        a_worker_killed_while_holding_tasks_loses_nothing,
    ),
    (
        "a_worker_stopped_past_its_lease_loses_the_task_and_its_late_result",
        a_worker_stopped_past_its_lease_loses_the_task_and_its_late_result,
    ),
    (
        "a_panicking_task_fails_with_panicked_and_is_not_run_again",
        a_panicking_task_fails_with_panicked_and_is_not_run_again,
    ),
    (
        "a_task_that_aborts_its_process_fails_at_once_and_the_worker_serves_on",
        a_task_that_aborts_its_process_fails_at_once_and_the_worker_serves_on,
    ),
    (
        "a_task_past_its_timeout_fails_with_timeout",
        a_task_past_its_timeout_fails_with_timeout,
    ),
    (
        "cancel_succeeds_before_start_and_fails_after",
        cancel_succeeds_before_start_and_fails_after,
    ),
    (
        "a_task_that_kills_its_worker_every_time_fails_after_max_deliveries",
        a_task_that_kills_its_worker_every_time_fails_after_max_deliveries,
    ),
    (
        "sigterm_lets_a_worker_finish_its_tasks_and_return_ok",
        sigterm_lets_a_worker_finish_its_tasks_and_return_ok,
    ),
    (
        "two_pools_on_one_server_stay_apart",
        two_pools_on_one_server_stay_apart,
    ),
    (
        "redis_killed_while_a_client_waits_fails_the_future",
        redis_killed_while_a_client_waits_fails_the_future,
    ),
    (
        "connecting_where_nothing_answers_fails_within_5s_naming_the_url",
        connecting_where_nothing_answers_fails_within_5s_naming_the_url,
    ),
];

/// How long one case may take before the run is declared hung.
const CASE_LIMIT: Duration = Duration::from_secs(90);

fn main() {
    spindle::process::init();
    serve_if_worker();
    cases::run(CASES, CASE_LIMIT, || {});
}
