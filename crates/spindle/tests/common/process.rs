//! What the process pool's fault tests share: the error a dead worker gives, and the
//! pool's child processes as /proc lists them.

use spindle::futures::TaskError;

/// The outcome of a task whose worker died for `why`.
pub fn died(why: &str) -> Result<(), TaskError> {
    Err(TaskError::WorkerDied(why.to_owned()))
}

/// Children of this process, from /proc (zombies included): none may outlive a pool.
pub fn children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the ')'.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        if after.split(' ').nth(1) == Some(me.as_str()) {
            found.push(pid);
        }
    }
    found
}
