//! Randomized schedules on the real primitives (issue 11, "Prove it, not hope it").
//!
//! Two seeded generators:
//!
//! - **Lock-ordered workloads**, which can never deadlock, so nothing may ever report:
//!   not a lock-time check (a `DeadlockError` panic or a `_checked` error), not
//!   `deadlock::check()` called all along by a checker thread, not a `Watchdog`.
//!   Levels `0..n`, each a lock of some kind (`Mutex`, `ReentrantMutex` with re-entry,
//!   `RwLock` read or write, `Gil` with ticks and `allow_threads`, `Condition` with waits
//!   and notifications under the lock or after it, `Semaphore`); every thread takes a
//!   random increasing subset, timed tries anywhere (they end by themselves), joins of
//!   child threads and waits on `Future`s (with done callbacks that take locks), guards
//!   of temporary locks forgotten with `mem::forget`, random pauses, and some threads
//!   kept off the CPU (nice 19, pinned beside a spinner that runs in bursts) so that
//!   hand-off windows are long. Why it cannot deadlock is written at [`Workload`]. The
//!   same workloads run again under `Detection::LockOrder`: no inversion either.
//! - **Real cycles** of 2 or 3 threads, each holding one resource and asking for the
//!   next's (locks of every kind, joins, `Future` waits), synchronised by a barrier so
//!   the cycle surely forms: always reported, by exactly one of them, never a hang.
//!
//! `SPINDLE_SEED=<n>` replays one seed (every failure message names its seed);
//! `SPINDLE_RANDOM_ROUNDS=<n>` runs n seeds per test instead of the few CI runs. The seed
//! fixes the workload, not the schedule: a replay reruns the same program, which on a
//! busy machine usually fails the same way.

mod common;
mod deadlock_support;

use std::cell::Cell;
use std::env;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::PATIENCE;
use deadlock_support::{OffCpu, TimeLimit, guarded};
use spindle::deadlock::{self, DeadlockKind, Detection, Watchdog};
use spindle::futures::{self, Future, ReturnWhen, ThreadPoolExecutor};
use spindle::sync::{
    Barrier, Condition, DeadlockError, Event, Gil, Mutex, ReentrantMutex, RwLock, Semaphore,
};
use spindle::thread::{self, JoinHandle, Thread};

/// Seeds per test when `SPINDLE_RANDOM_ROUNDS` is not set: a few seconds in all.
const CI_WORKLOAD_SEEDS: u64 = 8;
const CI_LOCK_ORDER_SEEDS: u64 = 4;
const CI_CYCLE_SEEDS: u64 = 20;

/// How long a cycle may take to be reported and unwound before it counts as a hang: it
/// takes milliseconds when reported as it forms; this is for a busy machine.
const CYCLE_BOUND: Duration = Duration::from_secs(10);

// ---- seeds ----

/// A small, fast generator (SplitMix64): the same seed, the same workload.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// An independent generator for another thread.
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

