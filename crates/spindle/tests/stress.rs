//! Many threads, many iterations, every primitive. Loop counts shrink under Miri; every
//! wait is bounded, so a lost wake-up fails the test instead of hanging it.

mod common;

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use common::{PATIENCE, RacyCounter, scaled};
use spindle::sync::{
    Barrier, BoundedSemaphore, Condition, Event, Gil, Mutex, ReentrantMutex, RwLock, Semaphore,
};
use spindle::thread::{self, JoinHandle};

/// Generous: a stress test on a busy two-core machine.
const BOUND: Duration = Duration::from_secs(60);

#[track_caller]
fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    handles
        .into_iter()
        .map(|h| {
            assert!(
                h.wait_timeout(BOUND),
                "a thread never finished: {:?}",
                h.info()
            );
            h.join().expect("a stress thread panicked")
        })
        .collect()
}

fn spawn_n<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<JoinHandle<T>> {
    let f = Arc::new(f);
    (0..n)
        .map(|i| {
            let f = Arc::clone(&f);
            thread::spawn(move || f(i))
        })
        .collect()
}

/// A bounded buffer on a `Condition`: 4 producers, 4 consumers, every item delivered once.
#[test]
fn condition_bounded_buffer() {
    const CAPACITY: usize = 8;
    let per_producer = scaled(20_000);
    let buf = Arc::new(Condition::new(VecDeque::<u64>::new()));
    let producers = {
        let buf = Arc::clone(&buf);
        spawn_n(4, move |p| {
            for i in 0..per_producer {
                let mut q = buf.lock();
                q.wait_until(|q| q.len() < CAPACITY);
                q.push_back((p * per_producer + i) as u64);
                drop(q);
                buf.notify_all();
            }
        })
    };
    let total = 4 * per_producer;
    let taken = Arc::new(AtomicUsize::new(0));
    let consumers = {
        let (buf, taken) = (Arc::clone(&buf), Arc::clone(&taken));
        spawn_n(4, move |_| {
            let mut sum = 0u64;
            loop {
                let mut q = buf.lock();
                let got = q.wait_until_timeout(
                    |q| !q.is_empty() || taken.load(Ordering::SeqCst) == total,
                    PATIENCE,
                );
                assert!(got, "a consumer waited in vain");
                let Some(item) = q.pop_front() else {
                    return sum;
                };
                taken.fetch_add(1, Ordering::SeqCst);
                drop(q);
                buf.notify_all();
                sum += item;
            }
        })
    };
    join_all(producers);
    let sum: u64 = join_all(consumers).into_iter().sum();
    let n = total as u64;
    assert_eq!(sum, n * (n - 1) / 2);
}

/// Writers keep two fields equal; readers must never see them differ.
#[test]
fn rwlock_readers_see_consistent_writes() {
    let rounds = scaled(20_000);
    let lock = Arc::new(RwLock::new((0u64, 0u64)));
    let handles = {
        let lock = Arc::clone(&lock);
        spawn_n(6, move |i| {
            for _ in 0..rounds {
                if i < 2 {
                    let mut g = lock.write();
                    g.0 += 1;
                    std::hint::spin_loop();
                    g.1 += 1;
                } else if i == 2 {
                    if let Some(g) = lock.try_read_for(Duration::from_micros(50)) {
                        assert_eq!(g.0, g.1);
                    }
                } else {
                    let g = lock.read();
                    assert_eq!(g.0, g.1);
                }
            }
        })
    };
    join_all(handles);
    assert_eq!(*lock.read(), (2 * rounds as u64, 2 * rounds as u64));
}

