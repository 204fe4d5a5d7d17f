//! `deadlock::check()`: cycles and global stalls found on demand, from outside.
//!
//! Detection mode is process-wide: these tests are written for nextest, which runs each
//! test in its own process (the README's test command).

use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::deadlock::{self, DeadlockKind, Detection};
use spindle::sync::{Barrier, Event, Mutex};
use spindle::thread::{JoinHandle, Thread, ThreadInfo, ThreadState};

/// Polls until every thread is in `state`, for at most 20 s.
fn wait_until_all(threads: &[ThreadInfo], state: ThreadState) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if threads.iter().all(|t| t.state() == state) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn named<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    Thread::new(f).name(name).start().unwrap()
}

#[test]
fn check_finds_a_three_thread_cycle_and_lists_only_its_threads() {
    // With lock-time detection off the cycle really forms; check() must find it.
    deadlock::set_detection(Detection::Off);
    let locks: Arc<Vec<Mutex<()>>> = Arc::new(
        (0..3)
            .map(|i| Mutex::named(format!("ring-{i}"), ()))
            .collect(),
    );
    let all_hold = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let (locks, all_hold) = (Arc::clone(&locks), Arc::clone(&all_hold));
            named(&format!("ring-thread-{i}"), move || {
                let _mine = locks[i].lock();
                all_hold.wait().unwrap();
                let _next = locks[(i + 1) % 3].lock();
            })
        })
        .collect();
    // A bystander that is merely busy must not appear in the report.
    let bystander_stop = Arc::new(Event::new());
    let stop = Arc::clone(&bystander_stop);
    let bystander = named("bystander", move || {
        stop.wait_timeout(Duration::from_secs(60))
    });

    let infos: Vec<ThreadInfo> = handles.iter().map(|h| h.info()).collect();
    assert!(
        wait_until_all(&infos, ThreadState::Blocked),
        "the ring never formed"
    );

    let found = deadlock::check();
    let cycles: Vec<_> = found
        .iter()
        .filter(|d| d.kind() == DeadlockKind::Cycle)
        .collect();
    assert_eq!(cycles.len(), 1, "{found:#?}");
    let mut names = cycles[0].thread_names();
    names.sort();
    assert_eq!(names, ["ring-thread-0", "ring-thread-1", "ring-thread-2"]);
    let text = cycles[0].to_string();
    for lock in ["ring-0", "ring-1", "ring-2"] {
        assert!(text.contains(lock), "{text}");
    }
    assert!(!text.contains("bystander"));
    bystander_stop.set();
    assert!(bystander.join().unwrap());
    // The ring threads stay deadlocked; the test process ends with them.
}

#[test]
fn check_finds_a_global_stall_of_event_waits() {
    // Two threads each wait for an event only the other would set: no lock, no cycle
    // of owners, yet nothing can ever move.
    let (ping, pong) = (
        Arc::new(Event::named("ping")),
        Arc::new(Event::named("pong")),
    );
    let (p1, q1) = (Arc::clone(&ping), Arc::clone(&pong));
    let a = named("waits-for-ping", move || {
        p1.wait();
        q1.set();
    });
    let (p2, q2) = (Arc::clone(&ping), Arc::clone(&pong));
    let b = named("waits-for-pong", move || {
        q2.wait();
        p2.set();
    });
    assert!(wait_until_all(&[a.info(), b.info()], ThreadState::Waiting));

    // Asked from a daemon thread, while the test thread waits for it without a timeout.
    let checker = Thread::new(deadlock::check).daemon(true).start().unwrap();
    let found = checker.join().unwrap();
    let stall = found
        .iter()
        .find(|d| d.kind() == DeadlockKind::Stall)
        .unwrap_or_else(|| panic!("no stall in {found:#?}"));
    let names = stall.thread_names();
    assert!(names.contains(&"waits-for-ping".to_owned()), "{names:?}");
    assert!(names.contains(&"waits-for-pong".to_owned()), "{names:?}");
    let text = stall.to_string();
    assert!(
        text.contains("Event \"ping\"") && text.contains("Event \"pong\""),
        "{text}"
    );
    // Let them go, so the process can end cleanly.
    ping.set();
    a.join().unwrap();
    b.join().unwrap();
}

/// Regression: a daemon thread that is still running (or waiting with a timeout) may set
/// the event the others want, so their waits are not a stall yet.
#[test]
fn no_stall_while_a_daemon_thread_may_still_act() {
    let wanted = Arc::new(Event::named("set-by-the-daemon"));
    let w1 = Arc::clone(&wanted);
    let waiter = named("waits-for-the-daemon", move || w1.wait());
    let release = Arc::new(Event::new());
    let (w2, r2) = (Arc::clone(&wanted), Arc::clone(&release));
    let daemon = Thread::new(move || {
        while !r2.wait_timeout(Duration::from_millis(5)) {} // ticking, with a timeout
        w2.set();
    })
    .name("ticker")
    .daemon(true)
    .start()
    .unwrap();
    assert!(wait_until_all(&[waiter.info()], ThreadState::Waiting));
    let checker = Thread::new(deadlock::check).daemon(true).start().unwrap();
    let found = checker.join().unwrap();
    assert!(found.is_empty(), "{found:#?}");
    release.set();
    waiter.join().unwrap();
    daemon.join().unwrap();
}

