//! Layer 4 (detection): how a blocking call that would deadlock fails: it panics with the
//! report as the payload, and the report, not `Box<dyn Any>`, is what the panic message
//! shows.

use super::error::DeadlockError;

/// Panics with `err` as the payload (so `catch_unwind` callers can downcast it to
/// `DeadlockError`), after making sure the panic message shows the report.
#[track_caller]
pub(crate) fn raise(err: DeadlockError) -> ! {
    show_reports_in_panic_messages();
    std::panic::panic_any(err)
}

/// Installs spindle's panic hook (once), which prints a `DeadlockError` payload's report
/// (the standard hook prints only `Box<dyn Any>` for payloads that are not strings) and
/// leaves a spindle thread's panic to the excepthook, so that it is reported once.
fn show_reports_in_panic_messages() {
    crate::thread::panic_hook::install();
}
