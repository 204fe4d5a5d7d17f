//! Regressions of issue 11, "Deadlock detection you can trust": one test per scenario,
//! named after what it catches. False reports first (a correct program told it
//! deadlocked), then cycles that were missed or found only late.
//!
//! Written against the public API only. Timing is forced, not hoped for: where a false
//! report needs a woken thread that has not run yet, that thread is kept off the CPU
//! (nice 19, pinned to the core of a busy-spinning thread: `deadlock_support::OffCpu`).
//! Every wait is bounded (`PATIENCE`); `TimeLimit` aborts the process as a last resort.
//!
//! Detection mode: every test here runs under the default, `Detection::WaitFor`, and none
//! changes it. `Detection::LockOrder` cases are in `deadlock_lock_order_regressions.rs`.

mod common;
mod deadlock_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, mpsc};
use std::time::{Duration, Instant};

use common::{PATIENCE, reach, start_named};
use deadlock_support::{OffCpu, TimeLimit, guarded};
use spindle::deadlock::{self, DeadlockKind, Watchdog};
use spindle::futures::ThreadPoolExecutor;
use spindle::sync::{Condition, DeadlockError, Event, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use spindle::thread::{self, JoinHandle, ThreadInfo, ThreadState};

/// Generous bound on one test, after which the process aborts (a hang the test's own
/// bounded waits did not catch).
const TEST_LIMIT: Duration = Duration::from_secs(240);

/// Collected false reports, each with where it came from.
type Reports = Arc<StdMutex<Vec<String>>>;

fn reports() -> Reports {
    Arc::new(StdMutex::new(Vec::new()))
}

fn push(reports: &Reports, what: String) {
    reports.lock().unwrap_or_else(|e| e.into_inner()).push(what);
}

#[track_caller]
fn assert_no_reports(reports: &Reports, rounds: usize) {
    let found = reports.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        found.is_empty(),
        "{} false deadlock reports in {rounds} rounds; the first:\n{}",
        found.len(),
        found[0]
    );
}

/// How long a thread woken by a hand-off is kept off the CPU: well past `check()`'s
/// second look, 5 ms after its first.
const WINDOW: Duration = Duration::from_millis(30);

/// Waits until `info` is parked on a lock, or has ended (a false report ended it early).
#[track_caller]
fn reach_blocked_or_end(info: &ThreadInfo) {
    assert!(
        common::wait_until(PATIENCE, || info.state() == ThreadState::Blocked
            || !info.is_alive()),
        "thread never blocked: {info:?}"
    );
}

/// Joins `h` within `PATIENCE`, failing the test with `hang` otherwise.
#[track_caller]
fn join_within<T>(h: JoinHandle<T>, hang: &str) -> T {
    assert!(h.wait_timeout(PATIENCE), "{hang}");
    h.join().expect("the thread did not panic")
}

// ---- 1. A finished Future's wait still names the task's runner ----

