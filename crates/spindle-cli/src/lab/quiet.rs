//! While an experiment runs, nothing it does prints: a panic is the experiment's
//! evidence (collected through `join`, a future, or the excepthook) or its failure (the
//! runner reports it), and either way it is shown once, in the results. Printed as it
//! happened it would land mid-spinner, with a stack backtrace when `RUST_BACKTRACE` is
//! set. Panics outside experiments print as usual.
//!
//! A panic that ends a spindle thread (a deadlock report included) is printed by no
//! panic hook: spindle's leaves it to the excepthook, and ours says nothing while an
//! experiment runs. The panic hook here silences the panics Rust's hook would still
//! print, a task's panic caught by a pool's worker (it comes back through the task's
//! future) and panics on threads spindle did not start, and notes where each unexpected
//! panic happened.
//!
//! Panics nobody expected are kept ([`take_unexpected`]) for the runner to show with the
//! experiment's results; every panic the excepthook hears is counted with its message
//! ([`heard`]): the `hidden-exception` experiment shows that a panic nobody read still
//! reaches it.

use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use spindle::sync::DeadlockError;

/// An experiment is running: its panics are kept, not printed.
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Open windows in which an experiment makes threads panic on purpose.
static EXPECTING: AtomicUsize = AtomicUsize::new(0);
/// The message of every panic the excepthook was handed, in order.
static HEARD: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Panics during an experiment that it did not expect, described in a line each.
static UNEXPECTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// Installs the panic hook and the excepthook (once).
pub fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !RUNNING.load(Ordering::SeqCst) {
                return previous(info);
            }
            if EXPECTING.load(Ordering::SeqCst) == 0 {
                lock(&UNEXPECTED).push(describe(info));
            }
        }));
        spindle::thread::set_excepthook(|p| {
            lock(&HEARD).push(p.message().to_owned());
            if !RUNNING.load(Ordering::SeqCst) {
                eprintln!("Exception in thread {}:\n{}", p.thread_name(), p.message());
            }
        });
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `thread 'name' panicked at file:line: message`.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .or_else(|| {
            payload
                .downcast_ref::<DeadlockError>()
                .map(|d| d.to_string())
        })
        .unwrap_or_else(|| "(a panic without a message)".to_owned());
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    match info.location() {
        Some(at) => format!("thread '{name}' panicked at {at}: {message}"),
        None => format!("thread '{name}' panicked: {message}"),
    }
}

/// The messages of the panics the excepthook was handed so far, oldest first.
pub fn heard() -> Vec<String> {
    lock(&HEARD).clone()
}

/// The panics nobody expected since the last call, a line each.
pub fn take_unexpected() -> Vec<String> {
    std::mem::take(&mut *lock(&UNEXPECTED))
}

/// An experiment runs until the returned guard is dropped: panics are kept, not printed.
pub fn running() -> Running {
    install();
    RUNNING.store(true, Ordering::SeqCst);
    Running(())
}

/// The time an experiment runs; it ends on drop.
pub struct Running(());

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::SeqCst);
    }
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
