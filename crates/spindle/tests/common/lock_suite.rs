//! One suite for every lock that excludes: `Mutex`, `ReentrantMutex`, `RwLock` (writing),
//! `Semaphore` and `BoundedSemaphore` with one permit. Ported in spirit from CPython's
//! `Lib/test/lock_tests.py` (`BaseLockTests`), which binds one suite to each lock type;
//! each test names the CPython test it follows, where there is one.
//!
//! A test file runs the suite with `lock_suite!(Type);`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::sync::{
    BoundedSemaphore, Mutex, MutexGuard, ReentrantMutex, ReentrantMutexGuard, RwLock,
    RwLockWriteGuard, Semaphore, SemaphorePermit,
};
use spindle::thread::{self, ThreadState};

use super::{PATIENCE, RacyCounter, SETTLE, holds_for, reach, scaled, wait_until};

/// A lock as the suite sees it: at most one holder at a time.
pub trait ExclusiveLock: Send + Sync + Sized + 'static {
    type Guard<'a>;
    /// How `waiting_on` names this kind of lock.
    const KIND: &'static str;
    /// What a thread waiting in `acquire` reads.
    const WAITING: ThreadState;
    fn named(name: &str) -> Self;
    fn acquire(&self) -> Self::Guard<'_>;
    fn try_acquire(&self) -> Option<Self::Guard<'_>>;
    fn try_acquire_for(&self, timeout: Duration) -> Option<Self::Guard<'_>>;
    /// Whether some thread holds it.
    fn is_held(&self) -> bool;
}

impl ExclusiveLock for Mutex<()> {
    type Guard<'a> = MutexGuard<'a, ()>;
    const KIND: &'static str = "Mutex";
    const WAITING: ThreadState = ThreadState::Blocked;
    fn named(name: &str) -> Self {
        Mutex::named(name, ())
    }
    fn acquire(&self) -> Self::Guard<'_> {
        self.lock()
    }
    fn try_acquire(&self) -> Option<Self::Guard<'_>> {
        self.try_lock()
    }
    fn try_acquire_for(&self, timeout: Duration) -> Option<Self::Guard<'_>> {
        self.try_lock_for(timeout)
    }
    fn is_held(&self) -> bool {
        self.is_locked()
    }
}

impl ExclusiveLock for ReentrantMutex<()> {
    type Guard<'a> = ReentrantMutexGuard<'a, ()>;
    const KIND: &'static str = "ReentrantMutex";
    const WAITING: ThreadState = ThreadState::Blocked;
    fn named(name: &str) -> Self {
        ReentrantMutex::named(name, ())
    }
    fn acquire(&self) -> Self::Guard<'_> {
        self.lock()
    }
    fn try_acquire(&self) -> Option<Self::Guard<'_>> {
        self.try_lock()
    }
    fn try_acquire_for(&self, timeout: Duration) -> Option<Self::Guard<'_>> {
        self.try_lock_for(timeout)
    }
    fn is_held(&self) -> bool {
        self.is_locked()
    }
}

impl ExclusiveLock for RwLock<()> {
    type Guard<'a> = RwLockWriteGuard<'a, ()>;
    const KIND: &'static str = "RwLock";
    const WAITING: ThreadState = ThreadState::Blocked;
    fn named(name: &str) -> Self {
        RwLock::named(name, ())
    }
    fn acquire(&self) -> Self::Guard<'_> {
        self.write()
    }
    fn try_acquire(&self) -> Option<Self::Guard<'_>> {
        self.try_write()
    }
    fn try_acquire_for(&self, timeout: Duration) -> Option<Self::Guard<'_>> {
        self.try_write_for(timeout)
    }
    fn is_held(&self) -> bool {
        self.is_locked()
    }
}

impl ExclusiveLock for Semaphore {
    type Guard<'a> = SemaphorePermit<'a>;
    const KIND: &'static str = "Semaphore";
    const WAITING: ThreadState = ThreadState::Waiting;
    fn named(name: &str) -> Self {
        Semaphore::named(name, 1)
    }
    fn acquire(&self) -> Self::Guard<'_> {
        Semaphore::acquire(self)
    }
    fn try_acquire(&self) -> Option<Self::Guard<'_>> {
        Semaphore::try_acquire(self)
    }
    fn try_acquire_for(&self, timeout: Duration) -> Option<Self::Guard<'_>> {
        Semaphore::try_acquire_for(self, timeout)
    }
    fn is_held(&self) -> bool {
        self.available_permits() == 0
    }
}

