//! The process pool against every fault it promises to contain. A `harness = false`
//! test: workers re-run this binary, so `main` must call `spindle::process::init()`
//! before anything else, then runs the cases itself, each bounded in time.
//!
//! It speaks enough of libtest's command line for `cargo test` and `cargo nextest`:
//! `--list`, a name filter, `--exact`.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::cases::Case;
use common::process::{children, died};

use spindle::futures::{Future, ReturnWhen, TaskError, as_completed, wait};
use spindle::process::ProcessPoolExecutor;

/// The longest any single wait in these tests may take: generous, as the machine is
/// small and shared.
const PATIENCE: Duration = Duration::from_secs(30);

static INITIALIZED: AtomicU32 = AtomicU32::new(0);

spindle::task! {
    const SQUARE = fn square(x: u64) -> u64 { x * x }

    const PID = fn pid(_x: ()) -> u32 { std::process::id() }

    const PANICS = fn panics(message: String) -> u32 { panic!("{message}") }

    const PANICS_ON_ODD = fn panics_on_odd(x: u64) -> u64 {
        assert!(x % 2 == 0, "odd: {x}");
        x
    }

    const ABORTS = fn aborts(_x: ()) { std::process::abort() }

    const SEGFAULTS = fn segfaults(_x: ()) {
        // SAFETY: restores the default action (Rust's runtime handles SIGSEGV to report
        // stack overflows), then raises the signal, which ends the worker.
        unsafe {
            libc::signal(libc::SIGSEGV, libc::SIG_DFL);
            libc::raise(libc::SIGSEGV);
        }
    }

    const EXITS_3 = fn exits_3(_x: ()) { std::process::exit(3) }

    const KILLS_ITSELF = fn kills_itself(_x: ()) {
        // SAFETY: sends a signal to this process, which ends it.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }

    const SPINS = fn spins(_x: ()) { loop { std::hint::spin_loop() } }

    const SLEEPS_MS = fn sleeps_ms(ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }

    const HOGS_MEMORY = fn hogs_memory(_x: ()) -> usize {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            blocks.push(std::hint::black_box(vec![1u8; 16 << 20]));
            if blocks.len() == usize::MAX { return blocks.len(); }
        }
    }

    const PRINTS_NOISE = fn prints_noise(x: u32) -> u32 {
        println!("\u{0}\u{0}\u{0}\u{ff} noise on stdout {x}");
        eprintln!("noise on stderr {x}");
        x
    }

    const WRITES_GARBAGE = fn writes_garbage(_x: ()) {
        write_reply_fd(&[5, 0, 0, 0, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe]);
        std::thread::sleep(Duration::from_secs(60));
    }

    const WRITES_HUGE_PREFIX = fn writes_huge_prefix(_x: ()) {
        write_reply_fd(&(1u32 << 30).to_le_bytes());
        std::thread::sleep(Duration::from_secs(60));
    }

    const WRITES_HALF_A_FRAME = fn writes_half_a_frame(_x: ()) {
        write_reply_fd(&[100, 0, 0, 0, 0, 1, 2]);
        std::process::exit(0)
    }

    const BIG_RESULT = fn big_result(len: usize) -> Vec<u8> { vec![7; len] }

    const REMEMBER = fn remember(level: u32) { INITIALIZED.store(level, Ordering::SeqCst) }

    const RECALLED = fn recalled(_x: ()) -> u32 { INITIALIZED.load(Ordering::SeqCst) }
}

/// Writes to the worker's reply pipe behind the pool's back (fd 4, see
/// `spindle::process`), as a buggy or hostile task could.
fn write_reply_fd(bytes: &[u8]) {
    // SAFETY: writes from a valid buffer to a descriptor; errors are ignored.
    unsafe { libc::write(4, bytes.as_ptr().cast(), bytes.len()) };
}

fn get<T>(f: Future<T>) -> Result<T, TaskError> {
    assert!(
        f.wait_timeout(PATIENCE),
        "a future did not complete within {PATIENCE:?}"
    );
    f.result()
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
        Err(_) => false,
    }
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

/// Waits until `f` has started.
fn wait_running<T>(f: &Future<T>) {
    let deadline = Instant::now() + PATIENCE;
    while !f.running() && !f.done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn pool(workers: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::new(workers)
}

// ---- the cases ----

fn the_pool_and_its_futures_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<ProcessPoolExecutor>();
    send::<Future<u64>>();
    let pool = std::sync::Arc::new(pool(2));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = std::sync::Arc::clone(&pool);
            spindle::thread::spawn(move || {
                let futures: Vec<_> = (0..50).map(|x| pool.submit(SQUARE, t * 100 + x)).collect();
                futures
                    .into_iter()
                    .zip(0..50)
                    .all(|(f, x)| get(f) == Ok((t * 100 + x).pow(2)))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap());
    }
}

