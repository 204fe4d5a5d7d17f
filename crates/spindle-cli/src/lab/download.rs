//! download: threads speed up I/O-bound work such as downloading images. A local web
//! server (loopback only, `download/server.rs`) serves generated images with a set
//! latency; they are fetched one after another, then by a pool of threads, into a
//! temporary folder, and the saved bytes are checked. `--urls FILE` fetches the
//! addresses listed in FILE instead (one per line).

mod server;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spindle::futures::ThreadPoolExecutor;
use spindle::thread::Thread;
use spindle::trace;

use super::measure::{failed, human, joined, plural, ratio, seconds, timed};
use super::report::chart::{Bar, Chart, Tone};
use super::{Experiment, Findings, Step, Unmeasured};
use server::{ImageServer, image_bytes};

pub const EXPERIMENT: Experiment = Experiment {
    name: "download",
    claim: "Downloading many images is I/O-bound: a pool of threads fetches them much faster \
            than one download after another, and the files saved are the same.",
    summary: "images from a local server (or --urls FILE): sequential vs a pool of 10",
    run,
};

/// Threads in the downloading pool.
const WORKERS: usize = 10;

/// What is downloaded: addresses, and the bytes each must have when they are known.
struct Source {
    urls: Vec<String>,
    expected: Option<Vec<Vec<u8>>>,
    /// Keeps the local server running while it is needed.
    _server: Option<ImageServer>,
}

fn run(step: &Step) -> Result<Findings, Unmeasured> {
    let scale = step.scale();
    let images = scale.pick(20, 10);
    let size = scale.pick(256 * 1024, 32 * 1024);
    let latency = scale.pick(Duration::from_millis(200), Duration::from_millis(40));
    let source = match step.urls() {
        Some(file) => from_file(file)?,
        None => {
            step.phase("starting a local image server");
            let server = ImageServer::start(images, size, latency, images)?;
            Source {
                urls: (0..images).map(|i| server.url(i)).collect(),
                expected: Some((0..images).map(|i| image_bytes(i, size)).collect()),
                _server: Some(server),
            }
        }
    };
    let local = source.expected.is_some();
    let timeout = if local {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(30)
    };
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    let folder = Folder::new()?;
    let n = source.urls.len();
    let jobs = |dir: &Path| -> Vec<Download> {
        source
            .urls
            .iter()
            .enumerate()
            .map(|(i, url)| Download {
                agent: agent.clone(),
                url: url.clone(),
                path: dir.join(file_name(i)),
            })
            .collect()
    };

    step.phase("one download after another");
    let sequential_dir = folder.sub("sequential")?;
    let one_by_one = jobs(&sequential_dir);
    let handle = Thread::new(move || {
        timed(|| {
            one_by_one
                .into_iter()
                .map(fetch)
                .collect::<Result<Vec<u64>, String>>()
        })
    })
    .name("downloads one by one")
    .start()
    .map_err(|e| failed(format!("could not start a thread: {e}")))?;
    let (fetched, sequential) = joined(handle, timeout * (n as u32 + 1))?;
    let sequential_bytes: u64 = fetched.map_err(failed)?.iter().sum();

    step.phase(format!("a pool of {WORKERS} threads"));
    let pool_dir = folder.sub("pool")?;
    let pooled_jobs = jobs(&pool_dir);
    let handle = Thread::new(move || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(WORKERS)
            .thread_name_prefix("downloader")
            .build();
        timed(|| {
            pool.map(fetch, pooled_jobs)
                .map(|r| r.map_err(|e| e.to_string()).and_then(|bytes| bytes))
                .collect::<Result<Vec<u64>, String>>()
        })
    })
    .name("maps over the pool")
    .start()
    .map_err(|e| failed(format!("could not start a thread: {e}")))?;
    let (fetched, pooled) = joined(handle, timeout * 4 + sequential * 2)?;
    let pool_bytes: u64 = fetched.map_err(failed)?.iter().sum();
    step.end_phase();

    let same = (0..source.urls.len()).all(|i| {
        let a = std::fs::read(sequential_dir.join(file_name(i))).ok();
        let b = std::fs::read(pool_dir.join(file_name(i))).ok();
        let expected = source.expected.as_ref().map(|e| &e[i]);
        a.is_some() && a == b && expected.is_none_or(|e| a.as_ref() == Some(e))
    });

    let speedup = sequential.as_secs_f64() / pooled.as_secs_f64();
    let what = if local {
        format!(
            "{n} images of {} KiB, {} latency (local server)",
            size / 1024,
            human(latency)
        )
    } else {
        format!("{} from --urls", plural(n, "file"))
    };
    let mut f = Findings::new();
    f.row(format!("{what}, one after another"), human(sequential));
    f.row(format!("{what}, a pool of {WORKERS}"), human(pooled));
    f.row("speed-up with the pool", format!("{speedup:.1}x"));
    f.row(
        "bytes saved, sequential / pool",
        format!("{sequential_bytes} / {pool_bytes}"),
    );
    f.row(
        "files identical (and as served)",
        if same { "yes" } else { "no" },
    );
    f.figure("source", if local { "local server" } else { "urls file" });
    f.figure("files", n);
    f.figure("pool_workers", WORKERS);
    if local {
        f.figure("image_bytes", size);
        f.figure("latency_s", seconds(latency));
    }
    f.figure("sequential_s", seconds(sequential));
    f.figure("pool_s", seconds(pooled));
    f.figure("speedup", ratio(speedup));
    f.figure("bytes", pool_bytes);
    f.figure("sequential_bytes", sequential_bytes);
    f.figure("bytes_match", same);

    f.chart(Chart::bars(
        format!("{}: wall time (shorter is faster)", plural(n, "download")),
        vec![
            Bar::new(
                "one after another",
                sequential.as_secs_f64(),
                human(sequential),
                Tone::Plain,
            ),
            Bar::new(
                format!("a pool of {WORKERS}"),
                pooled.as_secs_f64(),
                format!("{}, {speedup:.1}x faster", human(pooled)),
                Tone::Good,
            ),
        ],
    ));
    // Ideal locally: min(images, workers) times faster; "much faster" is at least 2x.
    f.check(
        "a pool of threads downloads much faster (at least 2x) than one after another",
        ratio(speedup) >= 2.0,
    );
    f.check(
        "and the files saved are the same",
        same && sequential_bytes == pool_bytes,
    );
    Ok(f.conclude(format!(
        "{} took {} one after another and {} with a pool of {WORKERS} \
             ({speedup:.1}x faster); the files {}",
        plural(n, "download"),
        human(sequential),
        human(pooled),
        if same { "match" } else { "differ" }
    )))
}