/// The seeds to run: `SPINDLE_SEED`, or `SPINDLE_RANDOM_ROUNDS` (default `ci`) fresh ones.
fn seeds(ci: u64) -> Vec<u64> {
    if let Ok(seed) = env::var("SPINDLE_SEED") {
        let seed = seed
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SPINDLE_SEED must be a number (u64), not {seed:?}"));
        return vec![seed];
    }
    let rounds = env::var("SPINDLE_RANDOM_ROUNDS").map_or(ci, |r| {
        r.trim().parse().unwrap_or_else(|_| {
            panic!("SPINDLE_RANDOM_ROUNDS must be a number of seeds, not {r:?}")
        })
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_nanos() as u64;
    let mut base = Rng::new(now ^ u64::from(std::process::id()) << 32);
    (0..rounds).map(|_| base.next() >> 1).collect()
}

fn replay(seed: u64, test: &str) -> String {
    format!(
        "seed {seed} (replay: SPINDLE_SEED={seed} cargo nextest run -p spindle --test deadlock_random {test})"
    )
}

/// Collected reports, each with where it came from.
#[derive(Default)]
struct Reports(StdMutex<Vec<String>>);

impl Reports {
    fn add(&self, from: impl fmt::Display, report: &DeadlockError) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{from}: {report}"));
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

// ---- lock-ordered workloads ----

/// One level of the global lock order.
enum Level {
    Mutex(Mutex<u64>),
    Reentrant(ReentrantMutex<Cell<u64>>),
    RwLock(RwLock<u64>),
    Gil(Gil),
    /// The value counts tickets: a waiter takes one, a producer thread keeps adding them.
    Condition(Condition<u64>),
    Semaphore(Semaphore),
}

/// A `Gil` has no name, so its lock class (for `Detection::LockOrder`) is where it was
/// made: one place per level, so that GILs at different levels (of one workload, or of
/// the workloads before it in this process) are not one class taken at many levels.
#[rustfmt::skip]
const GIL_AT_LEVEL: [fn(Duration) -> Gil; MAX_LEVELS] = [
    |d| Gil::with_switch_interval(d), |d| Gil::with_switch_interval(d),
    |d| Gil::with_switch_interval(d), |d| Gil::with_switch_interval(d),
    |d| Gil::with_switch_interval(d), |d| Gil::with_switch_interval(d),
    |d| Gil::with_switch_interval(d), |d| Gil::with_switch_interval(d),
    |d| Gil::with_switch_interval(d), |d| Gil::with_switch_interval(d),
];

/// The most levels a workload has.
const MAX_LEVELS: usize = 10;

impl Level {
    fn random(rng: &mut Rng, i: usize) -> Level {
        let name = format!("level-{i}");
        match rng.below(6) {
            0 => Level::Mutex(Mutex::named(name, 0)),
            1 => Level::Reentrant(ReentrantMutex::named(name, Cell::new(0))),
            2 => Level::RwLock(RwLock::named(name, 0)),
            3 => Level::Gil(GIL_AT_LEVEL[i](Duration::from_micros(
                rng.between(50, 2_000) as u64,
            ))),
            4 => Level::Condition(Condition::named(name, 0)),
            _ => Level::Semaphore(Semaphore::named(name, rng.between(1, 2))),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Level::Mutex(_) => "Mutex",
            Level::Reentrant(_) => "ReentrantMutex",
            Level::RwLock(_) => "RwLock",
            Level::Gil(_) => "Gil",
            Level::Condition(_) => "Condition",
            Level::Semaphore(_) => "Semaphore",
        }
    }
}

/// A lock-ordered program: it can never deadlock.
///
/// Every wait without a timeout is for something "above" all the waiter holds:
/// - a lock is taken without a timeout only at a level above every level the thread
///   holds (timed tries may take any level, below too: they end by themselves);
/// - a `Gil` ticks (gives the GIL up and waits to take it back) only while it is the
///   highest level held; `allow_threads` runs levels above it only;
/// - a `Condition` is waited on only while its lock is the highest level held, and the
///   tickets it waits for come from a producer thread that holds nothing else;
/// - levels `task_floor..` are for child threads, pool tasks and their done callbacks;
///   a thread joins a child or waits for a task only while it holds levels below
///   `task_floor` alone (a join or task wait counts as level `task_floor - ½`);
/// - done callbacks on the shared pool take levels from `task_floor` up; those on a
///   thread's private pool (one worker, used by that thread alone) may take any level,
///   holding nothing else, even one the thread holds while it waits for that task: it
///   waits with `wait()` (done), which ends before the callbacks run (the first
///   case: a finished wait is no longer a wait), and takes the `result()` (which waits
///   for the callbacks) holding nothing, before it submits there again.
///
/// So the levels waited for strictly increase along any chain of waits: no cycle.
struct Workload {
    levels: Vec<Level>,
    task_floor: usize,
    reports: Reports,
    stop: AtomicBool,
}

impl Workload {
    fn generate(rng: &mut Rng) -> Workload {
        let n = rng.between(5, MAX_LEVELS);
        Workload {
            levels: (0..n).map(|i| Level::random(rng, i)).collect(),
            task_floor: rng.between(2, n - 1),
            reports: Reports::default(),
            stop: AtomicBool::new(false),
        }
    }

    fn describe(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.levels.iter().enumerate() {
            let floor = if i == self.task_floor { "| " } else { "" };
            let _ = write!(s, "{floor}{i}:{} ", l.kind());
        }
        s
    }
}

/// What a thread of the workload may use besides the levels.
struct Ctx<'a> {
    w: &'a Arc<Workload>,
    pool: Option<&'a ThreadPoolExecutor>,
    private_pool: Option<&'a ThreadPoolExecutor>,
    who: String,
}

type Step = Result<(), DeadlockError>;

/// A short random pause: nothing, a yield, a spin, or a sleep of up to 200 µs.
fn pause(rng: &mut Rng) {
    match rng.below(8) {
        0 => std::thread::yield_now(),
        1 => {
            for _ in 0..rng.below(2_000) {
                std::hint::spin_loop();
            }
        }
        2 => thread::sleep(Duration::from_micros(rng.below(200) as u64)),
        _ => {}
    }
}

/// A random timeout for timed tries: 0 to 2 ms.
fn short(rng: &mut Rng) -> Duration {
    Duration::from_micros(rng.below(2_000) as u64)
}

/// Takes a random increasing subset of levels `from..to`, each held while the rest are
/// taken, then `innermost`; `held` is the set of levels held (bit i: level i).
fn section(
    ctx: &Ctx<'_>,
    rng: &mut Rng,
    from: usize,
    to: usize,
    held: u64,
    innermost: &mut dyn FnMut(&mut Rng, u64) -> Step,
) -> Step {
    let mut next = from;
    while next < to && rng.chance(45) {
        next += 1;
    }
    pause(rng);
    if rng.chance(15) {
        timed_try_out_of_order(ctx, rng, next, held);
    }
    if next >= to {
        return innermost(rng, held);
    }
    hold(ctx, rng, next, held, &mut |rng, held| {
        section(ctx, rng, next + 1, to, held, innermost)
    })
}

/// A timed try on a level below `below` that the thread does not hold: out of order, but
/// it ends by itself.
fn timed_try_out_of_order(ctx: &Ctx<'_>, rng: &mut Rng, below: usize, held: u64) {
    if below == 0 {
        return;
    }
    let level = rng.below(below);
    if held & (1 << level) != 0 {
        return;
    }
    let t = short(rng);
    match &ctx.w.levels[level] {
        Level::Mutex(m) => drop(m.try_lock_for(t)),
        Level::Reentrant(r) => drop(r.try_lock_for(t)),
        Level::RwLock(l) if rng.chance(50) => drop(l.try_read_for(t)),
        Level::RwLock(l) => drop(l.try_write_for(t)),
        Level::Semaphore(s) => drop(s.try_acquire_for(t)),
        Level::Gil(_) | Level::Condition(_) => {}
    }
}

/// Takes level `i` in a random way (blocking, checked, or timed), runs `inner` holding
/// it (when taken), then lets it go.
fn hold(
    ctx: &Ctx<'_>,
    rng: &mut Rng,
    i: usize,
    held: u64,
    inner: &mut dyn FnMut(&mut Rng, u64) -> Step,
) -> Step {
    let with = held | 1 << i;
    match &ctx.w.levels[i] {
        Level::Mutex(m) => {
            let g = match rng.below(4) {
                0 => Some(m.lock_checked()?),
                1 => m.try_lock_for(short(rng)),
                _ => Some(m.lock()),
            };
            match g {
                Some(mut g) => {
                    *g += 1;
                    inner(rng, with)
                }
                None => inner(rng, held),
            }
        }
        Level::Reentrant(r) => {
            let g = match rng.below(4) {
                0 => Some(r.lock_checked()?),
                1 => r.try_lock_for(short(rng)),
                _ => Some(r.lock()),
            };
            match g {
                Some(g) => {
                    // Re-entry never waits, whatever else is held.
                    let again = rng.chance(50).then(|| r.lock());
                    g.set(g.get() + 1);
                    let out = inner(rng, with);
                    if rng.chance(30) {
                        drop(r.lock());
                    }
                    drop(again);
                    out
                }
                None => inner(rng, held),
            }
        }
        Level::RwLock(l) => {
            if rng.chance(50) {
                let g = match rng.below(4) {
                    0 => Some(l.read_checked()?),
                    1 => l.try_read_for(short(rng)),
                    _ => Some(l.read()),
                };
                match g {
                    Some(_g) => inner(rng, with),
                    None => inner(rng, held),
                }
            } else {
                let g = match rng.below(4) {
                    0 => Some(l.write_checked()?),
                    1 => l.try_write_for(short(rng)),
                    _ => Some(l.write()),
                };
                match g {
                    Some(mut g) => {
                        *g += 1;
                        inner(rng, with)
                    }
                    None => inner(rng, held),
                }
            }
        }
        Level::Gil(gil) => {
            let mut g = if rng.chance(25) {
                gil.acquire_checked()?
            } else {
                gil.acquire()
            };
            match rng.below(3) {
                0 => {
                    // The GIL is the highest level held: ticking may hand it over.
                    for _ in 0..rng.below(200) {
                        g.tick();
                        std::hint::spin_loop();
                    }
                    inner(rng, with)
                }
                1 => g.allow_threads(|| inner(rng, held)),
                _ => inner(rng, with),
            }
        }
        Level::Condition(c) => {
            let mut g = if rng.chance(25) {
                c.lock_checked()?
            } else {
                c.lock()
            };
            let notify_after = match rng.below(5) {
                0 => {
                    // Its lock is the highest level held; the producer holds nothing else.
                    g.wait_until(|tickets| *tickets > 0);
                    *g -= 1;
                    false
                }
                1 => {
                    if g.wait_until_timeout(|tickets| *tickets > 0, short(rng)) {
                        *g -= 1;
                    }
                    false
                }
                2 => {
                    *g += 1;
                    c.notify_one(); // under the lock: delivered as it is released
                    false
                }
                3 => true,
                _ => false,
            };
            let out = inner(rng, with);
            drop(g);
            if notify_after {
                *c.lock() += 1; // only lower levels are held again by now
                c.notify_one(); // without the lock
            }
            out
        }
        Level::Semaphore(s) => {
            let permit = if rng.chance(25) {
                s.try_acquire_for(short(rng))
            } else {
                Some(s.acquire())
            };
            let with = if permit.is_some() { with } else { held };
            let out = inner(rng, with);
            drop(permit);
            out
        }
    }
}

/// Levels from `task_floor` up, in order: what children, tasks and callbacks do.
fn task_levels(w: &Arc<Workload>, rng: &mut Rng, who: String) -> Step {
    let ctx = Ctx {
        w,
        pool: None,
        private_pool: None,
        who,
    };
    section(&ctx, rng, w.task_floor, w.levels.len(), 0, &mut |rng, _| {
        pause(rng);
        Ok(())
    })
}

/// Holding levels below `task_floor` only, joins a child thread that takes levels from
/// `task_floor` up.
fn join_a_child(ctx: &Ctx<'_>, rng: &mut Rng) -> Step {
    let (w, mut child_rng) = (Arc::clone(ctx.w), rng.fork());
    let who = format!("{}'s child", ctx.who);
    let child = Thread::new(move || task_levels(&w, &mut child_rng, who))
        .name(format!("{}-child", ctx.who))
        .start()
        .expect("the child started");
    if rng.chance(30) {
        while !child.wait_timeout(short(rng)) {}
    }
    child.join().expect("the child never panics")
}

/// Holding levels below `task_floor` only, waits for tasks on the shared pool, which
/// take levels from `task_floor` up, as may their done callbacks.
fn wait_for_tasks(ctx: &Ctx<'_>, rng: &mut Rng) -> Step {
    let pool = ctx.pool.expect("threads of the workload have the pool");
    let n = rng.between(1, 3);
    let futures: Vec<Future<Step>> = (0..n)
        .map(|i| {
            let (w, mut task_rng) = (Arc::clone(ctx.w), rng.fork());
            let who = format!("a task of {} ({i})", ctx.who);
            let f = pool.submit(move || task_levels(&w, &mut task_rng, who));
            if rng.chance(40) {
                let (w, mut cb_rng) = (Arc::clone(ctx.w), rng.fork());
                let who = format!("a done callback of {} ({i})", ctx.who);
                f.add_done_callback(move |_| {
                    let out = guarded(|| task_levels(&w, &mut cb_rng, who.clone()));
                    if let Err(e) | Ok(Err(e)) = out {
                        w.reports.add(&who, &e);
                    }
                });
            }
            f
        })
        .collect();
    match rng.below(4) {
        0 => {
            let done = futures::wait(&futures, ReturnWhen::AllCompleted, None);
            assert!(done.not_done.is_empty());
        }
        1 => {
            for f in &futures {
                f.wait();
            }
        }
        2 => {
            for f in &futures {
                while !f.wait_timeout(short(rng)) {}
            }
        }
        _ => {}
    }
    for f in futures {
        f.result().expect("tasks never panic")?;
    }
    Ok(())
}

/// Holding levels below `task_floor` only, waits until a task on the thread's private
/// pool is done (`wait`, not `result`: `result` also waits for the done callbacks, which
/// here may take any level, maybe one this thread holds: a real deadlock). Returns the
/// future; the caller takes its `result()` holding nothing, which also waits for the
/// callback to end, so the private worker is free for the next task.
fn wait_with_a_locking_callback(
    ctx: &Ctx<'_>,
    rng: &mut Rng,
) -> Result<Future<Step>, DeadlockError> {
    let pool = ctx
        .private_pool
        .expect("threads of the workload have a private pool");
    let armed = Arc::new(Event::named("callback armed"));
    let (w, mut task_rng, go) = (Arc::clone(ctx.w), rng.fork(), Arc::clone(&armed));
    let who = format!("a private task of {}", ctx.who);
    // The task starts only once the callback is added, so the callback runs on the
    // worker (added to a done future, it would run at once, on this thread).
    let f = pool.submit(move || {
        go.wait();
        task_levels(&w, &mut task_rng, who)
    });
    let (w, mut cb_rng) = (Arc::clone(ctx.w), rng.fork());
    let who = format!("the locking done callback of {}", ctx.who);
    f.add_done_callback(move |_| {
        let ctx = Ctx {
            w: &w,
            pool: None,
            private_pool: None,
            who: who.clone(),
        };
        let out = guarded(|| {
            section(&ctx, &mut cb_rng, 0, w.levels.len(), 0, &mut |rng, _| {
                pause(rng);
                Ok(())
            })
        });
        if let Err(e) | Ok(Err(e)) = out {
            w.reports.add(&who, &e);
        }
    });
    armed.set();
    if rng.chance(50) {
        f.wait();
    } else {
        while !f.wait_timeout(short(rng)) {}
    }
    Ok(f)
}

/// Takes a lock that exists only for this, forgets the guard (`mem::forget`), and drops
/// the lock. Nothing is held afterwards: the forgotten guard must leave no trace (issue
/// 11, cases 2 and 6), whatever lock lands at the same address later.
fn forget_a_guard_of_a_temporary_lock(rng: &mut Rng) {
    match rng.below(4) {
        0 => {
            let m = Box::new(Mutex::named("temporary", ()));
            std::mem::forget(m.lock());
        }
        1 => {
            let r = Box::new(ReentrantMutex::named("temporary", ()));
            std::mem::forget(r.lock());
        }
        2 => {
            let l = Box::new(RwLock::named("temporary", ()));
            std::mem::forget(l.write());
        }
        _ => {
            let l = Box::new(RwLock::named("temporary", ()));
            std::mem::forget(l.read());
        }
    }
}

/// One thread of the workload.
fn run_thread(ctx: &Ctx<'_>, rng: &mut Rng, steps: usize) {
    let w = ctx.w;
    let (low, all) = (w.task_floor, w.levels.len());
    for step in 0..steps {
        let mut done_with_callback = None;
        let out = guarded(|| match rng.below(10) {
            0 => section(ctx, rng, 0, low, 0, &mut |rng, _| join_a_child(ctx, rng)),
            1 => section(ctx, rng, 0, low, 0, &mut |rng, _| wait_for_tasks(ctx, rng)),
            2 => section(ctx, rng, 0, low, 0, &mut |rng, _| {
                done_with_callback = Some(wait_with_a_locking_callback(ctx, rng)?);
                Ok(())
            }),
            _ => section(ctx, rng, 0, all, 0, &mut |rng, _| {
                if rng.chance(10) {
                    forget_a_guard_of_a_temporary_lock(rng);
                }
                pause(rng);
                Ok(())
            }),
        });
        if let Err(e) | Ok(Err(e)) = out {
            w.reports.add(format_args!("{}, step {step}", ctx.who), &e);
        }
        if let Some(f) = done_with_callback {
            // Holding nothing: the outcome comes back once the callback has run.
            if let Err(e) = f.result().expect("tasks never panic") {
                w.reports
                    .add(format_args!("{}'s private task", ctx.who), &e);
            }
        }
    }
}

/// Adds tickets to a condition level, notifying with or without its lock held, until
/// the workload stops. Holds nothing else, so waiters always get their tickets.
fn produce(w: &Workload, level: usize, mut rng: Rng) {
    let Level::Condition(c) = &w.levels[level] else {
        unreachable!("a producer serves a Condition level")
    };
    while !w.stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_micros(rng.between(20, 400) as u64));
        let mut tickets = c.lock();
        *tickets = (*tickets + 1).min(16);
        if rng.chance(50) {
            c.notify_one();
            drop(tickets);
        } else {
            drop(tickets);
            c.notify_one();
        }
    }
    // Let every waiter go.
    *c.lock() = u64::MAX / 2;
    c.notify_all();
}

