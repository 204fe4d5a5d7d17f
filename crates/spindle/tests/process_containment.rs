//! Every fault stays with its own task, and any idle worker takes the next task: the
//! process pool against the faults of issue 13, each a regression test named after
//! what it catches. A `harness = false` test, as `process_faults.rs`: workers re-run
//! this binary, so `main` calls `spindle::process::init()` first (except in the roles
//! that play a broken program), then runs the cases, each bounded in time.

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cases::Case;
use common::process::{children, died};

use spindle::futures::{Future, TaskError};
use spindle::process::ProcessPoolExecutor;

/// The longest any single wait in these tests may take: generous, as the machine is
/// small and shared.
const PATIENCE: Duration = Duration::from_secs(30);

spindle::task! {
    const SQUARE = fn square(x: u64) -> u64 { x * x }

    const PID = fn pid(_x: ()) -> u32 { std::process::id() }

    const SLEEPS_US = fn sleeps_us(us: u64) -> u64 {
        std::thread::sleep(Duration::from_micros(us));
        us
    }

    const SLEEPS_MS = fn sleeps_ms(ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }

    /// Forks a child that lives on holding every descriptor the worker has (the
    /// pool's pipes included), writes the child's pid to `path`, then aborts.
    const FORKS_THEN_ABORTS = fn forks_then_aborts(path: String) {
        let child = fork_sleeper();
        std::fs::write(&path, child.to_string()).unwrap();
        std::process::abort()
    }

    /// As `FORKS_THEN_ABORTS`, then spins until its timeout kills the worker.
    const FORKS_THEN_SPINS = fn forks_then_spins(path: String) {
        let child = fork_sleeper();
        std::fs::write(&path, child.to_string()).unwrap();
        loop { std::hint::spin_loop() }
    }

    /// A result far larger than the frame limit, and than half the worker's memory
    /// limit: zeroed pages cost nothing until they are written.
    const HUGE_RESULT = fn huge_result(len: usize) -> Vec<u8> { vec![0; len] }

    /// Creates `path` (failing if it exists: the task ran before), then sleeps.
    const RUNS_ONCE = fn runs_once((path, us): (String, u64)) -> u64 {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{path} ran twice: {e}"));
        std::thread::sleep(Duration::from_micros(us));
        us
    }

    const ABORTS = fn aborts(_x: ()) { std::process::abort() }

    const FAILS_TO_SET_UP = fn fails_to_set_up(_x: ()) { panic!("no configuration") }

    const EXITS_3 = fn exits_3(_x: ()) { std::process::exit(3) }

    /// Creates `path`, then spins for ever.
    const STARTS_THEN_SPINS = fn starts_then_spins(path: String) {
        std::fs::write(&path, b"").unwrap();
        loop { std::hint::spin_loop() }
    }

    /// Ignores SIGTERM, creates `path`, then sleeps `ms`.
    const SHRUGS_OFF_SIGTERM = fn shrugs_off_sigterm((path, ms): (String, u64)) -> u64 {
        // SAFETY: sets SIGTERM's action to "ignore"; no handler runs.
        unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
        std::fs::write(&path, b"").unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }

    /// Closes the worker's request pipe and returns: the worker dies between tasks.
    const CLOSES_ITS_REQUESTS = fn closes_its_requests(_x: ()) -> u8 {
        // SAFETY: closes a descriptor of this process; the worker's next read fails.
        unsafe { libc::close(3) };
        1
    }

    /// Closes the worker's request pipe and puts a pipe nobody writes to in its
    /// place: the worker lives on, idle, and the pool's next write to it fails.
    const STRANDS_ITS_REQUESTS = fn strands_its_requests(_x: ()) -> u8 {
        let mut fds = [0; 2];
        // SAFETY: closes a descriptor of this process, then creates a pipe, which takes
        // the lowest free descriptors (3 among them); the write end is leaked on purpose.
        unsafe {
            libc::close(3);
            libc::pipe(fds.as_mut_ptr());
        }
        assert_eq!(fds[0], 3, "the new pipe took the request pipe's place");
        1
    }
}