#[test]
fn no_stall_while_a_non_daemon_thread_waits_with_a_timeout() {
    let never = Arc::new(Event::new());
    let n1 = Arc::clone(&never);
    let stuck = named("stuck", move || n1.wait());
    let n2 = Arc::clone(&never);
    let patient = named("patient", move || n2.wait_timeout(Duration::from_secs(60)));
    assert!(wait_until_all(&[stuck.info()], ThreadState::Waiting));
    assert!(wait_until_all(&[patient.info()], ThreadState::TimedWaiting));
    let checker = Thread::new(deadlock::check).daemon(true).start().unwrap();
    let found = checker.join().unwrap();
    assert!(found.is_empty(), "{found:#?}");
    never.set();
    stuck.join().unwrap();
    assert!(patient.join().unwrap());
}

#[test]
fn a_wait_with_a_timeout_never_reports_and_ends_by_itself() {
    // A would-be AB-BA where one side waits with a timeout: no panic anywhere, and
    // check() sees no cycle while both wait; the timed side gives up and the other goes on.
    // The timeout is long, and the states are read again after check(): if they no
    // longer show both waiting, check() may have run outside the window, and the test
    // fails instead of passing without having looked.
    let (a, b) = (
        Arc::new(Mutex::named("a", 0)),
        Arc::new(Mutex::named("b", 0)),
    );
    let both_hold = Arc::new(Barrier::new(2));
    let (a1, b1, h1) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&both_hold));
    let patient = named("patient", move || {
        let _a = a1.lock();
        h1.wait().unwrap();
        b1.try_lock_for(Duration::from_secs(3)).is_some()
    });
    let (a2, b2, h2) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&both_hold));
    let blunt = named("blunt", move || {
        let _b = b2.lock();
        h2.wait().unwrap();
        *a2.lock() += 1;
    });
    let (p, q) = (patient.info(), blunt.info());
    assert!(wait_until_all(
        std::slice::from_ref(&p),
        ThreadState::TimedWaiting
    ));
    assert!(wait_until_all(
        std::slice::from_ref(&q),
        ThreadState::Blocked
    ));
    let cycles: Vec<_> = deadlock::check()
        .into_iter()
        .filter(|d| d.kind() == DeadlockKind::Cycle)
        .collect();
    assert_eq!(
        (p.state(), q.state()),
        (ThreadState::TimedWaiting, ThreadState::Blocked),
        "check() must have run while both waited"
    );
    assert!(cycles.is_empty(), "{cycles:#?}");
    assert!(
        !patient.join().unwrap(),
        "the timed lock should have timed out"
    );
    blunt
        .join()
        .expect("the blocking side must not have panicked");
    assert_eq!(*a.lock(), 1);
}

#[test]
fn check_is_empty_while_threads_only_contend() {
    // Busy threads fighting over locks, and one waiting with a timeout: slow, not stuck.
    let m = Arc::new(Mutex::named("contended", 0u64));
    let rw = Arc::new(spindle::sync::RwLock::named("shared", 0u64));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (m, rw, stop) = (Arc::clone(&m), Arc::clone(&rw), Arc::clone(&stop));
            named(&format!("worker-{i}"), move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    *m.lock() += 1;
                    if i % 2 == 0 {
                        *rw.write() += 1;
                    } else {
                        drop(rw.read());
                    }
                }
            })
        })
        .collect();
    let never = Arc::new(Event::new());
    let n = Arc::clone(&never);
    let patient = named("patient", move || n.wait_timeout(Duration::from_secs(60)));
    assert!(wait_until_all(&[patient.info()], ThreadState::TimedWaiting));
    for _ in 0..50 {
        let found = deadlock::check();
        assert!(found.is_empty(), "{found:#?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    never.set();
    assert!(patient.join().unwrap());
    assert!(*m.lock() > 0);
}

/// A `Watchdog` reports a stall once, without anyone polling, and does not hide it from
/// another thread's `check()` (it only watches).
#[test]
fn a_watchdog_reports_a_stall_once_and_hides_nothing() {
    let (found, reports) = std::sync::mpsc::channel();
    let watchdog = deadlock::Watchdog::start(Duration::from_millis(10), move |report| {
        let _ = found.send((report.kind(), report.thread_names()));
    });
    let never = Arc::new(Event::named("never-set"));
    let n1 = Arc::clone(&never);
    let stuck = named("stuck-forever", move || n1.wait());
    let (kind, names) = reports
        .recv_timeout(Duration::from_secs(20))
        .expect("the watchdog reported nothing");
    assert_eq!(kind, DeadlockKind::Stall);
    assert_eq!(names, ["stuck-forever"]);
    // Still there on later rounds, but reported only once.
    assert!(reports.recv_timeout(Duration::from_millis(200)).is_err());
    // Another daemon's check still sees it while the watchdog runs.
    let checker = Thread::new(deadlock::check).daemon(true).start().unwrap();
    let seen = checker.join().unwrap();
    assert!(
        seen.iter().any(|d| d.kind() == DeadlockKind::Stall),
        "{seen:#?}"
    );
    watchdog.stop();
    never.set();
    stuck.join().unwrap();
}
