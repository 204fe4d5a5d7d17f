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
use spindle::thread;

use super::measure::{human, joined, ratio, seconds, timed};
use super::{Experiment, Failed, Findings, Step};
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

fn run(step: &Step<'_>) -> Result<Findings, Failed> {
    let scale = step.scale();
    let images = scale.pick(20, 10);
    let size = scale.pick(256 * 1024, 32 * 1024);
    let latency = scale.pick(Duration::from_millis(200), Duration::from_millis(40));
    let source = match step.urls() {
        Some(file) => from_file(file)?,
        None => {
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

    step.show("one download after another");
    let sequential_dir = folder.sub("sequential")?;
    let (fetched, sequential) = timed(|| {
        source
            .urls
            .iter()
            .enumerate()
            .map(|(i, url)| fetch(&agent, url, &sequential_dir.join(file_name(i))))
            .collect::<Result<Vec<u64>, String>>()
    });
    let sequential_bytes: u64 = fetched.map_err(Failed)?.iter().sum();

    step.show("a pool of threads");
    let pool_dir = folder.sub("pool")?;
    let (urls, pool_agent, dir) = (source.urls.clone(), agent.clone(), pool_dir.clone());
    let pooled = thread::spawn(move || {
        let pool = ThreadPoolExecutor::new(WORKERS);
        timed(|| {
            pool.map(
                move |(i, url): (usize, String)| fetch(&pool_agent, &url, &dir.join(file_name(i))),
                urls.into_iter().enumerate(),
            )
            .map(|r| r.map_err(|e| e.to_string()).and_then(|bytes| bytes))
            .collect::<Result<Vec<u64>, String>>()
        })
    });
    let (fetched, pooled) = joined(pooled, timeout * 4 + sequential * 2)?;
    let pool_bytes: u64 = fetched.map_err(Failed)?.iter().sum();

    let same = (0..source.urls.len()).all(|i| {
        let a = std::fs::read(sequential_dir.join(file_name(i))).ok();
        let b = std::fs::read(pool_dir.join(file_name(i))).ok();
        let expected = source.expected.as_ref().map(|e| &e[i]);
        a.is_some() && a == b && expected.is_none_or(|e| a.as_ref() == Some(e))
    });

    let speedup = sequential.as_secs_f64() / pooled.as_secs_f64();
    let n = source.urls.len();
    let what = if local {
        format!(
            "{n} images of {} KiB, {} latency (local server)",
            size / 1024,
            human(latency)
        )
    } else {
        format!("{n} files from --urls")
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
    f.figure("bytes_match", same);

    // Ideal locally: min(images, workers) times faster; "much faster" is at least 2x.
    let holds = same && sequential_bytes == pool_bytes && speedup >= 2.0;
    Ok(f.conclude(
        holds,
        format!(
            "{n} downloads took {} one after another and {} with a pool of {WORKERS} \
             ({speedup:.1}x faster); the files {}",
            human(sequential),
            human(pooled),
            if same { "match" } else { "differ" }
        ),
    ))
}

/// The addresses listed in `file`, one per line (blank lines and `#` comments skipped).
fn from_file(file: &Path) -> Result<Source, Failed> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failed(format!("could not read {}: {e}", file.display())))?;
    let urls: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(Failed(format!("{} lists no URL", file.display())));
    }
    Ok(Source {
        urls,
        expected: None,
        _server: None,
    })
}

/// Downloads `url` into `path`; the number of bytes saved.
fn fetch(agent: &ureq::Agent, url: &str, path: &Path) -> Result<u64, String> {
    let response = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{url}: {e}"))?;
    std::fs::write(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes.len() as u64)
}

fn file_name(i: usize) -> String {
    format!("image-{i:03}.bin")
}

/// A temporary folder for the downloads, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new() -> Result<Folder, Failed> {
        let path =
            std::env::temp_dir().join(format!("spindle-lab-download-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| Failed(format!("could not create {}: {e}", path.display())))?;
        Ok(Folder(path))
    }

    fn sub(&self, name: &str) -> Result<PathBuf, Failed> {
        let path = self.0.join(name);
        std::fs::create_dir_all(&path)
            .map_err(|e| Failed(format!("could not create {}: {e}", path.display())))?;
        Ok(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