/// Issue 11, case 1: a pool task has a done callback that locks `x`; other threads do
/// `let g = x.lock(); f.wait(); drop(g)`. When the task finishes, the woken waiter that
/// has not run yet must no longer name the runner, or the runner's callback, blocking on
/// `x`, "finds" a cycle runner -> x -> waiter -> runner that does not exist.
/// Seen: 118 false reports in 400 rounds.
///
/// `wait()`, not `result()`: `result()` also waits for the done callbacks (they borrow
/// the outcome), so holding `x` across `result()` while a callback takes `x` is a real
/// deadlock, and reporting it is right.
#[test]
fn a_finished_future_wait_no_longer_names_the_tasks_runner() {
    const ROUNDS: usize = 400;
    const WAITERS: usize = 3;
    let _limit = TimeLimit::start(TEST_LIMIT, "a_finished_future_wait_...");
    let off_cpu = Arc::new(OffCpu::start());
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("runner")
        .build();
    let x = Arc::new(Mutex::named("x", ()));
    let false_reports = reports();
    for round in 0..ROUNDS {
        let go = Arc::new(Event::named("go"));
        let gate = Arc::clone(&go);
        // The task waits for the waiters to be waiting, so every round opens the window.
        let f = Arc::new(pool.submit(move || gate.wait()));
        let callback_ran = Arc::new(Event::named("callback ran"));
        {
            let (x, found, ran) = (
                Arc::clone(&x),
                Arc::clone(&false_reports),
                Arc::clone(&callback_ran),
            );
            f.add_done_callback(move |_| {
                match x.lock_checked() {
                    Ok(g) => drop(g),
                    Err(e) => push(&found, format!("round {round}, the done callback: {e}")),
                }
                ran.set();
            });
        }
        let waiters: Vec<JoinHandle<Result<(), DeadlockError>>> = (0..WAITERS)
            .map(|i| {
                let (x, f, off_cpu) = (Arc::clone(&x), Arc::clone(&f), Arc::clone(&off_cpu));
                thread::spawn(move || {
                    if i == 0 {
                        off_cpu.enter();
                    }
                    guarded(|| {
                        let g = x.lock();
                        f.wait();
                        drop(g);
                    })
                })
            })
            .collect();
        let infos: Vec<ThreadInfo> = waiters.iter().map(JoinHandle::info).collect();
        assert!(
            common::wait_until(PATIENCE, || infos
                .iter()
                .any(|t| t.state() == ThreadState::Waiting)),
            "round {round}: no waiter ever waited for the future"
        );
        off_cpu.spin_for(WINDOW);
        go.set();
        for (i, w) in waiters.into_iter().enumerate() {
            if let Err(e) = join_within(w, "a waiter never ended") {
                push(&false_reports, format!("round {round}, waiter {i}: {e}"));
            }
        }
        assert!(
            callback_ran.wait_timeout(PATIENCE),
            "round {round}: the done callback never finished"
        );
    }
    assert_no_reports(&false_reports, ROUNDS);
}

// ---- 2. A forgotten read guard makes a later RwLock at the same address look held ----

/// A new `RwLock` at `addr`, the address of one just freed: the allocator hands a freed
/// block of the same size back at once (glibc's tcache, most others alike). Blocks that
/// come out elsewhere are kept until the search ends, so each try gets another one.
fn rwlock_at_the_address_of(addr: usize) -> Arc<RwLock<u64>> {
    let mut misses = Vec::new();
    for _ in 0..10_000 {
        let lock = Arc::new(RwLock::new(0u64));
        if Arc::as_ptr(&lock) as usize == addr {
            return lock;
        }
        misses.push(lock);
    }
    panic!(
        "the allocator never gave the freed address {addr:#x} back in 10,000 allocations \
         of the same size: this test needs an allocator that reuses freed blocks"
    );
}

/// A thread that forgot a read guard and dropped its lock, whose address a new lock now
/// has. Returns that new lock.
fn forget_a_read_guard_and_reuse_its_address() -> Arc<RwLock<u64>> {
    let a = Arc::new(RwLock::new(0u64));
    let addr = Arc::as_ptr(&a) as usize;
    std::mem::forget(a.read());
    drop(a);
    rwlock_at_the_address_of(addr)
}

/// Issue 11, case 2, the forgetful thread itself writing: it holds no read lock on the
/// new lock, only a forgotten guard of the old one at the same address, so its `write()`
/// must wait for the real reader (which is running and lets go), not report "waits for
/// a lock it holds itself".
#[test]
fn a_forgotten_read_guard_does_not_make_a_new_rwlock_at_its_address_held_by_its_thread() {
    let _limit = TimeLimit::start(TEST_LIMIT, "a_forgotten_read_guard_..._by_its_thread");
    let (to_main, from_writer) = mpsc::channel::<(Arc<RwLock<u64>>, ThreadInfo)>();
    let go = Arc::new(Event::named("reader holds"));
    let reader_holds = Arc::clone(&go);
    let writer = start_named("forgetful-writer", move || {
        let b = forget_a_read_guard_and_reuse_its_address();
        to_main.send((Arc::clone(&b), thread::current())).unwrap();
        assert!(reader_holds.wait_timeout(PATIENCE));
        b.write_checked().map(|mut g| *g += 1)
    });
    let (b, writer_info) = from_writer
        .recv_timeout(PATIENCE)
        .expect("the writer set up");
    // The only real reader: it runs (polls), and lets go once the writer waits.
    let reader = {
        let b = Arc::clone(&b);
        start_named("real-reader", move || {
            let g = b.read();
            go.set();
            reach_blocked_or_end(&writer_info);
            drop(g);
        })
    };
    join_within(reader, "the reader never ended");
    let outcome = join_within(writer, "the writer never got the lock");
    if let Err(e) = outcome {
        panic!("false deadlock report for a writer whose only reader was running:\n{e}");
    }
    assert_eq!(*b.read(), 1);
}

