// Layer 9 (futures): executors and futures, over everything below.
//! The two ends of a task's outcome: the [`Future`] its submitter holds, and the
//! [`Promise`] its executor fulfils.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::error::TaskError;
use super::hooks::Hooks;
use super::state::{Core, JOB};
use super::task::TaskInfo;
use super::waitable::Need;
use super::waiter::Waiter;
use crate::wait;

/// The outcome of a task that may not have finished yet: Python's
/// `concurrent.futures.Future`.
///
/// It is pending, then running, then finished (with the task's value, or the
/// [`TaskError`] that says why there is none) or cancelled. Read it with
/// [`result`](Future::result), which waits; watch many at once with
/// [`as_completed`](super::as_completed) and [`wait`](super::wait()); or `.await` it from
/// async code (it implements [`std::future::Future`]; the executor wakes the awaiting
/// task when it completes, nothing polls).
///
/// | state     | `done()` | `running()` | `cancelled()` | `result()`                   |
/// |-----------|----------|-------------|---------------|------------------------------|
/// | pending   | false    | false       | false         | waits                        |
/// | running   | false    | true        | false         | waits                        |
/// | finished  | true     | false       | false         | `Ok(value)` or `Err(why)`    |
/// | cancelled | true     | false       | true          | `Err(TaskError::Cancelled)`  |
///
/// A thread blocked on a future reads `Waiting` (`TimedWaiting` with a timeout) and its
/// `waiting_on()` names it, as `Future of task 7 (ThreadPoolExecutor "io")`; deadlock
/// detection knows which worker runs the task.
///
/// A panic is never lost: if the task panicked and the future is dropped without anyone
/// reading the outcome (neither `result`, `.await` nor a done callback), the panic goes to
/// the excepthook ([`set_excepthook`](crate::thread::set_excepthook)).
///
/// ```
/// use spindle::futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let f = pool.submit(|| 6 * 7);
/// f.add_done_callback(|r| println!("finished with {r:?}"));
/// assert_eq!(f.result(), Ok(42));
/// ```
pub struct Future<T> {
    /// The shared state; this handle owns its `HANDLE` reference.
    core: NonNull<Core<T>>,
    _outcome: PhantomData<T>,
}

// SAFETY: a `Future` is a reference to its `Core`, which is `Send` and `Sync` for
// `T: Send` (see there: the value is never shared by two threads at once).
unsafe impl<T: Send> Send for Future<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Future<T> {}
// Nothing is pinned in place: the outcome lives in the shared core.
impl<T> Unpin for Future<T> {}

impl<T: Send + 'static> Future<T> {
    /// A pending future and the promise that completes it, for an executor that names
    /// its tasks itself (the process pool).
    pub(crate) fn pending(task: TaskInfo) -> (Future<T>, Promise<T>) {
        let mut hooks = Hooks::new(0);
        hooks.more().origin = Some(task.origin);
        Future::new_pair(task.id, 0, Some(Box::new(hooks)))
    }
}

impl<T> Future<T> {
    /// A pending future of task `id` from the pool at `pool` in the pool table, and the
    /// promise that completes it.
    pub(crate) fn new_pair(
        id: u64,
        pool: u32,
        hooks: Option<Box<Hooks<T>>>,
    ) -> (Future<T>, Promise<T>) {
        let core = Core::allocate(id, pool, hooks);
        (
            Future {
                core,
                _outcome: PhantomData,
            },
            Promise { core },
        )
    }

    fn core(&self) -> &Core<T> {
        // SAFETY: the handle's reference keeps the core alive.
        unsafe { self.core.as_ref() }
    }

    /// Waits until the task has finished and gives its value, or why there is none:
    /// `Err(TaskError::Panicked)` with the panic's message and the worker's name,
    /// `Err(TaskError::Cancelled)`, ... It looks again for a few microseconds before it
    /// parks (a task about to end saves both threads a wake-up), then parks until woken.
    ///
    /// As in CPython, it returns as soon as the future is finished, without waiting for
    /// the done callbacks, with one exception that ownership imposes: a *value* that
    /// callbacks added before completion have yet to see stays with them until they have
    /// (it can be lent to them, not copied), and `result` waits that long, naming the
    /// thread running them as the one it waits for. An error, a cancellation, or a value
    /// without such callbacks comes back at once.
    ///
    /// ```
    /// use spindle::futures::{TaskError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// assert_eq!(pool.submit(|| "ok").result(), Ok("ok"));
    /// let failed = pool.submit(|| -> u8 { panic!("bad input") }).result();
    /// assert!(matches!(failed, Err(TaskError::Panicked(p)) if p.message() == "bad input"));
    /// ```
    #[track_caller]
    pub fn result(self) -> Result<T, TaskError> {
        let this = ManuallyDrop::new(self);
        // SAFETY: the handle is consumed here (never dropped): its reference goes with it.
        unsafe { Core::take_outcome(this.core, Location::caller()) }
    }

