// Layer 9 (futures): executors and futures, over everything below.
//! The thread pool's insides: one queue of jobs behind a lock, workers that park on a
//! condition variable while it is empty, started one at a time as work arrives.
//!
//! A plain queue-fed pool (no work stealing): a task may block, wait for another future or
//! take locks without starving anyone's local queue.
//!
//! `looking` counts the workers without a task: spinning briefly, or parked, until a job
//! arrives. A queued job needs one of them: `submit` wakes one (if it is parked) while
//! there are at least as many looking workers as queued jobs, else starts a worker if
//! fewer than `max_workers` run (so idle workers are reused before new ones start), else
//! leaves the job to the busy workers, which look at the queue before they park again.
//!
//! At exit (`thread::join_non_daemon`) a worker that finds the queue empty leaves
//! instead of parking, as CPython's workers do at interpreter exit: the queued work runs,
//! then the program can end. A pool used again afterwards starts workers anew.

use std::cell::Cell;
use std::collections::VecDeque;
use std::mem;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::{Backoff, CachePadded};

use super::error::TaskError;
use super::job::Queued;
use super::pools;
use crate::description;
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::thread::{self, JoinHandle, Panicked, Thread};
use crate::wait::{Described, Wait, Waitable};

pub(crate) struct Pool {
    /// Its index in the pool table (how its futures name it).
    pub(crate) index: u32,
    queue: Mutex<WorkQueue>,
    /// How many jobs the queue holds, readable without the lock: a worker that finds the
    /// queue empty spins on it a little before it parks (a wake-up costs two syscalls).
    queued: CachePadded<AtomicUsize>,
    /// Idle workers park here.
    work_ready: Condvar,
    /// `shutdown(wait = true)` parks here until every worker has left.
    workers_gone: Condvar,
    prefix: String,
    /// `ThreadPoolExecutor "io"`: how states and futures name this pool.
    pub(crate) origin: Arc<str>,
    pub(crate) max_workers: usize,
    initializer: Option<Initializer>,
    daemon: bool,
}

pub(crate) type Initializer = Arc<dyn Fn() + Send + Sync>;

struct WorkQueue {
    jobs: VecDeque<Queued>,
    /// Workers without a task, spinning or parked until one arrives.
    looking: usize,
    /// Worker names used so far, `PREFIX_0` .. `PREFIX_{started - 1}`.
    started: usize,
    /// Names of workers that left at an exit, for the workers started after it.
    free_names: Vec<usize>,
    /// Workers that have not left their loop yet.
    live: usize,
    shutdown: bool,
    /// Why the pool runs nothing any more (an initializer panicked), if it is broken.
    broken: Option<String>,
    handles: Vec<JoinHandle<()>>,
}

