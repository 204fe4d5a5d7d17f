//! `ThreadPoolExecutor::map`: input order, one `Err` per failing item (CPython's
//! test_map, test_map_exception), lazy bounded consumption of the input, and
//! cancellation when the iterator is dropped (test_executor_map_current_future_cancel).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::futures::{TaskError, ThreadPoolExecutor};
use spindle::sync::Event;
use spindle::thread;

const LONG: Duration = Duration::from_secs(20);

/// The endless input 0, 1, 2, ... and how many items have been taken from it.
fn counted() -> (Arc<AtomicUsize>, CountedRange) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let range = CountedRange {
        next: 0,
        pulled: Arc::clone(&pulled),
    };
    (pulled, range)
}

struct CountedRange {
    next: u64,
    pulled: Arc<AtomicUsize>,
}

impl Iterator for CountedRange {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        self.pulled.fetch_add(1, Ordering::SeqCst);
        self.next += 1;
        Some(self.next - 1)
    }
}

#[test]
fn map_yields_results_in_input_order() {
    // CPython's test_map; later items finish first here.
    let pool = ThreadPoolExecutor::new(4);
    let results: Vec<_> = pool
        .map(
            |i: u64| {
                thread::sleep(Duration::from_millis(8 - i));
                i * i
            },
            0..8u64,
        )
        .collect();
    let expected: Vec<_> = (0..8u64).map(|i| Ok(i * i)).collect();
    assert_eq!(results, expected);
}

#[test]
fn a_panicking_item_fails_alone() {
    // CPython's test_map_exception: divmod(1, 0) fails; here the items after it still come.
    let pool = ThreadPoolExecutor::new(2);
    let results: Vec<_> = pool
        .map(
            |(a, b): (i32, i32)| {
                if b == 0 {
                    panic!("integer division or modulo by zero");
                }
                (a / b, a % b)
            },
            vec![(1, 2), (1, 3), (1, 0), (1, 5)],
        )
        .collect();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], Ok((0, 1)));
    assert_eq!(results[1], Ok((0, 1)));
    match &results[2] {
        Err(TaskError::Panicked(p)) => {
            assert_eq!(p.message(), "integer division or modulo by zero")
        }
        other => panic!("expected the panic, got {other:?}"),
    }
    assert_eq!(results[3], Ok((0, 1)));
}

#[test]
fn map_over_an_endless_input_is_lazy() {
    let pool = ThreadPoolExecutor::new(2);
    let (pulled, items) = counted();
    let first: Vec<u64> = pool
        .map(|x: u64| x + 1, items)
        .take(10)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, (1..=10).collect::<Vec<_>>());
    // At most the window (2 x 2 workers) beyond what was taken.
    assert!(pulled.load(Ordering::SeqCst) <= 10 + 4);
}

#[test]
fn map_keeps_a_bounded_window_in_flight() {
    let pool = ThreadPoolExecutor::new(3);
    let (pulled, items) = counted();
    let window = 2 * pool.max_workers();
    let mut it = pool.map(|x: u64| x, items);
    for yielded in 1..=5_000usize {
        assert_eq!(it.next(), Some(Ok(yielded as u64 - 1)));
        let in_flight = pulled.load(Ordering::SeqCst) - yielded;
        assert!(
            in_flight <= window,
            "{in_flight} in flight > window {window}"
        );
    }
}

#[test]
fn map_window_sets_the_window() {
    let pool = ThreadPoolExecutor::new(4);
    let (pulled, items) = counted();
    let mut it = pool.map_window(|x: u64| x * 2, items, 1);
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), Some(Ok(2)));
    assert!(pulled.load(Ordering::SeqCst) <= 3);
    let all: Vec<_> = pool.map_window(|x: u8| x, 0..5u8, 0).collect();
    assert_eq!(all, [Ok(0), Ok(1), Ok(2), Ok(3), Ok(4)]);
}

#[test]
fn map_starts_work_before_iteration() {
    // CPython's test_map_submits_without_iteration (issue 11777).
    let pool = ThreadPoolExecutor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let it = pool.map(
        move |_: u8| {
            r.fetch_add(1, Ordering::SeqCst);
        },
        0..3u8,
    );
    let end = Instant::now() + LONG;
    while ran.load(Ordering::SeqCst) < 3 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    assert_eq!(it.count(), 3);
}

#[test]
fn dropping_the_map_iterator_cancels_what_has_not_started() {
    // CPython's test_executor_map_current_future_cancel.
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let started = Arc::new(AtomicUsize::new(0));
    let (g, s) = (Arc::clone(&gate), Arc::clone(&started));
    let mut it = pool.map_window(
        move |i: u32| {
            s.fetch_add(1, Ordering::SeqCst);
            if i > 0 {
                // Held until the iterator is gone.
                assert!(g.wait_timeout(LONG));
            }
            i
        },
        0..10u32,
        10,
    );
    assert_eq!(it.next(), Some(Ok(0)));
    drop(it);
    gate.set();
    pool.shutdown(true, false);
    // Item 0 ran; item 1 may have started before the drop; the others were cancelled.
    assert!(started.load(Ordering::SeqCst) <= 2);
}

#[test]
fn map_over_many_items_completes() {
    let pool = ThreadPoolExecutor::new(4);
    let n = 100_000u64;
    let sum: u64 = pool.map(|x: u64| x, 0..n).map(Result::unwrap).sum();
    assert_eq!(sum, n * (n - 1) / 2);
}

#[test]
fn map_size_hint_counts_in_flight_and_remaining_items() {
    let pool = ThreadPoolExecutor::new(1);
    let mut it = pool.map(|x: u8| x, vec![1u8, 2, 3, 4, 5]);
    assert_eq!(it.size_hint(), (5, Some(5)));
    it.next();
    assert_eq!(it.size_hint(), (4, Some(4)));
}