/// Issue 11, case 2, through a chain: the forgetful thread waits for a mutex that a
/// writer holds; the writer then waits for the new lock's only real reader, which is
/// running. The writer must not count the forgetful thread as a reader (-> it waits for
/// the mutex I hold -> a cycle).
#[test]
fn a_forgotten_read_guard_does_not_make_a_new_rwlock_at_its_address_held() {
    let _limit = TimeLimit::start(TEST_LIMIT, "a_forgotten_read_guard_..._held");
    let m = Arc::new(Mutex::named("m", ()));
    let (writer_holds, go_forgetful) = (
        Arc::new(Event::named("writer holds m")),
        Arc::new(Event::named("go forgetful")),
    );
    let (to_main, from_forgetful) = mpsc::channel::<Arc<RwLock<u64>>>();
    let forgetful = {
        let (m, go) = (Arc::clone(&m), Arc::clone(&go_forgetful));
        start_named("forgetful", move || {
            let b = forget_a_read_guard_and_reuse_its_address();
            to_main.send(b).unwrap();
            assert!(go.wait_timeout(PATIENCE));
            m.lock_checked().map(drop)
        })
    };
    let b = from_forgetful.recv_timeout(PATIENCE).expect("set up");
    let (reader_holds, go_writer) = (
        Arc::new(Event::named("reader holds")),
        Arc::new(Event::named("go writer")),
    );
    let writer = {
        let (m, b, holds, go) = (
            Arc::clone(&m),
            Arc::clone(&b),
            Arc::clone(&writer_holds),
            Arc::clone(&go_writer),
        );
        start_named("writer", move || {
            let held = m.lock();
            holds.set();
            assert!(go.wait_timeout(PATIENCE));
            let wrote = b.write_checked().map(|mut g| *g += 1);
            drop(held);
            wrote
        })
    };
    let writer_info = writer.info();
    let reader = {
        let (b, holds) = (Arc::clone(&b), Arc::clone(&reader_holds));
        start_named("real-reader", move || {
            let g = b.read();
            holds.set();
            reach_blocked_or_end(&writer_info);
            drop(g);
        })
    };
    assert!(writer_holds.wait_timeout(PATIENCE) && reader_holds.wait_timeout(PATIENCE));
    go_forgetful.set();
    reach(&forgetful.info(), ThreadState::Blocked); // on m, which the writer holds
    go_writer.set();
    join_within(reader, "the reader never ended");
    let wrote = join_within(writer, "the writer never got the lock");
    let locked = join_within(forgetful, "the forgetful thread never got m");
    if let Err(e) = wrote {
        panic!("false deadlock report for a writer whose only reader was running:\n{e}");
    }
    locked.expect("the forgetful thread got m once the writer let go");
    assert_eq!(*b.read(), 1);
}

// ---- 3. The 9th read lock of a thread is invisible ----

