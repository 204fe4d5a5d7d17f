//! Layer 6 (thread API): `Timer`, a function run after a delay on its own thread (Python's
//! `threading.Timer`).

use std::fmt;
use std::io;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use parking_lot_core::DEFAULT_PARK_TOKEN;

use super::panicked::Panicked;
use super::spawn::{JoinHandle, Thread};
use super::{ThreadInfo, ThreadState};
use crate::wait::{self, Wait, Waitable};

/// The timer is counting down.
const WAITING: u8 = 0;
/// Its function has started (or finished).
const FIRED: u8 = 1;
/// Cancelled before it fired: the function never runs.
const CANCELLED: u8 = 2;

/// What the timer thread and its handle share.
struct Countdown {
    /// `WAITING`, then `FIRED` or `CANCELLED`, never back.
    phase: AtomicU8,
    interval: Duration,
}

impl Countdown {
    /// The key the timer thread parks on while it counts down.
    fn key(&self) -> usize {
        self as *const Countdown as usize
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }
}

/// Runs a function once, after a delay, on a thread of its own: Python's
/// `threading.Timer`. Until the delay is over it can be [cancelled](TimerHandle::cancel).
///
/// Created here and started with [`start`](Timer::start), as a [`Thread`] is; its thread
/// is named `Thread-N (f)` after the function, as Python names a thread after its target
/// (a closure reads `<closure in f>`, after the function that wrote it), and reads
/// `TimedWaiting` while the delay runs, then `Runnable` while the function does. Like any
/// thread, it is non-daemon by default (so
/// [`join_non_daemon`](crate::thread::join_non_daemon) waits for a pending timer, as
/// Python's interpreter does at exit), and a panic in the function reaches `join` and
/// the excepthook.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use spindle::thread::{ThreadState, Timer};
///
/// let rang = Arc::new(AtomicBool::new(false));
/// let r = Arc::clone(&rang);
/// let alarm = Timer::new(Duration::from_millis(50), move || r.store(true, Ordering::SeqCst))
///     .start()
///     .unwrap();
/// alarm.join().unwrap();
/// assert!(rang.load(Ordering::SeqCst));
///
/// // Cancelled before it fires, it never runs.
/// let never = Timer::new(Duration::from_secs(3600), || unreachable!()).start().unwrap();
/// assert!(never.cancel());
/// assert!(!never.fired());
/// never.join().unwrap();
/// ```
pub struct Timer {
    thread: Thread<()>,
    countdown: Arc<Countdown>,
}

impl Timer {
    /// A timer that will run `f` once `interval` has passed after [`start`](Timer::start).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::thread::{ThreadState, Timer};
    ///
    /// fn remind() {}
    /// let t = Timer::new(Duration::from_secs(1), remind);
    /// assert!(t.info().name().starts_with("Thread-"));
    /// assert!(t.info().name().ends_with(" (remind)"));
    /// assert_eq!(t.info().state(), ThreadState::New);
    /// assert_eq!(t.interval(), Duration::from_secs(1));
    /// ```
    pub fn new<F>(interval: Duration, f: F) -> Timer
    where
        F: FnOnce() + Send + 'static,
    {
        let countdown = Arc::new(Countdown {
            phase: AtomicU8::new(WAITING),
            interval,
        });
        let shared = Arc::clone(&countdown);
        let thread = Thread::new(move || count_down_then(&shared, f));
        let numbered = thread.info().name();
        let thread = thread.name(format!("{numbered} ({})", target_name::<F>()));
        Timer { thread, countdown }
    }

    /// Renames the timer's thread (default `Thread-N (f)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = spindle::thread::Timer::new(Duration::ZERO, || ()).name("reminder");
    /// assert_eq!(t.info().name(), "reminder");
    /// ```
    pub fn name(self, name: impl Into<String>) -> Timer {
        Timer {
            thread: self.thread.name(name),
            ..self
        }
    }

