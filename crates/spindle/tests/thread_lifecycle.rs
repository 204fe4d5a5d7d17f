//! Threads: names, ids, start, join, panics, the registry (`current`, `main_thread`,
//! `enumerate`), `join_non_daemon` and `Local`.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    PATIENCE, SETTLE, holds_for, reach, start_named, thread_number, unique_name, wait_until,
};
use spindle::sync::Event;
use spindle::thread::{self, JoinHandle, Local, Panicked, Thread, ThreadInfo, ThreadState};

/// Default names are `Thread-N`, numbered when `Thread::new` runs, counting up.
#[test]
fn default_names_count_up() {
    let a = Thread::new(|| ());
    let b = Thread::new(|| ());
    let c = thread::spawn(|| thread::current().name());
    let (na, nb) = (
        thread_number(&a.info().name()),
        thread_number(&b.info().name()),
    );
    let nc = thread_number(&c.join().unwrap());
    assert!(na >= 1 && na < nb && nb < nc, "{na} {nb} {nc}");
    // Naming it later keeps the number spent (as Python's counter).
    let d = Thread::new(|| ()).name("custom");
    assert_eq!(d.info().name(), "custom");
    assert!(thread_number(&Thread::new(|| ()).info().name()) > nc + 1);
}

#[test]
fn name_and_daemon_reach_the_thread() {
    let t = Thread::new(|| {
        let me = thread::current();
        (
            me.name(),
            me.is_daemon(),
            std::thread::current().name().map(str::to_owned),
        )
    })
    .name("worker-7")
    .daemon(true);
    let info = t.info();
    assert_eq!(
        (info.name(), info.is_daemon()),
        ("worker-7".to_owned(), true)
    );
    let seen = t.start().unwrap().join().unwrap();
    assert_eq!(
        seen,
        ("worker-7".to_owned(), true, Some("worker-7".to_owned()))
    );
    assert!(
        !Thread::new(|| ()).info().is_daemon(),
        "daemon defaults to false"
    );
    assert!(
        !Thread::new(|| ())
            .daemon(true)
            .daemon(false)
            .info()
            .is_daemon()
    );
}

#[test]
fn ids_are_unique_and_match_inside() {
    let handles: Vec<_> = (0..20)
        .map(|_| thread::spawn(|| thread::current().id()))
        .collect();
    let mut ids = HashSet::new();
    for h in handles {
        let outside = h.info().id();
        let inside = h.join().unwrap();
        assert_eq!(outside, inside);
        assert!(ids.insert(inside), "id {inside} given twice");
    }
    assert!(!ids.contains(&thread::main_thread().id()));
    assert!(!ids.contains(&thread::current().id()));
}

/// `info()` before start reads `New`, then follows the thread through its life.
#[test]
fn info_before_start_follows_the_thread() {
    let go = Arc::new(Event::new());
    let g = Arc::clone(&go);
    let t = Thread::new(move || g.wait());
    let info = t.info();
    assert_eq!(info.state(), ThreadState::New);
    assert!(!info.is_alive());
    assert_eq!(info.waiting_on(), None);
    let h = t.start().unwrap();
    assert!(info.is_alive());
    reach(&info, ThreadState::Waiting);
    assert_eq!(h.info(), info);
    go.set();
    h.join().unwrap();
    assert_eq!(info.state(), ThreadState::Terminated);
    assert!(!info.is_alive());
}

#[test]
fn join_returns_the_value() {
    let h = thread::spawn(|| vec![1, 2, 3]);
    assert_eq!(h.join().unwrap(), [1, 2, 3]);
    let h = Thread::new(|| String::from("named"))
        .name("n")
        .start()
        .unwrap();
    assert_eq!(h.join().unwrap(), "named");
}