/// Issue 11, case 3: a thread holds read locks on `others` other `RwLock`s, then reads
/// `L`, then locks `M`, held by `W`, while `W` write-locks `L`. A real cycle: exactly
/// one of the two must be told, the other goes on. Both orders of blocking.
fn a_cycle_through_a_read_lock_held_after(others: usize) {
    for reader_blocks_first in [false, true] {
        let l = Arc::new(RwLock::named("L", ()));
        let m = Arc::new(Mutex::named("M", ()));
        let extra: Arc<Vec<RwLock<()>>> = Arc::new(
            (0..others)
                .map(|i| RwLock::named(format!("other-{i}"), ()))
                .collect(),
        );
        let (reader_holds, writer_holds) = (Arc::new(Event::new()), Arc::new(Event::new()));
        let (go_reader, go_writer) = (Arc::new(Event::new()), Arc::new(Event::new()));
        let reader = {
            let (l, m, extra, holds, go) = (
                Arc::clone(&l),
                Arc::clone(&m),
                Arc::clone(&extra),
                Arc::clone(&reader_holds),
                Arc::clone(&go_reader),
            );
            start_named(format!("reader-of-{others}-then-L"), move || {
                let reads: Vec<RwLockReadGuard<'_, ()>> = extra.iter().map(|r| r.read()).collect();
                let read_l = l.read();
                holds.set();
                assert!(go.wait_timeout(PATIENCE));
                let got = m.lock_checked().map(drop);
                drop(read_l);
                drop(reads);
                got
            })
        };
        let writer = {
            let (l, m, holds, go) = (
                Arc::clone(&l),
                Arc::clone(&m),
                Arc::clone(&writer_holds),
                Arc::clone(&go_writer),
            );
            start_named("W", move || {
                let held = m.lock();
                holds.set();
                assert!(go.wait_timeout(PATIENCE));
                let got = l.write_checked().map(drop);
                drop(held);
                got
            })
        };
        assert!(reader_holds.wait_timeout(PATIENCE) && writer_holds.wait_timeout(PATIENCE));
        let (first, second, first_info) = if reader_blocks_first {
            (&go_reader, &go_writer, reader.info())
        } else {
            (&go_writer, &go_reader, writer.info())
        };
        first.set();
        reach(&first_info, ThreadState::Blocked);
        second.set();
        let order = if reader_blocks_first {
            "the reader blocked on M first"
        } else {
            "W blocked on L first"
        };
        let hang = format!(
            "{others} other read locks, {order}: the cycle was never reported (both parked)"
        );
        assert!(
            common::wait_until(PATIENCE, || reader.is_finished() || writer.is_finished()),
            "{hang}"
        );
        let outcomes = [join_within(reader, &hang), join_within(writer, &hang)];
        let reports: Vec<&DeadlockError> =
            outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
        assert_eq!(
            reports.len(),
            1,
            "{others} other read locks, {order}: {reports:#?}"
        );
        let text = reports[0].to_string();
        assert!(
            text.contains("RwLock \"L\"") && text.contains("Mutex \"M\""),
            "{text}"
        );
    }
}

#[test]
fn a_cycle_through_a_ninth_read_lock_is_reported() {
    let _limit = TimeLimit::start(TEST_LIMIT, "a_cycle_through_a_ninth_read_lock");
    a_cycle_through_a_read_lock_held_after(8);
}

#[test]
fn a_cycle_through_an_eighth_read_lock_is_reported() {
    let _limit = TimeLimit::start(TEST_LIMIT, "a_cycle_through_an_eighth_read_lock");
    a_cycle_through_a_read_lock_held_after(7);
}

#[test]
fn a_cycle_through_a_twenty_first_read_lock_is_reported() {
    let _limit = TimeLimit::start(TEST_LIMIT, "a_cycle_through_a_twenty_first_read_lock");
    a_cycle_through_a_read_lock_held_after(20);
}

// ---- 4. check() and the Watchdog call a hand-off a self-deadlock ----

/// Runs `rounds` hand-offs: each round, `take_and_hand_over` takes the lock, runs the
/// closure it is given (which waits until the thread `late` is parked on the lock and
/// starts keeping it off the CPU), and releases the lock straight to `late`. Until `late`
/// has run, `check()` is called again and again, and a `Watchdog` checks every
/// millisecond. Nothing may be reported: `late` owns the lock and is about to run; it
/// waits for nothing.
fn hand_offs_are_not_deadlocks<L: Send + Sync + 'static>(
    rounds: usize,
    lock: L,
    take_then_release: fn(&L, &dyn Fn()),
    take_and_hand_over: fn(&L, &dyn Fn()),
) {
    let off_cpu = Arc::new(OffCpu::start());
    let false_reports = reports();
    let lock = Arc::new(lock);
    let acquired = Arc::new(AtomicUsize::new(0));
    let round_start = Arc::new(std::sync::Barrier::new(2));
    let late = {
        let (lock, acquired, round_start, off_cpu) = (
            Arc::clone(&lock),
            Arc::clone(&acquired),
            Arc::clone(&round_start),
            Arc::clone(&off_cpu),
        );
        start_named("woken-late", move || {
            off_cpu.enter();
            for _ in 0..rounds {
                round_start.wait();
                take_then_release(&lock, &|| {
                    acquired.fetch_add(1, Ordering::SeqCst);
                });
            }
        })
    };
    let late_info = late.info();
    // Only reports about this test's thread count: under `cargo test`, other tests
    // share the process (and some of them deadlock on purpose).
    let late_id = late_info.id();
    let about_late = move |r: &DeadlockError| r.threads().iter().any(|t| t.id() == late_id);
    let watchdog = {
        let found = Arc::clone(&false_reports);
        Watchdog::start(Duration::from_millis(1), move |r| {
            if about_late(r) {
                push(&found, format!("Watchdog: {r}"));
            }
        })
    };
    for round in 0..rounds {
        take_and_hand_over(&lock, &|| {
            round_start.wait();
            reach(&late_info, ThreadState::Blocked);
            off_cpu.spin_for(WINDOW);
        });
        // `late` owns the lock now (or soon), and has not run yet.
        let deadline = Instant::now() + PATIENCE;
        while acquired.load(Ordering::SeqCst) <= round {
            for r in deadlock::check().into_iter().filter(about_late) {
                push(&false_reports, format!("round {round}, check(): {r}"));
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the woken thread never took the lock"
            );
        }
    }
    join_within(late, "the woken thread never ended");
    watchdog.stop();
    assert_no_reports(&false_reports, rounds);
}