fn submit_returns_the_result() {
    let pool = pool(2);
    assert_eq!(get(pool.submit(SQUARE, 12)), Ok(144));
    let worker = get(pool.submit(PID, ())).unwrap();
    assert_ne!(worker, std::process::id());
    assert!(pool.worker_pids().contains(&worker));
}

fn futures_work_with_as_completed_and_wait() {
    let pool = pool(2);
    // Not done before its 3 s timeout kills it; the other finishes long before.
    let slow = pool.submit_with_timeout(SPINS, (), Duration::from_secs(3));
    let quick = pool.submit_with_timeout(SPINS, (), Duration::from_millis(1));
    let futures = vec![slow, quick];
    let w = wait(&futures, ReturnWhen::FirstCompleted, Some(PATIENCE));
    assert_eq!((w.done, w.not_done), (vec![1], vec![0]));
    let order: Vec<Result<(), TaskError>> = as_completed(futures).map(Future::result).collect();
    assert_eq!(order, [Err(TaskError::Timeout), Err(TaskError::Timeout)]);
    let squares: Vec<Future<u64>> = (0..10).map(|x| pool.submit(SQUARE, x)).collect();
    let w = wait(&squares, ReturnWhen::AllCompleted, Some(PATIENCE));
    assert_eq!(w.done.len(), 10);
    let mut got: Vec<u64> = as_completed(squares).map(|f| f.result().unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..10).map(|x| x * x).collect::<Vec<_>>());
}

fn map_keeps_input_order() {
    let pool = pool(2);
    let expected: Vec<u64> = (0..300).map(|x| x * x).collect();
    for chunksize in [1, 7, 100] {
        let got: Vec<u64> = pool
            .map_chunked(SQUARE, 0..300u64, chunksize)
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, expected, "chunksize {chunksize}");
    }
    let got: Vec<u64> = pool
        .map(SLEEPS_MS, [30, 1, 20, 0])
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, [30, 1, 20, 0]);
}

fn map_gives_each_item_its_own_panic() {
    let pool = pool(2);
    for chunksize in [1, 4] {
        let got: Vec<_> = pool
            .map_chunked(PANICS_ON_ODD, 0..6u64, chunksize)
            .collect();
        for (x, r) in (0..6u64).zip(&got) {
            match r {
                Ok(v) => assert!(x % 2 == 0 && *v == x),
                Err(TaskError::Panicked(p)) => assert_eq!(p.message(), format!("odd: {x}")),
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
}

fn a_panic_fails_its_task_and_the_worker_lives_on() {
    let pool = pool(1);
    let before = get(pool.submit(PID, ())).unwrap();
    match get(pool.submit(PANICS, "no such file".to_owned())) {
        Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "no such file"),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(get(pool.submit(PID, ())), Ok(before));
}

/// Each way to die, on a pool busy with other work: the dying task gets its cause,
/// every other task completes, and a replacement worker runs later tasks.
fn each_death_fails_only_its_task() {
    let cases: [(&str, spindle::process::TaskHandle<(), ()>, &str); 4] = [
        ("abort", ABORTS, "killed by signal 6"),
        ("segfault", SEGFAULTS, "killed by signal 11"),
        ("exit(3)", EXITS_3, "exited with status 3"),
        ("SIGKILL", KILLS_ITSELF, "killed by signal 9"),
    ];
    let pool = pool(2);
    for (what, task, why) in cases {
        let others: Vec<_> = (0..20u64).map(|x| pool.submit(SQUARE, x)).collect();
        let dying = pool.submit(task, ());
        let more: Vec<_> = (20..40u64).map(|x| pool.submit(SQUARE, x)).collect();
        assert_eq!(get(dying), died(why), "{what}");
        for (x, f) in (0..40u64).zip(others.into_iter().chain(more)) {
            assert_eq!(get(f), Ok(x * x), "{what}: task {x}");
        }
    }
    assert_eq!(get(pool.submit(SQUARE, 3)), Ok(9));
}

fn a_worker_killed_from_outside_fails_its_task() {
    let pool = pool(1);
    let f = pool.submit(SLEEPS_MS, 60_000);
    wait_running(&f);
    let victim = pool.worker_pids()[0];
    std::thread::sleep(Duration::from_millis(50)); // let it start the task
    // SAFETY: sends SIGKILL to our own worker.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    assert_eq!(
        get(f),
        Err(TaskError::WorkerDied("killed by signal 9".into()))
    );
    let replacement = get(pool.submit(PID, ())).unwrap();
    assert_ne!(replacement, victim);
}

fn unbounded_allocation_under_a_memory_limit_kills_only_its_worker() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .memory_limit(512 << 20)
        .build();
    let others: Vec<_> = (0..10u64).map(|x| pool.submit(SQUARE, x)).collect();
    let hog = pool.submit(HOGS_MEMORY, ());
    // Rust aborts when an allocation fails.
    assert_eq!(
        get(hog),
        Err(TaskError::WorkerDied("killed by signal 6".into()))
    );
    for (x, f) in (0..10u64).zip(others) {
        assert_eq!(get(f), Ok(x * x));
    }
    assert_eq!(get(pool.submit(SQUARE, 5)), Ok(25));
}

fn a_task_past_its_timeout_is_killed() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .timeout(Duration::from_millis(300))
        .build();
    let before = wait_for_workers(&pool, 2);
    let start = Instant::now();
    let runaway = pool.submit(SPINS, ());
    let quick: Vec<_> = (0..20u64).map(|x| pool.submit(SQUARE, x)).collect();
    assert_eq!(get(runaway), Err(TaskError::Timeout));
    assert!(start.elapsed() >= Duration::from_millis(300));
    for (x, f) in (0..20u64).zip(quick) {
        assert_eq!(get(f), Ok(x * x));
    }
    // The killed worker was replaced.
    let after = wait_for_workers(&pool, 2);
    assert_eq!(
        before.intersection(&after).count(),
        1,
        "{before:?} {after:?}"
    );
    // A task's own timeout overrides the pool's.
    assert_eq!(
        get(pool.submit_with_timeout(SLEEPS_MS, 600, Duration::from_secs(20))),
        Ok(600)
    );
}