/// A panic comes back from `join` as `Panicked`, with the message and the thread's name.
#[test]
fn join_reports_a_panic() {
    let name = unique_name("doomed");
    let h = start_named(&name, || -> u8 { panic!("disk {} is full", 3) });
    let err: Panicked = h.join().unwrap_err();
    assert_eq!(err.message(), "disk 3 is full");
    assert_eq!(err.thread_name(), name);
    let text = err.to_string();
    assert!(
        text.contains(&name) && text.contains("disk 3 is full"),
        "{text}"
    );
    let _: &dyn std::error::Error = &err;

    let h = thread::spawn(|| std::panic::panic_any(42u8));
    assert!(h.join().unwrap_err().message().contains("not a string"));
    let h = thread::spawn(|| panic!("static str"));
    assert_eq!(h.join().unwrap_err().message(), "static str");
}

#[test]
fn wait_timeout_and_is_finished() {
    let go = Arc::new(Event::new());
    let g = Arc::clone(&go);
    let h = thread::spawn(move || g.wait());
    assert!(!h.wait_timeout(Duration::from_millis(20)));
    assert!(!h.is_finished());
    go.set();
    assert!(h.wait_timeout(PATIENCE));
    assert!(h.is_finished());
    assert!(h.wait_timeout(Duration::ZERO));
    h.join().unwrap();
    let quick = thread::spawn(|| ());
    assert!(quick.wait_timeout(PATIENCE));
    assert!(format!("{quick:?}").contains("JoinHandle"));
}

/// A thread spindle did not start registers on first use, under its OS name or as
/// `Dummy-N`, as a daemon, and leaves `enumerate` when it ends.
#[test]
fn current_registers_foreign_threads() {
    let unnamed = std::thread::spawn(|| {
        let me = thread::current();
        let listed = thread::enumerate().contains(&me);
        (me, listed)
    });
    let (info, listed) = unnamed.join().unwrap();
    let number = info
        .name()
        .strip_prefix("Dummy-")
        .map(|n| n.parse::<usize>());
    assert!(matches!(number, Some(Ok(_))), "{:?}", info.name());
    assert!(info.is_daemon());
    assert!(listed);
    assert!(wait_until(PATIENCE, || !thread::enumerate().contains(&info)));
    assert!(!info.is_alive());

    let named = std::thread::Builder::new()
        .name("std-worker".into())
        .spawn(|| {
            let me = thread::current();
            (me.name(), me.state(), me == thread::current())
        })
        .unwrap();
    assert_eq!(
        named.join().unwrap(),
        ("std-worker".to_owned(), ThreadState::Runnable, true)
    );
}

#[test]
fn main_thread_is_named_main_thread() {
    let main = thread::main_thread();
    assert_eq!(main.name(), "MainThread");
    assert_eq!(main.id(), 1);
    assert!(main.is_alive());
    assert!(!main.is_daemon());
    let from_elsewhere = thread::spawn(thread::main_thread).join().unwrap();
    assert_eq!(from_elsewhere, main);
    assert!(thread::enumerate().contains(&main));
}

/// `enumerate` and `active_count` include started threads and drop terminated ones.
#[test]
fn enumerate_lists_the_live_threads() {
    let go = Arc::new(Event::new());
    let handles: Vec<JoinHandle<()>> = (0..3)
        .map(|_| {
            let g = Arc::clone(&go);
            start_named(unique_name("listed"), move || g.wait())
        })
        .collect();
    let infos: Vec<ThreadInfo> = handles.iter().map(JoinHandle::info).collect();
    let listed = thread::enumerate();
    for i in &infos {
        assert!(listed.contains(i), "{i:?} missing from {listed:?}");
    }
    assert!(thread::active_count() > infos.len()); // the main thread too
    let not_started = Thread::new(|| ());
    assert!(!thread::enumerate().contains(&not_started.info()));
    go.set();
    for h in handles {
        h.join().unwrap();
    }
    let listed = thread::enumerate();
    for i in &infos {
        assert!(!listed.contains(i), "{i:?} still listed after it ended");
    }
}

