// Layer 9 (futures): executors and futures, over everything below.
//! The state machine on its own (no pool), with threads racing each side: small enough
//! for Miri, which checks the slot's hand-overs for data races and every outcome for
//! exactly one drop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use super::Core;
use crate::futures::{Future, TaskError};

/// A value that counts its drops, and checks that no two threads hold it at once.
struct Tracked {
    drops: Arc<AtomicUsize>,
    in_use: AtomicUsize,
}

impl Tracked {
    fn new(drops: &Arc<AtomicUsize>) -> Tracked {
        Tracked {
            drops: Arc::clone(drops),
            in_use: AtomicUsize::new(0),
        }
    }

    /// Reads it as a callback would, failing if another thread is reading it too.
    fn read(&self) {
        assert_eq!(self.in_use.fetch_add(1, Ordering::SeqCst), 0, "shared");
        thread::yield_now();
        self.in_use.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

const ROUNDS: usize = if cfg!(miri) { 4 } else { 200 };

#[test]
fn a_u64_future_core_is_three_words() {
    assert_eq!(std::mem::size_of::<Core<u64>>(), 24);
    assert_eq!(std::mem::size_of::<Core<()>>(), 24);
}

#[test]
fn callbacks_before_and_after_completion_each_see_the_value_once_and_alone() {
    for round in 0..ROUNDS {
        let drops = Arc::new(AtomicUsize::new(0));
        let (f, promise) = Future::<Tracked>::new_pair(round as u64, 0, None);
        let seen = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let s = Arc::clone(&seen);
            f.add_done_callback(move |r| {
                r.as_ref().unwrap().read();
                s.fetch_add(1, Ordering::SeqCst);
            });
        }
        let f = Arc::new(f);
        let value = Tracked::new(&drops);
        let completer = thread::spawn(move || promise.set_result(Ok(value)));
        let adders: Vec<_> = (0..2)
            .map(|_| {
                let (f, s) = (Arc::clone(&f), Arc::clone(&seen));
                thread::spawn(move || {
                    f.wait();
                    let s2 = Arc::clone(&s);
                    f.add_done_callback(move |r| {
                        r.as_ref().unwrap().read();
                        s2.fetch_add(1, Ordering::SeqCst);
                    });
                })
            })
            .collect();
        for a in adders {
            a.join().unwrap();
        }
        let f = Arc::into_inner(f).expect("the adders are done");
        let value = f.result().expect("a value");
        completer.join().unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(value);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn a_handle_dropped_while_the_task_completes_drops_the_value_once() {
    for round in 0..ROUNDS {
        let drops = Arc::new(AtomicUsize::new(0));
        let (f, promise) = Future::<Tracked>::new_pair(round as u64, 0, None);
        if round % 2 == 0 {
            f.add_done_callback(|r| r.as_ref().unwrap().read());
        }
        let value = Tracked::new(&drops);
        let completer = thread::spawn(move || promise.set_result(Ok(value)));
        if round % 3 == 0 {
            thread::yield_now();
        }
        drop(f);
        completer.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "round {round}");
    }
}

#[test]
fn result_takes_an_error_while_callbacks_still_read_their_copies() {
    for round in 0..ROUNDS {
        let (f, promise) = Future::<u8>::new_pair(round as u64, 0, None);
        let release = Arc::new(Mutex::new(()));
        let held = release.lock().unwrap();
        let r = Arc::clone(&release);
        f.add_done_callback(move |o| {
            assert_eq!(o, &Err(TaskError::Timeout));
            drop(r.lock().unwrap());
        });
        let completer = thread::spawn(move || promise.set_result(Err(TaskError::Timeout)));
        // The callback is held by `held`: `result` must not wait for it.
        assert_eq!(f.result(), Err(TaskError::Timeout));
        drop(held);
        completer.join().unwrap();
    }
}

#[test]
fn cancel_and_start_race_all_or_nothing_and_poll_wakes() {
    struct Flag(AtomicUsize);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for round in 0..ROUNDS {
        let (mut f, mut promise) = Future::<u32>::new_pair(round as u64, 0, None);
        let flag = Arc::new(Flag(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending());
        let starter = thread::spawn(move || {
            if promise.set_running_or_notify_cancel() {
                promise.set_result(Ok(7));
                true
            } else {
                false
            }
        });
        let cancelled = f.cancel();
        let ran = starter.join().unwrap();
        assert_ne!(cancelled, ran, "exactly one of cancel and start won");
        assert_eq!(flag.0.load(Ordering::SeqCst), 1, "woken once");
        let expected = if ran {
            Ok(7)
        } else {
            Err(TaskError::Cancelled)
        };
        assert_eq!(
            std::pin::Pin::new(&mut f).poll(&mut cx),
            Poll::Ready(expected)
        );
    }
}

#[test]
fn a_callback_adding_a_callback_to_its_own_done_future_runs_it_at_once() {
    // CPython runs a callback added to a done future at once, also from inside another
    // of its callbacks: here the value is on loan to the outer one, on this very thread.
    for delivering in [true, false] {
        let (f, promise) = Future::<String>::new_pair(1, 0, None);
        let f = Arc::new(f);
        let order = Arc::new(Mutex::new(Vec::new()));
        let outer = {
            let (f2, order) = (Arc::clone(&f), Arc::clone(&order));
            move |r: &Result<String, TaskError>| {
                order
                    .lock()
                    .unwrap()
                    .push(format!("outer {}", r.as_ref().unwrap()));
                let o = Arc::clone(&order);
                f2.add_done_callback(move |r| {
                    o.lock()
                        .unwrap()
                        .push(format!("inner {}", r.as_ref().unwrap()));
                });
                order.lock().unwrap().push("outer returns".to_owned());
            }
        };
        if delivering {
            f.add_done_callback(outer);
            promise.set_result(Ok("v".to_owned()));
        } else {
            promise.set_result(Ok("v".to_owned()));
            f.add_done_callback(outer);
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["outer v", "inner v", "outer returns"],
            "delivering: {delivering}"
        );
        let f = Arc::into_inner(f).expect("the callbacks let go");
        assert_eq!(f.result().as_deref(), Ok("v"));
    }
}
