//! `Future`: its states, `cancel`, done callbacks (CPython's FutureTests), panics that
//! reach the excepthook when nobody reads them, and `.await`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use spindle::futures::{Future, TaskError, ThreadPoolExecutor};
use spindle::sync::Event;
use spindle::thread::{self, ThreadState};

const LONG: Duration = Duration::from_secs(20);

/// Every message the excepthook received in this test binary. Installed once; each test
/// looks only for its own, unique, messages (tests may share the process).
fn hooked() -> &'static StdMutex<Vec<String>> {
    static SEEN: OnceLock<&'static StdMutex<Vec<String>>> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen: &'static StdMutex<Vec<String>> = Box::leak(Box::new(StdMutex::new(Vec::new())));
        thread::set_excepthook(move |p| seen.lock().unwrap().push(p.message().to_owned()));
        seen
    })
}

fn hook_saw(text: &str) -> bool {
    hooked().lock().unwrap().iter().any(|m| m.contains(text))
}

/// Waits (bounded) until the excepthook has seen `text`.
fn hook_sees(text: &str) -> bool {
    let end = std::time::Instant::now() + LONG;
    while std::time::Instant::now() < end {
        if hook_saw(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// A pool with one worker held busy until the returned event is set: lets a test keep
/// the next submissions pending.
fn blocked_pool() -> (ThreadPoolExecutor, Arc<Event>, Future<bool>) {
    let pool = ThreadPoolExecutor::new(1);
    let started = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    let blocker = pool.submit(move || {
        s.set();
        r.wait_timeout(LONG)
    });
    assert!(started.wait_timeout(LONG));
    (pool, release, blocker)
}

#[test]
fn states_pending_running_finished() {
    let (pool, release, blocker) = blocked_pool();
    assert!(blocker.running() && !blocker.done() && !blocker.cancelled());
    let pending = pool.submit(|| 3);
    assert!(!pending.running() && !pending.done() && !pending.cancelled());
    release.set();
    assert!(pending.wait_timeout(LONG));
    assert!(pending.done() && !pending.running() && !pending.cancelled());
    assert!(format!("{pending:?}").contains("finished"));
    assert_eq!(blocker.result(), Ok(true));
    assert_eq!(pending.result(), Ok(3));
}

#[test]
fn cancel_works_only_before_the_task_starts() {
    // CPython's test_cancel.
    let (pool, release, blocker) = blocked_pool();
    let pending = pool.submit(|| 1);
    assert!(!blocker.cancel(), "running: cannot cancel");
    assert!(pending.cancel(), "pending: cancelled");
    assert!(pending.cancel(), "already cancelled: still true");
    assert!(pending.cancelled() && pending.done() && !pending.running());
    assert!(format!("{pending:?}").contains("cancelled"));
    release.set();
    assert_eq!(blocker.result(), Ok(true));
    let finished = pool.submit(|| 2);
    assert!(finished.wait_timeout(LONG));
    assert!(!finished.cancel(), "finished: cannot cancel");
    assert_eq!(finished.result(), Ok(2));
    assert_eq!(pending.result(), Err(TaskError::Cancelled));
}

#[test]
fn a_cancelled_task_never_runs() {
    let (pool, release, blocker) = blocked_pool();
    let ran = Arc::new(Event::new());
    let r = Arc::clone(&ran);
    let f = pool.submit(move || r.set());
    assert!(f.cancel());
    release.set();
    blocker.result().unwrap();
    pool.shutdown(true, false);
    assert!(!ran.is_set());
}

#[test]
fn wait_timeout_on_a_running_task_times_out_then_succeeds() {
    let (_pool, release, blocker) = blocked_pool();
    assert!(!blocker.wait_timeout(Duration::from_millis(20)));
    release.set();
    assert!(blocker.wait_timeout(LONG));
}

#[test]
fn a_thread_waiting_for_a_result_reads_waiting_on_the_future() {
    let (_pool, release, blocker) = blocked_pool();
    let id = blocker.task_id();
    let waiter = thread::spawn(move || blocker.result());
    let info = waiter.info();
    let expected = format!("Future of task {id} (ThreadPoolExecutor \"ThreadPoolExecutor-");
    let mut seen = false;
    for _ in 0..10_000 {
        if info.state() == ThreadState::Waiting
            && info.waiting_on().is_some_and(|w| w.starts_with(&expected))
        {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    release.set();
    assert_eq!(waiter.join().unwrap(), Ok(true));
    assert!(seen, "the waiting thread named the future it waits for");
}

#[test]
fn callback_added_before_completion_runs_on_the_worker_with_the_result() {
    // CPython's test_done_callback_with_result.
    let (pool, release, blocker) = blocked_pool();
    let (tx, rx) = mpsc::channel();
    let f = pool.submit(|| 5);
    f.add_done_callback(move |r| tx.send((r.clone(), thread::current().name())).unwrap());
    release.set();
    let (value, on) = rx.recv_timeout(LONG).unwrap();
    assert_eq!(value, Ok(5));
    assert!(
        on.starts_with("ThreadPoolExecutor-"),
        "ran on the worker, not {on}"
    );
    assert_eq!(f.result(), Ok(5));
    blocker.result().unwrap();
}

#[test]
fn callback_sees_the_panic() {
    // CPython's test_done_callback_with_exception.
    let pool = ThreadPoolExecutor::new(1);
    let (tx, rx) = mpsc::channel();
    let f = pool.submit(|| -> u8 { panic!("callback sees this") });
    f.add_done_callback(move |r| {
        let msg = match r {
            Err(TaskError::Panicked(p)) => p.message().to_owned(),
            other => format!("unexpected {other:?}"),
        };
        tx.send(msg).unwrap();
    });
    assert_eq!(rx.recv_timeout(LONG).unwrap(), "callback sees this");
    assert!(matches!(f.result(), Err(TaskError::Panicked(_))));
}

#[test]
fn callback_added_after_completion_runs_at_once_on_the_caller() {
    // CPython's test_done_callback_already_successful.
    let pool = ThreadPoolExecutor::new(1);
    let f = pool.submit(|| 7);
    assert!(f.wait_timeout(LONG));
    let seen = Arc::new(StdMutex::new(None));
    let s = Arc::clone(&seen);
    let me = thread::current().name();
    f.add_done_callback(move |r| *s.lock().unwrap() = Some((r.clone(), thread::current().name())));
    assert_eq!(*seen.lock().unwrap(), Some((Ok(7), me)));
    // Lending the result to the callback left it in place.
    assert_eq!(f.result(), Ok(7));
}

#[test]
fn callbacks_on_a_cancelled_future_see_cancelled() {
    // CPython's test_done_callback_with_cancel and test_done_callback_already_cancelled.
    let (pool, release, blocker) = blocked_pool();
    let f = pool.submit(|| 1);
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    f.add_done_callback(move |r| s.lock().unwrap().push(("before", r.clone())));
    assert!(f.cancel());
    // Cancelling ran it, here.
    assert_eq!(seen.lock().unwrap().len(), 1);
    let s = Arc::clone(&seen);
    f.add_done_callback(move |r| s.lock().unwrap().push(("after", r.clone())));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("before", Err(TaskError::Cancelled)),
            ("after", Err(TaskError::Cancelled))
        ]
    );
    release.set();
    blocker.result().unwrap();
}

#[test]
fn callbacks_run_in_order_and_a_panicking_one_breaks_nothing() {
    // CPython's test_done_callback_raises: the error is reported, the others still run.
    let (pool, release, blocker) = blocked_pool();
    let order = Arc::new(StdMutex::new(Vec::new()));
    let f = pool.submit(|| "value");
    let o = Arc::clone(&order);
    f.add_done_callback(move |_| o.lock().unwrap().push(1));
    f.add_done_callback(|_| panic!("callback panic 61d2"));
    let o = Arc::clone(&order);
    f.add_done_callback(move |_| o.lock().unwrap().push(3));
    hooked();
    release.set();
    assert_eq!(f.result(), Ok("value"));
    assert_eq!(*order.lock().unwrap(), [1, 3]);
    assert!(hook_sees("callback panic 61d2"));
    // The worker survived.
    assert_eq!(pool.submit(|| 9).result(), Ok(9));
    blocker.result().unwrap();
}

#[test]
fn a_panic_nobody_reads_reaches_the_excepthook() {
    hooked();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("unread")
        .build();
    // Dropped at once (most likely before the task ends): reported when it ends.
    drop(pool.submit(|| -> u8 { panic!("unread early 8c1f") }));
    // Dropped after it ended: reported at the drop.
    let late = pool.submit(|| -> u8 { panic!("unread late 8c1f") });
    assert!(late.wait_timeout(LONG));
    assert!(!hook_saw("unread late 8c1f"));
    drop(late);
    assert!(hook_sees("unread early 8c1f"));
    assert!(hook_saw("unread late 8c1f"));
}

#[test]
fn a_panic_that_was_read_is_not_reported_again() {
    hooked();
    let pool = ThreadPoolExecutor::new(1);
    let read = pool.submit(|| -> u8 { panic!("read once 2b7e") });
    assert!(matches!(read.result(), Err(TaskError::Panicked(_))));
    let seen_by_callback = pool.submit(|| -> u8 { panic!("seen by callback 2b7e") });
    let (tx, rx) = mpsc::channel();
    seen_by_callback.add_done_callback(move |r| tx.send(r.is_err()).unwrap());
    assert!(rx.recv_timeout(LONG).unwrap());
    drop(seen_by_callback);
    pool.shutdown(true, false);
    // A marker panic reported after the others proves the hook had its chance.
    drop(ThreadPoolExecutor::new(1).submit(|| -> u8 { panic!("marker 2b7e") }));
    assert!(hook_sees("marker 2b7e"));
    assert!(!hook_saw("read once 2b7e"));
    assert!(!hook_saw("seen by callback 2b7e"));
}

#[test]
fn await_from_a_minimal_executor() {
    let pool = ThreadPoolExecutor::new(2);
    let a = pool.submit(|| {
        thread::sleep(Duration::from_millis(20));
        20
    });
    let b = pool.submit(|| 22);
    let sum = pollster::block_on(async move { a.await.unwrap() + b.await.unwrap() });
    assert_eq!(sum, 42);
    let failed = pool.submit(|| -> u8 { panic!("awaited panic") });
    let err = pollster::block_on(failed).unwrap_err();
    assert!(matches!(err, TaskError::Panicked(p) if p.message() == "awaited panic"));
}

/// A waker that records being woken in an `Event`.
struct EventWaker(Event);

impl Wake for EventWaker {
    fn wake(self: Arc<Self>) {
        self.0.set();
    }
}

#[test]
fn completion_wakes_the_stored_waker_no_polling() {
    let (pool, release, blocker) = blocked_pool();
    let mut f = pool.submit(|| "awaited");
    let woken = Arc::new(EventWaker(Event::new()));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending());
    assert!(!woken.0.wait_timeout(Duration::from_millis(10)));
    release.set();
    assert!(woken.0.wait_timeout(LONG), "the executor woke the waker");
    match std::pin::Pin::new(&mut f).poll(&mut cx) {
        Poll::Ready(r) => assert_eq!(r, Ok("awaited")),
        Poll::Pending => panic!("ready after the wake"),
    }
    blocker.result().unwrap();
}

#[test]
fn cancelling_wakes_an_awaiting_task() {
    let (pool, release, blocker) = blocked_pool();
    let mut f = pool.submit(|| 1);
    let woken = Arc::new(EventWaker(Event::new()));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending());
    assert!(f.cancel());
    assert!(woken.0.wait_timeout(LONG));
    assert_eq!(
        std::pin::Pin::new(&mut f).poll(&mut cx),
        Poll::Ready(Err(TaskError::Cancelled))
    );
    release.set();
    blocker.result().unwrap();
}

use std::future::Future as _;