/// A semaphore with 3 permits never lets more than 3 threads in at once.
#[test]
fn semaphore_bounds_concurrency() {
    let rounds = scaled(20_000);
    let sem = Arc::new(BoundedSemaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let handles = {
        let (sem, inside, most) = (Arc::clone(&sem), Arc::clone(&inside), Arc::clone(&most));
        spawn_n(8, move |i| {
            for _ in 0..rounds {
                let permit = if i % 2 == 0 {
                    sem.acquire()
                } else {
                    match sem.try_acquire_for(Duration::from_micros(20)) {
                        Some(p) => p,
                        None => continue,
                    }
                };
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                inside.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            }
        })
    };
    join_all(handles);
    assert!(most.load(Ordering::SeqCst) <= 3);
    assert_eq!(sem.available_permits(), 3);
}

/// Permits handed around with `release` and `forget`: none appear or vanish.
#[test]
fn semaphore_permits_are_conserved() {
    let rounds = scaled(20_000);
    let sem = Arc::new(Semaphore::new(4));
    let handles = {
        let sem = Arc::clone(&sem);
        spawn_n(6, move |i| {
            for _ in 0..rounds {
                if i % 3 == 0 {
                    sem.acquire().forget();
                    sem.release(1);
                } else if let Some(p) = sem.try_acquire() {
                    drop(p);
                } else {
                    drop(sem.try_acquire_for(Duration::from_micros(10)));
                }
            }
        })
    };
    join_all(handles);
    assert_eq!(sem.available_permits(), 4);
}

/// Two threads play ping-pong with two events, many times.
#[test]
fn event_ping_pong() {
    let rounds = scaled(5_000);
    let (ping, pong) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let (p, q) = (Arc::clone(&ping), Arc::clone(&pong));
    let other = thread::spawn(move || {
        for _ in 0..rounds {
            assert!(p.wait_timeout(PATIENCE), "ping lost");
            p.clear();
            q.set();
        }
    });
    for _ in 0..rounds {
        ping.set();
        assert!(pong.wait_timeout(PATIENCE), "pong lost");
        pong.clear();
    }
    join_all(vec![other]);
}

/// Eight threads through a barrier many times, some with timeouts that never expire.
#[test]
fn barrier_many_cycles() {
    let cycles = scaled(2_000);
    let passed = Arc::new(AtomicU64::new(0));
    let p = Arc::clone(&passed);
    let b = Arc::new(Barrier::with_action(8, move || {
        p.fetch_add(1, Ordering::SeqCst);
    }));
    let handles = {
        let b = Arc::clone(&b);
        spawn_n(8, move |i| {
            for _ in 0..cycles {
                let index = if i % 2 == 0 {
                    b.wait()
                } else {
                    b.wait_timeout(PATIENCE)
                };
                assert!(index.expect("nothing breaks it") < 8);
            }
        })
    };
    join_all(handles);
    assert_eq!(passed.load(Ordering::SeqCst), cycles as u64);
}

/// Bank transfers between accounts, each locked in a fixed order, with a reentrant audit
/// log: money is conserved and nothing deadlocks.
#[test]
fn transfers_conserve_money() {
    const ACCOUNTS: usize = 5;
    let rounds = scaled(10_000);
    let accounts: Arc<Vec<Mutex<i64>>> =
        Arc::new((0..ACCOUNTS).map(|_| Mutex::new(1_000)).collect());
    let log = Arc::new(ReentrantMutex::new(Cell::new(0u64)));
    let handles = {
        let (accounts, log) = (Arc::clone(&accounts), Arc::clone(&log));
        spawn_n(8, move |t| {
            for i in 0..rounds {
                let (from, to) = ((t + i) % ACCOUNTS, (t + 2 * i + 1) % ACCOUNTS);
                if from == to {
                    continue;
                }
                let (lo, hi) = (from.min(to), from.max(to));
                let mut a = accounts[lo].lock();
                let mut b = accounts[hi].lock();
                let (src, dst) = if from == lo {
                    (&mut *a, &mut *b)
                } else {
                    (&mut *b, &mut *a)
                };
                *src -= 7;
                *dst += 7;
                let outer = log.lock();
                let inner = log.lock();
                inner.set(outer.get() + 1);
            }
        })
    };
    join_all(handles);
    let total: i64 = accounts.iter().map(|a| *a.lock()).sum();
    assert_eq!(total, 1_000 * ACCOUNTS as i64);
}

/// Threads under one GIL, ticking and doing "I/O" outside it: exclusion holds throughout.
#[test]
fn gil_with_io() {
    let rounds = scaled(5_000);
    let gil = Arc::new(Gil::with_switch_interval(Duration::from_micros(200)));
    let counter = Arc::new(RacyCounter::new());
    let handles = {
        let (gil, counter) = (Arc::clone(&gil), Arc::clone(&counter));
        spawn_n(4, move |i| {
            let mut g = gil.acquire();
            for r in 0..rounds {
                counter.bump();
                if (r + i) % 50 == 0 {
                    g.allow_threads(std::thread::yield_now);
                }
                g.tick();
            }
        })
    };
    join_all(handles);
    assert_eq!(counter.get(), 4 * rounds as u64);
}

/// Hundreds of short threads: each is listed while alive and gone once joined.
#[test]
fn thread_churn() {
    let waves = scaled(20_000) / 1000;
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..waves {
        let handles = {
            let started = Arc::clone(&started);
            spawn_n(10, move |i| {
                started.fetch_add(1, Ordering::SeqCst);
                i
            })
        };
        let infos: Vec<_> = handles.iter().map(JoinHandle::info).collect();
        assert_eq!(join_all(handles), (0..10).collect::<Vec<_>>());
        let alive = thread::enumerate();
        assert!(infos.iter().all(|i| !alive.contains(i)));
    }
    assert_eq!(started.load(Ordering::SeqCst), waves * 10);
}

/// Every primitive at once, from the same threads.
#[test]
fn everything_at_once() {
    let rounds = scaled(5_000);
    let m = Arc::new(Mutex::new(0u64));
    let rw = Arc::new(RwLock::new(0u64));
    let sem = Arc::new(Semaphore::new(2));
    let cond = Arc::new(Condition::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let handles = {
        let (m, rw, sem, cond) = (
            Arc::clone(&m),
            Arc::clone(&rw),
            Arc::clone(&sem),
            Arc::clone(&cond),
        );
        spawn_n(6, move |i| {
            for r in 0..rounds {
                match (i + r) % 4 {
                    0 => *m.lock() += 1,
                    1 => *rw.write() += 1,
                    2 => drop(rw.read()),
                    _ => {
                        let _p = sem.acquire();
                        *cond.lock() += 1;
                        cond.notify_all();
                    }
                }
            }
        })
    };
    // A watcher waits on the condition throughout, with timeouts.
    let watcher = {
        let (cond, stop) = (Arc::clone(&cond), Arc::clone(&stop));
        thread::spawn(move || {
            let mut g = cond.lock();
            while !stop.load(Ordering::SeqCst) {
                g.wait_timeout(Duration::from_millis(5));
            }
        })
    };
    join_all(handles);
    stop.store(true, Ordering::SeqCst);
    join_all(vec![watcher]);
    let total = *m.lock() + *rw.read() + *cond.lock();
    let reads = (0..6)
        .map(|i| (0..rounds).filter(|r| (i + r) % 4 == 2).count() as u64)
        .sum::<u64>();
    assert_eq!(total + reads, 6 * rounds as u64);
    assert_eq!(sem.available_permits(), 2);
}