/// `join_non_daemon` waits for non-daemon threads spindle started, and not for daemons,
/// including threads started while it waits (Python's exit rule).
///
/// Ordered by state, not by sleeps: the worker cannot end before the joiner is seen
/// waiting to join it, so the joiner cannot pass merely by starting late (it used to
/// race a 100 ms sleep). Then the worker starts a second non-daemon thread before it
/// ends, which the joiner must wait for as well.
#[test]
fn join_non_daemon_waits_for_non_daemons_only() {
    let release_daemon = Arc::new(Event::new());
    let r = Arc::clone(&release_daemon);
    let daemon = Thread::new(move || r.wait()).daemon(true).start().unwrap();

    let release_worker = Arc::new(Event::new());
    let release_late = Arc::new(Event::new());
    let late_started = Arc::new(Event::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let (rw, rl, ls, f) = (
        Arc::clone(&release_worker),
        Arc::clone(&release_late),
        Arc::clone(&late_started),
        Arc::clone(&finished),
    );
    let worker = start_named(unique_name("non-daemon"), move || {
        rw.wait();
        let f2 = Arc::clone(&f);
        // Started while `join_non_daemon` already waits: it must be waited for too.
        start_named(unique_name("started-meanwhile"), move || {
            rl.wait();
            f2.fetch_add(1, Ordering::SeqCst);
        });
        ls.set();
        f.fetch_add(1, Ordering::SeqCst);
    });
    // Joined from a daemon thread of its own, so that a wrong wait shows as a timeout.
    let joiner = Thread::new(thread::join_non_daemon)
        .daemon(true)
        .start()
        .unwrap();
    let joiner_info = joiner.info();
    let joins = |name: &str| {
        let want = format!("join of thread \"{name}\"");
        wait_until(PATIENCE, || {
            joiner_info.waiting_on().as_deref() == Some(want.as_str()) || joiner.is_finished()
        })
    };
    assert!(joins(&worker.info().name()), "{joiner_info:?}");
    assert!(
        !joiner.is_finished(),
        "returned while a non-daemon thread ran"
    );

    release_worker.set();
    assert!(late_started.wait_timeout(PATIENCE));
    assert!(wait_until(PATIENCE, || worker.is_finished()));
    // Now only the thread started meanwhile (and the daemon) are left.
    assert!(
        wait_until(PATIENCE, || joiner_info
            .waiting_on()
            .is_some_and(|on| on.contains("started-meanwhile"))
            || joiner.is_finished()),
        "{joiner_info:?}"
    );
    assert!(
        !joiner.is_finished(),
        "returned while a thread started meanwhile ran"
    );
    release_late.set();
    assert!(
        joiner.wait_timeout(PATIENCE),
        "join_non_daemon waited for a daemon"
    );
    assert_eq!(finished.load(Ordering::SeqCst), 2);
    assert!(!daemon.is_finished());
    release_daemon.set();
    daemon.join().unwrap();
    worker.join().unwrap();
}

#[test]
fn local_values_are_per_thread() {
    let local = Arc::new(Local::new());
    assert_eq!(local.get(), None);
    assert_eq!(*local.get_or(|| 100usize), 100);
    assert_eq!(*local.get_or(|| unreachable!()), 100);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let local = Arc::clone(&local);
            thread::spawn(move || {
                let before = local.get().copied();
                let mine = *local.get_or(|| i);
                (before, mine, *local.get().unwrap())
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), (None, i, i));
    }
    assert_eq!(local.get(), Some(&100));
}

/// Python's `threading.local`: a thread that starts after another ended sees none of the
/// ended thread's values (the `thread_local` crate recycles its per-thread slots).
#[test]
fn local_value_of_an_ended_thread_is_not_seen_by_a_new_one() {
    let local: Arc<Local<String>> = Arc::new(Local::new());
    for round in 0..5 {
        let l = Arc::clone(&local);
        thread::spawn(move || {
            l.get_or(|| format!("round {round}"));
        })
        .join()
        .unwrap();
        let l = Arc::clone(&local);
        let seen = thread::spawn(move || (l.get().cloned(), l.get_or(|| "fresh".into()).clone()));
        assert_eq!(
            seen.join().unwrap(),
            (None, "fresh".to_owned()),
            "a new thread saw an ended thread's value"
        );
    }
}