fn bad_frames_kill_only_their_worker() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .max_frame_size(1 << 20)
        .build();
    let cases: [(spindle::process::TaskHandle<(), ()>, &str); 3] = [
        (WRITES_GARBAGE, "garbage frame"),
        (
            WRITES_HUGE_PREFIX,
            "frame of 1073741824 bytes refused: over the limit of 1048576 bytes",
        ),
        (WRITES_HALF_A_FRAME, "truncated frame"),
    ];
    for (task, what) in cases {
        let others: Vec<_> = (0..10u64).map(|x| pool.submit(SQUARE, x)).collect();
        match get(pool.submit(task, ())) {
            Err(TaskError::WorkerDied(why)) => assert!(why.contains(what), "{why}"),
            other => panic!("expected WorkerDied({what}), got {other:?}"),
        }
        for (x, f) in (0..10u64).zip(others) {
            assert_eq!(get(f), Ok(x * x));
        }
    }
}

fn frames_over_the_limit_are_refused() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_frame_size(4096)
        .build();
    // An argument too large fails at once, without reaching a worker.
    let too_large = get(pool.submit(SUM_BYTES, vec![1u8; 10_000]));
    assert_eq!(too_large, Err(TaskError::ArgumentTooLarge { limit: 4096 }));
    assert!((too_large.unwrap_err().to_string()).contains("over the frame limit of 4096 bytes"));
    // A result too large fails its task; the worker lives on.
    let before = get(pool.submit(PID, ())).unwrap();
    assert_eq!(
        get(pool.submit(BIG_RESULT, 10_000)),
        Err(TaskError::ResultTooLarge { limit: 4096 })
    );
    // Also for a chunk whose results, together, are too large.
    let chunk: Vec<_> = pool.map_chunked(BIG_RESULT, [3_000, 3_000], 2).collect();
    assert_eq!(
        chunk,
        vec![Err(TaskError::ResultTooLarge { limit: 4096 }); 2]
    );
    assert_eq!(get(pool.submit(BIG_RESULT, 100)).unwrap().len(), 100);
    assert_eq!(get(pool.submit(PID, ())), Ok(before));
}

spindle::task! {
    const SUM_BYTES = fn sum_bytes(bytes: Vec<u8>) -> u64 { bytes.iter().map(|&b| u64::from(b)).sum() }
}

