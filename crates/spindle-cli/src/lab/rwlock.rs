//! rwlock: readers share an RwLock, so a read-heavy workload gets through more reads per
//! second than under a Mutex; and a writer still gets its turn while readers keep
//! coming (spindle's RwLock lets no new reader in once a writer waits).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::sync::{Barrier, Mutex, RwLock};
use spindle::thread::{self, JoinHandle, Thread};

use super::measure::{failed, human, joined, plural, ratio, seconds, timed};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};

pub const EXPERIMENT: Experiment = Experiment {
    name: "rwlock",
    claim: "For a read-heavy workload an RwLock gives more throughput than a Mutex, since \
            readers hold it together; and a writer is not starved by a stream of readers.",
    summary: "4 readers and a writer: RwLock vs Mutex reads per second; the writer's waits",
    run,
};

const READERS: usize = 4;
const HANG_LIMIT: Duration = Duration::from_secs(60);
/// Each lock runs the workload this many times, alternately; the fastest run counts.
const RUNS: usize = 2;

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let reads: usize = step.scale().pick(200, 100);
    let hold = Duration::from_millis(1);
    let write_every = Duration::from_millis(5);
    let mut f = Findings::new();

    // Alternating the two and keeping each one's fastest run leaves out the moments
    // when other programs held the CPU.
    let (mut rw, mut mx): (Option<Load>, Option<Load>) = (None, None);
    for round in 1..=RUNS {
        step.phase(format!(
            "run {round}: {READERS} readers and a writer on an RwLock"
        ));
        let table = Arc::new(RwLock::named("table", vec![0u64; 64]));
        rw = Some(Load::faster(rw, workload(table, reads, hold, write_every)?));
        step.phase(format!(
            "run {round}: {READERS} readers and a writer on a Mutex"
        ));
        let table = Arc::new(Mutex::named("table", vec![0u64; 64]));
        mx = Some(Load::faster(mx, workload(table, reads, hold, write_every)?));
    }
    step.end_phase();
    let (rw, mx) = (rw.expect("at least one run"), mx.expect("at least one run"));

    let gain = rw.reads_per_second() / mx.reads_per_second();
    let work = format!(
        "{READERS} readers x {reads} reads holding the lock {}, a write every {}",
        human(hold),
        human(write_every)
    );
    for (kind, load) in [("RwLock", &rw), ("Mutex", &mx)] {
        f.row(
            format!("{work}: {kind}"),
            format!(
                "{:.0} reads/s, up to {} at once; {} while reading, longest write wait {}",
                load.reads_per_second(),
                plural(load.peak_readers, "reader"),
                plural(load.writes_during_reads, "write"),
                human(load.writer_max_wait)
            ),
        );
    }
    f.row(
        "RwLock throughput / Mutex throughput",
        format!("{gain:.2}x"),
    );

    f.figure("readers", READERS);
    f.figure("rwlock_reads_per_s", rw.reads_per_second().round());
    f.figure("mutex_reads_per_s", mx.reads_per_second().round());
    f.figure("rwlock_gain", ratio(gain));
    f.figure("rwlock_peak_readers", rw.peak_readers);
    f.figure("mutex_peak_readers", mx.peak_readers);
    f.figure("rwlock_writes_while_reading", rw.writes_during_reads);
    f.figure("rwlock_writer_max_wait_s", seconds(rw.writer_max_wait));
    f.figure("rwlock_reading_s", seconds(rw.wall));

    // Readers overlapping is the whole point; a starved writer would get no write in
    // before the readers ran out (a write is due every 5 ms of a run of 50 ms or more).
    f.chart(Chart::bars(
        "reads per second, read-heavy (longer is better)",
        vec![
            Bar::new(
                "RwLock",
                rw.reads_per_second(),
                format!("{:.0} reads/s, {:.2}x", rw.reads_per_second(), ratio(gain)),
                Tone::Good,
            ),
            Bar::new(
                "Mutex",
                mx.reads_per_second(),
                format!("{:.0} reads/s", mx.reads_per_second()),
                Tone::Plain,
            ),
        ],
    ));
    f.check(
        "readers share an RwLock: it serves more reads per second than a Mutex",
        ratio(gain) >= 1.5 && rw.peak_readers >= 2 && mx.peak_readers == 1,
    );
    f.check(
        "a writer is not starved by a stream of readers",
        rw.writes_during_reads >= 3,
    );
    Ok(f.conclude(format!(
        "the RwLock served {gain:.2}x the reads per second of a Mutex (up to {} at once); \
             the writer wrote {} while readers kept reading, waiting at most {}",
        plural(rw.peak_readers, "reader"),
        plural(rw.writes_during_reads, "time"),
        human(rw.writer_max_wait)
    )))
}