#[test]
fn local_drops_every_value_with_it() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let local = Arc::new(Local::new());
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (local, drops) = (Arc::clone(&local), Arc::clone(&drops));
            thread::spawn(move || {
                local.get_or(|| Counted(drops));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    local.get_or(|| Counted(Arc::clone(&drops)));
    drop(local);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Issue 12, item 8. CPython's `threading.local` deletes a thread's attributes when the
/// thread ends. Here 50 threads each set a value and exit: every value is dropped once
/// its thread has ended (at the latest at the `Local`'s next use), long before the
/// `Local` itself goes, and none twice.
#[test]
fn local_drops_a_threads_value_when_the_thread_ends() {
    let drops = Arc::new(AtomicUsize::new(0));
    let local: Arc<Local<Counted>> = Arc::new(Local::new());
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (local, drops) = (Arc::clone(&local), Arc::clone(&drops));
            thread::spawn(move || {
                if i % 2 == 0 {
                    local.set(Counted(drops));
                } else {
                    local.with_or(|| Counted(drops), |_| ());
                }
                assert!(local.with(|v| v.is_some()));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(
        wait_until(PATIENCE, || {
            local.with(|mine| assert!(mine.is_none()));
            drops.load(Ordering::SeqCst) == 50
        }),
        "{} of 50 values of ended threads were dropped",
        drops.load(Ordering::SeqCst)
    );
    drop(local);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        50,
        "a value was dropped twice"
    );
}

/// A value lent by reference (`get`, `get_or`) may be read for as long as the `Local` is
/// borrowed, which can outlive its thread: it stays until the `Local` drops.
#[test]
fn local_value_lent_by_reference_stays_until_the_local_drops() {
    let drops = Arc::new(AtomicUsize::new(0));
    let local: Arc<Local<Counted>> = Arc::new(Local::new());
    let (l, d) = (Arc::clone(&local), Arc::clone(&drops));
    thread::spawn(move || {
        l.get_or(|| Counted(d));
    })
    .join()
    .unwrap();
    assert!(holds_for(SETTLE, || {
        local.with(|_| ());
        drops.load(Ordering::SeqCst) == 0
    }));
    drop(local);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Replacing the value while `with` reads it keeps the old one alive until `with`
/// returns; a replaced value nobody reads is dropped at once.
#[test]
fn local_set_inside_with_keeps_the_value_being_read() {
    let drops = Arc::new(AtomicUsize::new(0));
    let local = Local::new();
    local.set((String::from("first"), Counted(Arc::clone(&drops))));
    local.with(|v| {
        let (text, _) = v.unwrap();
        local.set((String::from("second"), Counted(Arc::clone(&drops))));
        assert_eq!(text, "first", "the value being read was replaced under it");
        assert_eq!(drops.load(Ordering::SeqCst), 0);
    });
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the replaced value was kept"
    );
    local.set((String::from("third"), Counted(Arc::clone(&drops))));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(
        local.with(|v| v.map(|(t, _)| t.clone())).as_deref(),
        Some("third")
    );
    drop(local);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

/// A `Local` whose values borrow data that scoped threads also borrow: the values of the
/// ended threads are dropped while the data still lives (the exit hook never drops them
/// itself: a scoped thread's thread-locals may be destroyed after its scope has ended).
#[test]
fn local_values_borrowing_data_are_dropped_while_it_lives() {
    struct Reads<'a>(&'a str, &'a AtomicUsize);
    impl Drop for Reads<'_> {
        fn drop(&mut self) {
            assert_eq!(self.0, "still here");
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let text = String::from("still here");
    let drops = AtomicUsize::new(0);
    let local: Local<Reads<'_>> = Local::new();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| local.set(Reads(&text, &drops)));
        }
    });
    assert!(wait_until(PATIENCE, || {
        local.with(|_| ());
        drops.load(Ordering::SeqCst) == 4
    }));
    drop(local);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

#[test]
fn types_are_shareable() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<ThreadInfo>();
    send::<JoinHandle<Vec<u8>>>();
    send_sync::<Local<std::cell::Cell<u8>>>();
    send_sync::<Panicked>();
}
