//! `Detection::LockOrder`: inversions found without any real deadlock, and nothing else.
//!
//! Detection mode and the handler are process-wide: these tests are written for nextest,
//! which runs each test in its own process (the README's test command).

use std::sync::Arc;

use parking_lot::Mutex as PlMutex;
use spindle::deadlock::{self, DeadlockError, DeadlockKind, Detection};
use spindle::sync::{Mutex, RLock, RwLock};
use spindle::thread::Thread;

/// Turns lock-order checking on and collects its reports.
fn collect_reports() -> Arc<PlMutex<Vec<DeadlockError>>> {
    let reports = Arc::new(PlMutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    deadlock::set_lock_order_handler(move |e| sink.lock().push(e.clone()));
    deadlock::set_detection(Detection::LockOrder);
    reports
}

fn run(name: &str, f: impl FnOnce() + Send + 'static) {
    Thread::new(f).name(name).start().unwrap().join().unwrap();
}

#[test]
fn an_inversion_is_found_though_nothing_deadlocked() {
    let reports = collect_reports();
    let (a, b) = (
        Arc::new(Mutex::named("accounts", ())),
        Arc::new(Mutex::named("audit", ())),
    );
    let (a1, b1) = (Arc::clone(&a), Arc::clone(&b));
    run("transfer", move || {
        let _a = a1.lock();
        let _b = b1.lock();
    });
    let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
    run("report", move || {
        let _b = b2.lock();
        let _a = a2.lock();
    });
    let reports = reports.lock();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r.kind(), DeadlockKind::LockOrder);
    let mut names = r.thread_names();
    names.sort();
    assert_eq!(names, ["report", "transfer"]);
    let text = r.to_string();
    assert!(
        text.contains("Mutex \"accounts\"") && text.contains("Mutex \"audit\""),
        "{text}"
    );
    // Both places: each thread's acquisition and the lock it held, with source locations.
    assert_eq!(text.matches("lock_order.rs").count(), 4, "{text}");
}

#[test]
fn an_inversion_is_reported_once() {
    let reports = collect_reports();
    let (a, b) = (Mutex::named("x", ()), Mutex::named("y", ()));
    for _ in 0..5 {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        {
            let _b = b.lock();
            let _a = a.lock();
        }
    }
    assert_eq!(reports.lock().len(), 1);
}

#[test]
fn an_inversion_through_a_third_lock_is_found() {
    let reports = collect_reports();
    let (a, b, c) = (
        Mutex::named("a", ()),
        Mutex::named("b", ()),
        RwLock::named("c", ()),
    );
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    {
        let _b = b.lock();
        let _c = c.write();
    }
    assert!(reports.lock().is_empty());
    {
        let _c = c.read();
        let _a = a.lock(); // c then a closes a -> b -> c -> a
    }
    let reports = reports.lock();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].threads().len(), 3);
}

#[test]
fn consistent_orders_are_never_reported() {
    let reports = collect_reports();
    let locks: Arc<Vec<Mutex<u64>>> = Arc::new(
        (0..4)
            .map(|i| Mutex::named(format!("level-{i}"), 0))
            .collect(),
    );
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let locks = Arc::clone(&locks);
            Thread::new(move || {
                for round in 0..200 {
                    // Any subset, always in ascending order.
                    let guards: Vec<_> = (0..4)
                        .filter(|i| (round + t + i) % 3 != 0)
                        .map(|i| locks[i].lock())
                        .collect();
                    drop(guards);
                }
            })
            .start()
            .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(reports.lock().is_empty(), "{:#?}", reports.lock());
}

#[test]
fn rlock_reentry_and_try_lock_set_no_order() {
    let reports = collect_reports();
    let (r, m) = (RLock::named("reentrant", ()), Mutex::named("plain", ()));
    {
        let _r = r.lock();
        let _m = m.lock(); // reentrant then plain
        let _again = r.lock(); // re-entry while holding plain: not an order
    }
    {
        let _m = m.lock();
        let tried = r.try_lock(); // a try-lock cannot wait forever: not an order
        assert!(tried.is_some());
    }
    assert!(reports.lock().is_empty(), "{:#?}", reports.lock());
}

