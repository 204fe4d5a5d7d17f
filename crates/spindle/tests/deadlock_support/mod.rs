//! Helpers for the deadlock-detection test binaries (`deadlock_regressions`,
//! `deadlock_random`, `deadlock_lock_order_regressions`); each includes them with
//! `mod deadlock_support;`.
//!
//! - [`TimeLimit`]: a last-resort watchdog that aborts the process with a message, so a
//!   hang fails the run even under plain `cargo test` (nextest's slow-timeout also applies).
//! - [`guarded`]: a deadlock panic turned into a value, every other panic left alone.
//! - [`OffCpu`]: keeps chosen threads off the CPU (nice 19, pinned to the core of a
//!   busy-spinning thread), so that a thread woken by a hand-off stays not-yet-scheduled
//!   for milliseconds: the window in which a published wait can outlive its truth.
//!   Where the spinning begins and ends is up to the test, so the rest runs at speed.

#![allow(dead_code)] // every binary uses a different subset

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex as StdMutex, mpsc};
use std::time::{Duration, Instant};

use spindle::sync::DeadlockError;

/// Aborts the process, naming `what`, unless dropped within `bound`.
///
/// A backstop only: tests bound their waits with `wait_timeout` and fail cleanly first.
/// This catches what they cannot (a hang inside a call that has no timeout).
pub struct TimeLimit {
    disarm: Option<mpsc::Sender<()>>,
}

impl TimeLimit {
    pub fn start(bound: Duration, what: impl Into<String>) -> TimeLimit {
        let what = what.into();
        let (disarm, disarmed) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("test-time-limit".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = disarmed.recv_timeout(bound) {
                    eprintln!("TIME LIMIT: {what} did not finish within {bound:?}: aborting");
                    std::process::abort();
                }
            })
            .expect("the time-limit thread started");
        TimeLimit {
            disarm: Some(disarm),
        }
    }
}

impl Drop for TimeLimit {
    fn drop(&mut self) {
        if let Some(disarm) = self.disarm.take() {
            let _ = disarm.send(());
        }
    }
}

/// Runs `f`, turning a panic whose payload is a [`DeadlockError`] (how `lock()` and the
/// other blocking calls report) into `Err`; any other panic goes on unwinding.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, DeadlockError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        match payload.downcast::<DeadlockError>() {
            Ok(report) => *report,
            Err(other) => panic::resume_unwind(other),
        }
    })
}

/// Keeps threads off the CPU: a thread that calls [`OffCpu::enter`] runs at nice 19,
/// pinned to the one core where a plain `std` thread (invisible to spindle) spins at
/// normal priority whenever asked to ([`spin_for`](OffCpu::spin_for)), or all the time
/// ([`OffCpu::start_spinning`]). Woken while it spins, such a thread mostly waits until
/// the spinning ends (Linux gives a nice-19 thread beside a nice-0 one a small share of
/// the core, in rare turns), so a window that is microseconds long in practice stays
/// open for about as long as the test asks.
pub struct OffCpu {
    cpu: usize,
    shared: Arc<Spin>,
    spinner: Option<std::thread::JoinHandle<()>>,
}

struct Spin {
    /// Spin until then (`None`: idle), forever if `always`.
    until: StdMutex<Option<Instant>>,
    changed: Condvar,
    always: bool,
    spinning: AtomicBool,
    stop: AtomicBool,
}

impl OffCpu {
    /// Starts the spinner, idle until [`spin_for`](OffCpu::spin_for), on the first core
    /// this process may use.
    pub fn start() -> OffCpu {
        Self::start_with(false)
    }

    /// Starts a spinner that spins for as long as the `OffCpu` lives.
    pub fn start_spinning() -> OffCpu {
        Self::start_with(true)
    }

    fn start_with(always: bool) -> OffCpu {
        let cpu = first_allowed_cpu();
        let shared = Arc::new(Spin {
            until: StdMutex::new(None),
            changed: Condvar::new(),
            always,
            spinning: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let spin = Arc::clone(&shared);
        let spinner = std::thread::Builder::new()
            .name("off-cpu-spinner".into())
            .spawn(move || {
                pin_current_thread(cpu);
                spin.run();
            })
            .expect("the spinner started");
        OffCpu {
            cpu,
            shared,
            spinner: Some(spinner),
        }
    }

    /// Lowers the calling thread's priority to nice 19 and pins it to the spinner's core.
    /// For the rest of its life: call it on threads made for the purpose.
    pub fn enter(&self) {
        lower_priority_of_current_thread();
        pin_current_thread(self.cpu);
    }

    /// Makes the spinner spin for `d` from now; returns once it spins.
    pub fn spin_for(&self, d: Duration) {
        let until = Instant::now() + d;
        *self.shared.until.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
        self.shared.changed.notify_all();
        while !self.shared.spinning.load(Ordering::SeqCst) && Instant::now() < until {
            std::hint::spin_loop();
        }
    }

    /// The core the spinner runs on.
    pub fn cpu(&self) -> usize {
        self.cpu
    }
}

impl Spin {
    fn run(&self) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        while !self.stop.load(Ordering::Relaxed) {
            let end = if self.always { None } else { *until };
            if !self.always && end.is_none_or(|end| Instant::now() >= end) {
                *until = None;
                until = self.changed.wait(until).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            drop(until);
            self.spinning.store(true, Ordering::SeqCst);
            while !self.stop.load(Ordering::Relaxed) && end.is_none_or(|end| Instant::now() < end) {
                std::hint::spin_loop();
            }
            self.spinning.store(false, Ordering::SeqCst);
            until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for OffCpu {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        {
            let _until = self.shared.until.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.changed.notify_all();
        }
        if let Some(spinner) = self.spinner.take() {
            let _ = spinner.join();
        }
    }
}

/// Sets the calling thread (only it: on Linux, nice is per thread) to nice 19.
pub fn lower_priority_of_current_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid only reads the caller's id; setpriority on that id changes only
        // the calling thread's nice value. Raising one's own nice needs no privilege.
        let rc = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19)
        };
        assert_eq!(
            rc,
            0,
            "setpriority(nice 19) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `set` is a zeroed, properly sized cpu_set_t that CPU_SET writes into;
        // sched_setaffinity(0, ..) changes only the calling thread's affinity.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        assert_eq!(
            rc,
            0,
            "sched_setaffinity(cpu {cpu}) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// The lowest-numbered core the calling thread may run on.
fn first_allowed_cpu() -> usize {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `set` is a zeroed cpu_set_t of the size passed; sched_getaffinity fills
        // it; CPU_ISSET only reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
            assert_eq!(
                rc,
                0,
                "sched_getaffinity failed: {}",
                std::io::Error::last_os_error()
            );
            (0..libc::CPU_SETSIZE as usize)
                .find(|&cpu| libc::CPU_ISSET(cpu, &set))
                .expect("the thread may run on some core")
        }
    }
    #[cfg(not(target_os = "linux"))]
    0
}
