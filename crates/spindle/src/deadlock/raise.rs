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

/// Wraps the panic hook once so that a `DeadlockError` payload prints its report (the
/// standard hook prints only `Box<dyn Any>` for payloads that are not strings). Every
/// other panic goes to the hook that was installed before.
fn show_reports_in_panic_messages() {
    static WRAPPED: std::sync::Once = std::sync::Once::new();
    WRAPPED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            match info.payload().downcast_ref::<DeadlockError>() {
                Some(report) => {
                    let thread = std::thread::current();
                    let name = thread.name().unwrap_or("<unnamed>");
                    match info.location() {
                        Some(at) => eprintln!("thread '{name}' panicked at {at}:\n{report}"),
                        None => eprintln!("thread '{name}' panicked:\n{report}"),
                    }
                }
                None => previous(info),
            }
        }));
    });
}
