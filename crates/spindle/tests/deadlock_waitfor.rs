//! Wait-for deadlock detection (`Detection::WaitFor`, the default): a lock acquisition
//! that would close a cycle of waits fails at once, in exactly one thread of the cycle,
//! and nothing else ever reports.
//!
//! The detection mode is process-wide. Under `cargo test` these tests share a process:
//! each holds `MODE` for reading, and the one test that switches detection off holds it
//! for writing, so that no other test runs while it is off.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, RwLock as StdRwLock, RwLockReadGuard};
use std::time::Duration;

use common::{PATIENCE, SETTLE, holds_for, reach, scaled, start_named, unique_name};
use spindle::deadlock::{self, DeadlockError, DeadlockKind, Detection};
use spindle::sync::{Barrier, Event, Gil, Mutex, ReentrantMutex, RwLock};
use spindle::thread::{self, JoinHandle, ThreadState};

static MODE: StdRwLock<()> = StdRwLock::new(());

fn wait_for_mode() -> RwLockReadGuard<'static, ()> {
    MODE.read().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f`, turning a deadlock panic into `Err` (any other panic goes on unwinding).
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, DeadlockError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        match payload.downcast::<DeadlockError>() {
            Ok(report) => *report,
            Err(other) => panic::resume_unwind(other),
        }
    })
}

/// Joins the threads of a would-be cycle: exactly one must have found the deadlock, and
/// every other must have completed. Returns the report.
#[track_caller]
fn exactly_one_report(threads: Vec<JoinHandle<Result<(), DeadlockError>>>) -> DeadlockError {
    let n = threads.len();
    let outcomes: Vec<_> = threads
        .into_iter()
        .map(|t| {
            assert!(
                t.wait_timeout(PATIENCE),
                "a thread of the cycle never ended"
            );
            t.join()
                .expect("no thread may panic with anything but a caught deadlock")
        })
        .collect();
    let mut reports: Vec<DeadlockError> = outcomes.into_iter().filter_map(Result::err).collect();
    assert_eq!(reports.len(), 1, "{n} threads, reports: {reports:#?}");
    let report = reports.pop().unwrap();
    assert_eq!(report.kind(), DeadlockKind::Cycle);
    assert_eq!(report.threads().len(), n, "{report}");
    report
}

#[track_caller]
fn assert_names(report: &DeadlockError, names: &[&str]) {
    let text = report.to_string();
    for name in names {
        assert!(
            text.contains(name),
            "the report should name {name}:\n{text}"
        );
    }
}

/// The classic: two threads take two locks in opposite orders. A barrier makes sure
/// each holds its first lock before it asks for the second.
#[test]
fn ab_ba_on_mutexes() {
    let _mode = wait_for_mode();
    let (a, b) = (
        Arc::new(Mutex::named("lock-a", ())),
        Arc::new(Mutex::named("lock-b", ())),
    );
    let both_hold = Arc::new(Barrier::new(2));
    let (ta, tb) = (unique_name("takes-a-first"), unique_name("takes-b-first"));
    let t1 = {
        let (a, b, both_hold) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&both_hold));
        start_named(&ta, move || {
            let _a = a.lock();
            both_hold.wait().unwrap();
            guarded(|| drop(b.lock()))
        })
    };
    let t2 = {
        let (a, b, both_hold) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&both_hold));
        start_named(&tb, move || {
            let _b = b.lock();
            both_hold.wait().unwrap();
            guarded(|| drop(a.lock()))
        })
    };
    let report = exactly_one_report(vec![t1, t2]);
    assert_names(&report, &[&ta, &tb, "Mutex \"lock-a\"", "Mutex \"lock-b\""]);
    let mut names = report.thread_names();
    names.sort();
    let mut want = vec![ta, tb];
    want.sort();
    assert_eq!(names, want);
    assert!(!a.is_locked() && !b.is_locked());
}

/// Three threads in a ring: each holds lock i and wants lock i+1.
#[test]
fn three_thread_cycle() {
    let _mode = wait_for_mode();
    let locks: Arc<Vec<Mutex<()>>> = Arc::new(
        (0..3)
            .map(|i| Mutex::named(format!("ring-{i}"), ()))
            .collect(),
    );
    let all_hold = Arc::new(Barrier::new(3));
    let names: Vec<String> = (0..3).map(|_| unique_name("ring")).collect();
    let threads = (0..3)
        .map(|i| {
            let (locks, all_hold) = (Arc::clone(&locks), Arc::clone(&all_hold));
            start_named(&names[i], move || {
                let _mine = locks[i].lock();
                all_hold.wait().unwrap();
                guarded(|| drop(locks[(i + 1) % 3].lock()))
            })
        })
        .collect();
    let report = exactly_one_report(threads);
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.extend(["Mutex \"ring-0\"", "Mutex \"ring-1\"", "Mutex \"ring-2\""]);
    assert_names(&report, &all);
}

/// `lock_checked` returns the deadlock instead of panicking.
#[test]
fn lock_checked_returns_err() {
    let _mode = wait_for_mode();
    let (a, b) = (
        Arc::new(Mutex::named("checked-a", 0)),
        Arc::new(Mutex::named("checked-b", 0)),
    );
    let both_hold = Arc::new(Barrier::new(2));
    let side = |first: &Arc<Mutex<i32>>, second: &Arc<Mutex<i32>>| {
        let (first, second, both_hold) = (
            Arc::clone(first),
            Arc::clone(second),
            Arc::clone(&both_hold),
        );
        thread::spawn(move || {
            let _g = first.lock();
            both_hold.wait().unwrap();
            second.lock_checked().map(|mut g| *g += 1)
        })
    };
    let threads = vec![side(&a, &b), side(&b, &a)];
    let report = exactly_one_report(threads);
    assert_names(&report, &["checked-a", "checked-b"]);
    assert_eq!(*a.lock() + *b.lock(), 1, "the other thread went on");
}

/// A thread whose `lock()` panics with a deadlock reaches `join` as `Panicked`, with the
/// whole report as its message.
#[test]
fn an_uncaught_deadlock_panic_reaches_join() {
    let _mode = wait_for_mode();
    let m = Arc::new(Mutex::named("twice", ()));
    let name = unique_name("relocker");
    let m2 = Arc::clone(&m);
    let h = start_named(&name, move || {
        let _g = m2.lock();
        let _again = m2.lock();
    });
    let err = h.join().unwrap_err();
    assert_eq!(err.thread_name(), name);
    assert!(
        err.message().contains("deadlock") && err.message().contains("Mutex \"twice\""),
        "{err}"
    );
    assert!(!m.is_locked(), "the panic released the first guard");
}

#[test]
fn ab_ba_on_reentrant_mutexes() {
    let _mode = wait_for_mode();
    let a = Arc::new(ReentrantMutex::named("re-a", ()));
    let b = Arc::new(ReentrantMutex::named("re-b", ()));
    let both_hold = Arc::new(Barrier::new(2));
    let side = |first: &Arc<ReentrantMutex<()>>, second: &Arc<ReentrantMutex<()>>| {
        let (first, second, both_hold) = (
            Arc::clone(first),
            Arc::clone(second),
            Arc::clone(&both_hold),
        );
        thread::spawn(move || {
            let _g = first.lock();
            let _again = first.lock(); // re-entry is fine
            both_hold.wait().unwrap();
            guarded(|| drop(second.lock()))
        })
    };
    let report = exactly_one_report(vec![side(&a, &b), side(&b, &a)]);
    assert_names(
        &report,
        &["ReentrantMutex \"re-a\"", "ReentrantMutex \"re-b\""],
    );
}

#[test]
fn ab_ba_on_rwlock_writers() {
    let _mode = wait_for_mode();
    let a = Arc::new(RwLock::named("rw-a", ()));
    let b = Arc::new(RwLock::named("rw-b", ()));
    let both_hold = Arc::new(Barrier::new(2));
    let side = |first: &Arc<RwLock<()>>, second: &Arc<RwLock<()>>| {
        let (first, second, both_hold) = (
            Arc::clone(first),
            Arc::clone(second),
            Arc::clone(&both_hold),
        );
        thread::spawn(move || {
            let _g = first.write();
            both_hold.wait().unwrap();
            guarded(|| drop(second.write()))
        })
    };
    let report = exactly_one_report(vec![side(&a, &b), side(&b, &a)]);
    assert_names(&report, &["RwLock \"rw-a\"", "RwLock \"rw-b\""]);
}

/// A writer waits for a reader to leave, and the reader waits for a lock the writer holds.
#[test]
fn writer_waits_for_a_reader_that_waits_for_the_writer() {
    let _mode = wait_for_mode();
    let table = Arc::new(RwLock::named("table", ()));
    let journal = Arc::new(Mutex::named("journal", ()));
    let writer_waits = Arc::new(Event::new());
    let (reader_name, writer_name) = (unique_name("reader"), unique_name("writer"));
    let reader_holds = Arc::new(Barrier::new(2));
    let reader = {
        let (table, journal, holds, writer_waits) = (
            Arc::clone(&table),
            Arc::clone(&journal),
            Arc::clone(&reader_holds),
            Arc::clone(&writer_waits),
        );
        start_named(&reader_name, move || {
            let _r = table.read();
            holds.wait().unwrap();
            assert!(writer_waits.wait_timeout(PATIENCE));
            guarded(|| drop(journal.lock()))
        })
    };
    let writer = {
        let (table, journal, holds) = (
            Arc::clone(&table),
            Arc::clone(&journal),
            Arc::clone(&reader_holds),
        );
        start_named(&writer_name, move || {
            let _j = journal.lock();
            holds.wait().unwrap();
            guarded(|| drop(table.write()))
        })
    };
    reach(&writer.info(), ThreadState::Blocked);
    writer_waits.set();
    let report = exactly_one_report(vec![reader, writer]);
    assert_names(
        &report,
        &[
            &reader_name,
            &writer_name,
            "RwLock \"table\"",
            "Mutex \"journal\"",
        ],
    );
}

/// The GIL takes part like any lock: a GIL holder wanting a lock whose holder wants the GIL.
#[test]
fn gil_in_a_cycle() {
    let _mode = wait_for_mode();
    let gil = Arc::new(Gil::new());
    let m = Arc::new(Mutex::named("outside-the-gil", ()));
    let both_hold = Arc::new(Barrier::new(2));
    let holder = {
        let (gil, m, both_hold) = (Arc::clone(&gil), Arc::clone(&m), Arc::clone(&both_hold));
        thread::spawn(move || {
            let _g = gil.acquire();
            both_hold.wait().unwrap();
            guarded(|| drop(m.lock()))
        })
    };
    let other = {
        let (gil, m, both_hold) = (Arc::clone(&gil), Arc::clone(&m), Arc::clone(&both_hold));
        thread::spawn(move || {
            let _m = m.lock();
            both_hold.wait().unwrap();
            guarded(|| drop(gil.acquire()))
        })
    };
    let report = exactly_one_report(vec![holder, other]);
    assert_names(&report, &["Gil created at", "Mutex \"outside-the-gil\""]);
    drop(gil.acquire()); // nobody kept it
}

/// Waiting for a lock the same thread holds can never end: reported at once.
#[test]
fn self_deadlocks_are_reported() {
    let _mode = wait_for_mode();
    let m = Mutex::named("mine", ());
    let g = m.lock();
    let err = m.lock_checked().unwrap_err();
    assert_eq!(err.threads().len(), 1);
    assert_eq!(err.threads()[0].name(), thread::current().name());
    assert!(
        err.to_string().contains("waits for a lock it holds itself"),
        "{err}"
    );
    assert!(
        err.to_string().contains("a Mutex is not reentrant"),
        "{err}"
    );
    assert!(guarded(|| drop(m.lock())).is_err());
    drop(g);
    assert!(!m.is_locked());

    let l = RwLock::named("mine-rw", ());
    let w = l.write();
    assert!(guarded(|| drop(l.write())).is_err(), "write after write");
    assert!(guarded(|| drop(l.read())).is_err(), "read after write");
    drop(w);
    let r = l.read();
    let err = guarded(|| drop(l.write())).unwrap_err();
    assert!(err.to_string().contains("RwLock \"mine-rw\""), "{err}");
    // The hint is the RwLock's own (issue 11: it used to say "a Mutex is not reentrant").
    assert!(
        err.to_string().contains("an RwLock is not reentrant"),
        "{err}"
    );
    assert!(!err.to_string().contains("Mutex"), "{err}");
    drop(r);
    assert!(
        l.try_write().is_some(),
        "the failed write gave its claim back"
    );

    let gil = Gil::new();
    let held = gil.acquire();
    let err = guarded(|| drop(gil.acquire())).unwrap_err();
    assert!(
        err.to_string().contains("the Gil is not reentrant"),
        "{err}"
    );
    drop(held);
    drop(gil.acquire());
}

/// Many threads contending for the same locks, always in the same order: slow, never
/// a deadlock, never a report.
#[test]
fn no_report_for_plain_contention() {
    let _mode = wait_for_mode();
    let rounds = scaled(5_000);
    let (a, b) = (Arc::new(Mutex::new(0u64)), Arc::new(Mutex::new(0u64)));
    let r = Arc::new(ReentrantMutex::new(std::cell::Cell::new(0u64)));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (a, b, r) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&r));
            thread::spawn(move || {
                for _ in 0..rounds {
                    let mut ga = a.lock();
                    let mut gb = b.lock();
                    *ga += 1;
                    *gb += 1;
                    drop((ga, gb));
                    let outer = r.lock();
                    let inner = r.lock();
                    inner.set(outer.get() + 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no deadlock report");
    }
    assert_eq!(*a.lock(), 8 * rounds as u64);
    assert_eq!(r.lock().get(), 8 * rounds as u64);
}

/// Readers share: any number of them, in any order of locks, never deadlock.
#[test]
fn no_report_for_readers_sharing() {
    let _mode = wait_for_mode();
    let rounds = scaled(2_000);
    let (a, b) = (Arc::new(RwLock::new(1u64)), Arc::new(RwLock::new(2u64)));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            thread::spawn(move || {
                let mut sum = 0;
                for _ in 0..rounds {
                    let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
                    let g1 = first.read();
                    let g2 = second.read();
                    sum += *g1 + *g2;
                }
                sum
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("no deadlock report"), 3 * rounds as u64);
    }
}

/// A would-be cycle whose waits all have timeouts: nobody reports, every wait ends.
/// Each side keeps its own locks until both have tried the other's, so every try must
/// time out: `(false, false)`, whatever the schedule. (Checking timed waits for cycles
/// would make them panic instead; letting a try in would give a `true`.)
#[test]
fn no_report_when_waits_have_timeouts() {
    let _mode = wait_for_mode();
    let (a, b) = (
        Arc::new(Mutex::named("ta", ())),
        Arc::new(RwLock::named("tb", ())),
    );
    let r = Arc::new(ReentrantMutex::named("tr", ()));
    let both_hold = Arc::new(Barrier::new(2));
    let both_tried = Arc::new(Barrier::new(2));
    let t1 = {
        let (a, b, r) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&r));
        let (both_hold, both_tried) = (Arc::clone(&both_hold), Arc::clone(&both_tried));
        thread::spawn(move || {
            let _a = a.lock();
            let _r = r.lock();
            both_hold.wait().unwrap();
            let got_b = b.try_write_for(Duration::from_millis(100)).is_some();
            both_tried.wait().unwrap();
            got_b
        })
    };
    let t2 = {
        let (a, b, r) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&r));
        let (both_hold, both_tried) = (Arc::clone(&both_hold), Arc::clone(&both_tried));
        thread::spawn(move || {
            let _b = b.write();
            both_hold.wait().unwrap();
            let got_r = r.try_lock_for(Duration::from_millis(100)).is_some();
            let got_a = a.try_lock_for(Duration::from_millis(100)).is_some();
            both_tried.wait().unwrap();
            got_r || got_a
        })
    };
    let got = (t1.join().expect("no report"), t2.join().expect("no report"));
    assert_eq!(
        got,
        (false, false),
        "each lock was held throughout the other's tries"
    );
}

/// `Detection::Off` stops the check at lock time: a thread re-locking its own mutex then
/// just blocks (a daemon, left stuck), where `WaitFor` would have failed it at once. A
/// would-be AB-BA whose second waits have timeouts ends by itself.
#[test]
fn detection_off_disables_the_lock_time_check() {
    let _alone = MODE.write().unwrap_or_else(|e| e.into_inner());
    deadlock::set_detection(Detection::Off);
    assert_eq!(deadlock::detection(), Detection::Off);

    let m = Arc::new(Mutex::named("relocked-with-detection-off", ()));
    let m2 = Arc::clone(&m);
    let stuck = thread::Thread::new(move || {
        let _g = m2.lock();
        let _again = m2.lock(); // blocks forever: nothing checks
    })
    .daemon(true)
    .start()
    .unwrap();
    reach(&stuck.info(), ThreadState::Blocked);
    assert!(holds_for(SETTLE, || stuck.info().state() == ThreadState::Blocked));
    // check() still sees it: Off only stops the check made when a thread blocks.
    let found = deadlock::check();
    assert!(
        found.iter().any(|d| d.kind() == DeadlockKind::Cycle
            && d.to_string().contains("relocked-with-detection-off")),
        "{found:#?}"
    );

    // Each side keeps its lock until both have tried the other's: both tries time out.
    let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
    let both_hold = Arc::new(Barrier::new(2));
    let both_tried = Arc::new(Barrier::new(2));
    let side = |first: &Arc<Mutex<()>>, second: &Arc<Mutex<()>>| {
        let (first, second) = (Arc::clone(first), Arc::clone(second));
        let (both_hold, both_tried) = (Arc::clone(&both_hold), Arc::clone(&both_tried));
        thread::spawn(move || {
            let _g = first.lock();
            both_hold.wait().unwrap();
            let got = second.try_lock_for(Duration::from_millis(100)).is_some();
            both_tried.wait().unwrap();
            got
        })
    };
    let (t1, t2) = (side(&a, &b), side(&b, &a));
    let got = (t1.join().expect("no report"), t2.join().expect("no report"));
    assert_eq!(got, (false, false));

    deadlock::set_detection(Detection::WaitFor);
    // The stuck daemon stays stuck; the process ends with it.
}

/// Every lock kind has a `_checked` acquisition that returns the report instead of
/// panicking: an RwLock writer, an RwLock reader and the GIL in one cycle of three.
#[test]
fn checked_acquisitions_return_the_report_for_every_lock_kind() {
    let _mode = wait_for_mode();
    let rw = Arc::new(RwLock::named("checked-rw", ()));
    let gil = Arc::new(Gil::new());
    let m = Arc::new(Mutex::named("checked-m", ()));
    let all_hold = Arc::new(Barrier::new(3));
    // Each holds one and wants the next: writer of rw -> GIL -> m -> read of rw.
    let writer = {
        let (rw, gil, all_hold) = (Arc::clone(&rw), Arc::clone(&gil), Arc::clone(&all_hold));
        thread::spawn(move || {
            let _w = rw.write();
            all_hold.wait().unwrap();
            gil.acquire_checked().map(drop)
        })
    };
    let gil_holder = {
        let (gil, m, all_hold) = (Arc::clone(&gil), Arc::clone(&m), Arc::clone(&all_hold));
        thread::spawn(move || {
            let _g = gil.acquire();
            all_hold.wait().unwrap();
            m.lock_checked().map(drop)
        })
    };
    let reader = {
        let (rw, m, all_hold) = (Arc::clone(&rw), Arc::clone(&m), Arc::clone(&all_hold));
        thread::spawn(move || {
            let _m = m.lock();
            all_hold.wait().unwrap();
            rw.read_checked().map(drop)
        })
    };
    let report = exactly_one_report(vec![writer, gil_holder, reader]);
    assert_names(
        &report,
        &[
            "RwLock \"checked-rw\"",
            "Gil created at",
            "Mutex \"checked-m\"",
        ],
    );
}

/// A thread holds a lock and joins another that then asks for that lock: the lock-time
/// check follows the join (only the joined thread can end it) and reports the cycle.
#[test]
fn a_join_in_the_cycle_is_followed() {
    let _mode = wait_for_mode();
    let m = Arc::new(Mutex::named("held-while-joining", ()));
    let (tx, rx) = std::sync::mpsc::channel::<thread::ThreadInfo>();
    let joiner = {
        let m = Arc::clone(&m);
        thread::spawn(move || {
            let _held = m.lock();
            let wants = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let joiner = rx.recv().unwrap();
                    reach(&joiner, ThreadState::Waiting);
                    m.lock_checked().map(drop)
                })
            };
            tx.send(thread::current()).unwrap();
            wants.join().unwrap()
        })
    };
    assert!(joiner.wait_timeout(PATIENCE), "the joiner never ended");
    let report = joiner.join().unwrap().unwrap_err();
    assert_eq!(report.threads().len(), 2, "{report}");
    assert_names(&report, &["join of thread", "Mutex \"held-while-joining\""]);
    // The joined thread holds nothing the joiner wants: it only has to finish.
    let text = report.to_string();
    assert!(
        text.contains("can end") && !text.contains("holds join"),
        "{text}"
    );
    let joined = report
        .threads()
        .iter()
        .find(|t| t.wants().starts_with("Mutex"))
        .expect("the joined thread wants the lock");
    assert_eq!(joined.holds(), None, "{text}");
}

/// The same through a `Future`: the caller holds a lock and waits for a task that asks
/// for it; the worker running the task is the one the wait depends on.
#[test]
fn a_future_in_the_cycle_is_followed() {
    let _mode = wait_for_mode();
    let m = Arc::new(Mutex::named("held-while-waiting", ()));
    let pool = spindle::futures::ThreadPoolExecutor::new(1);
    let held = m.lock();
    let (m2, me) = (Arc::clone(&m), thread::current());
    let future = pool.submit(move || {
        reach(&me, ThreadState::Waiting);
        m2.lock_checked().map(drop)
    });
    let outcome = future.result().expect("the task returned");
    drop(held);
    let report = outcome.unwrap_err();
    assert_names(&report, &["Future of task", "Mutex \"held-while-waiting\""]);
    let text = report.to_string();
    assert!(
        text.contains("can end") && !text.contains("holds Future"),
        "{text}"
    );
}

/// Regression (seen once in CI): a reader about to block on a writer checked for a
/// cycle while the writer released the lock and began to join it. The search read the
/// writer as the holder before the release, then the writer's new join edge (published
/// without the graph lock), and reported a cycle that never existed. Joins and `Future`
/// waits are now published under the graph lock like lock waits. Readers hammer the
/// lock while a writer takes it, lets it go and joins them, round after round.
#[test]
fn releasing_a_lock_then_joining_its_waiters_is_never_a_deadlock() {
    let _mode = wait_for_mode();
    for _ in 0..scaled(2_000) {
        let lock = Arc::new(RwLock::new(0u64));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
                thread::spawn(move || {
                    guarded(|| {
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            drop(lock.read());
                        }
                    })
                })
            })
            .collect();
        for _ in 0..20 {
            *lock.write() += 1;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            let outcome = r.join().expect("the reader returned");
            assert!(
                outcome.is_ok(),
                "a false deadlock: {}",
                outcome.unwrap_err()
            );
        }
    }
}