/// A lock around shared data, taken to read or to write.
trait Shared: Send + Sync + 'static {
    fn read_with(&self, f: impl FnOnce(&[u64]));
    fn write_with(&self, f: impl FnOnce(&mut Vec<u64>));
}

impl Shared for RwLock<Vec<u64>> {
    fn read_with(&self, f: impl FnOnce(&[u64])) {
        f(&self.read());
    }
    fn write_with(&self, f: impl FnOnce(&mut Vec<u64>)) {
        f(&mut self.write());
    }
}

impl Shared for Mutex<Vec<u64>> {
    fn read_with(&self, f: impl FnOnce(&[u64])) {
        f(&self.lock());
    }
    fn write_with(&self, f: impl FnOnce(&mut Vec<u64>)) {
        f(&mut self.lock());
    }
}

/// What one read-heavy run measured.
struct Load {
    reads: usize,
    wall: Duration,
    peak_readers: usize,
    writes_during_reads: usize,
    writer_max_wait: Duration,
}

impl Load {
    /// The faster of two runs.
    fn faster(best: Option<Load>, run: Load) -> Load {
        match best {
            Some(best) if best.wall <= run.wall => best,
            _ => run,
        }
    }

    fn reads_per_second(&self) -> f64 {
        self.reads as f64 / self.wall.as_secs_f64()
    }
}

/// `READERS` threads each read `reads` times, holding the lock `hold` per read (a slow
/// lookup), while one writer asks to write every `write_every` until they are done.
fn workload<S: Shared>(
    shared: Arc<S>,
    reads: usize,
    hold: Duration,
    write_every: Duration,
) -> Result<Load, Unmeasured> {
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let readers_done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(READERS + 1));

    let writer = {
        let (shared, done, start) = (shared.clone(), readers_done.clone(), start.clone());
        named("writer", move || {
            start.wait().expect("the start barrier is never broken");
            let (mut writes, mut longest) = (0, Duration::ZERO);
            while !done.load(Ordering::SeqCst) {
                thread::sleep(write_every);
                let asked = Instant::now();
                shared.write_with(|data| data[0] += 1);
                longest = longest.max(asked.elapsed());
                if !done.load(Ordering::SeqCst) {
                    writes += 1;
                }
            }
            (writes, longest)
        })?
    };
    let (read, wall) = timed(|| {
        let readers = (1..=READERS)
            .map(|i| {
                let (shared, inside, peak, start) =
                    (shared.clone(), inside.clone(), peak.clone(), start.clone());
                named(&format!("reader {i}"), move || {
                    start.wait().expect("the start barrier is never broken");
                    for _ in 0..reads {
                        shared.read_with(|data| {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            thread::sleep(hold);
                            black_box(data.iter().sum::<u64>());
                            inside.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        readers.into_iter().try_for_each(|r| joined(r, HANG_LIMIT))
    });
    // Tell the writer to stop even if a reader failed, so that it does not run on.
    readers_done.store(true, Ordering::SeqCst);
    let written = joined(writer, HANG_LIMIT);
    read?;
    let (writes_during_reads, writer_max_wait) = written?;
    Ok(Load {
        reads: READERS * reads,
        wall,
        peak_readers: peak.load(Ordering::SeqCst),
        writes_during_reads,
        writer_max_wait,
    })
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
