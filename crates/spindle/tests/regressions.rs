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

/// A writer unlocking while both readers and a writer were parked handed the lock to the
/// readers and returned; the parked writer was waiting for `WRITER` to clear, which it
/// already had, and nothing woke it again: once the readers left, the lock was free and
/// the writer parked forever.
#[test]
fn writer_parked_behind_readers_is_woken() {
    use spindle::sync::RwLock;
    use spindle::thread::{self, ThreadState};
    use std::sync::Arc;

    for _ in 0..20 {
        let lock = Arc::new(RwLock::new(0));
        let held = lock.write();
        let l = Arc::clone(&lock);
        let reader = thread::spawn(move || *l.read());
        let l = Arc::clone(&lock);
        let writer = thread::spawn(move || *l.write() += 1);
        for t in [reader.info(), writer.info()] {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while t.state() != ThreadState::Blocked {
                assert!(std::time::Instant::now() < deadline, "{t:?} never blocked");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        drop(held);
        assert!(reader.join().is_ok());
        assert!(
            writer.wait_timeout(Duration::from_secs(20)),
            "the writer was never woken"
        );
        writer.join().unwrap();
        assert_eq!(*lock.read(), 1);
    }
}