thread_local! {
    /// The pool whose worker this thread is (its address), or 0.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

impl Pool {
    pub(crate) fn new(
        max_workers: usize,
        prefix: String,
        initializer: Option<Initializer>,
        daemon: bool,
    ) -> Arc<Pool> {
        Arc::new_cyclic(|me| Pool {
            index: pools::register(me.clone()),
            queue: Mutex::new(WorkQueue {
                jobs: VecDeque::new(),
                looking: 0,
                started: 0,
                free_names: Vec::new(),
                live: 0,
                shutdown: false,
                broken: None,
                handles: Vec::new(),
            }),
            queued: CachePadded::new(AtomicUsize::new(0)),
            work_ready: Condvar::new(),
            workers_gone: Condvar::new(),
            origin: format!("ThreadPoolExecutor \"{prefix}\"").into(),
            prefix,
            max_workers,
            initializer,
            daemon,
        })
    }

    /// Queues `job`, waking or starting a worker for it if none is free to look.
    /// After `shutdown`, gives the job back.
    pub(crate) fn submit(self: &Arc<Self>, job: Queued) -> Result<(), Queued> {
        let mut q = self.queue.lock();
        if q.shutdown {
            return Err(job);
        }
        if let Some(why) = &q.broken {
            let why = why.clone();
            drop(q);
            job.fail(TaskError::BrokenPool(why));
            return Ok(());
        }
        q.jobs.push_back(job);
        self.queued.store(q.jobs.len(), Ordering::Relaxed);
        if q.jobs.len() <= q.looking {
            drop(q);
            // A no-op if the looking worker is spinning rather than parked.
            self.work_ready.notify(1);
        } else if q.live < self.max_workers {
            let n = q.free_names.pop().unwrap_or_else(|| {
                q.started += 1;
                q.started - 1
            });
            q.live += 1;
            // Handles of workers that left at an exit: joined already, nothing to keep.
            q.handles.retain(|h| !h.is_finished());
            drop(q);
            self.start_worker(n);
        }
        Ok(())
    }

    /// Stops taking work. Cancels the queued jobs if `cancel_futures`; the workers run
    /// the others, then leave. With `wait`, returns once they all have.
    #[track_caller]
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancelled = {
            let mut q = self.queue.lock();
            q.shutdown = true;
            if cancel_futures {
                self.queued.store(0, Ordering::Relaxed);
                mem::take(&mut q.jobs)
            } else {
                VecDeque::new()
            }
        };
        self.work_ready.notify_all();
        for job in cancelled {
            job.cancel();
        }
        if wait {
            self.wait_for_workers(Location::caller());
        }
    }

    /// Parks until every worker but the calling one (if it is one) has left, then joins them.
    fn wait_for_workers(&self, at: &'static Location<'static>) {
        let me = usize::from(self.is_current_worker());
        let on = Described(|| format!("shutdown of {}", self.origin));
        let wait = Wait::waiting(&on, None, at);
        let mut q = self.queue.lock();
        while q.live > me {
            q = self.park(q, &self.workers_gone, &wait, at);
        }
        let handles = mem::take(&mut q.handles);
        drop(q);
        let current = thread::current();
        for h in handles {
            if h.info() != current {
                // Workers catch every panic: this only waits for the thread to end.
                let _ = h.join();
            }
        }
    }

    fn is_current_worker(&self) -> bool {
        WORKER_OF.with(Cell::get) == self as *const Pool as usize
    }

    fn start_worker(self: &Arc<Self>, n: usize) {
        let pool = Arc::clone(self);
        let name = format!("{}_{n}", self.prefix);
        let worker_name = name.clone();
        // Named up front: workers take no `Thread-N` number (as in Python).
        let started = Thread::with_name(name, move || pool.work(n, worker_name))
            .daemon(self.daemon)
            .start();
        match started {
            Ok(handle) => self.queue.lock().handles.push(handle),
            Err(e) => self.worker_failed_to_start(n, &e),
        }
    }

    /// The OS refused a thread. If no worker is left to run the queue, its jobs fail.
    fn worker_failed_to_start(&self, n: usize, e: &std::io::Error) {
        let mut q = self.queue.lock();
        q.free_names.push(n);
        if q.live > 1 {
            q.live -= 1;
            return;
        }
        let jobs = mem::take(&mut q.jobs);
        self.queued.store(0, Ordering::Relaxed);
        self.leave(q);
        let why = format!("no worker thread could be started: {e}");
        for job in jobs {
            job.fail(TaskError::BrokenPool(why.clone()));
        }
    }

    /// The body of every worker thread.
    fn work(self: Arc<Self>, n: usize, name: String) {
        WORKER_OF.with(|w| w.set(Arc::as_ptr(&self) as usize));
        if let Some(init) = &self.initializer {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| init())) {
                let p = Panicked::from_payload(&*payload, name.clone());
                let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
                thread::report_panic(&p);
                self.break_pool(format!(
                    "the initializer panicked in worker \"{name}\": {}; the pool runs no more tasks",
                    p.message()
                ));
                return;
            }
        }
        while let Some(job) = self.next_job(n) {
            // The job catches the task's panic; this catches what user code may still
            // throw around it (a result's or a payload's `Drop`), so the worker lives on.
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| job.run(&name))) {
                let p = Panicked::from_payload(&*payload, name.clone());
                let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
                thread::report_panic(&p);
            }
        }
    }

    /// The next job, parking while the queue is empty; `None` when the worker `n` must
    /// leave (shut down and nothing left, broken, or nothing left at an exit).
    fn next_job(&self, n: usize) -> Option<Queued> {
        let at = Location::caller();
        let wait = Wait::waiting(self, None, at);
        let backoff = Backoff::new();
        let mut q = self.queue.lock();
        // Whether this worker counts in `looking`.
        let mut looking = false;
        loop {
            if let Some(job) = q.jobs.pop_front() {
                self.queued.store(q.jobs.len(), Ordering::Relaxed);
                q.looking -= usize::from(looking);
                return Some(job);
            }
            if q.shutdown || q.broken.is_some() {
                q.looking -= usize::from(looking);
                self.leave(q);
                return None;
            }
            if thread::exiting() {
                // Its name goes to whichever worker starts next.
                q.looking -= usize::from(looking);
                q.free_names.push(n);
                self.leave(q);
                return None;
            }
            if !looking {
                q.looking += 1;
                looking = true;
            }
            if !backoff.is_completed() {
                // More work usually follows soon: look again before paying for a park.
                drop(q);
                while self.queued.load(Ordering::Relaxed) == 0 && !backoff.is_completed() {
                    backoff.snooze();
                }
                q = self.queue.lock();
                continue;
            }
            q = self.park(q, &self.work_ready, &wait, at);
        }
    }

    /// An initializer panicked: fail every queued job and every later one.
    fn break_pool(&self, why: String) {
        let mut q = self.queue.lock();
        let why = q.broken.get_or_insert(why).clone();
        let jobs = mem::take(&mut q.jobs);
        self.queued.store(0, Ordering::Relaxed);
        self.leave(q);
        self.work_ready.notify_all();
        for job in jobs {
            job.fail(TaskError::BrokenPool(why.clone()));
        }
    }

    /// Releases the queue's lock and parks on `cv` until notified; re-locks.
    fn park<'a>(
        &'a self,
        q: MutexGuard<'a, WorkQueue>,
        cv: &Condvar,
        wait: &Wait<'_>,
        at: &'static Location<'static>,
    ) -> MutexGuard<'a, WorkQueue> {
        let raw = self.queue.raw();
        // The guard stays alive: the condvar releases the lock, we take it back.
        let _ = cv.park(raw, wait, None);
        raw.lock_internal(at);
        q
    }

    /// A worker leaves its loop for good.
    fn leave(&self, mut q: MutexGuard<'_, WorkQueue>) {
        q.live -= 1;
        let last = q.live == 0;
        drop(q);
        if last {
            self.workers_gone.notify_all();
        }
    }

    /// At exit: wakes the idle workers, which leave (once the queue is empty).
    pub(crate) fn wake_idle_workers(&self) {
        // Taken and released: a worker that looked before the exit began is parked now.
        drop(self.queue.lock());
        self.work_ready.notify_all();
    }

    /// How many worker names have been used (workers are not replaced: a task's panic is
    /// caught and the worker goes on; only workers that left at an exit come back, under
    /// their old names).
    pub(crate) fn started(&self) -> usize {
        self.queue.lock().started
    }

    /// How many jobs wait in the queue.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        pools::unregister(self.index);
    }
}

/// An idle worker waits on its pool's queue.
impl Waitable for Pool {
    fn idle(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("work queue of {}", self.origin)
    }

    /// Made once: an idle worker waits here after every task, and says so to the trace.
    fn description(&self) -> Arc<str> {
        let origin = &self.origin;
        let make = || format!("work queue of {origin}");
        description::cached("work queue", origin.as_ptr() as usize, Some(origin), make)
    }
}