/// The addresses listed in `file`, one per line (blank lines and `#` comments skipped).
fn from_file(file: &Path) -> Result<Source, Unmeasured> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| failed(format!("could not read --urls {}: {e}", file.display())))?;
    let urls: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(failed(format!("--urls {} lists no URL", file.display())));
    }
    Ok(Source {
        urls,
        expected: None,
        _server: None,
    })
}

/// One file to download, and where to save it.
struct Download {
    agent: ureq::Agent,
    url: String,
    path: PathBuf,
}

/// Downloads a file and saves it; the number of bytes saved. The network wait is
/// marked as I/O, so that timelines do not draw it as CPU work.
fn fetch(job: Download) -> Result<u64, String> {
    let url = &job.url;
    let bytes = trace::blocking_io(&format!("GET {url}"), || {
        let response = job
            .agent
            .get(url)
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        let mut bytes = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{url}: {e}"))?;
        Ok::<_, String>(bytes)
    })?;
    trace::blocking_io(&format!("write {}", job.path.display()), || {
        std::fs::write(&job.path, &bytes)
    })
    .map_err(|e| format!("{}: {e}", job.path.display()))?;
    Ok(bytes.len() as u64)
}

fn file_name(i: usize) -> String {
    format!("image-{i:03}.bin")
}

/// A temporary folder for the downloads, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new() -> Result<Folder, Unmeasured> {
        let path =
            std::env::temp_dir().join(format!("spindle-lab-download-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| failed(format!("could not create {}: {e}", path.display())))?;
        Ok(Folder(path))
    }

    fn sub(&self, name: &str) -> Result<PathBuf, Unmeasured> {
        let path = self.0.join(name);
        std::fs::create_dir_all(&path)
            .map_err(|e| failed(format!("could not create {}: {e}", path.display())))?;
        Ok(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