/// Forks a child that keeps every descriptor of the worker but stdout and stderr (the
/// pool's pipes included), and lives until the test process has ended (two minutes at
/// most): its pid.
fn fork_sleeper() -> i32 {
    // SAFETY: getppid, fork, close, kill, sleep and _exit; the worker is single-threaded,
    // so the child may run any code, and it runs no destructor.
    unsafe {
        let test_process = libc::getppid();
        let pid = libc::fork();
        if pid == 0 {
            // Holding the test harness's output pipes would keep it waiting.
            libc::close(1);
            libc::close(2);
            for _ in 0..120 {
                if libc::kill(test_process, 0) != 0 {
                    break;
                }
                libc::sleep(1);
            }
            libc::_exit(0);
        }
        pid
    }
}

fn get<T>(f: Future<T>) -> Result<T, TaskError> {
    assert!(
        f.wait_timeout(PATIENCE),
        "a future did not complete within {PATIENCE:?}"
    );
    f.result()
}

/// Waits `bound` at most for `f`: a generous upper bound on something that must not
/// wait for a long task.
fn get_within<T>(f: Future<T>, bound: Duration, what: &str) -> Result<T, TaskError> {
    let start = Instant::now();
    assert!(
        f.wait_timeout(bound),
        "{what}: not done after {:?}",
        start.elapsed()
    );
    f.result()
}

/// The pool's worker pids once it has `n` live workers.
fn wait_for_workers(pool: &ProcessPoolExecutor, n: usize) -> HashSet<u32> {
    let deadline = Instant::now() + PATIENCE;
    while pool.worker_pids().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pids: HashSet<u32> = pool.worker_pids().into_iter().collect();
    assert_eq!(pids.len(), n, "the pool did not get {n} workers");
    pids
}

/// A file path unique to this test process and `what`.
fn scratch(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("spindle-{}-{what}", std::process::id()))
}

/// Reads the pid a task wrote to `path`, kills that process and removes the file.
fn kill_written_pid(path: &std::path::Path) {
    let deadline = Instant::now() + PATIENCE;
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse::<i32>()
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "no pid in {path:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    // SAFETY: sends SIGKILL to the forked child the task made; it is not our child,
    // and lives as long as this process, so its pid cannot have been reused yet.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = std::fs::remove_file(path);
}

/// Runs this binary again in `role`, with SIGPIPE's default action or not; its exit
/// status and stdout.
fn run_role(role: &str) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE_ENV, role)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (child.wait().unwrap(), out)
}

// ---- the cases ----

/// Issue 13, item 1 (head-of-line blocking): each worker was handed "the task it runs
/// and the next", so a quick task could be committed to a worker busy for 8 s while
/// the other sat idle. Python's pool has one queue any free worker takes from.
fn a_quick_task_never_waits_behind_a_long_one_while_a_worker_is_idle() {
    // Each quick task is expected within milliseconds; the bound is generous (the
    // machine may be busy), and far below the long task's 8 s.
    let bound = Duration::from_secs(2);
    let pool = ProcessPoolExecutor::new(2);
    wait_for_workers(&pool, 2);
    let long = pool.submit(SLEEPS_MS, 8_000);
    let quick = pool.submit(SQUARE, 2);
    assert_eq!(get_within(quick, bound, "the quick task"), Ok(4));
    // The other worker busy for a moment when the quick task comes: it is queued
    // behind one of the two, and taken back by whichever is free first.
    let short = pool.submit(SLEEPS_MS, 50);
    let quick = pool.submit(SQUARE, 3);
    assert_eq!(get_within(quick, bound, "the quick task behind"), Ok(9));
    assert_eq!(get(short), Ok(50));
    assert!(!long.done());
    pool.kill_workers(); // no 8 s wait for the drop
    assert_eq!(
        get(long).map_err(|e| e.worker_signal()),
        Err(Some(libc::SIGKILL))
    );
}