    /// Waits until the future is done, at most `timeout`; `true` once it is.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let f = pool.submit(|| 1);
    /// assert!(f.wait_timeout(Duration::from_secs(10)));
    /// assert!(f.done());
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = wait::deadline_after(timeout);
        self.core()
            .park_until(Need::Done, Some(deadline), Location::caller())
    }

    /// Waits until the future is done, without taking its outcome (that stays for
    /// [`result`](Future::result)).
    ///
    /// ```
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let f = pool.submit(|| 1);
    /// f.wait();
    /// assert!(f.done());
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.core().park_until(Need::Done, None, Location::caller());
    }

    /// Whether the future is done: finished or cancelled.
    ///
    /// ```
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let f = pool.submit(|| 1);
    /// f.wait();
    /// assert!(f.done() && !f.running() && !f.cancelled());
    /// ```
    pub fn done(&self) -> bool {
        self.core().is_done()
    }

    /// Whether a worker is running the task right now.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spindle::futures::ThreadPoolExecutor;
    /// use spindle::sync::Event;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (started, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
    /// let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    /// let f = pool.submit(move || { s.set(); r.wait() });
    /// started.wait();
    /// assert!(f.running());
    /// release.set();
    /// f.result().unwrap();
    /// ```
    pub fn running(&self) -> bool {
        self.core().is_running()
    }

    /// Whether the future was cancelled.
    ///
    /// ```
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let f = pool.submit(|| 1);
    /// f.wait();
    /// assert!(!f.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        self.core().is_cancelled()
    }

    /// Cancels the task if it has not started yet; `true` if the future is cancelled (also
    /// when it already was), `false` if the task is running or finished. Cancelling wakes
    /// whoever waits for the future and runs its done callbacks on this thread.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spindle::futures::{TaskError, ThreadPoolExecutor};
    /// use spindle::sync::Event;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let gate = Arc::new(Event::new());
    /// let g = Arc::clone(&gate);
    /// let busy = pool.submit(move || g.wait()); // occupies the only worker
    /// let queued = pool.submit(|| 1);
    /// assert!(queued.cancel());
    /// assert!(queued.cancelled());
    /// assert_eq!(queued.result(), Err(TaskError::Cancelled));
    /// gate.set();
    /// busy.result().unwrap();
    /// ```
    pub fn cancel(&self) -> bool {
        match self.core().remote_cancel() {
            Some(ask) => ask(),
            None => self.core().cancel(),
        }
    }

    /// Runs `f` with the outcome when the future is done: at once, on this thread, before
    /// returning, if it already is (CPython's `add_done_callback`); else on the thread that
    /// completes it (the worker, or whoever cancels), after the future's waiters have
    /// heard. Callbacks run in the order they were added, outside any lock. A callback that
    /// panics goes to the excepthook and stops nothing.
    ///
    /// Each callback sees the outcome by reference. An error is copied for it; a value is
    /// lent to one callback at a time (the value need be neither `Clone` nor `Sync`), so a
    /// callback added while another one still holds the value waits for it first, reading
    /// `Waiting` on `the value of Future of task N (...), lent to a done callback`.
    /// [`result`](Future::result) returns a failed task's error at once, but a value only
    /// once every callback added before completion has seen it.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = mpsc::channel();
    /// let f = pool.submit(|| 5);
    /// f.add_done_callback(move |r| tx.send(*r.as_ref().unwrap()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn add_done_callback(&self, f: impl FnOnce(&Result<T, TaskError>) + Send + 'static) {
        self.core()
            .add_done_callback(Box::new(f), Location::caller());
    }

    /// The task's id, unique in the process (as in thread states and trace events).
    ///
    /// ```
    /// use spindle::futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (a, b) = (pool.submit(|| 1), pool.submit(|| 2));
    /// assert!(a.task_id() < b.task_id());
    /// ```
    pub fn task_id(&self) -> u64 {
        self.core().id
    }

    pub(crate) fn watch(&self, waiter: &Arc<Waiter>, index: usize) -> Option<bool> {
        self.core().watch(waiter, index)
    }

    pub(crate) fn unwatch(&self, waiter: &Arc<Waiter>) {
        self.core().unwatch(waiter);
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        // SAFETY: the handle's reference, never used again.
        unsafe { Core::abandon(self.core) }
    }
}

