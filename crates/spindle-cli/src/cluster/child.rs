//! How the demonstration starts its children (its `redis-server`, its workers).
//!
//! A terminal's Ctrl-C signals the whole foreground process group. The lab handles it
//! (the first one lets the running experiment finish, which needs the children), so
//! the children run in a process group of their own and never see it. Outside that
//! group nothing would stop them if the lab ended without running its destructors (the
//! second Ctrl-C exits at once; a kill), so each one dies with the thread that started
//! it (Linux's parent-death signal): the demonstration starts and drops them on one
//! thread.

use std::process::Command;

/// Makes `command` start its process in a process group of its own, killed when the
/// calling thread ends.
pub fn owned_by_this_thread(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid is async-signal-safe and called before the fork.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure runs in the forked child before exec and calls only prctl
        // and getppid (system calls, async-signal-safe); it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the signal was asked for.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other(
                        "the process that started it has ended",
                    ));
                }
                Ok(())
            });
        }
    }
    command
}
