//! What the `Thread` builder asks of the OS (issue 12, items 10 and 11): the stack size
//! (Python's `threading.stack_size`), the OS thread id (`threading.get_native_id`), and,
//! beyond Python, CPU affinity and scheduling priority, each refused with a clear
//! `io::Error`. What the OS made of a request is read back from `/proc` and libc, not
//! taken on trust.

mod common;

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{is_child, start_named};
use spindle::thread::{self, Thread, ThreadState};

/// The calling thread's OS id, asked of the OS directly.
fn gettid() -> u64 {
    // SAFETY: gettid only reads the caller's id.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// The calling thread's stack size, as the OS set it up (`pthread_getattr_np`).
fn own_stack_size() -> usize {
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read, and destroyed
    // once; the out-pointers are valid.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        assert_eq!(libc::pthread_getattr_np(libc::pthread_self(), &mut attr), 0);
        let mut addr = std::ptr::null_mut();
        let mut size = 0usize;
        assert_eq!(libc::pthread_attr_getstack(&attr, &mut addr, &mut size), 0);
        libc::pthread_attr_destroy(&mut attr);
        size
    }
}

/// A thread's niceness and allowed cores, read from `/proc` while it is alive.
fn niceness_and_cores(tid: u64) -> (i32, String) {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses: state is field 3, nice 19.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let nice = rest.split(' ').nth(16).unwrap().parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    let cores = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_owned();
    (nice, cores)
}

/// Issue 12, item 10: `stack_size(bytes)` gives the thread a stack of that size, as
/// CPython's `threading.stack_size(size)` does for the threads it creates next. Read
/// back from the OS: a 256 KiB request yields 256 KiB (give or take a guard page and
/// rounding), well below Rust's default of 2 MiB, and a 64 MiB one 64 MiB.
#[test]
fn stack_size_gives_the_thread_that_much_stack() {
    for requested in [256 << 10, 64 << 20] {
        let size = Thread::new(own_stack_size)
            .stack_size(requested)
            .start()
            .unwrap()
            .join()
            .unwrap();
        assert!(
            size >= requested && size <= requested + (64 << 10),
            "asked for {requested} bytes, got {size}"
        );
    }
}

/// A deep recursion that overflows Rust's default stack runs on a thread given more.
#[test]
fn stack_size_lets_deep_recursion_run() {
    fn depth(n: u64) -> u64 {
        let frame = std::hint::black_box([n; 128]); // 1 KiB per call
        if n == 0 { 0 } else { 1 + depth(frame[0] - 1) }
    }
    let deep = Thread::new(|| depth(20_000)) // ~20 MiB of frames
        .stack_size(128 << 20)
        .start()
        .unwrap();
    assert_eq!(deep.join().unwrap(), 20_000);
}

/// CPython: `threading.stack_size` raises `ValueError` below 32 KiB. Here `start` fails
/// with `InvalidInput`, naming the thread and the size, and the thread never ran; 0 means
/// the default, as in Python.
#[test]
fn stack_size_below_the_minimum_is_refused_naming_the_thread() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    let t = Thread::new(move || r.store(true, Ordering::SeqCst))
        .name("tiny-stack")
        .stack_size(1000);
    let info = t.info();
    let err = t.start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(
        text.contains("\"tiny-stack\"") && text.contains("1000 bytes") && text.contains("32768"),
        "{text}"
    );
    assert_eq!(info.state(), ThreadState::New);
    assert!(!thread::enumerate().contains(&info));
    assert!(!ran.load(Ordering::SeqCst));

    let default = Thread::new(own_stack_size).stack_size(0).start().unwrap();
    assert!(default.join().unwrap() >= 32 << 10);
}

/// Issue 12, item 10: `ThreadInfo::native_id()` is the OS thread id, as CPython's
/// `Thread.native_id` / `threading.get_native_id()`: `None` before the thread starts, the
/// kernel's id (gettid) from inside and outside once it runs, kept after it ends. The
/// main thread's is the process id, and a thread spindle did not start has its own.
#[test]
fn native_id_is_the_os_thread_id() {
    let release = Arc::new(spindle::sync::Event::new());
    let r = Arc::clone(&release);
    let t = Thread::new(move || {
        r.wait();
        (thread::current().native_id(), gettid())
    });
    let info = t.info();
    assert_eq!(info.native_id(), None, "known before the thread started");
    let h = t.start().unwrap();
    common::reach(&info, ThreadState::Waiting);
    let tid = info.native_id().expect("known once the thread runs");
    assert!(
        std::path::Path::new(&format!("/proc/self/task/{tid}")).exists(),
        "no OS thread {tid} in this process"
    );
    release.set();
    let (inside, os) = h.join().unwrap();
    assert_eq!(inside, Some(os));
    assert_eq!(inside, Some(tid));
    assert_eq!(info.native_id(), Some(tid), "kept after the thread ended");

    assert_eq!(
        thread::main_thread().native_id(),
        Some(u64::from(std::process::id()))
    );
    let foreign = std::thread::spawn(|| (thread::current().native_id(), gettid()));
    let (seen, os) = foreign.join().unwrap();
    assert_eq!(seen, Some(os));
    assert_ne!(Some(os), Some(tid));
}