    /// Makes the timer's thread a daemon (default `false`): a program that calls
    /// [`join_non_daemon`](crate::thread::join_non_daemon) at exit does not wait for it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = spindle::thread::Timer::new(Duration::ZERO, || ()).daemon(true);
    /// assert!(t.info().is_daemon());
    /// ```
    pub fn daemon(self, daemon: bool) -> Timer {
        Timer {
            thread: self.thread.daemon(daemon),
            ..self
        }
    }

    /// The delay before the function runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = spindle::thread::Timer::new(Duration::from_millis(250), || ());
    /// assert_eq!(t.interval(), Duration::from_millis(250));
    /// ```
    pub fn interval(&self) -> Duration {
        self.countdown.interval
    }

    /// A handle on the timer's thread; `New` until it starts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::thread::{ThreadState, Timer};
    /// let t = Timer::new(Duration::ZERO, || ());
    /// assert_eq!(t.info().state(), ThreadState::New);
    /// ```
    pub fn info(&self) -> ThreadInfo {
        self.thread.info()
    }

    /// Starts the countdown on a new thread.
    ///
    /// # Errors
    /// As [`Thread::start`]: a name with a NUL byte, or the OS refusing the thread. The
    /// function then never runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = spindle::thread::Timer::new(Duration::from_millis(1), || ()).start().unwrap();
    /// h.join().unwrap();
    /// ```
    pub fn start(self) -> io::Result<TimerHandle> {
        let Timer { thread, countdown } = self;
        Ok(TimerHandle {
            thread: thread.start()?,
            countdown,
        })
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("name", &self.info().name())
            .field("interval", &self.countdown.interval)
            .finish_non_exhaustive()
    }
}

/// A started [`Timer`]: cancel it, or wait for it.
///
/// ```
/// use std::time::Duration;
/// use spindle::thread::Timer;
///
/// let h = Timer::new(Duration::from_secs(3600), || ()).start().unwrap();
/// assert!(h.is_alive());
/// assert!(h.cancel()); // long before it would fire
/// assert!(h.wait_timeout(Duration::from_secs(20))); // its thread ends at once
/// assert!(!h.is_alive());
/// assert!(!h.fired());
/// ```
pub struct TimerHandle {
    thread: JoinHandle<()>,
    countdown: Arc<Countdown>,
}