#[test]
fn waitfor_mode_does_not_check_orders() {
    let reports = collect_reports();
    deadlock::set_detection(Detection::WaitFor);
    let (a, b) = (Mutex::named("p", ()), Mutex::named("q", ()));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    assert!(reports.lock().is_empty());
}

/// Two accounts made by one constructor share a lock class (where the lock is created);
/// `transfer(x, y)` and `transfer(y, x)` still invert, and are reported, naming which
/// lock of the class is which.
#[test]
fn an_inversion_between_locks_of_one_class_is_found() {
    struct Account {
        balance: Mutex<i64>,
    }
    fn open(balance: i64) -> Arc<Account> {
        Arc::new(Account {
            balance: Mutex::new(balance), // one creation site: one class
        })
    }
    fn transfer(from: &Account, to: &Account, amount: i64) {
        let mut f = from.balance.lock();
        let mut t = to.balance.lock();
        *f -= amount;
        *t += amount;
    }
    let reports = collect_reports();
    let (x, y) = (open(100), open(100));
    let (x1, y1) = (Arc::clone(&x), Arc::clone(&y));
    run("x-to-y", move || transfer(&x1, &y1, 10));
    let (x2, y2) = (Arc::clone(&x), Arc::clone(&y));
    run("y-to-x", move || transfer(&y2, &x2, 5));
    let reports = reports.lock();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let text = reports[0].to_string();
    let mut names = reports[0].thread_names();
    names.sort();
    assert_eq!(names, ["x-to-y", "y-to-x"], "{text}");
    assert!(
        text.contains("(instance #1)") && text.contains("(instance #2)"),
        "{text}"
    );
    assert_eq!(*x.balance.lock() + *y.balance.lock(), 200);
}

/// Five forks all named "fork", each philosopher taking left then right: the last one
/// closes a cycle through all five, found though no run deadlocked (one at a time).
#[test]
fn dining_philosophers_with_same_named_forks_are_found() {
    let reports = collect_reports();
    let forks: Arc<Vec<Mutex<()>>> = Arc::new((0..5).map(|_| Mutex::named("fork", ())).collect());
    for p in 0..5 {
        let forks = Arc::clone(&forks);
        run(&format!("philosopher-{p}"), move || {
            let _left = forks[p].lock();
            let _right = forks[(p + 1) % 5].lock();
        });
    }
    let reports = reports.lock();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].threads().len(), 5, "{}", reports[0]);
}

/// The usual fix, taking locks of one class in a fixed order (by index), is never
/// reported, however the pairs are picked.
#[test]
fn locks_of_one_class_taken_in_a_fixed_order_are_never_reported() {
    let reports = collect_reports();
    let forks: Arc<Vec<Mutex<()>>> = Arc::new((0..5).map(|_| Mutex::named("fork", ())).collect());
    for p in 0..5 {
        let forks = Arc::clone(&forks);
        run(&format!("philosopher-{p}"), move || {
            let (a, b) = (p, (p + 1) % 5);
            let _first = forks[a.min(b)].lock();
            let _second = forks[a.max(b)].lock();
        });
    }
    assert!(reports.lock().is_empty(), "{:#?}", reports.lock());
}

/// The GIL is a lock like the others: GIL then a mutex in one place, the mutex then
/// the GIL in another, is an inversion.
#[test]
fn an_inversion_with_the_gil_is_found() {
    let reports = collect_reports();
    let gil = Arc::new(spindle::sync::Gil::new());
    let m = Arc::new(Mutex::named("interpreter data", ()));
    let (g1, m1) = (Arc::clone(&gil), Arc::clone(&m));
    run("gil-first", move || {
        let _g = g1.acquire();
        let _m = m1.lock();
    });
    let (g2, m2) = (Arc::clone(&gil), Arc::clone(&m));
    run("mutex-first", move || {
        let _m = m2.lock();
        let _g = g2.acquire();
    });
    let reports = reports.lock();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let text = reports[0].to_string();
    assert!(
        text.contains("Gil created at") && text.contains("interpreter data"),
        "{text}"
    );
}
