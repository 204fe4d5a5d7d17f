//! Ctrl-C during `lab remote`, as a terminal sends it: SIGINT to the whole foreground
//! process group. The lab's own children (its `redis-server`, its cluster workers) must
//! not die of it: the first Ctrl-C lets the running experiment finish, which needs them;
//! the second ends the lab at once, and its children with it.
//!
//! Needs `redis-server` (`apt-get install redis-server`, or `scripts/test`).

mod lab_common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use lab_common::{LIMIT, command};
use serde_json::Value;

/// `spindle lab remote --quick --json` in a process group of its own, as a shell starts
/// a job; its stdout read on a thread.
fn start_lab() -> (Child, thread::JoinHandle<String>) {
    let mut cmd = command(&["lab", "remote", "--quick", "--json"]);
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("the spindle binary starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    (child, reader)
}

/// The command name and parent of process `pid`, while it exists and is not a zombie.
fn process(pid: i32) -> Option<(String, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let mut rest = stat[close + 2..].split(' ');
    let state = rest.next()?;
    let parent = rest.next()?.parse().ok()?;
    (state != "Z").then(|| (stat[open + 1..close].to_owned(), parent))
}

/// The children of `parent` now.
fn children(parent: i32) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some((name, p)) = process(pid)
            && p == parent
        {
            found.push((pid, name));
        }
    }
    found
}

/// Waits until the lab has started its server and both workers (the experiment is
/// under way), returning their pids; panics naming what never appeared.
fn wait_for_server_and_workers(lab: &mut Child) -> Vec<i32> {
    let pid = lab.id() as i32;
    let started = Instant::now();
    loop {
        let kids = children(pid);
        let servers = kids.iter().filter(|(_, n)| n == "redis-server").count();
        let workers = kids.iter().filter(|(_, n)| n == "spindle").count();
        if servers == 1 && workers == 2 {
            return kids.into_iter().map(|(p, _)| p).collect();
        }
        if let Some(status) = lab.try_wait().unwrap() {
            panic!("the lab ended ({status}) before its server and workers were seen: {kids:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no redis-server and two workers under the lab after 60 s (is redis-server \
             installed? apt-get install redis-server): {kids:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// SIGINT to the lab's whole process group, as a terminal's Ctrl-C.
fn ctrl_c(lab: &Child) {
    let group = lab.id() as libc::pid_t;
    // SAFETY: kill(2) has no memory effects; the group is the lab's, which is not reaped.
    assert_eq!(unsafe { libc::kill(-group, libc::SIGINT) }, 0);
}

/// Waits for the lab to end, for at most `LIMIT`.
fn wait(lab: &mut Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = lab.try_wait().unwrap() {
            return status.code();
        }
        if started.elapsed() > LIMIT {
            lab.kill().unwrap();
            lab.wait().unwrap();
            panic!("the lab ran for over {LIMIT:?} after Ctrl-C");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (at most 10 s) until none of `pids` is alive.
fn assert_all_gone(pids: &[i32]) {
    let started = Instant::now();
    loop {
        let alive: Vec<_> = pids
            .iter()
            .filter_map(|&p| process(p).map(|n| (p, n)))
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "left running after the lab ended: {alive:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn first_ctrl_c_during_remote_lets_it_finish_with_its_server_and_workers() {
    let (mut lab, stdout) = start_lab();
    let kids = wait_for_server_and_workers(&mut lab);
    ctrl_c(&lab);
    let code = wait(&mut lab);
    let stdout = stdout.join().unwrap();
    let report: Value = serde_json::from_str(&stdout).expect("stdout is one JSON object");
    let e = &report["experiments"][0];
    assert_eq!(
        e["verdict"], "holds",
        "the experiment under way finishes: {e}"
    );
    assert_eq!(code, Some(130), "interrupted, as documented");
    assert_all_gone(&kids);
}

#[test]
fn second_ctrl_c_during_remote_ends_the_lab_and_its_children_at_once() {
    let (mut lab, stdout) = start_lab();
    let kids = wait_for_server_and_workers(&mut lab);
    ctrl_c(&lab);
    thread::sleep(Duration::from_millis(50));
    ctrl_c(&lab);
    assert_eq!(wait(&mut lab), Some(130));
    drop(stdout.join());
    assert_all_gone(&kids);
}