impl TimerHandle {
    /// Stops the timer if it has not fired yet (Python's `Timer.cancel`): the function
    /// then never runs and the thread ends at once. `true` if the function will not run
    /// (cancelled now or before); `false` if it has already started, which cancelling
    /// does not stop.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::thread::Timer;
    ///
    /// let quick = Timer::new(Duration::ZERO, || ()).start().unwrap();
    /// assert!(quick.wait_timeout(Duration::from_secs(20)));
    /// assert!(!quick.cancel()); // too late: it has fired
    /// assert!(quick.fired());
    /// ```
    pub fn cancel(&self) -> bool {
        let c = &self.countdown;
        match c
            .phase
            .compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                wait::unpark_all(c.key());
                true
            }
            Err(phase) => phase == CANCELLED,
        }
    }

    /// Whether the function has started (it may still be running).
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = spindle::thread::Timer::new(Duration::from_secs(3600), || ()).start().unwrap();
    /// assert!(!h.fired());
    /// h.cancel();
    /// ```
    pub fn fired(&self) -> bool {
        self.countdown.phase() == FIRED
    }

    /// Whether the timer's thread is alive: counting down or running the function.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = spindle::thread::Timer::new(Duration::from_secs(3600), || ()).start().unwrap();
    /// assert!(h.is_alive());
    /// h.cancel();
    /// h.join().unwrap();
    /// ```
    pub fn is_alive(&self) -> bool {
        self.thread.info().is_alive()
    }

    /// Whether the timer's thread has ended (fired and returned, or cancelled).
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = spindle::thread::Timer::new(Duration::ZERO, || ()).start().unwrap();
    /// assert!(h.wait_timeout(Duration::from_secs(20)));
    /// assert!(h.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the timer's thread to end: after the function has run, or at once after
    /// a [`cancel`](TimerHandle::cancel). `Err` if the function panicked.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = spindle::thread::Timer::new(Duration::ZERO, || panic!("rang badly")).start().unwrap();
    /// assert_eq!(h.join().unwrap_err().message(), "rang badly");
    /// ```
    #[track_caller]
    pub fn join(self) -> Result<(), Panicked> {
        self.thread.join()
    }

    /// Waits at most `timeout` for the timer's thread to end; `true` once it has.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = spindle::thread::Timer::new(Duration::from_secs(3600), || ()).start().unwrap();
    /// assert!(!h.wait_timeout(Duration::from_millis(5)));
    /// h.cancel();
    /// assert!(h.wait_timeout(Duration::from_secs(20)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.thread.wait_timeout(timeout)
    }

    /// A handle on the timer's thread: its name, its state (`TimedWaiting` while it
    /// counts down) and what it waits on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::thread::{ThreadState, Timer};
    ///
    /// let h = Timer::new(Duration::from_secs(3600), || ()).start().unwrap();
    /// while h.info().state() != ThreadState::TimedWaiting {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// assert_eq!(h.info().waiting_on().as_deref(), Some("timer delay of 3600s"));
    /// h.cancel();
    /// ```
    pub fn info(&self) -> ThreadInfo {
        self.thread.info()
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.countdown.phase() {
            WAITING => "waiting",
            FIRED => "fired",
            _ => "cancelled",
        };
        f.debug_struct("TimerHandle")
            .field("thread", &self.info())
            .field("interval", &self.countdown.interval)
            .field("phase", &phase)
            .finish()
    }
}

/// The timer thread's body: counts down (unless cancelled), then runs `f`.
#[track_caller]
fn count_down_then(countdown: &Countdown, f: impl FnOnce()) {
    let deadline = wait::deadline_after(countdown.interval);
    let on = Delay(countdown.interval);
    let wait = Wait {
        on: &on,
        state: ThreadState::TimedWaiting,
        at: Location::caller(),
        check: false,
    };
    while countdown.phase() == WAITING && Instant::now() < deadline {
        let _ = wait::park(
            &wait,
            countdown.key(),
            || countdown.phase() == WAITING,
            || {},
            |_, _| {},
            DEFAULT_PARK_TOKEN,
            Some(deadline),
        );
    }
    let fire =
        countdown
            .phase
            .compare_exchange(WAITING, FIRED, Ordering::AcqRel, Ordering::Acquire);
    if fire.is_ok() {
        f();
    }
}

/// What a timer's thread waits on while it counts down.
struct Delay(Duration);

impl Waitable for Delay {
    fn describe(&self) -> String {
        format!("timer delay of {:?}", self.0)
    }
}

/// `f`'s name for a thread name, as Python appends a target's `__name__`: the last path
/// segment of a function, `<closure in g>` for a closure written in function `g`.
fn target_name<F>() -> String {
    let full = std::any::type_name::<F>();
    // Generic arguments hold paths of their own: leave them out.
    let mut plain = String::with_capacity(full.len());
    let mut depth = 0usize;
    for ch in full.chars() {
        match ch {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(ch),
            _ => {}
        }
    }
    let segments: Vec<&str> = plain.split("::").filter(|s| !s.is_empty()).collect();
    let is_closure = |s: &&str| s.starts_with("{{closure");
    match segments.last() {
        Some(last) if is_closure(last) => match segments.iter().rev().find(|s| !is_closure(s)) {
            Some(outer) => format!("<closure in {outer}>"),
            None => "<closure>".to_owned(),
        },
        Some(last) => (*last).to_owned(),
        None => full.to_owned(),
    }
}
