//! Some experiments make threads panic on purpose (the deadlock that spindle breaks by
//! panicking one thread). Those panics are the experiment's evidence, collected through
//! `join`, so the excepthook need not announce them as well.
//!
//! Every panic the hook hears is also counted, with its message ([`heard`]): the
//! `hidden-exception` experiment shows that a panic nobody read still reaches it.
//!
//! The panic message itself still reaches stderr: spindle's own panic hook prints every
//! deadlock report, and there is no way to hush it from outside.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

static EXPECTING: AtomicUsize = AtomicUsize::new(0);
/// The message of every panic the excepthook was handed, in order.
static HEARD: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// Installs an excepthook that stays silent while panics are expected, and prints as
/// spindle's default one does otherwise.
pub fn install() {
    INSTALL.call_once(|| {
        spindle::thread::set_excepthook(|p| {
            HEARD
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p.message().to_owned());
            if EXPECTING.load(Ordering::SeqCst) == 0 {
                eprintln!("Exception in thread {}:\n{}", p.thread_name(), p.message());
            }
        });
    });
}

/// The messages of the panics the excepthook was handed so far, oldest first.
pub fn heard() -> Vec<String> {
    HEARD.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Panics are expected until the returned guard is dropped.
pub fn expect_panics() -> ExpectPanics {
    install();
    EXPECTING.fetch_add(1, Ordering::SeqCst);
    ExpectPanics(())
}

/// The window in which panics are expected; it closes on drop.
pub struct ExpectPanics(());

impl Drop for ExpectPanics {
    fn drop(&mut self) {
        EXPECTING.fetch_sub(1, Ordering::SeqCst);
    }
}
