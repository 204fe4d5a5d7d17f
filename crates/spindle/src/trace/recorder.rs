// Layer 7 (detection's public face, trace recording): stands on the primitives and the thread API below it.
//! Recording every trace event of every thread, cheaply, to look at afterwards.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use thread_local::ThreadLocal;

use super::event::{EventKind, TraceEvent};
use super::hook::{self, Hook};
use super::spans::{self, Spans};
use super::{Timeline, chrome};

/// Records what every thread does while it runs: the trace hook, collecting every event
/// into a buffer per thread (so recording threads do not contend), to export as Chrome
/// trace-event JSON (open it in [Perfetto](https://ui.perfetto.dev) or `chrome://tracing`)
/// or to draw as a [`Timeline`].
///
/// There is one trace hook per process: [`start`](Recorder::start) replaces any hook set
/// with [`set_hook`](super::set_hook) (or by another recorder), and a later `set_hook`
/// ends this recording. [`stop`](Recorder::stop), or dropping the recorder, removes its
/// hook (and leaves alone a hook set since).
///
/// The recording begins with each live thread's state at the start, so that a thread
/// already blocked when recording began shows as blocked from the first moment.
///
/// # Cost
///
/// Recording an event is a push onto the recording thread's own buffer: about 60 ns on
/// top of emitting it (`benches/trace.rs` measures both), and about 50 bytes kept until
/// the recorder is dropped. Threads never wait for one another to record.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Mutex;
/// use spindle::thread::{self, Thread};
/// use spindle::trace::Recorder;
///
/// let recorder = Recorder::start();
/// let total = Arc::new(Mutex::named("total", 0));
/// let workers: Vec<_> = (0..2)
///     .map(|i| {
///         let total = Arc::clone(&total);
///         Thread::new(move || *total.lock() += 1).name(format!("adder-{i}")).start().unwrap()
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// recorder.stop();
///
/// let json = recorder.to_chrome_json(); // save it, open it in Perfetto
/// assert!(json.contains("\"adder-0\""));
/// let timeline = recorder.timeline();
/// assert!(timeline.rows.iter().any(|r| r.name == "adder-1"));
/// ```
pub struct Recorder {
    shared: Arc<Shared>,
    /// The hook as installed, to remove it only if it is still ours.
    hook: Hook,
    /// Every live thread's state when recording began.
    initial: Vec<TraceEvent>,
}

/// What the recording threads and the recorder share.
struct Shared {
    origin: Instant,
    buffers: ThreadLocal<Mutex<Buffer>>,
    recording: AtomicBool,
    stopped_at: OnceLock<Instant>,
}

/// The events recorded on one `ThreadLocal` slot: one run per thread that used it (the
/// slot of a thread that ended is handed to the next new thread).
#[derive(Default)]
struct Buffer {
    runs: Vec<Run>,
}

/// One thread's events. The thread is named once, not in every event, and each event
/// keeps its time as nanoseconds since the recording began: half the memory of a
/// `TraceEvent`, and memory is most of what recording costs (fresh pages to fault in).
struct Run {
    thread_id: u64,
    thread_name: Arc<str>,
    events: Vec<(u64, EventKind)>,
}

impl Shared {
    /// The hook's body, on the thread the event happened on: one push to its own buffer.
    fn record(&self, event: &TraceEvent) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let since_origin = event.time.saturating_duration_since(self.origin).as_nanos();
        let at = u64::try_from(since_origin).unwrap_or(u64::MAX);
        let mut buffer = self.buffers.get_or(Mutex::default).lock();
        match buffer.runs.last_mut() {
            Some(run) if run.thread_id == event.thread_id => {
                run.events.push((at, event.kind.clone()))
            }
            _ => buffer.runs.push(Run {
                thread_id: event.thread_id,
                thread_name: Arc::clone(&event.thread_name),
                events: vec![(at, event.kind.clone())],
            }),
        }
    }

    /// The events recorded in `buffer`, as the hook heard them.
    fn events_of<'a>(&'a self, buffer: &'a Buffer) -> impl Iterator<Item = TraceEvent> + 'a {
        buffer.runs.iter().flat_map(move |run| {
            run.events.iter().map(move |(at, kind)| TraceEvent {
                time: self.origin + Duration::from_nanos(*at),
                thread_id: run.thread_id,
                thread_name: Arc::clone(&run.thread_name),
                kind: kind.clone(),
            })
        })
    }
}

impl Recorder {
    /// Starts recording, as the process's trace hook (replacing any hook set before).
    ///
    /// ```
    /// let recorder = spindle::trace::Recorder::start();
    /// spindle::thread::sleep(std::time::Duration::from_millis(1));
    /// recorder.stop();
    /// assert!(!recorder.events().is_empty());
    /// ```
    #[must_use = "dropping the recorder stops it at once"]
    pub fn start() -> Recorder {
        let shared = Arc::new(Shared {
            origin: Instant::now(),
            buffers: ThreadLocal::new(),
            recording: AtomicBool::new(true),
            stopped_at: OnceLock::new(),
        });
        let listener = Arc::clone(&shared);
        let hook: Hook = Arc::new(move |event: &TraceEvent| listener.record(event));
        hook::set_shared_hook(Arc::clone(&hook));
        // Read after the hook is in place: a change in between shows up as an event too.
        let initial = crate::thread::enumerate()
            .into_iter()
            .map(|t| TraceEvent {
                time: shared.origin,
                thread_id: t.id(),
                thread_name: t.name().into(),
                kind: EventKind::State {
                    state: t.state(),
                    waiting_on: t.waiting_on().map(Arc::from),
                },
            })
            .collect();
        Recorder {
            shared,
            hook,
            initial,
        }
    }