/// Issue 11, case 4, `unlock_fair`: the lock goes straight to the parked waiter, which
/// owns it before it runs. `check()` said "woken-late waits for a lock it holds itself",
/// plus a global stall, whenever it stayed off the CPU past `check()`'s second look.
#[test]
fn check_and_the_watchdog_do_not_call_an_unlock_fair_hand_off_a_deadlock() {
    let _limit = TimeLimit::start(TEST_LIMIT, "..._unlock_fair_hand_off_...");
    hand_offs_are_not_deadlocks(
        100,
        Mutex::named("handed-over", ()),
        |m, then| {
            let _g = m.lock();
            then();
        },
        |m, then| {
            let g = m.lock();
            then();
            MutexGuard::unlock_fair(g);
        },
    );
}

/// Issue 11, case 4, `RwLock`: a releasing writer hands its claim to the next parked
/// writer, which holds it before it runs (the same false self-deadlock, with a hint
/// about Mutexes not being reentrant).
#[test]
fn check_and_the_watchdog_do_not_call_a_handed_on_writer_claim_a_deadlock() {
    let _limit = TimeLimit::start(TEST_LIMIT, "..._handed_on_writer_claim_...");
    hand_offs_are_not_deadlocks(
        100,
        RwLock::named("claim-handed-on", ()),
        |l, then| {
            let _g = l.write();
            then();
        },
        |l, then| {
            let g = l.write();
            then();
            drop(g);
        },
    );
}

// ---- 5. An RwLock reader let in by a writer's release still names "the writer" ----

/// Issue 11, case 5: readers parked on `L` are counted in by the releasing writer, which
/// hands its claim on to the next writer `W2`. A reader that has not run yet already
/// holds its read lock; its published wait must not name `W2`. Here the late reader
/// holds `m`; a second reader, let in at the same time, then locks `m` while `W2` waits
/// for both readers to leave: no cycle (the late reader runs, leaves, releases `m`), but
/// a search through the late reader's stale wait finds S -> m -> late -> W2 -> S.
#[test]
fn a_reader_let_in_by_a_writers_release_no_longer_names_the_writer() {
    const ROUNDS: usize = 60;
    let _limit = TimeLimit::start(TEST_LIMIT, "a_reader_let_in_by_a_writers_release_...");
    let off_cpu = Arc::new(OffCpu::start());
    let l = Arc::new(RwLock::named("L", 0u64));
    let m = Arc::new(Mutex::named("m", ()));
    let false_reports = reports();
    let late_round = Arc::new(std::sync::Barrier::new(2));
    let late = {
        let (l, m, off_cpu, round) = (
            Arc::clone(&l),
            Arc::clone(&m),
            Arc::clone(&off_cpu),
            Arc::clone(&late_round),
        );
        start_named("late-reader", move || {
            off_cpu.enter();
            for _ in 0..ROUNDS {
                round.wait();
                let held = m.lock();
                let read = l.read();
                drop(read);
                drop(held);
            }
        })
    };
    let late_info = late.info();
    for round in 0..ROUNDS {
        let w1 = l.write();
        late_round.wait();
        reach(&late_info, ThreadState::Blocked); // holds m, parked on L
        let second_reader = {
            let (l, m) = (Arc::clone(&l), Arc::clone(&m));
            start_named("second-reader", move || {
                let read = l.read();
                let got = m.lock_checked().map(drop);
                drop(read);
                got
            })
        };
        reach(&second_reader.info(), ThreadState::Blocked); // parked on L
        let w2 = {
            let l = Arc::clone(&l);
            start_named("W2", move || l.write_checked().map(|mut g| *g += 1))
        };
        reach(&w2.info(), ThreadState::Blocked); // parked on L, behind the readers
        off_cpu.spin_for(WINDOW);
        drop(w1); // both readers counted in, the claim handed to W2
        if let Err(e) = join_within(second_reader, "the second reader never ended") {
            push(&false_reports, format!("round {round}, second reader: {e}"));
        }
        if let Err(e) = join_within(w2, "W2 never ended") {
            push(&false_reports, format!("round {round}, W2: {e}"));
        }
    }
    join_within(late, "the late reader never ended");
    assert_no_reports(&false_reports, ROUNDS);
}