impl ExclusiveLock for BoundedSemaphore {
    type Guard<'a> = SemaphorePermit<'a>;
    const KIND: &'static str = "BoundedSemaphore";
    const WAITING: ThreadState = ThreadState::Waiting;
    fn named(name: &str) -> Self {
        BoundedSemaphore::named(name, 1)
    }
    fn acquire(&self) -> Self::Guard<'_> {
        BoundedSemaphore::acquire(self)
    }
    fn try_acquire(&self) -> Option<Self::Guard<'_>> {
        BoundedSemaphore::try_acquire(self)
    }
    fn try_acquire_for(&self, timeout: Duration) -> Option<Self::Guard<'_>> {
        BoundedSemaphore::try_acquire_for(self, timeout)
    }
    fn is_held(&self) -> bool {
        self.available_permits() == 0
    }
}

/// Runs `f` on a new thread with its own handle on `lock`.
fn on_thread<L: ExclusiveLock, T: Send + 'static>(
    lock: &Arc<L>,
    f: impl FnOnce(&L) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let lock = Arc::clone(lock);
    thread::spawn(move || f(&lock))
}

/// lock_tests.py `test_acquire_release`, `test_acquire_destroy`.
pub fn acquire_release<L: ExclusiveLock>() {
    let lock = L::named("suite");
    assert!(!lock.is_held());
    let g = lock.acquire();
    assert!(lock.is_held());
    drop(g);
    assert!(!lock.is_held());
    drop(lock.acquire());
    drop(lock);
}

/// lock_tests.py `test_try_acquire`.
pub fn try_acquire_when_free<L: ExclusiveLock>() {
    let lock = L::named("suite");
    let g = lock.try_acquire().expect("a free lock can be taken");
    assert!(lock.is_held());
    drop(g);
    let g = lock
        .try_acquire_for(Duration::from_millis(1))
        .expect("a free lock can be taken");
    drop(g);
    assert!(!lock.is_held());
}

/// lock_tests.py `test_try_acquire_contended`.
pub fn try_acquire_contended<L: ExclusiveLock>() {
    let lock = Arc::new(L::named("suite"));
    let g = lock.acquire();
    let other = on_thread(&lock, |l| l.try_acquire().is_some());
    assert!(!other.join().unwrap(), "another thread took a held lock");
    drop(g);
    let other = on_thread(&lock, |l| l.try_acquire().is_some());
    assert!(other.join().unwrap(), "a released lock stayed taken");
}