/// A worker whose tasks are quick holds many requests at once (up to 16), so a long
/// task in the middle of a burst of tiny ones has a pipeful of them queued behind it.
/// The other worker must take back every one of them, oldest first, not only one: no
/// task waits while a worker is idle.
fn a_burst_strands_no_task_behind_a_long_one() {
    let bound = Duration::from_secs(5);
    let pool = ProcessPoolExecutor::new(2);
    wait_for_workers(&pool, 2);
    let before: Vec<_> = (0..300).map(|x| pool.submit(SQUARE, x)).collect();
    let long = pool.submit(SLEEPS_MS, 20_000);
    let after: Vec<_> = (0..300).map(|_| pool.submit(PID, ())).collect();
    for (x, f) in (0..).zip(before) {
        assert_eq!(
            get_within(f, bound, "a task before the long one"),
            Ok(x * x)
        );
    }
    let ran_on: HashSet<u32> = (after.into_iter())
        .map(|f| get_within(f, bound, "a task after the long one").unwrap())
        .collect();
    // Every task after the long one ran on the worker that is free: the other one has
    // been running the long task since before they could start.
    assert_eq!(ran_on.len(), 1, "{ran_on:?}");
    assert!(!long.done());
    pool.kill_workers(); // no 20 s wait for the drop
    assert_eq!(
        get(long).map_err(|e| e.worker_signal()),
        Err(Some(libc::SIGKILL))
    );
}

/// Issue 13, item 2: a worker's death was learned only from end-of-file on its pipe,
/// which a forked child holding the pipe delays for as long as it lives.
fn a_forked_child_does_not_hide_its_workers_death() {
    let pool = ProcessPoolExecutor::new(1);
    let path = scratch("forks-then-aborts");
    let f = pool.submit(FORKS_THEN_ABORTS, path.to_string_lossy().into_owned());
    let outcome = get_within(f, Duration::from_secs(10), "the aborted task");
    kill_written_pid(&path);
    assert_eq!(outcome, died("killed by signal 6"));
    assert_eq!(get(pool.submit(SQUARE, 5)), Ok(25));
}

/// Issue 13, item 2, through the timer: a runaway task whose forked child holds the
/// pipe still times out on time, and dropping the pool does not wait for the child.
fn a_forked_child_does_not_hide_a_timed_out_worker() {
    let pool = ProcessPoolExecutor::new(1);
    let path = scratch("forks-then-spins");
    let f = pool.submit_with_timeout(
        FORKS_THEN_SPINS,
        path.to_string_lossy().into_owned(),
        Duration::from_millis(200),
    );
    let outcome = get_within(f, Duration::from_secs(10), "the runaway task");
    let start = Instant::now();
    drop(pool);
    let dropped = start.elapsed();
    kill_written_pid(&path);
    assert_eq!(outcome, Err(TaskError::Timeout));
    assert!(
        dropped < Duration::from_secs(10),
        "the drop took {dropped:?}"
    );
}

/// Issue 13, item 3: a task finishing right at its deadline had its worker killed
/// with its reply already in the pipe, and the untimed task queued behind it failed
/// with `WorkerDied("killed by signal 9")` instead of running elsewhere.
fn the_task_behind_one_at_its_deadline_never_pays_for_it() {
    const ROUNDS: u64 = 200;
    let timeout = Duration::from_millis(3);
    let pool = ProcessPoolExecutor::new(1);
    let mut timeouts = 0;
    for round in 0..ROUNDS {
        // Around the deadline: from 400 us before it to 100 us after.
        let us = 2_600 + (round % 50) * 10;
        let edge = pool.submit_with_timeout(SLEEPS_US, us, timeout);
        let behind = pool.submit(SQUARE, round);
        match get(edge) {
            Ok(_) => {}
            Err(TaskError::Timeout) => timeouts += 1,
            other => panic!("round {round}: the timed task got {other:?}"),
        }
        assert_eq!(get(behind), Ok(round * round), "round {round}");
    }
    println!("    ({timeouts} of {ROUNDS} timed tasks timed out)");
}

