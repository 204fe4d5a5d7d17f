//! Regression tests, each named after the bug it caught.

use std::time::Duration;

use spindle::sync::{BoundedSemaphore, Semaphore};

/// `bool::then_some` built (and dropped) a permit even when no permit was taken, so every
/// failed `try_acquire` gave the semaphore a permit it never had.
#[test]
fn failed_try_acquire_does_not_add_a_permit() {
    let s = Semaphore::new(1);
    let held = s.acquire();
    for _ in 0..3 {
        assert!(s.try_acquire().is_none());
        assert!(s.try_acquire_for(Duration::from_millis(1)).is_none());
    }
    assert_eq!(s.available_permits(), 0);
    drop(held);
    assert_eq!(s.available_permits(), 1);

    let b = BoundedSemaphore::new(1);
    let held = b.acquire();
    assert!(b.try_acquire().is_none());
    assert!(b.try_acquire_for(Duration::from_millis(1)).is_none());
    assert_eq!(b.available_permits(), 0);
    drop(held);
    assert_eq!(b.available_permits(), 1);
}