/// Issue 12, item 11: `affinity(cores)` pins the thread before its body runs, as Linux's
/// `sched_setaffinity` (Python's `threading` has nothing of the kind). Read back from
/// `/proc` while the body runs; the creator's own affinity is untouched.
#[test]
fn affinity_pins_the_thread_to_its_cores() {
    let before = niceness_and_cores(gettid()).1;
    let release = Arc::new(spindle::sync::Event::new());
    let r = Arc::clone(&release);
    let pinned = Thread::new(move || {
        let seen = niceness_and_cores(gettid()).1;
        r.wait();
        seen
    })
    .affinity([0])
    .start()
    .unwrap();
    let info = pinned.info();
    common::reach(&info, ThreadState::Waiting);
    let from_outside = niceness_and_cores(info.native_id().unwrap()).1;
    release.set();
    assert_eq!(pinned.join().unwrap(), "0", "the body ran unpinned");
    assert_eq!(from_outside, "0");
    assert_eq!(
        niceness_and_cores(gettid()).1,
        before,
        "the creator was pinned too"
    );
}

/// A core the machine does not have, or no core at all, is refused before any thread
/// starts: `InvalidInput`, naming the thread and the core; the body never runs.
#[test]
fn affinity_to_a_core_that_does_not_exist_is_refused_naming_it() {
    // SAFETY: sysconf only reads a system value.
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) } as usize;
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    let t = Thread::new(move || r.store(true, Ordering::SeqCst))
        .name("misplaced")
        .affinity([0, cores]);
    let info = t.info();
    let err = t.start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(
        text.contains("\"misplaced\"") && text.contains(&format!("core {cores} does not exist")),
        "{text}"
    );
    assert_eq!(info.state(), ThreadState::New);
    assert!(!ran.load(Ordering::SeqCst));

    let err = Thread::new(|| ()).affinity([]).start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("at least one core"), "{err}");
}

/// Issue 12, item 11: `priority(niceness)` sets the thread's own niceness before its body
/// runs (Linux keeps one per thread); the creator's stays as it was.
#[test]
fn priority_sets_the_threads_niceness() {
    let before = niceness_and_cores(gettid()).0;
    let h = Thread::new(|| niceness_and_cores(gettid()).0)
        .priority(7)
        .start()
        .unwrap();
    assert_eq!(h.join().unwrap(), 7);
    assert_eq!(niceness_and_cores(gettid()).0, before);
}

#[test]
fn priority_out_of_range_is_refused_naming_the_thread() {
    for nice in [20, -21, i32::MAX] {
        let err = Thread::new(|| ())
            .name("too-nice")
            .priority(nice)
            .start()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let text = err.to_string();
        assert!(
            text.contains("\"too-nice\"") && text.contains(&nice.to_string()),
            "{text}"
        );
    }
}

/// A priority the OS refuses (raising one's priority needs `CAP_SYS_NICE`) comes back from
/// `start` as the OS's `PermissionDenied`, naming the thread and what it takes; the body
/// never runs. Run in a child process without privileges: as the `nobody` user when this
/// one is root, as the same user otherwise.
#[test]
fn priority_that_needs_privileges_is_refused_with_permission_denied() {
    const TEST: &str = "priority_that_needs_privileges_is_refused_with_permission_denied";
    if is_child(TEST) {
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        let t = Thread::new(move || r.store(true, Ordering::SeqCst))
            .name("greedy")
            .priority(-10);
        let info = t.info();
        let err = t.start().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("\"greedy\"") && text.contains("-10"),
            "{text}"
        );
        assert!(text.contains("CAP_SYS_NICE"), "{text}");
        assert_eq!(info.state(), ThreadState::New);
        assert!(!ran.load(Ordering::SeqCst));
        // Asking for a lower priority needs nothing.
        start_named("humble", || ()).join().unwrap();
        Thread::new(|| ())
            .priority(5)
            .start()
            .unwrap()
            .join()
            .unwrap();
        println!("child done");
        return;
    }
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid only reads this process's user id.
    let root = unsafe { libc::geteuid() } == 0;
    // As `nobody`, the test binary must be reachable: a checkout inside a private
    // directory (a 0700 temp dir, a home) is not, so the child runs a copy in /tmp.
    let copy = root.then(RunnableCopy::new);
    let exe = match &copy {
        Some(copy) => copy.0.clone(),
        None => std::env::current_exe().unwrap(),
    };
    let mut command = std::process::Command::new(&exe);
    command
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env("SPINDLE_TEST_CHILD", TEST)
        .current_dir("/");
    if root {
        command.uid(65534).gid(65534);
    }
    let out =
        (command.output()).unwrap_or_else(|e| panic!("running {} as a child: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("child done"),
        "child failed (it needs to run without CAP_SYS_NICE):\n{stdout}\n{stderr}"
    );
}

/// A copy of this test binary that any user may run, removed when dropped.
struct RunnableCopy(std::path::PathBuf);

impl RunnableCopy {
    fn new() -> RunnableCopy {
        use std::os::unix::fs::PermissionsExt;
        let to = std::path::PathBuf::from(format!("/tmp/spindle-thread-os-{}", std::process::id()));
        let exe = std::env::current_exe().unwrap();
        std::fs::copy(&exe, &to)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", exe.display(), to.display()));
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
        RunnableCopy(to)
    }
}

impl Drop for RunnableCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