fn large_arguments_and_results_travel() {
    let pool = pool(2);
    // Over the pipe's buffer, and over what a busy worker is sent.
    let len = 1 << 20;
    let sums: Vec<_> = (0..4)
        .map(|_| pool.submit(SUM_BYTES, vec![1u8; len]))
        .collect();
    let blobs: Vec<_> = (0..3).map(|_| pool.submit(BIG_RESULT, len)).collect();
    for f in sums {
        assert_eq!(get(f), Ok(len as u64));
    }
    for f in blobs {
        let blob = get(f).unwrap();
        assert!(blob.len() == len && blob.iter().all(|&b| b == 7));
    }
}

fn prints_do_not_corrupt_the_protocol() {
    let pool = pool(2);
    let got: Vec<u32> = pool
        .map(PRINTS_NOISE, 0..50u32)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

fn queued_tasks_can_be_cancelled() {
    let pool = pool(1);
    let busy: Vec<_> = (0..2).map(|_| pool.submit(SLEEPS_MS, 300)).collect();
    let queued: Vec<_> = (0..5).map(|_| pool.submit(SLEEPS_MS, 300)).collect();
    for f in &queued {
        assert!(f.cancel());
        assert!(f.cancelled());
    }
    for f in busy {
        assert_eq!(get(f), Ok(300));
    }
    for f in queued {
        assert_eq!(f.result(), Err(TaskError::Cancelled));
    }
    assert_eq!(get(pool.submit(SQUARE, 4)), Ok(16));
}

fn shutdown_can_cancel_the_queue() {
    let pool = pool(1);
    let futures: Vec<_> = (0..8).map(|_| pool.submit(SLEEPS_MS, 100)).collect();
    wait_running(&futures[0]);
    pool.shutdown(true, true);
    let outcomes: Vec<_> = futures.into_iter().map(get).collect();
    let done = outcomes.iter().filter(|r| **r == Ok(100)).count();
    let cancelled = outcomes
        .iter()
        .filter(|r| **r == Err(TaskError::Cancelled))
        .count();
    assert_eq!(done + cancelled, 8, "{outcomes:?}");
    assert!((1..=2).contains(&done), "{outcomes:?}");
    assert!(pool.worker_pids().is_empty());
    let after = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.submit(SQUARE, 1)));
    assert!(after.is_err(), "submit after shutdown must panic");
}

fn shutdown_without_waiting_still_finishes_the_work() {
    let pool = pool(2);
    let futures: Vec<_> = (0..4).map(|_| pool.submit(SLEEPS_MS, 1500)).collect();
    let start = Instant::now();
    pool.shutdown(false, false);
    // The work takes 3 s: returning within 1 s means it did not wait.
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "shutdown(false, _) waited"
    );
    for f in futures {
        assert_eq!(get(f), Ok(1500));
    }
    drop(pool); // waits for the workers to exit and be reaped
}

fn max_tasks_per_child_rotates_workers() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .build();
    let pids: Vec<u32> = (0..6).map(|_| get(pool.submit(PID, ())).unwrap()).collect();
    let distinct: HashSet<u32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "{pids:?}");
    for pair in pids.chunks(2) {
        assert_eq!(pair[0], pair[1], "{pids:?}");
    }
    // Also when the tasks arrive all at once.
    let pids: Vec<u32> = pool.map(PID, vec![(); 8]).map(Result::unwrap).collect();
    assert_eq!(
        pids.iter().copied().collect::<HashSet<_>>().len(),
        4,
        "{pids:?}"
    );
}

fn the_initializer_runs_in_every_worker() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .initializer(REMEMBER, 42)
        .build();
    for f in (0..6)
        .map(|_| pool.submit(RECALLED, ()))
        .collect::<Vec<_>>()
    {
        assert_eq!(get(f), Ok(42));
    }
    assert_eq!(
        INITIALIZED.load(Ordering::SeqCst),
        0,
        "the initializer ran in the parent"
    );
}

fn a_failing_initializer_breaks_the_pool() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(PANICS, "bad config".to_owned())
        .build();
    match get(pool.submit(SQUARE, 2)) {
        Err(TaskError::BrokenPool(why)) => assert!(why.contains("bad config"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        get(pool.submit(SQUARE, 3)),
        Err(TaskError::BrokenPool(_))
    ));
}

