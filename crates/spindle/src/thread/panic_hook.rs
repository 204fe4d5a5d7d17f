//! Layer 4 (reporting panics): one message per panic: spindle's panic hook, and the
//! catch around a thread's body.
//!
//! Rust's panic hook runs where a panic starts, before anyone knows whether it will be
//! caught; spindle's excepthook runs when a thread ends in one. Printing in both reports
//! a thread's panic twice. So, while a spindle thread runs its body, the hook prints
//! nothing: it notes where the panic happened (and a backtrace, when `RUST_BACKTRACE`
//! asks for one) for the catch that ends the thread, which hands it, location and all,
//! to the excepthook: the one message, Python's. Everything else is as without spindle:
//!
//! * A panic the body catches itself never reaches the excepthook: its note is printed,
//!   in Rust's usual form, as soon as spindle learns it was caught (the thread panics
//!   again, or ends). A second panic while a noted one is still unwinding (a `Drop`
//!   that panics, which aborts the process) is printed at once, with the first.
//! * A panic hook the program installed before spindle's runs for every panic, spindle
//!   threads included (the excepthook still runs too); one installed after it replaces
//!   it entirely. With `panic = "abort"` nothing is caught, so every panic is printed.
//! * Panics outside spindle threads' bodies go to the previous hook, except that a
//!   `DeadlockError` payload, which the standard hook cannot print, prints its report.

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::{Arc, Once};

use super::panicked::{Panicked, payload_message};
use crate::deadlock::error::DeadlockError;

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>;

/// A panic on a spindle thread, as the hook saw it, waiting for the catch that ends the
/// thread (or for proof that something else caught it).
pub(crate) struct Noted {
    thread_name: String,
    message: String,
    location: Option<String>,
    backtrace: Option<Arc<Backtrace>>,
    /// Already printed by a panic hook, in Rust's form.
    printed: bool,
}

thread_local! {
    /// How many `catch_reported` scopes the thread is in: its panics are spindle's to report.
    static REPORTING: Cell<u32> = const { Cell::new(0) };
    /// The last panic the hook noted on this thread and nobody has taken yet.
    static NOTED: RefCell<Option<Noted>> = const { RefCell::new(None) };
}

/// Installs spindle's panic hook, once, around whatever hook is installed now.
pub(crate) fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = panic::take_hook();
        let previous_is_default = is_default(&previous);
        panic::set_hook(Box::new(move |info| {
            on_panic(info, &previous, previous_is_default);
        }));
    });
}

/// Whether `hook` is the standard library's own (the one `take_hook` hands out when no
/// hook is installed: it boxes the same function each time, so the same vtable).
fn is_default(hook: &Hook) -> bool {
    let default = panic::take_hook(); // the hook is the standard one now
    let same = std::ptr::eq(&**hook as *const _, &*default as *const _);
    drop(default);
    same
}

fn on_panic(info: &PanicHookInfo<'_>, previous: &Hook, previous_is_default: bool) {
    let reporting = REPORTING.try_with(|r| r.get() > 0).unwrap_or(false);
    if !reporting || cfg!(panic = "abort") {
        print_or_pass(info, previous, previous_is_default, true);
        return;
    }
    let mut noted = Noted::from(info);
    let earlier = NOTED.try_with(|n| n.borrow_mut().take()).ok().flatten();
    if let Some(earlier) = &earlier {
        // Caught by the thread's own code, or still unwinding under this panic (which
        // then aborts): either way nobody else will print it.
        earlier.print_if_unprinted();
    }
    if earlier.is_some() || !previous_is_default {
        // A program's own hook always runs; and a panic during a panic is printed now,
        // in case it ends the process.
        print_or_pass(info, previous, previous_is_default, false);
        noted.printed = previous_is_default;
    }
    let stored = NOTED.try_with(|n| *n.borrow_mut() = Some(noted)).is_ok();
    if !stored {
        // The thread's locals are going: print rather than lose it.
        print_or_pass(info, previous, previous_is_default, false);
    }
}

