//! Benchmarks only: see `benches/deadlock_cost.rs` (uncontended locks) and
//! `benches/deadlock_scale.rs` (detection with 10,000 threads alive and blocked).
//!
//! This library holds what the scale benchmark sets up: populations of threads blocked
//! in chains of locks (on spindle's primitives, or on parking_lot's), the calling
//! thread's CPU clock, and the statistics it prints.

use std::sync::Arc;
use std::time::Duration;

/// Stack size of the blocked threads: small, so that 10,000 of them fit easily.
pub const STACK: usize = 128 * 1024;

/// The calling thread's CPU time so far.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel
    // knows. clock_gettime only writes `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The median of `xs` (sorted in place).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The value at fraction `q` (0..=1) of `xs` (sorted in place).
pub fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let i = ((xs.len() - 1) as f64 * q).round() as usize;
    xs[i]
}

/// `threads` threads blocked in chains of `chain` spindle mutexes: in each chain,
/// thread `j` holds lock `j` and waits for lock `j + 1`, held by thread `j + 1`; the
/// last thread of a chain waits on an `Event`. Nothing is deadlocked: setting the
/// events (on drop) lets every chain unwind from its end.
pub struct SpindleChains {
    release: Vec<Arc<spindle::sync::Event>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl SpindleChains {
    /// Starts the threads and returns once every one of them is parked.
    pub fn start(threads: usize, chain: usize) -> SpindleChains {
        assert!(chain >= 1 && threads.is_multiple_of(chain));
        let mut release = Vec::new();
        let mut handles = Vec::new();
        for c in 0..threads / chain {
            let locks: Arc<Vec<spindle::sync::Mutex<()>>> = Arc::new(
                (0..chain)
                    .map(|j| spindle::sync::Mutex::named(format!("chain-{c}-{j}"), ()))
                    .collect(),
            );
            let end = Arc::new(spindle::sync::Event::new());
            let all_hold = Arc::new(std::sync::Barrier::new(chain));
            for j in 0..chain {
                let (locks, end, all_hold) =
                    (Arc::clone(&locks), Arc::clone(&end), Arc::clone(&all_hold));
                handles.push(
                    std::thread::Builder::new()
                        .name(format!("chain-{c}-{j}"))
                        .stack_size(STACK)
                        .spawn(move || {
                            let _mine = locks[j].lock();
                            all_hold.wait();
                            if j + 1 < chain {
                                drop(locks[j + 1].lock());
                            } else {
                                end.wait();
                            }
                        })
                        .expect("the OS started a chain thread"),
                );
            }
            release.push(end);
        }
        let chains = SpindleChains {
            release,
            threads: handles,
        };
        chains.wait_until_all_parked(threads);
        chains
    }

    /// Polls spindle's thread states until `n` threads named `chain-*` are parked.
    fn wait_until_all_parked(&self, n: usize) {
        use spindle::thread::ThreadState;
        loop {
            let parked = spindle::thread::enumerate()
                .iter()
                .filter(|t| t.name().starts_with("chain-"))
                .filter(|t| matches!(t.state(), ThreadState::Blocked | ThreadState::Waiting))
                .count();
            if parked >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SpindleChains {
    fn drop(&mut self) {
        for end in &self.release {
            end.set();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The same chains on parking_lot's `Mutex` (built with its `deadlock_detection`
/// feature); the last thread of each chain waits on a `Condvar`.
pub struct ParkingLotChains {
    release: Vec<Arc<(parking_lot::Mutex<bool>, parking_lot::Condvar)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ParkingLotChains {
    /// Starts the threads and returns once every one of them has reached its wait.
    pub fn start(threads: usize, chain: usize) -> ParkingLotChains {
        assert!(chain >= 1 && threads.is_multiple_of(chain));
        let arrived = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut release = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..threads / chain {
            let locks: Arc<Vec<parking_lot::Mutex<()>>> =
                Arc::new((0..chain).map(|_| parking_lot::Mutex::new(())).collect());
            let end = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
            let all_hold = Arc::new(std::sync::Barrier::new(chain));
            for j in 0..chain {
                let (locks, end, all_hold, arrived) = (
                    Arc::clone(&locks),
                    Arc::clone(&end),
                    Arc::clone(&all_hold),
                    Arc::clone(&arrived),
                );
                handles.push(
                    std::thread::Builder::new()
                        .stack_size(STACK)
                        .spawn(move || {
                            let _mine = locks[j].lock();
                            all_hold.wait();
                            arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            if j + 1 < chain {
                                drop(locks[j + 1].lock());
                            } else {
                                let (done, cv) = &*end;
                                let mut done = done.lock();
                                while !*done {
                                    cv.wait(&mut done);
                                }
                            }
                        })
                        .expect("the OS started a chain thread"),
                );
            }
            release.push(end);
        }
        // Every thread has arrived at its wait; give the last ones time to park.
        while arrived.load(std::sync::atomic::Ordering::SeqCst) < threads {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(500));
        ParkingLotChains {
            release,
            threads: handles,
        }
    }
}

impl Drop for ParkingLotChains {
    fn drop(&mut self) {
        for end in &self.release {
            let (done, cv) = &**end;
            *done.lock() = true;
            cv.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