/// Runs one generated workload; `Err` lists what reported.
fn run_workload(seed: u64, mode: Detection) -> Result<(), String> {
    let test = match mode {
        Detection::LockOrder => "lock_ordered_workloads_are_never_reported_under_lock_order",
        _ => "lock_ordered_workloads_are_never_reported",
    };
    let mut rng = Rng::new(seed);
    let w = Arc::new(Workload::generate(&mut rng));
    eprintln!("{}: levels {}", replay(seed, test), w.describe());
    if mode == Detection::LockOrder {
        let w = Arc::clone(&w);
        deadlock::set_lock_order_handler(move |r| w.reports.add("lock order", r));
    }
    deadlock::set_detection(mode);
    let off_cpu = Arc::new(OffCpu::start());
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(rng.between(1, 3))
            .thread_name_prefix("shared-pool")
            .build(),
    );
    let watchdog = {
        let w = Arc::clone(&w);
        Watchdog::start(Duration::from_millis(2), move |r| {
            w.reports.add("Watchdog", r)
        })
    };
    let checker = {
        let (w, mut rng) = (Arc::clone(&w), rng.fork());
        Thread::new(move || {
            while !w.stop.load(Ordering::Relaxed) {
                for r in deadlock::check() {
                    w.reports.add("check()", &r);
                }
                thread::sleep(Duration::from_micros(rng.below(2_000) as u64));
            }
        })
        .name("checker")
        .daemon(true)
        .start()
        .expect("the checker started")
    };
    // Keeps the off-CPU threads off it in bursts: long hand-off windows, yet progress.
    let pulser = {
        let (w, off_cpu, mut rng) = (Arc::clone(&w), Arc::clone(&off_cpu), rng.fork());
        std::thread::spawn(move || {
            while !w.stop.load(Ordering::Relaxed) {
                off_cpu.spin_for(Duration::from_millis(rng.between(1, 15) as u64));
                std::thread::sleep(Duration::from_millis(rng.between(1, 20) as u64));
            }
        })
    };
    let producers: Vec<_> = (0..w.levels.len())
        .filter(|&i| matches!(w.levels[i], Level::Condition(_)))
        .map(|i| {
            let (w, rng) = (Arc::clone(&w), rng.fork());
            Thread::new(move || produce(&w, i, rng))
                .name(format!("producer-{i}"))
                .start()
                .expect("the producer started")
        })
        .collect();
    let threads: Vec<JoinHandle<()>> = (0..rng.between(3, 5))
        .map(|t| {
            let (w, pool, off_cpu, mut rng) = (
                Arc::clone(&w),
                Arc::clone(&pool),
                Arc::clone(&off_cpu),
                rng.fork(),
            );
            let steps = rng.between(30, 80);
            let off = t % 2 == 0;
            Thread::new(move || {
                let private_pool = ThreadPoolExecutor::builder()
                    .max_workers(1)
                    .thread_name_prefix(format!("private-{t}"))
                    .build();
                if off {
                    off_cpu.enter();
                    // Its private pool's worker too: callbacks then run late.
                    let pinned = Arc::clone(&off_cpu);
                    private_pool
                        .submit(move || pinned.enter())
                        .result()
                        .unwrap();
                }
                let ctx = Ctx {
                    w: &w,
                    pool: Some(&pool),
                    private_pool: Some(&private_pool),
                    who: format!("worker-{t}"),
                };
                run_thread(&ctx, &mut rng, steps);
            })
            .name(format!("worker-{t}"))
            .start()
            .expect("the worker started")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for t in threads {
        let name = t.info().name();
        let left = deadline.saturating_duration_since(Instant::now());
        if !t.wait_timeout(left) {
            let found = w.reports.take();
            // Stuck for good: leave everything to the end of the process.
            std::mem::forget(pool);
            std::mem::forget(off_cpu);
            return Err(format!(
                "{}: {name} never finished: a hang in a lock-ordered workload (levels {}); \
                 reports so far ({}): {:#?}\nthreads: {:#?}",
                replay(seed, test),
                w.describe(),
                found.len(),
                found.iter().take(3).collect::<Vec<_>>(),
                thread::enumerate()
            ));
        }
        if let Err(p) = t.join() {
            panic!("{}: {name} panicked: {p}", replay(seed, test));
        }
    }
    w.stop.store(true, Ordering::Relaxed);
    for p in producers {
        assert!(p.wait_timeout(PATIENCE), "a producer never stopped");
        p.join().expect("producers never panic");
    }
    assert!(checker.wait_timeout(PATIENCE), "the checker never stopped");
    watchdog.stop();
    pulser.join().expect("the pulser never panics");
    pool.shutdown(true, false);
    deadlock::set_detection(Detection::WaitFor);
    let found = w.reports.take();
    if found.is_empty() {
        return Ok(());
    }
    let shown = found.len().min(5);
    Err(format!(
        "{}: {} deadlock reports in a lock-ordered workload (levels {}), which cannot \
         deadlock ({}); the first {shown}:\n{}",
        replay(seed, test),
        found.len(),
        w.describe(),
        tally(&found),
        found[..shown].join("\n")
    ))
}

/// How many reports came from where: `check()`, the `Watchdog`, or a lock-time check
/// (in a thread, a child, a task or a done callback).
fn tally(found: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for r in found {
        let source = if r.starts_with("check()") {
            "check()"
        } else if r.starts_with("Watchdog") {
            "Watchdog"
        } else if r.starts_with("lock order") {
            "the lock-order handler"
        } else if r.contains("callback") {
            "lock time, in a done callback"
        } else if r.contains("task") {
            "lock time, in a task"
        } else if r.contains("child") {
            "lock time, in a child thread"
        } else {
            "lock time, in a worker thread"
        };
        match counts.iter_mut().find(|(s, _)| *s == source) {
            Some((_, n)) => *n += 1,
            None => counts.push((source, 1)),
        }
    }
    counts
        .iter()
        .map(|(s, n)| format!("{n} from {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The detection mode and the lock-order handler are process-wide: under `cargo test`,
/// this binary's tests take turns (nextest runs each in a process of its own).
static SERIAL: StdMutex<()> = StdMutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn lock_ordered_workloads_are_never_reported() {
    let _turn = take_turn();
    let seeds = seeds(CI_WORKLOAD_SEEDS);
    let _limit = TimeLimit::start(
        Duration::from_secs(120) * seeds.len() as u32,
        "lock_ordered_workloads_are_never_reported",
    );
    let outcomes = seeds
        .into_iter()
        .map(|seed| run_workload(seed, Detection::WaitFor))
        .collect();
    assert_all_passed("lock-ordered workloads", outcomes);
}

/// The same under `Detection::LockOrder`: a lock-ordered program has no inversion to
/// report either (timed tries and re-entry are not orders; a GIL ticks and a condition
/// waits only as the highest level held).
#[test]
fn lock_ordered_workloads_are_never_reported_under_lock_order() {
    let _turn = take_turn();
    let seeds = seeds(CI_LOCK_ORDER_SEEDS);
    let _limit = TimeLimit::start(
        Duration::from_secs(120) * seeds.len() as u32,
        "lock_ordered_workloads_are_never_reported_under_lock_order",
    );
    let outcomes = seeds
        .into_iter()
        .map(|seed| run_workload(seed, Detection::LockOrder))
        .collect();
    assert_all_passed("lock-ordered workloads under LockOrder", outcomes);
}

// ---- real cycles ----

/// A resource one participant of a cycle holds and the previous one asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edge {
    /// Held with `lock()`, asked for with `lock()`.
    Mutex,
    Reentrant,
    /// Held with `write()`, asked for with `write()`.
    RwWriteWrite,
    /// Held with `write()`, asked for with `read()`.
    RwWriteRead,
    /// Held with `read()`, asked for with `write()`.
    RwReadWrite,
    Gil,
    /// The next participant is a thread this one joins.
    Join,
    /// The next participant is a pool task whose result this one waits for.
    Future,
}

const EDGES: [Edge; 8] = [
    Edge::Mutex,
    Edge::Reentrant,
    Edge::RwWriteWrite,
    Edge::RwWriteRead,
    Edge::RwReadWrite,
    Edge::Gil,
    Edge::Join,
    Edge::Future,
];

/// The lock participant `i` holds for participant `i - 1` (when that one asks for a lock).
enum Held {
    None,
    Mutex(Mutex<()>),
    Reentrant(ReentrantMutex<()>),
    RwLock(RwLock<()>),
    Gil(Gil),
}

/// What a participant waits on after the barrier: another's thread or task.
enum Target {
    Lock,
    Join(JoinHandle<()>),
    Future(Future<()>),
}

struct Cycle {
    /// `edges[i]`: what participant `i` asks of participant `i + 1` (mod k).
    edges: Vec<Edge>,
    /// Whether participant `i` runs as a pool task (else a thread).
    is_task: Vec<bool>,
    held: Vec<Held>,
    barrier: Barrier,
    reports: StdMutex<Vec<(usize, DeadlockError)>>,
    finished: AtomicUsize,
    /// Participant `i`'s thread id, once it runs.
    ids: StdMutex<Vec<Option<u64>>>,
}

impl Cycle {
    fn generate(seed: u64) -> Cycle {
        let mut rng = Rng::new(seed);
        let k = rng.between(2, 3);
        let edges: Vec<Edge> = (0..k).map(|_| EDGES[rng.below(EDGES.len())]).collect();
        let is_task: Vec<bool> = (0..k)
            .map(|i| match edges[(i + k - 1) % k] {
                Edge::Join => false,
                Edge::Future => true,
                _ => rng.chance(30),
            })
            .collect();
        let held = (0..k)
            .map(|i| {
                let name = format!("cycle-lock-{i}");
                match edges[(i + k - 1) % k] {
                    Edge::Mutex => Held::Mutex(Mutex::named(name, ())),
                    Edge::Reentrant => Held::Reentrant(ReentrantMutex::named(name, ())),
                    Edge::RwWriteWrite | Edge::RwWriteRead | Edge::RwReadWrite => {
                        Held::RwLock(RwLock::named(name, ()))
                    }
                    Edge::Gil => Held::Gil(Gil::new()),
                    Edge::Join | Edge::Future => Held::None,
                }
            })
            .collect();
        Cycle {
            edges,
            is_task,
            held,
            barrier: Barrier::new(k),
            reports: StdMutex::new(Vec::new()),
            finished: AtomicUsize::new(0),
            ids: StdMutex::new(vec![None; k]),
        }
    }

    fn k(&self) -> usize {
        self.edges.len()
    }

    fn describe(&self) -> String {
        let k = self.k();
        (0..k)
            .map(|i| {
                let who = if self.is_task[i] { "task" } else { "thread" };
                format!("p{i} ({who}) -[{:?}]-> p{}", self.edges[i], (i + 1) % k)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Participant `i`: holds its resource, meets the others, asks for the next one's.
    fn participate(&self, i: usize, target: Target, mut rng: Rng) {
        self.ids.lock().unwrap()[i] = Some(thread::current().id());
        let k = self.k();
        let asked_of_me = self.edges[(i + k - 1) % k];
        // Hold (each guard lives to the end of this function).
        let _mutex;
        let _reentrant;
        let _read;
        let _write;
        let _gil;
        match &self.held[i] {
            Held::None => {}
            Held::Mutex(m) => _mutex = m.lock(),
            Held::Reentrant(r) => _reentrant = r.lock(),
            Held::RwLock(l) if asked_of_me == Edge::RwReadWrite => _read = l.read(),
            Held::RwLock(l) => _write = l.write(),
            Held::Gil(g) => _gil = g.acquire(),
        }
        self.barrier.wait().expect("the barrier is never broken");
        pause(&mut rng);
        // Ask.
        let next = (i + 1) % k;
        // Locks are asked for with `lock()` (a report is a panic) or `_checked` (an Err).
        let checked = rng.chance(50);
        let outcome = guarded(|| match (target, &self.held[next], self.edges[i]) {
            (Target::Join(h), _, _) => {
                h.join().expect("participants never panic");
                Ok(())
            }
            (Target::Future(f), _, _) => {
                f.result().expect("participants never panic");
                Ok(())
            }
            (Target::Lock, Held::Mutex(m), _) if checked => m.lock_checked().map(drop),
            (Target::Lock, Held::Mutex(m), _) => let_go(m.lock()),
            (Target::Lock, Held::Reentrant(r), _) if checked => r.lock_checked().map(drop),
            (Target::Lock, Held::Reentrant(r), _) => let_go(r.lock()),
            (Target::Lock, Held::RwLock(l), Edge::RwWriteRead) if checked => {
                l.read_checked().map(drop)
            }
            (Target::Lock, Held::RwLock(l), Edge::RwWriteRead) => let_go(l.read()),
            (Target::Lock, Held::RwLock(l), _) if checked => l.write_checked().map(drop),
            (Target::Lock, Held::RwLock(l), _) => let_go(l.write()),
            (Target::Lock, Held::Gil(g), _) if checked => g.acquire_checked().map(drop),
            (Target::Lock, Held::Gil(g), _) => let_go(g.acquire()),
            (Target::Lock, Held::None, e) => unreachable!("a lock edge {e:?} with no lock"),
        });
        if let Err(e) | Ok(Err(e)) = outcome {
            self.reports.lock().unwrap().push((i, e));
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs one generated cycle; `Err` says how it went wrong.
/// Lets a guard go: a lock asked for and got.
fn let_go<G>(guard: G) -> Result<(), DeadlockError> {
    drop(guard);
    Ok(())
}

fn run_cycle(seed: u64) -> Result<(), String> {
    let test = "real_cycles_are_reported_by_exactly_one_thread";
    let cycle = Arc::new(Cycle::generate(seed));
    let k = cycle.k();
    let what = format!("{}: cycle {}", replay(seed, test), cycle.describe());
    eprintln!("{what}");
    let mut rng = Rng::new(seed ^ 0x5EED);
    let pool = ThreadPoolExecutor::builder()
        .max_workers(k)
        .thread_name_prefix("cycle-task")
        .build();
    // Start every participant; each gets what it will wait on through a channel.
    let mut senders = Vec::new();
    let mut handles: Vec<Option<JoinHandle<()>>> = Vec::new();
    let mut futures: Vec<Option<Future<()>>> = Vec::new();
    for i in 0..k {
        let (tx, rx) = mpsc::channel::<Target>();
        senders.push(tx);
        let (me, prng) = (Arc::clone(&cycle), rng.fork());
        let body = move || {
            let target = rx.recv().expect("main sends every target");
            me.participate(i, target, prng);
        };
        if cycle.is_task[i] {
            futures.push(Some(pool.submit(body)));
            handles.push(None);
        } else {
            let h = Thread::new(body)
                .name(format!("cycle-p{i}"))
                .start()
                .expect("the participant started");
            handles.push(Some(h));
            futures.push(None);
        }
    }
    for (i, sender) in senders.iter().enumerate() {
        let next = (i + 1) % k;
        let target = match cycle.edges[i] {
            Edge::Join => Target::Join(
                handles[next]
                    .take()
                    .expect("a joined participant is a thread"),
            ),
            Edge::Future => Target::Future(
                futures[next]
                    .take()
                    .expect("an awaited participant is a task"),
            ),
            _ => Target::Lock,
        };
        sender.send(target).expect("the participant listens");
    }
    let all_finished =
        common::wait_until(CYCLE_BOUND, || cycle.finished.load(Ordering::SeqCst) == k);
    let reports = std::mem::take(&mut *cycle.reports.lock().unwrap());
    if !all_finished {
        // The participants are stuck for good: leave them (and the pool, whose drop
        // would wait for them) to the end of the process.
        std::mem::forget(pool);
        std::mem::forget(handles);
        std::mem::forget(futures);
        return Err(format!(
            "{what}: a hang: {} of {k} participants never finished; reports: {reports:#?}",
            k - cycle.finished.load(Ordering::SeqCst)
        ));
    }
    for h in handles.into_iter().flatten() {
        assert!(
            h.wait_timeout(PATIENCE),
            "{what}: a participant never ended"
        );
        h.join().expect("participants never panic");
    }
    for f in futures.into_iter().flatten() {
        f.result().expect("participants never panic");
    }
    drop(pool);
    if reports.len() != 1 {
        return Err(format!(
            "{what}: {} participants reported, not exactly one: {reports:#?}",
            reports.len()
        ));
    }
    let (reporter, report) = &reports[0];
    let ids = cycle.ids.lock().unwrap().clone();
    let mut in_report: Vec<u64> = report.threads().iter().map(|t| t.id()).collect();
    in_report.sort_unstable();
    let mut expected: Vec<u64> = ids
        .into_iter()
        .map(|id| id.expect("every participant ran"))
        .collect();
    expected.sort_unstable();
    if report.kind() != DeadlockKind::Cycle || in_report != expected {
        return Err(format!(
            "{what}: the report (from p{reporter}) must be a cycle of exactly the \
             participants' threads {expected:?}:\n{report}"
        ));
    }
    Ok(())
}

/// Fails with every failure of `outcomes` (one per seed), the first ones in full.
#[track_caller]
fn assert_all_passed(what: &str, outcomes: Vec<Result<(), String>>) {
    let runs = outcomes.len();
    for failure in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        eprintln!("FAILED {failure}\n");
    }
    let failures: Vec<String> = outcomes.into_iter().filter_map(Result::err).collect();
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
        panic!(
            "{what}: {} of {runs} seeds failed; the first {}:\n\n{}",
            failures.len(),
            shown.len(),
            shown.join("\n\n")
        );
    }
}

#[test]
fn real_cycles_are_reported_by_exactly_one_thread() {
    let _turn = take_turn();
    let seeds = seeds(CI_CYCLE_SEEDS);
    let _limit = TimeLimit::start(
        (CYCLE_BOUND + Duration::from_secs(5)) * seeds.len() as u32 + PATIENCE,
        "real_cycles_are_reported_by_exactly_one_thread",
    );
    let outcomes = seeds.into_iter().map(run_cycle).collect();
    assert_all_passed("real cycles", outcomes);
}