/// lock_tests.py `test_acquire_contended`: waiters block until the holder releases,
/// then all get through.
pub fn acquire_contended<L: ExclusiveLock>() {
    const N: usize = 5;
    let lock = Arc::new(L::named("suite"));
    let through = Arc::new(AtomicUsize::new(0));
    let g = lock.acquire();
    let waiters: Vec<_> = (0..N)
        .map(|_| {
            let through = Arc::clone(&through);
            on_thread(&lock, move |l| {
                let _g = l.acquire();
                through.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for w in &waiters {
        reach(&w.info(), L::WAITING);
    }
    assert_eq!(through.load(Ordering::SeqCst), 0);
    drop(g);
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(through.load(Ordering::SeqCst), N);
    assert!(!lock.is_held());
}

/// lock_tests.py `test_timeout`: a timed acquire of a held lock gives up after (not
/// before) its timeout, and one whose lock is released in time gets it.
pub fn try_acquire_for_times_out_then_succeeds<L: ExclusiveLock>() {
    let lock = Arc::new(L::named("suite"));
    let g = lock.acquire();
    let timeout = Duration::from_millis(100);
    let gave_up = on_thread(&lock, move |l| {
        let start = Instant::now();
        let got = l.try_acquire_for(timeout).is_some();
        (got, start.elapsed())
    });
    let (got, waited) = gave_up.join().unwrap();
    assert!(!got, "took a held lock");
    assert!(
        waited >= timeout,
        "gave up after {waited:?}, before {timeout:?}"
    );

    let patient = on_thread(&lock, |l| l.try_acquire_for(PATIENCE).is_some());
    reach(&patient.info(), ThreadState::TimedWaiting);
    drop(g);
    assert!(
        patient.join().unwrap(),
        "missed a lock released while it waited"
    );
    assert!(!lock.is_held());
}

/// A waiter reads the kind's waiting state and `waiting_on` names the lock; once it has
/// the lock it reads `Runnable` and waits on nothing.
pub fn waiter_state_names_the_lock<L: ExclusiveLock>() {
    let lock = Arc::new(L::named("suite-lock"));
    let expected = format!("{} \"suite-lock\"", L::KIND);
    let g = lock.acquire();
    let release = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&release);
    let waiter = on_thread(&lock, move |l| {
        let g = l.acquire();
        // Hold it, running, until told to stop.
        while !stop.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        drop(g);
    });
    let info = waiter.info();
    reach(&info, L::WAITING);
    assert_eq!(info.waiting_on().as_deref(), Some(expected.as_str()));
    drop(g);
    assert!(wait_until(PATIENCE, || lock.is_held()
        && info.state() == ThreadState::Runnable));
    assert_eq!(info.waiting_on(), None);
    release.store(true, Ordering::SeqCst);
    waiter.join().unwrap();

    let g = lock.acquire();
    let timed = on_thread(&lock, |l| l.try_acquire_for(PATIENCE).is_some());
    reach(&timed.info(), ThreadState::TimedWaiting);
    assert_eq!(
        timed.info().waiting_on().as_deref(),
        Some(expected.as_str())
    );
    drop(g);
    assert!(timed.join().unwrap());
}

/// 8 threads x 100,000 increments, each under the lock, end exact.
pub fn counts_exactly<L: ExclusiveLock>() {
    const THREADS: usize = 8;
    let rounds = scaled(100_000);
    let lock = Arc::new(L::named("suite"));
    let counter = Arc::new(RacyCounter::new());
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let counter = Arc::clone(&counter);
            on_thread(&lock, move |l| {
                for _ in 0..rounds {
                    let _g = l.acquire();
                    counter.bump();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(counter.get(), (THREADS * rounds) as u64);
}

/// Two threads hammering the lock both get it: neither starves the other. Not part of
/// the macro: semaphores make no such promise (a released permit may go to a thread
/// arriving just then), so only the locks that do call it.
pub fn no_starvation<L: ExclusiveLock>() {
    let lock = Arc::new(L::named("suite"));
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let hammers: Vec<_> = (0..2)
        .map(|i| {
            let (stop, counts) = (Arc::clone(&stop), Arc::clone(&counts));
            on_thread(&lock, move |l| {
                while !stop.load(Ordering::Relaxed) {
                    let _g = l.acquire();
                    counts[i].fetch_add(1, Ordering::Relaxed);
                    for _ in 0..50 {
                        std::hint::spin_loop(); // a little work while holding it
                    }
                }
            })
        })
        .collect();
    // Both must get in well within the bound, and keep getting in afterwards.
    let progressed = |floor: [usize; 2]| {
        wait_until(PATIENCE, || {
            counts[0].load(Ordering::Relaxed) > floor[0]
                && counts[1].load(Ordering::Relaxed) > floor[1]
        })
    };
    let both_in = progressed([0, 0]);
    let snapshot = [
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
    ];
    let both_again = both_in && progressed(snapshot);
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.join().unwrap();
    }
    let counts = [
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
    ];
    assert!(both_in && both_again, "a thread starved: counts {counts:?}");
}

/// lock_tests.py `test_with` (an exception in the block): a panic while holding the lock
/// releases it.
pub fn panic_releases<L: ExclusiveLock>() {
    let lock = Arc::new(L::named("suite"));
    let l = Arc::clone(&lock);
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || {
        let _g = l.acquire();
        panic!("while holding the lock");
    }));
    assert!(outcome.is_err());
    assert!(!lock.is_held());
    let other = on_thread(&lock, |l| l.try_acquire().is_some());
    assert!(other.join().unwrap());
}

/// A timed acquire that gives up leaves the lock working: later waiters are still woken.
pub fn timeout_leaves_lock_usable<L: ExclusiveLock>() {
    let lock = Arc::new(L::named("suite"));
    for _ in 0..scaled(20) {
        let g = lock.acquire();
        let quitter = on_thread(&lock, |l| {
            l.try_acquire_for(Duration::from_millis(2)).is_some()
        });
        let waiter = on_thread(&lock, |l| drop(l.acquire()));
        assert!(!quitter.join().unwrap());
        drop(g);
        assert!(waiter.wait_timeout(PATIENCE), "a waiter was never woken");
        waiter.join().unwrap();
    }
    assert!(holds_for(SETTLE / 10, || !lock.is_held()));
}

/// Binds the suite to one lock type: `lock_suite!(spindle::sync::Lock);`.
#[allow(unused_macros)] // binaries without locks include `common` too
macro_rules! lock_suite {
    ($lock:ty) => {
        mod suite {
            use crate::common::lock_suite as suite;
            type L = $lock;

            #[test]
            fn acquire_release() {
                suite::acquire_release::<L>();
            }
            #[test]
            fn try_acquire_when_free() {
                suite::try_acquire_when_free::<L>();
            }
            #[test]
            fn try_acquire_contended() {
                suite::try_acquire_contended::<L>();
            }
            #[test]
            fn acquire_contended() {
                suite::acquire_contended::<L>();
            }
            #[test]
            fn try_acquire_for_times_out_then_succeeds() {
                suite::try_acquire_for_times_out_then_succeeds::<L>();
            }
            #[test]
            fn waiter_state_names_the_lock() {
                suite::waiter_state_names_the_lock::<L>();
            }
            #[test]
            fn counts_exactly() {
                suite::counts_exactly::<L>();
            }
            #[test]
            fn panic_releases() {
                suite::panic_releases::<L>();
            }
            #[test]
            fn timeout_leaves_lock_usable() {
                suite::timeout_leaves_lock_usable::<L>();
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use lock_suite;
