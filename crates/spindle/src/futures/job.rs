// Layer 9 (futures): executors and futures, over everything below.
//! A task waiting in a pool's queue: its closure and the promise of its future.
//!
//! The queue holds tasks of every closure and result type, so each entry is erased to a
//! table of three functions and a payload of three words, where the closure and the
//! promise sit inline when they fit (a closure capturing a word or two, the common case)
//! and behind one box otherwise. Inline, a task costs no allocation but its future's.

use std::mem::{self, MaybeUninit};

use super::error::TaskError;
use super::future::Promise;
use crate::trace::{self, EventKind};

/// Room for a task kept inline.
type Payload = MaybeUninit<[usize; 3]>;

/// What the queue can do with a task, whatever its types.
struct Actions {
    /// Runs the task on worker `worker` (unless it was cancelled) and completes its future.
    run: unsafe fn(*mut Payload, &str),
    /// Cancels the future of a task that will not run.
    cancel: unsafe fn(*mut Payload),
    /// Fails the future of a task that cannot run.
    fail: unsafe fn(*mut Payload, TaskError),
}

/// A closure to run and the promise of its future.
struct Task<F, T> {
    promise: Promise<T>,
    f: F,
}

impl<F, T> Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    const INLINE: bool = mem::size_of::<Self>() <= mem::size_of::<Payload>()
        && mem::align_of::<Self>() <= mem::align_of::<Payload>();

    const ACTIONS: Actions = Actions {
        run: Self::run,
        cancel: Self::cancel,
        fail: Self::fail,
    };

    fn store(self) -> Payload {
        let mut payload = Payload::uninit();
        if Self::INLINE {
            // SAFETY: `INLINE`: the payload is large and aligned enough for `Self`.
            unsafe { payload.as_mut_ptr().cast::<Self>().write(self) };
        } else {
            let boxed = Box::into_raw(Box::new(self));
            // SAFETY: a pointer fits in the payload's first word.
            unsafe { payload.as_mut_ptr().cast::<*mut Self>().write(boxed) };
        }
        payload
    }

    /// # Safety
    /// `payload` holds a `Self` stored by `store`, not yet taken.
    unsafe fn take(payload: *mut Payload) -> Self {
        if Self::INLINE {
            // SAFETY: see above; the caller never takes it again.
            unsafe { payload.cast::<Self>().read() }
        } else {
            // SAFETY: see above: `store` put the box's pointer there.
            unsafe { *Box::from_raw(payload.cast::<*mut Self>().read()) }
        }
    }

    /// # Safety
    /// As `take`.
    unsafe fn run(payload: *mut Payload, worker: &str) {
        // SAFETY: forwarded.
        let Task { mut promise, f } = unsafe { Self::take(payload) };
        if !promise.set_running_or_notify_cancel() {
            return; // cancelled while queued: `f` is dropped unrun
        }
        let task = promise.task_id();
        trace::emit(|| EventKind::TaskStarted { task });
        // The panic is the future's outcome: spindle's hook keeps it off stderr, and the
        // excepthook hears of it only if nobody ever reads it.
        let outcome = crate::thread::panic_hook::catch_reported(|| worker.to_owned(), f)
            .map_err(TaskError::Panicked);
        let ok = outcome.is_ok();
        trace::emit(|| EventKind::TaskFinished { task, ok });
        promise.set_result(outcome);
    }

    /// # Safety
    /// As `take`.
    unsafe fn cancel(payload: *mut Payload) {
        // SAFETY: forwarded.
        let Task { promise, f } = unsafe { Self::take(payload) };
        drop(f);
        promise.cancel();
    }

    /// # Safety
    /// As `take`.
    unsafe fn fail(payload: *mut Payload, error: TaskError) {
        // SAFETY: forwarded.
        let Task { promise, f } = unsafe { Self::take(payload) };
        drop(f);
        promise.set_result(Err(error));
    }
}

/// A task in a pool's queue. Dropped without being run, cancelled or failed (which should
/// never happen), it fails its future rather than leave it pending forever.
pub(crate) struct Queued {
    actions: &'static Actions,
    payload: Payload,
}

// SAFETY: the payload is a `Task<F, T>` with `F: Send` and `T: Send` (see `Queued::new`).
unsafe impl Send for Queued {}

impl Queued {
    pub(crate) fn new<F, T>(promise: Promise<T>, f: F) -> Queued
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Queued {
            actions: &Task::<F, T>::ACTIONS,
            payload: Task { promise, f }.store(),
        }
    }

    /// Hands the payload to `act`, once: `self` is not dropped.
    fn consume(self, act: impl FnOnce(&'static Actions, *mut Payload)) {
        let mut this = mem::ManuallyDrop::new(self);
        let actions = this.actions;
        act(actions, &mut this.payload);
    }

    pub(crate) fn run(self, worker: &str) {
        // SAFETY: the payload was stored by `Queued::new` for these actions; consumed once.
        self.consume(|a, p| unsafe { (a.run)(p, worker) });
    }

    pub(crate) fn cancel(self) {
        // SAFETY: as `run`.
        self.consume(|a, p| unsafe { (a.cancel)(p) });
    }

    pub(crate) fn fail(self, error: TaskError) {
        // SAFETY: as `run`.
        self.consume(|a, p| unsafe { (a.fail)(p, error) });
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let error = TaskError::WorkerDied("the task was dropped before it could run".to_owned());
        // SAFETY: as `run`; a dropped `Queued` is never consumed.
        unsafe { (self.actions.fail)(&mut self.payload, error) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::futures::Future;

    #[test]
    fn a_small_task_sits_inline_and_a_large_one_is_boxed() {
        let word = 7u64;
        let captures_two_words = move || word + 1;
        fn inline<F: FnOnce() -> T + Send + 'static, T: Send + 'static>(_: &F) -> bool {
            Task::<F, T>::INLINE
        }
        assert!(inline(&captures_two_words));
        let big = [0u8; 64];
        assert!(!inline(&move || big.len()));
    }

    #[test]
    fn each_way_out_of_the_queue_completes_the_future() {
        let big = [1u8; 64];
        for (n, way) in ["run", "cancel", "fail", "drop"].into_iter().enumerate() {
            let (fs, ps) = Future::<usize>::new_pair(n as u64, 0, None);
            let (fb, pb) = Future::<usize>::new_pair(n as u64, 0, None);
            let small = Queued::new(ps, move || n);
            let large = Queued::new(pb, move || big.len() + n);
            for q in [small, large] {
                match way {
                    "run" => q.run("test"),
                    "cancel" => q.cancel(),
                    "fail" => q.fail(TaskError::Timeout),
                    _ => drop(q),
                }
            }
            let expected = |v: usize| match way {
                "run" => Ok(v),
                "cancel" => Err(TaskError::Cancelled),
                "fail" => Err(TaskError::Timeout),
                _ => Err(TaskError::WorkerDied(
                    "the task was dropped before it could run".to_owned(),
                )),
            };
            assert_eq!(fs.result(), expected(n));
            assert_eq!(fb.result(), expected(64 + n));
        }
    }
}
