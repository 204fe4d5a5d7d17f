//! Layer 1 (the OS): what the `Thread` builder asks of the OS beyond starting the
//! thread (its stack size, CPU affinity and scheduling priority), and the thread's OS id.
//! Linux first; affinity and priority fail with `ErrorKind::Unsupported` elsewhere.

use std::io;

/// The smallest stack `Thread::stack_size` accepts, as Python's `threading.stack_size`
/// (32 KiB): below it, even spindle's own bookkeeping and a panic's report may not fit.
pub(crate) const MIN_STACK_SIZE: usize = 32 * 1024;

/// Where a thread should run and how favoured it should be, applied by the thread itself
/// before its body runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    pub(crate) cores: Option<Vec<usize>>,
    pub(crate) niceness: Option<i32>,
}

impl Placement {
    pub(crate) fn is_empty(&self) -> bool {
        self.cores.is_none() && self.niceness.is_none()
    }

    /// Checks the request before a thread is started for it (`name` is the thread's).
    pub(crate) fn validate(&self, name: &str) -> io::Result<()> {
        if let Some(cores) = &self.cores {
            validate_cores(cores, name)?;
        }
        if let Some(nice) = self.niceness {
            if !(-20..=19).contains(&nice) {
                return Err(invalid(format!(
                    "thread \"{name}\": priority {nice} is out of range: a niceness goes from \
                     -20 (most favoured) to 19 (least)"
                )));
            }
        }
        if !cfg!(target_os = "linux") && !self.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("thread \"{name}\": affinity and priority are supported on Linux only"),
            ));
        }
        Ok(())
    }

    /// Applies the request to the calling thread.
    pub(crate) fn apply(&self, name: &str) -> io::Result<()> {
        if let Some(cores) = &self.cores {
            set_affinity(cores).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("could not pin thread \"{name}\" to cores {cores:?}: {e}"),
                )
            })?;
        }
        if let Some(nice) = self.niceness {
            set_niceness(nice).map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                    "; a niceness below the current one needs CAP_SYS_NICE or a higher RLIMIT_NICE"
                } else {
                    ""
                };
                io::Error::new(
                    e.kind(),
                    format!(
                        "could not give thread \"{name}\" priority (niceness) {nice}: {e}{hint}"
                    ),
                )
            })?;
        }
        Ok(())
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn validate_cores(cores: &[usize], name: &str) -> io::Result<()> {
    if cores.is_empty() {
        return Err(invalid(format!(
            "thread \"{name}\": affinity needs at least one core"
        )));
    }
    let Some(count) = configured_cores() else {
        return Ok(()); // unknown here; the OS will say
    };
    if let Some(bad) = cores.iter().find(|&&c| c >= count) {
        return Err(invalid(format!(
            "thread \"{name}\": core {bad} does not exist: this machine has {count} (0 to {})",
            count - 1
        )));
    }
    Ok(())
}

/// How many CPU cores the OS knows of (online or not), if it says.
fn configured_cores() -> Option<usize> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads a system value.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
        usize::try_from(n).ok().filter(|&n| n > 0)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(target_os = "linux")]
fn set_affinity(cores: &[usize]) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &core in cores {
        if core >= capacity {
            return Err(invalid(format!(
                "core {core} is beyond what the OS interface can name ({capacity} cores)"
            )));
        }
        // SAFETY: `core` is within the set's capacity, checked above.
        unsafe { libc::CPU_SET(core, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size given.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_affinity(_cores: &[usize]) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Linux keeps a niceness per thread: `setpriority(PRIO_PROCESS, 0, …)` sets the
/// calling thread's.
#[cfg(target_os = "linux")]
fn set_niceness(nice: i32) -> io::Result<()> {
    // SAFETY: setpriority only changes the calling thread's scheduling niceness.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_niceness(_nice: i32) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The calling thread's OS id (what Python's `threading.get_native_id` returns), where
/// spindle knows how to ask for it.
pub(crate) fn current_native_id() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: gettid only reads the caller's id and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        u64::try_from(tid).ok()
    }
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        let mut tid: u64 = 0;
        // SAFETY: a null thread means the calling one; `tid` is a valid out-pointer.
        let rc = unsafe { libc::pthread_threadid_np(0, &mut tid) };
        (rc == 0).then_some(tid)
    }
    #[cfg(target_os = "freebsd")]
    {
        // SAFETY: only reads the caller's id.
        u64::try_from(unsafe { libc::pthread_getthreadid_np() }).ok()
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd"
    )))]
    {
        None
    }
}

/// The main thread's OS id, known from any thread where the OS makes it the process id.
pub(crate) fn main_native_id() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Some(u64::from(std::process::id()))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}