/// The role of a child process in `workers_die_with_their_parent`: starts a pool with
/// one busy and one idle worker, prints their pids, and waits to be killed.
fn orphaning_parent() {
    let pool = pool(2);
    let _busy = pool.submit(SPINS, ());
    let deadline = Instant::now() + PATIENCE;
    while pool.worker_pids().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
    println!("{}", pids.join(" "));
    std::thread::sleep(PATIENCE * 2);
}

fn workers_die_with_their_parent() {
    let mut parent = Command::new(std::env::current_exe().unwrap())
        .env(ROLE_ENV, "orphaning-parent")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let workers: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "{line:?}");
    assert!(workers.iter().all(|&w| alive(w)));
    parent.kill().unwrap(); // SIGKILL: no destructor, no shutdown runs
    parent.wait().unwrap();
    let deadline = Instant::now() + PATIENCE;
    while workers.iter().any(|&w| alive(w)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<u32> = workers.iter().copied().filter(|&w| alive(w)).collect();
    assert!(left.is_empty(), "workers {left:?} outlived their parent");
}

fn a_program_without_init_breaks_the_pool() {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ROLE_ENV, "no-init")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("BrokenPool") && stdout.contains("init()"),
        "{stdout}"
    );
}

/// The role of a child process whose workers skip `init()`.
fn pool_without_init() {
    let pool = pool(1);
    println!("{:?}", get(pool.submit(SQUARE, 2)));
}

const ROLE_ENV: &str = "PROCESS_FAULTS_ROLE";

const CASES: &[Case] = &[
    ("submit_returns_the_result", submit_returns_the_result),
    (
        "the_pool_and_its_futures_cross_threads",
        the_pool_and_its_futures_cross_threads,
    ),
    (
        "futures_work_with_as_completed_and_wait",
        futures_work_with_as_completed_and_wait,
    ),
    ("map_keeps_input_order", map_keeps_input_order),
    (
        "map_gives_each_item_its_own_panic",
        map_gives_each_item_its_own_panic,
    ),
    (
        "a_panic_fails_its_task_and_the_worker_lives_on",
        a_panic_fails_its_task_and_the_worker_lives_on,
    ),
    (
        "each_death_fails_only_its_task",
        each_death_fails_only_its_task,
    ),
    (
        "a_worker_killed_from_outside_fails_its_task",
        a_worker_killed_from_outside_fails_its_task,
    ),
    (
        "unbounded_allocation_under_a_memory_limit_kills_only_its_worker",
        unbounded_allocation_under_a_memory_limit_kills_only_its_worker,
    ),
    (
        "a_task_past_its_timeout_is_killed",
        a_task_past_its_timeout_is_killed,
    ),
    (
        "bad_frames_kill_only_their_worker",
        bad_frames_kill_only_their_worker,
    ),
    (
        "frames_over_the_limit_are_refused",
        frames_over_the_limit_are_refused,
    ),
    (
        "large_arguments_and_results_travel",
        large_arguments_and_results_travel,
    ),
    (
        "prints_do_not_corrupt_the_protocol",
        prints_do_not_corrupt_the_protocol,
    ),
    (
        "queued_tasks_can_be_cancelled",
        queued_tasks_can_be_cancelled,
    ),
    (
        "shutdown_can_cancel_the_queue",
        shutdown_can_cancel_the_queue,
    ),
    (
        "shutdown_without_waiting_still_finishes_the_work",
        shutdown_without_waiting_still_finishes_the_work,
    ),
    (
        "max_tasks_per_child_rotates_workers",
        max_tasks_per_child_rotates_workers,
    ),
    (
        "the_initializer_runs_in_every_worker",
        the_initializer_runs_in_every_worker,
    ),
    (
        "a_failing_initializer_breaks_the_pool",
        a_failing_initializer_breaks_the_pool,
    ),
    (
        "workers_die_with_their_parent",
        workers_die_with_their_parent,
    ),
    (
        "a_program_without_init_breaks_the_pool",
        a_program_without_init_breaks_the_pool,
    ),
];

/// How long one case may take before the whole run is declared hung.
const CASE_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    // The role "no-init" plays a program that forgot the rule: its workers run main.
    if std::env::var(ROLE_ENV).as_deref() == Ok("no-init") {
        return pool_without_init();
    }
    spindle::process::init();
    if std::env::var(ROLE_ENV).as_deref() == Ok("orphaning-parent") {
        return orphaning_parent();
    }
    // Every pool a case made is dropped by its end: no worker may remain.
    common::cases::run(CASES, CASE_LIMIT, || {
        assert_eq!(children(), Vec::<u32>::new(), "processes left behind")
    });
}
