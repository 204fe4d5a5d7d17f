//! `Mutex`: the shared lock suite (`common/lock_suite.rs`), plus what only a data-carrying,
//! non-reentrant lock has.

mod common;

use std::sync::Arc;

use common::lock_suite::{self, lock_suite};
use common::scaled;
use spindle::sync::{Lock, Mutex};
use spindle::thread;

lock_suite!(spindle::sync::Mutex<()>);

#[test]
fn no_starvation() {
    lock_suite::no_starvation::<Mutex<()>>();
}

#[test]
fn eight_threads_count_to_800_000() {
    const THREADS: usize = 8;
    let rounds = scaled(100_000);
    let total = Arc::new(Mutex::named("total", 0usize));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let total = Arc::clone(&total);
            thread::spawn(move || {
                for _ in 0..rounds {
                    *total.lock() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(*total.lock(), THREADS * rounds);
}

#[test]
fn carries_data() {
    let mut m = Mutex::new(vec![1, 2]);
    m.lock().push(3);
    m.get_mut().push(4);
    assert_eq!(*m.lock(), [1, 2, 3, 4]);
    assert_eq!(m.into_inner(), [1, 2, 3, 4]);
    let d: Mutex<String> = Mutex::default();
    assert_eq!(*d.lock(), "");
}

#[test]
fn works_in_a_static() {
    static HITS: Mutex<u32> = Mutex::new(0);
    let workers: Vec<_> = (0..4)
        .map(|_| thread::spawn(|| *HITS.lock() += 1))
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(*HITS.lock(), 4);
}

#[test]
fn holds_unsized_data() {
    let m: &Mutex<[u8]> = &Mutex::new([1, 2, 3]);
    m.lock()[0] = 9;
    assert_eq!(&*m.lock(), &[9, 2, 3]);
}

#[test]
fn lock_checked_and_try_lock() {
    let m = Lock::new(());
    let g = m.lock_checked().expect("a free lock");
    assert!(m.is_locked());
    assert!(m.try_lock().is_none());
    drop(g);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

#[test]
fn debug_shows_name_and_data_or_locked() {
    let m = Mutex::named("accounts", 7);
    let text = format!("{m:?}");
    assert!(text.contains("accounts") && text.contains('7'), "{text}");
    let g = m.lock();
    let text = format!("{m:?}");
    assert!(text.contains("<locked>"), "{text}");
    assert_eq!(format!("{g:?} {g}"), "7 7");
}

#[test]
fn unlock_fair_releases_to_a_waiter() {
    use spindle::sync::MutexGuard;
    let m = Arc::new(Mutex::new(0));
    let g = m.lock();
    let m2 = Arc::clone(&m);
    let waiter = thread::spawn(move || *m2.lock() += 1);
    common::reach(&waiter.info(), spindle::thread::ThreadState::Blocked);
    MutexGuard::unlock_fair(g);
    waiter.join().unwrap();
    assert_eq!(*m.lock(), 1);
}

#[test]
fn is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Mutex<std::cell::Cell<u8>>>(); // T: Send suffices, as for std
}