/// Awaiting a `Future` gives the same as [`result`](Future::result), without blocking a
/// thread: the executor wakes the awaiting task when the future completes.
///
/// ```
/// use spindle::futures::ThreadPoolExecutor;
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Waker};
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = Context::from_waker(Waker::noop());
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         std::thread::yield_now();
/// #     }
/// # }
/// let pool = ThreadPoolExecutor::new(1);
/// let f = pool.submit(|| 2 + 2);
/// let four = block_on(async move { f.await.unwrap() });
/// assert_eq!(four, 4);
/// ```
impl<T> std::future::Future for Future<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.core().poll(cx.waker())
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future")
            .field("task", &self.core().id)
            .field("state", &self.core().state_name())
            .finish()
    }
}

/// The executor's end of a future: it starts the task and stores the outcome.
///
/// A promise dropped before it stored anything fails its future with
/// [`TaskError::WorkerDied`], so that no future ever waits forever.
pub(crate) struct Promise<T> {
    /// The shared state; the promise owns its `JOB` reference.
    core: NonNull<Core<T>>,
}

// SAFETY: as `Future`'s: a reference to a `Core`, `Send` and `Sync` for `T: Send`.
unsafe impl<T: Send> Send for Promise<T> {}

impl<T> Promise<T> {
    fn core(&self) -> &Core<T> {
        // SAFETY: the promise's reference keeps the core alive.
        unsafe { self.core.as_ref() }
    }

    /// The task's id.
    pub(crate) fn task_id(&self) -> u64 {
        self.core().id
    }

    /// See [`Core::set_running_or_notify_cancel`]; a cancelled task needs nothing more.
    pub(crate) fn set_running_or_notify_cancel(&mut self) -> bool {
        self.core().set_running_or_notify_cancel()
    }

    /// Names `thread` as the one answering for the running task, for waits and deadlock
    /// reports: `set_running_or_notify_cancel` names the calling thread; a process pool
    /// names the supervisor of the worker process instead.
    pub(crate) fn set_runner(&self, thread: u64) {
        self.core().set_runner(thread);
    }

    /// Completes the future with `outcome` (then runs the callbacks added before, here).
    pub(crate) fn set_result(self, outcome: Result<T, TaskError>) {
        self.core().set_result(outcome);
    }

    /// Cancels the future of a task that will not run.
    pub(crate) fn cancel(self) {
        self.core().cancel();
    }

    /// Cancels the future if the task has not started; `true` if it is cancelled.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))] // the cluster executor's
    pub(crate) fn try_cancel(&self) -> bool {
        self.core().cancel()
    }

    /// Whether the task has been started (and not yet finished).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))] // the cluster executor's
    pub(crate) fn is_running(&self) -> bool {
        self.core().is_running()
    }

    /// Whether the future is done (finished or cancelled).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))] // the cluster executor's
    pub(crate) fn is_done(&self) -> bool {
        self.core().is_done()
    }

    /// Whether the future was cancelled.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))] // the cluster executor's
    pub(crate) fn is_cancelled(&self) -> bool {
        self.core().is_cancelled()
    }

    /// Makes `cancel` what the future's `cancel` asks while the task has not started: for
    /// an executor whose tasks start elsewhere and are cancelled there.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))] // the cluster executor's
    pub(crate) fn set_remote_cancel(&self, cancel: super::hooks::RemoteCancel) {
        self.core().set_remote_cancel(cancel);
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if !self.core().is_done() {
            self.core().set_result(Err(TaskError::WorkerDied(
                "the task was dropped before it finished".to_owned(),
            )));
        }
        // SAFETY: the promise's reference, never used again.
        unsafe { Core::release(self.core, JOB) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_handle_is_one_word() {
        assert_eq!(std::mem::size_of::<Future<u64>>(), 8);
        assert_eq!(std::mem::size_of::<Option<Future<u64>>>(), 8);
    }

    #[test]
    fn the_last_of_future_and_promise_frees_either_way() {
        let (f, p) = Future::<String>::new_pair(1, 0, None);
        p.set_result(Ok("a".to_owned()));
        assert_eq!(f.result().as_deref(), Ok("a"));
        let (f, p) = Future::<String>::new_pair(2, 0, None);
        drop(f);
        p.set_result(Ok("dropped unread".to_owned()));
        let (f, p) = Future::<String>::new_pair(3, 0, None);
        drop(p);
        assert!(matches!(f.result(), Err(TaskError::WorkerDied(_))));
    }
}