    /// Stops recording and removes the recorder's hook (unless another hook replaced it
    /// meanwhile). What was recorded stays readable. Stopping again does nothing.
    ///
    /// ```
    /// let recorder = spindle::trace::Recorder::start();
    /// recorder.stop();
    /// let before = recorder.events().len();
    /// spindle::thread::spawn(|| ()).join().unwrap();
    /// assert_eq!(recorder.events().len(), before);
    /// ```
    pub fn stop(&self) {
        self.shared.recording.store(false, Ordering::Relaxed);
        self.shared.stopped_at.get_or_init(Instant::now);
        hook::clear_hook_if(&self.hook);
    }

    /// Every event recorded so far, of all threads, in time order (each thread's own
    /// events in the order they happened). The first ones give each thread's state when
    /// the recording started.
    ///
    /// ```
    /// use spindle::trace::{EventKind, Recorder};
    ///
    /// let recorder = Recorder::start();
    /// let h = spindle::thread::Thread::new(|| ()).name("brief").start().unwrap();
    /// h.join().unwrap();
    /// recorder.stop();
    /// let brief: Vec<_> = recorder
    ///     .events()
    ///     .into_iter()
    ///     .filter(|e| &*e.thread_name == "brief")
    ///     .map(|e| e.kind)
    ///     .collect();
    /// assert_eq!(brief.first(), Some(&EventKind::ThreadStart));
    /// assert_eq!(brief.last(), Some(&EventKind::ThreadEnd));
    /// ```
    pub fn events(&self) -> Vec<TraceEvent> {
        let mut events = self.initial.clone();
        for buffer in self.shared.buffers.iter() {
            events.extend(self.shared.events_of(&buffer.lock()));
        }
        // Stable: events of one thread at one instant keep their order.
        events.sort_by_key(|e| e.time);
        events
    }

    /// The recording as Chrome trace-event JSON, which Perfetto (<https://ui.perfetto.dev>)
    /// and `chrome://tracing` open: a track per thread named after it, a span (`"ph": "X"`)
    /// per state the thread was in (`"args": {"waiting_on": ...}` for the waits) and per
    /// task it ran, and a moment (`"ph": "i"`) for each thread start and end, lock acquired
    /// after waiting (`"args": {"lock": ..., "waited_us": ...}`) and task submitted. Times
    /// are microseconds since the recording started; spans still open end when the
    /// recording stopped (or now, if it runs).
    ///
    /// ```
    /// use spindle::trace::Recorder;
    ///
    /// let recorder = Recorder::start();
    /// spindle::thread::sleep(std::time::Duration::from_millis(1));
    /// recorder.stop();
    /// let json = recorder.to_chrome_json();
    /// assert!(json.contains("\"name\":\"TimedWaiting\""));
    /// assert!(json.contains("\"thread_name\""));
    /// ```
    pub fn to_chrome_json(&self) -> String {
        chrome::to_json(&self.spans()).to_string()
    }

    /// Writes [`to_chrome_json`](Recorder::to_chrome_json) to a file.
    ///
    /// ```
    /// let recorder = spindle::trace::Recorder::start();
    /// recorder.stop();
    /// let path = std::env::temp_dir().join(format!("spindle-doc-{}.json", std::process::id()));
    /// recorder.write_chrome_json(&path).unwrap();
    /// assert!(std::fs::read_to_string(&path).unwrap().contains("traceEvents"));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn write_chrome_json(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.to_chrome_json())
    }

    /// The recording as a [`Timeline`]: the same rows and spans
    /// [`Timeline::from_chrome_json`] reads back from [`to_chrome_json`](Recorder::to_chrome_json).
    ///
    /// ```
    /// use spindle::trace::Recorder;
    ///
    /// let recorder = Recorder::start();
    /// spindle::thread::sleep(std::time::Duration::from_millis(1));
    /// recorder.stop();
    /// let me = spindle::thread::current().name();
    /// let timeline = recorder.timeline();
    /// let row = timeline.rows.iter().find(|r| r.name == me).unwrap();
    /// assert!(row.states.iter().any(|s| s.label == "TimedWaiting"));
    /// ```
    pub fn timeline(&self) -> Timeline {
        Timeline::from_spans(&self.spans())
    }

    fn spans(&self) -> Spans {
        let end = self
            .shared
            .stopped_at
            .get()
            .copied()
            .unwrap_or_else(Instant::now);
        spans::build(&self.events(), self.shared.origin, end)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let recorded: usize = (self.shared.buffers.iter())
            .map(|b| b.lock().runs.iter().map(|r| r.events.len()).sum::<usize>())
            .sum();
        f.debug_struct("Recorder")
            .field("recording", &self.shared.recording.load(Ordering::Relaxed))
            .field("events", &(self.initial.len() + recorded))
            .finish()
    }
}
