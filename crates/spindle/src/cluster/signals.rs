// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! SIGTERM and SIGINT ask a running worker to stop: it takes no new task, finishes the
//! ones it holds, and `run` returns.
//!
//! The worker's local processes must not die of the same signal (a Ctrl-C in a
//! terminal reaches the whole process group): both signals are blocked in the thread
//! that starts them, and a blocked signal stays blocked in a child, across `exec`.
//! Only the thread that serves unblocks them, once its handler is in place.

use std::sync::atomic::{AtomicBool, Ordering};

use super::error::ClusterError;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

const SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

/// The calling thread's signal set-up while a worker runs; restored on drop.
pub(crate) struct Signals {
    old_mask: libc::sigset_t,
    old_actions: Option<[libc::sigaction; 2]>,
}

impl Signals {
    /// Blocks SIGTERM and SIGINT in the calling thread (and in every thread and
    /// process it starts from now on).
    pub(crate) fn block() -> Result<Signals, ClusterError> {
        // SAFETY: sigset_t is plain data that sigemptyset/sigaddset initialise; the
        // pointers are to locals that outlive the calls.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in SIGNALS {
                libc::sigaddset(&mut set, s);
            }
            let mut old_mask: libc::sigset_t = std::mem::zeroed();
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old_mask);
            if rc != 0 {
                return Err(setup_error("pthread_sigmask", rc));
            }
            Ok(Signals {
                old_mask,
                old_actions: None,
            })
        }
    }

    /// Installs the handlers, then unblocks both signals in the calling thread, which
    /// from now on is the one that hears them.
    pub(crate) fn listen(&mut self) -> Result<(), ClusterError> {
        STOP.store(false, Ordering::SeqCst);
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe;
        // sigaction structs are zero-initialised plain data, filled in before use.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: [libc::sigaction; 2] = std::mem::zeroed();
            for (i, s) in SIGNALS.into_iter().enumerate() {
                if libc::sigaction(s, &action, &mut old[i]) != 0 {
                    return Err(setup_error("sigaction", *libc::__errno_location()));
                }
            }
            self.old_actions = Some(old);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in SIGNALS {
                libc::sigaddset(&mut set, s);
            }
            let rc = libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(setup_error("pthread_sigmask", rc));
            }
        }
        Ok(())
    }
}

/// Whether SIGTERM or SIGINT has arrived since a worker began to listen.
pub(crate) fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

impl Drop for Signals {
    fn drop(&mut self) {
        // SAFETY: restores what `block` and `listen` saved, from valid structs.
        unsafe {
            if let Some(old) = &self.old_actions {
                for (i, s) in SIGNALS.into_iter().enumerate() {
                    libc::sigaction(s, &old[i], std::ptr::null_mut());
                }
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut());
        }
    }
}

fn setup_error(call: &str, errno: i32) -> ClusterError {
    ClusterError::Setup {
        reason: format!(
            "{call} failed: {}",
            std::io::Error::from_raw_os_error(errno)
        ),
    }
}
