//! Layer 3 (detection settings): how much deadlock detection runs. A process-wide mode
//! in one atomic, read by the waiting path on its slow path only; switching it also
//! switches `lock_order` on or off.

use std::sync::atomic::{AtomicU8, Ordering};

use super::lock_order;

/// How much deadlock detection runs when a thread is about to block.
///
/// ```
/// use spindle::deadlock::Detection;
///
/// assert_eq!(Detection::default(), Detection::WaitFor);
/// assert_ne!(Detection::Off, Detection::LockOrder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detection {
    /// No check at lock time. [`check`](super::check()) still finds cycles and stalls on demand.
    Off,
    /// Check the wait-for graph whenever a lock acquisition is about to park (the default).
    #[default]
    WaitFor,
    /// `WaitFor`, plus lock-order checking as Linux's lockdep: every acquisition made while
    /// holding other locks records their order, and the first inversion (A then B in one
    /// place, B then A in another) is reported once through
    /// [`set_lock_order_handler`](super::set_lock_order_handler)'s handler (default: stderr), even if the timing never
    /// deadlocked. Costs a little on every acquisition while on.
    LockOrder,
}

static MODE: AtomicU8 = AtomicU8::new(1);

/// Sets the detection mode for the whole process.
///
/// ```rust,standalone_crate
/// use spindle::deadlock::{self, Detection};
/// deadlock::set_detection(Detection::Off);
/// assert_eq!(deadlock::detection(), Detection::Off);
/// deadlock::set_detection(Detection::WaitFor);
/// ```
pub fn set_detection(mode: Detection) {
    let v = match mode {
        Detection::Off => 0,
        Detection::WaitFor => 1,
        Detection::LockOrder => 2,
    };
    MODE.store(v, Ordering::Relaxed);
    lock_order::set_enabled(mode == Detection::LockOrder);
}

/// The detection mode in force.
///
/// ```
/// use spindle::deadlock::{self, Detection};
/// assert_ne!(deadlock::detection(), Detection::Off);
/// ```
pub fn detection() -> Detection {
    match MODE.load(Ordering::Relaxed) {
        0 => Detection::Off,
        1 => Detection::WaitFor,
        _ => Detection::LockOrder,
    }
}

/// Whether waits are checked for cycles when they begin (any mode but `Off`).
pub(crate) fn checks_on_lock() -> bool {
    MODE.load(Ordering::Relaxed) != 0
}