// ---- 7. A cycle closed by a Condition notified under its lock ----

/// Issue 11, "remaining blind spots": the waiter holds `a` and waits on the condition;
/// the notifier, holding the condition's lock, notifies (the waiter stays parked until
/// that lock is released: notifications are deferred) and then blocks on `a`. A real
/// cycle: the notifier waits for `a`, the waiter for the condition's lock. It must be
/// reported as it forms (to exactly one of the two), not only by `check()`.
fn a_condition_cycle_is_reported_at_formation(notify: fn(&Condition<bool>), how: &str) {
    let a = Arc::new(Mutex::named("a", ()));
    let cond = Arc::new(Condition::named("ready", false));
    let waiter = {
        let (a, cond) = (Arc::clone(&a), Arc::clone(&cond));
        start_named("cond-waiter", move || {
            let held = a.lock();
            let outcome = guarded(|| {
                let mut g = cond.lock();
                g.wait_until(|ready| *ready);
            });
            drop(held);
            outcome
        })
    };
    reach(&waiter.info(), ThreadState::Waiting);
    let notifier = {
        let (a, cond) = (Arc::clone(&a), Arc::clone(&cond));
        start_named("notifier", move || {
            let mut g = cond.lock();
            *g = true;
            notify(&cond);
            let got = guarded(|| a.lock_checked().map(drop)).and_then(|r| r);
            drop(g);
            got
        })
    };
    let hang = format!(
        "{how} under the condition's lock, then blocking on the waiter's lock: \
         the cycle was not reported as it formed (both parked)"
    );
    assert!(notifier.wait_timeout(PATIENCE), "{hang}");
    let outcomes = [join_within(notifier, &hang), join_within(waiter, &hang)];
    let reports: Vec<&DeadlockError> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(
        reports.len(),
        1,
        "{how}: exactly one reporter: {reports:#?}"
    );
    assert_eq!(reports[0].kind(), DeadlockKind::Cycle);
    let text = reports[0].to_string();
    assert!(text.contains("Mutex \"a\""), "{text}");
}

#[test]
fn a_cycle_closed_by_a_condition_notified_under_its_lock_is_reported_at_formation() {
    let _limit = TimeLimit::start(TEST_LIMIT, "a_cycle_closed_by_a_condition_...");
    a_condition_cycle_is_reported_at_formation(Condition::notify_one, "notify_one");
    a_condition_cycle_is_reported_at_formation(Condition::notify_all, "notify_all");
    a_condition_cycle_is_reported_at_formation(|c| c.notify(2), "notify(2)");
}

// ---- 8. Cycles closed by a join or a Future wait ----