/// Hands the panic to the previous hook, printing a `DeadlockError`'s report instead when
/// that hook could not show it (the standard one prints `Box<dyn Any>`), or when
/// `reports_always` (spindle has always printed deadlock reports outside its threads).
fn print_or_pass(
    info: &PanicHookInfo<'_>,
    previous: &Hook,
    previous_is_default: bool,
    reports_always: bool,
) {
    match info.payload().downcast_ref::<DeadlockError>() {
        Some(report) if previous_is_default || reports_always => {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>");
            match info.location() {
                Some(at) => eprintln!("thread '{name}' panicked at {at}:\n{report}"),
                None => eprintln!("thread '{name}' panicked:\n{report}"),
            }
        }
        _ => previous(info),
    }
}

impl Noted {
    fn from(info: &PanicHookInfo<'_>) -> Noted {
        let backtrace = Backtrace::capture();
        Noted {
            thread_name: std::thread::current()
                .name()
                .unwrap_or("<unnamed>")
                .to_owned(),
            message: payload_message(info.payload()),
            location: info.location().map(ToString::to_string),
            backtrace: (backtrace.status() == BacktraceStatus::Captured)
                .then(|| Arc::new(backtrace)),
            printed: false,
        }
    }

    /// Prints the panic as Rust's standard hook would have, if nothing has yet.
    fn print_if_unprinted(&self) {
        if self.printed {
            return;
        }
        let name = &self.thread_name;
        let mut text = match &self.location {
            Some(at) => format!("thread '{name}' panicked at {at}:\n{}", self.message),
            None => format!("thread '{name}' panicked:\n{}", self.message),
        };
        if let Some(bt) = &self.backtrace {
            text.push_str(&format!("\nstack backtrace:\n{}", render_backtrace(bt)));
        }
        eprintln!("{text}");
    }
}

/// A backtrace taken in the panic hook, from the panic on, as Rust's hook prints it: the
/// frames of the hook itself (above `rust_begin_unwind`) are left out, and the rest
/// numbered from 0.
pub(crate) fn render_backtrace(bt: &Backtrace) -> String {
    let text = bt.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let frame_number = |line: &str| {
        let trimmed = line.trim_start();
        let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
        (digits > 0 && trimmed[digits..].starts_with(": ")).then_some(digits)
    };
    let Some(start) = lines
        .iter()
        .position(|l| frame_number(l).is_some() && l.contains("rust_begin_unwind"))
    else {
        return text;
    };
    let mut out = String::new();
    let mut n = 0;
    for line in &lines[start..] {
        match frame_number(line) {
            Some(digits) => {
                let rest = &line.trim_start()[digits..];
                out.push_str(&format!("{n:>4}{rest}\n"));
                n += 1;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.pop();
    out
}

/// The panic the hook noted on this thread, if any.
fn take_noted() -> Option<Noted> {
    NOTED.try_with(|n| n.borrow_mut().take()).ok().flatten()
}

/// Runs `f`, a thread's body, as the code whose panics spindle reports itself: a panic
/// out of it comes back as a `Panicked` (message, thread name, location, backtrace) that
/// the panic hook has not printed, for the caller to hand to the excepthook.
///
/// A panic noted inside `f` but caught there is printed (late, in Rust's form) when `f`
/// returns, or when the next one is noted.
pub(crate) fn catch_reported<T>(
    thread_name: impl FnOnce() -> String,
    f: impl FnOnce() -> T,
) -> Result<T, Panicked> {
    install();
    REPORTING.with(|r| r.set(r.get() + 1));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    REPORTING.with(|r| r.set(r.get() - 1));
    match outcome {
        Ok(value) => {
            if let Some(caught_inside) = take_noted() {
                caught_inside.print_if_unprinted();
            }
            Ok(value)
        }
        Err(payload) => Err(panicked_from(payload, thread_name())),
    }
}

/// The `Panicked` for a payload that ended a reporting scope, with what the hook noted
/// of it. A note of another panic (one caught inside, whose payload was not this one)
/// is printed instead.
fn panicked_from(payload: Box<dyn Any + Send>, thread_name: String) -> Panicked {
    let message = payload_message(&*payload);
    // A payload whose own `Drop` panics must not take the thread down with it.
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    let mut p = Panicked::new(message, thread_name);
    match take_noted() {
        Some(noted) if noted.message == p.message() => {
            p.set_origin(noted.location, noted.backtrace, noted.printed);
        }
        Some(other) => other.print_if_unprinted(),
        None => {}
    }
    p
}
