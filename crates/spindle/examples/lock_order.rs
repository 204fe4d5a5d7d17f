//! Lock-order checking finds an inversion that never deadlocked in this run.
//!
//! `cargo run -p spindle --example lock_order`

use std::sync::Arc;

use spindle::deadlock::{self, Detection};
use spindle::sync::Mutex;
use spindle::thread::Thread;

fn main() {
    deadlock::set_detection(Detection::LockOrder);
    let accounts = Arc::new(Mutex::named("accounts", 100));
    let audit_log = Arc::new(Mutex::named("audit log", Vec::new()));

    let (a, l) = (Arc::clone(&accounts), Arc::clone(&audit_log));
    Thread::new(move || {
        let mut balance = a.lock();
        *balance -= 10;
        l.lock().push("withdrew 10");
    })
    .name("teller")
    .start()
    .unwrap()
    .join()
    .unwrap();

    // Later, elsewhere, the opposite order: fine this time, a deadlock some other time.
    let (a, l) = (Arc::clone(&accounts), Arc::clone(&audit_log));
    Thread::new(move || {
        let log = l.lock();
        let balance = a.lock();
        println!("{} entries, balance {}", log.len(), *balance);
    })
    .name("auditor")
    .start()
    .unwrap()
    .join()
    .unwrap();
}
