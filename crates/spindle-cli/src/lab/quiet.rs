//! Some experiments make threads panic on purpose (the deadlock that spindle breaks by
//! panicking one thread). Those panics are the experiment's evidence, collected through
//! `join`, so the excepthook need not announce them as well.
//!
//! The panic message itself still reaches stderr: spindle's own panic hook prints every
//! deadlock report, and there is no way to hush it from outside.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

static EXPECTING: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();

/// Installs an excepthook that stays silent while panics are expected, and prints as
/// spindle's default one does otherwise.
pub fn install() {
    INSTALL.call_once(|| {
        spindle::thread::set_excepthook(|p| {
            if EXPECTING.load(Ordering::SeqCst) == 0 {
                eprintln!("Exception in thread {}:\n{}", p.thread_name(), p.message());
            }
        });
    });
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
