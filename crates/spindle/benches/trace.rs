//! What tracing costs per event.
//!
//! Run: `cargo bench -p spindle --bench trace`. The operation measured is
//! `JoinHandle::wait_timeout(Duration::ZERO)` on a thread that is still running: it parks
//! with a deadline already past, so it goes through the one waiting path and emits
//! exactly two state events (TimedWaiting, then Runnable) without a system call. Measured
//! with no hook, with an empty hook (the cost of emitting), and with a `Recorder` (emitting
//! plus recording): per event, a recorder costs (recorder - no hook) / 2, of which
//! (recorder - empty hook) / 2 is the recorder's own. A summary line prints both, in CPU
//! time of the measuring thread, which a busy machine disturbs less than the wall clock.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use spindle::sync::Event;
use spindle::thread::{self, JoinHandle};
use spindle::trace::{self, Recorder};

/// State events one `wait_timeout(ZERO)` on a running thread emits.
const EVENTS_PER_OP: u32 = 2;

/// How `ops` operations are timed: nothing listening, an empty hook, or a recorder.
#[derive(Clone, Copy, Debug)]
enum Listener {
    None,
    EmptyHook,
    Recorder,
}

/// How long `ops` operations took: by the wall clock, and in CPU time of this thread.
struct Took {
    wall: Duration,
    cpu: Duration,
}

/// Times `ops` zero-timeout waits on `running`, with `listener` installed.
fn timed(running: &JoinHandle<()>, listener: Listener, ops: u64) -> Took {
    let recorder = match listener {
        Listener::None => None,
        Listener::EmptyHook => {
            trace::set_hook(|e| {
                black_box(e);
            });
            None
        }
        Listener::Recorder => Some(Recorder::start()),
    };
    let (wall, cpu) = (Instant::now(), thread_cpu_time());
    for _ in 0..ops {
        black_box(running.wait_timeout(Duration::ZERO));
    }
    let took = Took {
        wall: wall.elapsed(),
        cpu: thread_cpu_time() - cpu,
    };
    match recorder {
        Some(r) => {
            r.stop();
            let mine = thread::current().id();
            let recorded = r.events().iter().filter(|e| e.thread_id == mine).count() as u64;
            assert!(
                recorded >= ops * u64::from(EVENTS_PER_OP),
                "every event recorded"
            );
        }
        None => trace::clear_hook(),
    }
    took
}

/// A thread that stays alive (and waitable) until the returned event is set.
fn running_thread() -> (JoinHandle<()>, Arc<Event>) {
    let done = Arc::new(Event::new());
    let until = Arc::clone(&done);
    (thread::spawn(move || until.wait()), done)
}

fn per_event(c: &mut Criterion) {
    let (running, done) = running_thread();
    let mut g = c.benchmark_group("trace_wait_timeout_zero");
    for listener in [Listener::None, Listener::EmptyHook, Listener::Recorder] {
        g.bench_function(format!("{listener:?}"), |b| {
            b.iter_custom(|ops| timed(&running, listener, ops).wall)
        });
    }
    g.finish();
    summary(&running);
    done.set();
    running.join().unwrap();
}

/// The per-event numbers, in CPU time of the measuring thread (so that other processes
/// on a busy machine do not count), from the best of several runs of each.
fn summary(running: &JoinHandle<()>) {
    const OPS: u64 = 100_000;
    let best = |listener| {
        (0..7)
            .map(|_| timed(running, listener, OPS).cpu)
            .min()
            .expect("runs")
            .as_nanos() as f64
            / (OPS * u64::from(EVENTS_PER_OP)) as f64
    };
    let none = best(Listener::None);
    let empty = best(Listener::EmptyHook);
    let recorder = best(Listener::Recorder);
    println!(
        "trace cost per event (CPU time): recorder {:.0} ns over no hook ({:.0} ns of it the recorder's own, {:.0} ns emitting)",
        recorder - none,
        recorder - empty,
        empty - none,
    );
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write into; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "the thread CPU clock is readable");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

criterion_group!(benches, per_event);
criterion_main!(benches);
