//! producer-consumer: the bounded buffer of the textbooks (MAX_SIZE 5) on a Condition.
//! A thread waiting on a Condition sleeps: the consumer of a slow producer uses almost
//! no CPU, unlike one that polls. The producer of a slow consumer waits once the buffer
//! is full, so the buffer never holds more than MAX_SIZE items. Then the same with a
//! `Queue` (`queue_join.rs`): `task_done` per item, and `join` returns when all are done.

mod queue_join;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use spindle::sync::Condition;
use spindle::thread::{self, JoinHandle, Thread};

use super::measure::{failed, human, joined, ratio, seconds, thread_cpu_time, timed};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};

pub const EXPERIMENT: Experiment = Experiment {
    name: "producer-consumer",
    claim: "With a Condition, a consumer waiting for a slow producer sleeps instead of \
            busy-waiting (it uses almost no CPU), and a bounded buffer (MAX_SIZE 5) makes \
            a fast producer wait, so the buffer never holds more than 5 items. With a \
            Queue, join returns once every item put was marked done with task_done.",
    summary: "bounded buffer (MAX_SIZE 5) on a Condition; a Queue with task_done/join",
    run,
};

const MAX_SIZE: usize = 5;
const HANG_LIMIT: Duration = Duration::from_secs(60);

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let items: u64 = step.scale().pick(300, 60);
    let pace = step
        .scale()
        .pick(Duration::from_millis(3), Duration::from_millis(2));
    let mut f = Findings::new();

    step.phase("slow producer, consumer waits on the Condition");
    let slow_producer = exchange(items, pace, Duration::ZERO, Consumer::Waits)?;
    step.phase("slow consumer, producer waits while the buffer is full");
    let slow_consumer = exchange(items, Duration::ZERO, pace, Consumer::Waits)?;
    step.phase("slow producer, consumer polls (for contrast)");
    let polling = exchange(items / 4, pace, Duration::ZERO, Consumer::Polls)?;

    step.phase("Queue: producers put, consumers task_done, main joins");
    let queued = queue_join::run(
        usize::try_from(items).expect("a small count"),
        MAX_SIZE,
        Duration::from_micros(200),
        HANG_LIMIT,
    )?;
    step.end_phase();

    let waiting_share = slow_producer.consumer_cpu_share();
    let polling_share = polling.consumer_cpu_share();
    let producer_share = slow_consumer.producer_cpu_share();
    f.row(
        format!(
            "{items} items, one every {}: consumer waiting on the Condition",
            human(pace)
        ),
        format!(
            "consumer CPU {} in {} ({:.1}% of the time)",
            human(slow_producer.consumer_cpu),
            human(slow_producer.wall),
            waiting_share * 100.0
        ),
    );
    f.row(
        format!(
            "{} items, one every {}: consumer polling the buffer (for contrast)",
            items / 4,
            human(pace)
        ),
        format!(
            "consumer CPU {} in {} ({:.1}% of the time)",
            human(polling.consumer_cpu),
            human(polling.wall),
            polling_share * 100.0
        ),
    );
    f.row(
        format!("{items} items, consumer takes {} each", human(pace)),
        format!(
            "buffer peaked at {} of {MAX_SIZE}; producer CPU {} in {} ({:.1}%)",
            slow_consumer.peak,
            human(slow_consumer.producer_cpu),
            human(slow_consumer.wall),
            producer_share * 100.0
        ),
    );
    let all_delivered = [&slow_producer, &slow_consumer, &polling]
        .iter()
        .all(|r| r.in_order);
    f.row(
        "every item delivered once, in order",
        if all_delivered { "yes" } else { "no" },
    );
    f.row(
        format!(
            "Queue(maxsize {MAX_SIZE}): {} producers put {} items, {} consumers task_done",
            queue_join::SIDES,
            queued.items,
            queue_join::SIDES
        ),
        format!(
            "join {} after {} with {} of {} done; each item taken once: {}; peak {}",
            if queued.joined {
                "returned"
            } else {
                "timed out"
            },
            human(queued.wall),
            queued.done_at_join,
            queued.items,
            if queued.consumed_once { "yes" } else { "no" },
            queued.peak
        ),
    );

    f.figure("max_size", MAX_SIZE);
    f.figure("items", items);
    f.figure("consumer_cpu_s", seconds(slow_producer.consumer_cpu));
    f.figure("consumer_wall_s", seconds(slow_producer.wall));
    f.figure("consumer_cpu_share", ratio(waiting_share));
    f.figure("polling_consumer_cpu_share", ratio(polling_share));
    f.figure("slow_producer_peak", slow_producer.peak);
    f.figure("slow_consumer_peak", slow_consumer.peak);
    f.figure("producer_cpu_share", ratio(producer_share));
    f.figure("delivered_in_order", all_delivered);
    f.figure("queue_items", queued.items);
    f.figure("queue_joined", queued.joined);
    f.figure("queue_done_at_join", queued.done_at_join);
    f.figure("queue_consumed_once", queued.consumed_once);
    f.figure("queue_peak", queued.peak);
    f.figure("queue_wall_s", seconds(queued.wall));
    f.chart(Chart::bars(
        "share of a core used while waiting for the other side (lower is better)",
        vec![
            Bar::new(
                "waiting consumer",
                waiting_share * 100.0,
                format!("{:.1}%", waiting_share * 100.0),
                Tone::Good,
            ),
            Bar::new(
                "polling consumer",
                polling_share * 100.0,
                format!("{:.1}%", polling_share * 100.0),
                Tone::Bad,
            ),
            Bar::new(
                "waiting producer",
                producer_share * 100.0,
                format!("{:.1}%", producer_share * 100.0),
                Tone::Good,
            ),
        ],
    ));

    // Waiting costs a wake-up per item, a few microseconds each: far below a tenth.
    f.check(
        "a consumer waiting on a Condition sleeps instead of busy-waiting",
        ratio(waiting_share) < 0.1,
    );
    f.check(
        "a bounded buffer makes a fast producer wait: it never holds more than 5 items",
        ratio(producer_share) < 0.1
            && slow_consumer.peak == MAX_SIZE
            && slow_producer.peak <= MAX_SIZE,
    );
    f.check("every item arrives once, in order", all_delivered);
    f.check(
        "a Queue's join returns once every item put was marked done",
        queued.joined
            && queued.done_at_join == queued.items
            && queued.consumed_once
            && queued.peak <= MAX_SIZE,
    );
    Ok(f.conclude(
        format!(
            "the waiting consumer used {:.1}% of a core (a polling one {:.1}%); \
             with a slow consumer the buffer peaked at {} of {MAX_SIZE} and the waiting producer used {:.1}%; \
             the Queue's join returned with {} of {} items done",
            waiting_share * 100.0,
            polling_share * 100.0,
            slow_consumer.peak,
            producer_share * 100.0,
            queued.done_at_join,
            queued.items
        ),
    ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Consumer {
    /// Waits on the Condition until there is an item.
    Waits,
    /// Checks the buffer in a loop (what not to do).
    Polls,
}

struct Buffer {
    items: VecDeque<u64>,
    closed: bool,
    peak: usize,
}

/// What one producer/consumer run measured.
struct Exchange {
    wall: Duration,
    producer_cpu: Duration,
    consumer_cpu: Duration,
    peak: usize,
    /// Every item arrived exactly once, in the order produced.
    in_order: bool,
}

impl Exchange {
    fn consumer_cpu_share(&self) -> f64 {
        self.consumer_cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    fn producer_cpu_share(&self) -> f64 {
        self.producer_cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
}

/// A producer thread puts `items` numbers through a buffer of `MAX_SIZE` to a consumer
/// thread; each side pauses as told after each item.
fn exchange(
    items: u64,
    produce: Duration,
    consume: Duration,
    consumer: Consumer,
) -> Result<Exchange, Unmeasured> {
    let buffer = Arc::new(Condition::named(
        "buffer",
        Buffer {
            items: VecDeque::with_capacity(MAX_SIZE),
            closed: false,
            peak: 0,
        },
    ));
    let (outcome, wall) = timed(|| {
        let b = Arc::clone(&buffer);
        let producer = named("producer", move || {
            let start = thread_cpu_time();
            for item in 0..items {
                if !produce.is_zero() {
                    thread::sleep(produce);
                }
                let mut g = b.lock();
                g.wait_until(|b| b.items.len() < MAX_SIZE);
                g.items.push_back(item);
                g.peak = g.peak.max(g.items.len());
                drop(g);
                b.notify_all();
            }
            b.lock().closed = true;
            b.notify_all();
            thread_cpu_time() - start
        });
        let b = Arc::clone(&buffer);
        let role = match consumer {
            Consumer::Waits => "consumer (waits)",
            Consumer::Polls => "consumer (polls)",
        };
        let consumer = named(role, move || {
            let start = thread_cpu_time();
            let mut expected = 0;
            let mut in_order = true;
            while let Some(item) = take(&b, consumer) {
                in_order &= item == expected;
                expected += 1;
                if !consume.is_zero() {
                    thread::sleep(consume);
                }
            }
            (thread_cpu_time() - start, in_order && expected == items)
        });
        let producer = joined(producer?, HANG_LIMIT);
        let consumer = joined(consumer?, HANG_LIMIT);
        Ok::<_, Unmeasured>((producer?, consumer?))
    });
    let (producer_cpu, (consumer_cpu, in_order)) = outcome?;
    Ok(Exchange {
        wall,
        producer_cpu,
        consumer_cpu,
        peak: buffer.lock().peak,
        in_order,
    })
}

/// The next item, or `None` once the producer is done and the buffer empty.
fn take(buffer: &Condition<Buffer>, how: Consumer) -> Option<u64> {
    let mut g = buffer.lock();
    loop {
        if let Some(item) = g.items.pop_front() {
            drop(g);
            buffer.notify_all();
            return Some(item);
        }
        if g.closed {
            return None;
        }
        match how {
            Consumer::Waits => g.wait(),
            Consumer::Polls => {
                drop(g);
                std::hint::spin_loop();
                g = buffer.lock();
            }
        }
    }
}

/// Starts a thread named `name` running `body`.
fn named<T: Send + 'static>(
    name: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, Unmeasured> {
    Thread::new(body)
        .name(name)
        .start()
        .map_err(|e| failed(format!("could not start a thread: {e}")))
}