/// Issue 13, item 4: a result over the frame limit was encoded whole before the limit
/// was checked, so a large one killed its worker (out of memory) instead of being
/// refused.
fn an_oversized_result_is_refused_without_killing_its_worker() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .memory_limit(256 << 20)
        .max_frame_size(8 << 20)
        .build();
    let before = get(pool.submit(PID, ())).unwrap();
    // 160 MiB: encoding it whole would need as much again, over the memory limit.
    assert_eq!(
        get(pool.submit(HUGE_RESULT, 160 << 20)),
        Err(TaskError::ResultTooLarge { limit: 8 << 20 })
    );
    assert_eq!(
        get(pool.submit(PID, ())),
        Ok(before),
        "the worker was replaced"
    );
}

/// Issue 13, item 5: one worker killed by a signal while it started broke the pool
/// for good, with a hint that `init()` is missing.
fn a_worker_killed_while_starting_is_replaced() {
    let (status, out) = run_role("kills-a-starting-worker");
    assert!(status.success(), "{status}: {out}");
    assert!(out.contains("all tasks ran"), "{out}");
}

/// The role of `a_worker_killed_while_starting_is_replaced`: its workers take 300 ms
/// to start (see `main`); it kills one of them while it starts.
fn kill_a_starting_worker() {
    let pool = ProcessPoolExecutor::new(2);
    let deadline = Instant::now() + PATIENCE;
    let starting = loop {
        if let Some(&pid) = children().first() {
            break pid;
        }
        assert!(Instant::now() < deadline, "no worker started");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(pool.worker_pids().is_empty(), "a worker was ready at once");
    // SAFETY: SIGKILL to our own child, not yet reaped (its supervisor waits on it).
    unsafe { libc::kill(starting as i32, libc::SIGKILL) };
    let results: Vec<_> = (0..10u64).map(|x| pool.submit(SQUARE, x)).collect();
    for (x, f) in (0..10u64).zip(results) {
        assert_eq!(get(f), Ok(x * x), "task {x}");
    }
    println!("all tasks ran");
}

/// Issue 13, item 6: a worker that died between tasks (here a task closed its request
/// pipe and returned) failed the next task, which it never started, with
/// `WorkerDied`.
fn a_worker_dying_between_tasks_fails_no_task() {
    let pool = ProcessPoolExecutor::new(1);
    for round in 0..5u64 {
        let closer = pool.submit(CLOSES_ITS_REQUESTS, ());
        let next = pool.submit(SQUARE, round);
        assert_eq!(get(closer), Ok(1), "round {round}");
        assert_eq!(get(next), Ok(round * round), "round {round}");
    }
}

/// Issue 13, item 7: a program that restores SIGPIPE's default action was killed by
/// SIGPIPE (exit status 141) when the pool wrote to a worker whose pipe had no reader.
fn a_dead_workers_pipe_never_raises_sigpipe() {
    let (status, out) = run_role("writes-to-a-stranded-worker");
    assert!(status.success(), "{status}: {out}");
    assert!(out.contains("all tasks ran"), "{out}");
}

/// The role of `a_dead_workers_pipe_never_raises_sigpipe`, with SIGPIPE's default
/// action (set in `main`).
fn write_to_a_stranded_worker() {
    let pool = ProcessPoolExecutor::new(1);
    for round in 0..3u64 {
        assert_eq!(get(pool.submit(STRANDS_ITS_REQUESTS, ())), Ok(1));
        assert_eq!(get(pool.submit(SQUARE, round)), Ok(round * round));
    }
    println!("all tasks ran");
}

/// Take-backs never run a task twice, and never lose one. Each round queues a task
/// behind a longer one while the other worker runs a short one, which then takes it
/// back, or finds that the busy worker has just started it (the lengths vary so that
/// both happen); every task creates its own file, which it cannot do twice.
fn taken_back_tasks_run_exactly_once() {
    let dir = scratch("runs-once");
    std::fs::create_dir_all(&dir).unwrap();
    let pool = ProcessPoolExecutor::new(2);
    wait_for_workers(&pool, 2);
    let mut outcomes = Vec::new();
    for round in 0..150u64 {
        let lengths = [1_000 + round % 10 * 150, round % 4 * 100, round % 3 * 200];
        let futures: Vec<_> = (lengths.iter().enumerate())
            .map(|(i, &us)| {
                let path = dir.join(format!("{round}-{i}"));
                pool.submit(RUNS_ONCE, (path.to_string_lossy().into_owned(), us))
            })
            .collect();
        outcomes.extend(futures.into_iter().map(|f| (round, get(f))));
    }
    let ran = std::fs::read_dir(&dir).unwrap().count();
    std::fs::remove_dir_all(&dir).unwrap();
    for (round, outcome) in &outcomes {
        assert!(outcome.is_ok(), "round {round}: {outcome:?}");
    }
    assert_eq!(ran, 450);
}

/// Take-backs from the middle of a pipe never run a task twice, and never lose one:
/// each round, one task in a burst of tiny ones is slower, with tiny ones queued
/// behind it in a quick worker's pipe, which the other worker takes back, oldest
/// first (or finds started). Every task creates its own file, which it cannot do twice.
fn taken_back_from_a_deep_pipe_tasks_run_exactly_once() {
    let dir = scratch("runs-once-deep");
    std::fs::create_dir_all(&dir).unwrap();
    let pool = ProcessPoolExecutor::new(2);
    wait_for_workers(&pool, 2);
    let mut outcomes = Vec::new();
    for round in 0..60u64 {
        let slow = 3 + round % 11;
        let futures: Vec<_> = (0..40u64)
            .map(|i| {
                let path = dir.join(format!("{round}-{i}"));
                let us = if i == slow {
                    2_000 + round % 5 * 500
                } else {
                    0
                };
                pool.submit(RUNS_ONCE, (path.to_string_lossy().into_owned(), us))
            })
            .collect();
        outcomes.extend(futures.into_iter().map(|f| (round, get(f))));
    }
    let ran = std::fs::read_dir(&dir).unwrap().count();
    std::fs::remove_dir_all(&dir).unwrap();
    for (round, outcome) in &outcomes {
        assert!(outcome.is_ok(), "round {round}: {outcome:?}");
    }
    assert_eq!(ran, 60 * 40);
}

/// Every 25th task aborts its worker, on a pool busy with tasks queued behind others:
/// each aborting task fails with its signal, every other task succeeds, none is lost.
fn aborting_workers_lose_no_other_task() {
    let pool = ProcessPoolExecutor::new(2);
    let mut squares = Vec::new();
    let mut aborts = Vec::new();
    for i in 0..500u64 {
        if i % 25 == 24 {
            aborts.push(pool.submit(ABORTS, ()));
        } else {
            squares.push((i, pool.submit(SQUARE, i)));
        }
    }
    for f in aborts {
        let why = get(f).unwrap_err();
        assert_eq!(why.worker_signal(), Some(libc::SIGABRT), "{why}");
    }
    for (i, f) in squares {
        assert_eq!(get(f), Ok(i * i), "task {i}");
    }
}

/// A worker whose initializer failed runs no task, not even one already queued in its
/// pipe: every task fails with `BrokenPool` (Python's `BrokenProcessPool`).
fn a_worker_whose_initializer_failed_runs_no_task() {
    let dir = scratch("after-failed-init");
    std::fs::create_dir_all(&dir).unwrap();
    for round in 0..10 {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .initializer(FAILS_TO_SET_UP, ())
            .build();
        let path = dir.join(round.to_string());
        let task = pool.submit(RUNS_ONCE, (path.to_string_lossy().into_owned(), 0));
        match get(task) {
            Err(TaskError::BrokenPool(why)) => assert!(why.contains("no configuration"), "{why}"),
            other => panic!("round {round}: {other:?}"),
        }
        assert!(!path.exists(), "round {round}: the task ran");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How a worker ended can be matched without reading the message.
fn a_workers_end_is_structured() {
    let pool = ProcessPoolExecutor::new(1);
    let aborted = get(pool.submit(ABORTS, ())).unwrap_err();
    assert_eq!(aborted, TaskError::WorkerDied("killed by signal 6".into()));
    assert_eq!(
        (aborted.worker_signal(), aborted.worker_exit_status()),
        (Some(6), None)
    );
    let exited = get(pool.submit(EXITS_3, ())).unwrap_err();
    assert_eq!(
        (exited.worker_signal(), exited.worker_exit_status()),
        (None, Some(3))
    );
    assert_eq!(TaskError::Timeout.worker_signal(), None);
}

/// Waits until a task has created `path` (it has started), then removes it.
fn wait_for_file(path: &std::path::Path) {
    let deadline = Instant::now() + PATIENCE;
    while !path.exists() {
        assert!(Instant::now() < deadline, "{path:?} never appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::remove_file(path).unwrap();
}

/// Python 3.14's `kill_workers`: every worker stops now, a running task fails saying
/// so, every other task is cancelled, and the pool drops at once.
fn kill_workers_stops_everything_now() {
    let pool = ProcessPoolExecutor::new(2);
    let paths: Vec<_> = (0..2).map(|i| scratch(&format!("spinning-{i}"))).collect();
    let running: Vec<_> = (paths.iter())
        .map(|p| pool.submit(STARTS_THEN_SPINS, p.to_string_lossy().into_owned()))
        .collect();
    let queued: Vec<_> = (0..5).map(|x| pool.submit(SQUARE, x)).collect();
    for path in &paths {
        wait_for_file(path);
    }
    pool.kill_workers();
    for f in running {
        let why = get(f).unwrap_err();
        assert_eq!(
            why,
            TaskError::WorkerDied("kill_workers() stopped the worker: killed by signal 9".into())
        );
        assert_eq!(why.worker_signal(), Some(libc::SIGKILL));
    }
    for f in queued {
        assert_eq!(get(f), Err(TaskError::Cancelled));
    }
    let start = Instant::now();
    let submit = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.submit(SQUARE, 1)));
    assert!(submit.is_err(), "submit after kill_workers must panic");
    drop(pool);
    assert!(start.elapsed() < Duration::from_secs(10), "the drop waited");
}

/// Python 3.14's `terminate_workers`: SIGTERM, which a task may ignore (its task then
/// finishes, and its worker exits after it); the tasks behind are cancelled.
fn terminate_workers_sends_sigterm() {
    let pool = ProcessPoolExecutor::new(2);
    let (spinning, shrugging) = (scratch("terminated"), scratch("shrugs"));
    let doomed = pool.submit(STARTS_THEN_SPINS, spinning.to_string_lossy().into_owned());
    let survivor = pool.submit(
        SHRUGS_OFF_SIGTERM,
        (shrugging.to_string_lossy().into_owned(), 300),
    );
    let queued = pool.submit(SQUARE, 3);
    wait_for_file(&spinning);
    wait_for_file(&shrugging);
    pool.terminate_workers();
    let why = get(doomed).unwrap_err();
    assert_eq!(
        why,
        TaskError::WorkerDied("terminate_workers() stopped the worker: killed by signal 15".into())
    );
    assert_eq!(get(survivor), Ok(300));
    assert_eq!(get(queued), Err(TaskError::Cancelled));
}

/// `map` and `map_chunked` take a timeout of their own (per item; per chunk).
fn map_takes_a_timeout() {
    let pool = ProcessPoolExecutor::new(2);
    let limit = Duration::from_millis(300);
    let got: Vec<_> = pool
        .map_with_timeout(SLEEPS_MS, [1, 60_000, 2], limit)
        .collect();
    assert_eq!(got, [Ok(1), Err(TaskError::Timeout), Ok(2)]);
    let got: Vec<_> = pool
        .map_chunked_with_timeout(SLEEPS_MS, [1, 1, 60_000, 1, 3], 2, limit)
        .collect();
    let timeout = Err(TaskError::Timeout);
    assert_eq!(got, [Ok(1), Ok(1), timeout.clone(), timeout, Ok(3)]);
}

const ROLE_ENV: &str = "PROCESS_CONTAINMENT_ROLE";

const CASES: &[Case] = &[
    (
        "a_quick_task_never_waits_behind_a_long_one_while_a_worker_is_idle",
        a_quick_task_never_waits_behind_a_long_one_while_a_worker_is_idle,
    ),
    (
        "a_burst_strands_no_task_behind_a_long_one",
        a_burst_strands_no_task_behind_a_long_one,
    ),
    (
        "a_forked_child_does_not_hide_its_workers_death",
        a_forked_child_does_not_hide_its_workers_death,
    ),
    (
        "a_forked_child_does_not_hide_a_timed_out_worker",
        a_forked_child_does_not_hide_a_timed_out_worker,
    ),
    (
        "the_task_behind_one_at_its_deadline_never_pays_for_it",
        the_task_behind_one_at_its_deadline_never_pays_for_it,
    ),
    (
        "an_oversized_result_is_refused_without_killing_its_worker",
        an_oversized_result_is_refused_without_killing_its_worker,
    ),
    (
        "a_worker_killed_while_starting_is_replaced",
        a_worker_killed_while_starting_is_replaced,
    ),
    (
        "a_worker_dying_between_tasks_fails_no_task",
        a_worker_dying_between_tasks_fails_no_task,
    ),
    (
        "a_dead_workers_pipe_never_raises_sigpipe",
        a_dead_workers_pipe_never_raises_sigpipe,
    ),
    (
        "taken_back_tasks_run_exactly_once",
        taken_back_tasks_run_exactly_once,
    ),
    (
        "taken_back_from_a_deep_pipe_tasks_run_exactly_once",
        taken_back_from_a_deep_pipe_tasks_run_exactly_once,
    ),
    (
        "aborting_workers_lose_no_other_task",
        aborting_workers_lose_no_other_task,
    ),
    ("a_workers_end_is_structured", a_workers_end_is_structured),
    (
        "a_worker_whose_initializer_failed_runs_no_task",
        a_worker_whose_initializer_failed_runs_no_task,
    ),
    (
        "kill_workers_stops_everything_now",
        kill_workers_stops_everything_now,
    ),
    (
        "terminate_workers_sends_sigterm",
        terminate_workers_sends_sigterm,
    ),
    ("map_takes_a_timeout", map_takes_a_timeout),
];

/// How long one case may take before the whole run is declared hung.
const CASE_LIMIT: Duration = Duration::from_secs(90);

fn main() {
    let role = std::env::var(ROLE_ENV).unwrap_or_default();
    if role == "kills-a-starting-worker" && std::env::var_os("SPINDLE_PROCESS_WORKER").is_some() {
        // A worker of that role: slow to start, so that it can be killed while starting.
        std::thread::sleep(Duration::from_millis(300));
    }
    spindle::process::init();
    match role.as_str() {
        "kills-a-starting-worker" => return kill_a_starting_worker(),
        "writes-to-a-stranded-worker" => {
            // SAFETY: restores the default action of SIGPIPE before any thread starts.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            return write_to_a_stranded_worker();
        }
        _ => {}
    }
    // Every pool a case made is dropped by its end: no worker may remain.
    common::cases::run(CASES, CASE_LIMIT, || {
        assert_eq!(children(), Vec::<u32>::new(), "processes left behind")
    });
}