/// Runs `wait` (which must never return: it closes a cycle) and expects it to panic
/// with the deadlock report, as `lock()` does.
#[track_caller]
fn expect_deadlock_panic<T>(what: &str, wait: impl FnOnce() -> T) -> DeadlockError {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(wait)) {
        Ok(_) => panic!("{what} returned, though it closed a cycle"),
        Err(payload) => match payload.downcast::<DeadlockError>() {
            Ok(report) => *report,
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

/// Issue 11, "Check it when the wait begins": holding `m`, a thread joins `B` while `B`
/// is blocked on `m`. The join closes the cycle, so the join reports it (panicking with
/// the report, like `lock()`).
#[test]
fn a_cycle_closed_by_a_join_is_reported_when_the_join_begins() {
    let _limit = TimeLimit::start(TEST_LIMIT, "a_cycle_closed_by_a_join_...");
    let m = Arc::new(Mutex::named("m", ()));
    let joiner = {
        let m = Arc::clone(&m);
        start_named("joiner", move || {
            let held = m.lock();
            let b = {
                let m = Arc::clone(&m);
                start_named("B", move || m.lock_checked().map(drop))
            };
            let b_info = b.info();
            reach(&b_info, ThreadState::Blocked);
            let report = expect_deadlock_panic("join()", move || b.join());
            drop(held);
            (report, b_info)
        })
    };
    let (report, b_info) = join_within(
        joiner,
        "the join that closed the cycle was not reported (joiner and B parked for good)",
    );
    assert_eq!(report.kind(), DeadlockKind::Cycle);
    let mut names = report.thread_names();
    names.sort();
    assert_eq!(names, ["B", "joiner"], "{report}");
    assert!(
        common::wait_until(PATIENCE, || !b_info.is_alive()),
        "B never got m after the joiner let go"
    );
}

/// The same through a `Future`: holding `m`, a thread takes the `result()` of a task
/// that is blocked on `m`.
#[test]
fn a_cycle_closed_by_a_future_result_is_reported_when_the_wait_begins() {
    a_cycle_closed_by_a_future_wait("result()", |f| drop(f.result()));
}

/// The same with `Future::wait()`.
#[test]
fn a_cycle_closed_by_a_future_wait_is_reported_when_the_wait_begins() {
    a_cycle_closed_by_a_future_wait("wait()", |f| f.wait());
}

fn a_cycle_closed_by_a_future_wait(
    what: &'static str,
    wait: fn(spindle::futures::Future<Result<(), DeadlockError>>),
) {
    let _limit = TimeLimit::start(TEST_LIMIT, format!("a future {what} closing a cycle"));
    let m = Arc::new(Mutex::named("m", ()));
    let waiter = {
        let m = Arc::clone(&m);
        start_named("future-waiter", move || {
            let pool = ThreadPoolExecutor::builder()
                .max_workers(1)
                .thread_name_prefix("task-runner")
                .build();
            let held = m.lock();
            let (to_me, runner) = mpsc::channel();
            let m2 = Arc::clone(&m);
            let f = pool.submit(move || {
                to_me.send(thread::current()).unwrap();
                m2.lock_checked().map(drop)
            });
            let runner = runner.recv_timeout(PATIENCE).expect("the task started");
            reach(&runner, ThreadState::Blocked);
            let report = expect_deadlock_panic(what, move || wait(f));
            drop(held);
            drop(pool); // waits for the task, which gets m now
            report
        })
    };
    let report = join_within(
        waiter,
        &format!("the Future {what} that closed the cycle was not reported (parked for good)"),
    );
    assert_eq!(report.kind(), DeadlockKind::Cycle);
    let mut names = report.thread_names();
    names.sort();
    assert_eq!(names, ["future-waiter", "task-runner_0"], "{report}");
}

/// Found by `deadlock_random.rs` (1 seed in 600): idle pool workers waiting for work
/// were reported as a global stall while the only thread that would give them work was
/// one spindle never saw. An idle pool is not a deadlock: a stall needs a thread that is
/// stuck, not merely waiting for work.
#[test]
fn idle_pool_workers_alone_are_not_a_stall() {
    let _limit = TimeLimit::start(TEST_LIMIT, "idle pool stall regression");
    // Made on a plain thread that then ends, and checked from another: no thread that
    // spindle sees runs, and only the pool's (non-daemon) workers are alive, idle.
    let pool = std::thread::spawn(|| {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(2)
            .thread_name_prefix("idle-pool")
            .build();
        let a = pool.submit(|| 1);
        let b = pool.submit(|| 2);
        assert_eq!((a.result(), b.result()), (Ok(1), Ok(2)));
        pool
    })
    .join()
    .unwrap();
    let found = std::thread::spawn(|| {
        let idle = || {
            thread::enumerate()
                .iter()
                .filter(|t| t.name().starts_with("idle-pool") && t.state() == ThreadState::Waiting)
                .count()
                == 2
        };
        let deadline = Instant::now() + PATIENCE;
        while !idle() {
            assert!(
                Instant::now() < deadline,
                "the pool's workers never went idle"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        (0..20)
            .flat_map(|_| deadlock::check())
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert!(found.is_empty(), "an idle pool was reported: {found:#?}");
    drop(pool);
}
