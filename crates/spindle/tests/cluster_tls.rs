//! The cluster over `rediss://` (TLS), against a `redis-server` that speaks only TLS,
//! with certificates the test makes itself: tasks run with `#insecure` (no certificate
//! check) and with the certificate checked against a trusted authority; a certificate
//! from an authority nobody trusts, a plain connection to the TLS port and a TLS one to
//! a plain port each fail within 5 s with an error naming the URL; a password travels
//! inside TLS. A `harness = false` test; needs the feature `cluster`.
//!
//! The authority this process trusts is given as a user would give theirs: the redis
//! crate reads its root certificates with rustls-native-certs, which takes the file
//! named by `SSL_CERT_FILE`.

#[path = "common/cases.rs"]
mod cases;
mod cluster_common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cluster_common::tls::TestCa;
use cluster_common::*;
use spindle::cluster::{ClusterError, ClusterExecutor, Worker};

const LEASE: Duration = Duration::from_secs(2);
/// API.md: connecting where nothing (useful) answers fails within 5 s.
const CONNECT_BOUND: Duration = Duration::from_secs(5);

/// The authority this process and its workers trust (`SSL_CERT_FILE`).
static TRUSTED: OnceLock<TestCa> = OnceLock::new();

fn trusted() -> &'static TestCa {
    TRUSTED.get().expect("main made the trusted authority")
}

fn executor(url: &str, pool: &str) -> ClusterExecutor {
    ClusterExecutor::builder(url)
        .pool(pool)
        .lease(LEASE)
        .build()
        .unwrap()
}

/// `url` with the certificate check off.
fn insecure(url: &str) -> String {
    format!("{url}/#insecure")
}

/// What connecting an executor to `url` says, checked to come within the bound as an
/// `Unreachable` naming the URL (with its password hidden, `shown`).
fn refused(url: &str, shown: &str) -> String {
    let started = Instant::now();
    let err = ClusterExecutor::connect(url).unwrap_err();
    let took = started.elapsed();
    assert!(took < CONNECT_BOUND, "{url}: refused after {took:?}: {err}");
    assert!(matches!(err, ClusterError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(shown), "{text}");
    text
}

fn tasks_run_over_tls_with_insecure_and_any_certificate() {
    // A server whose authority no one here trusts: `#insecure` checks nothing.
    let stranger = TestCa::new("an authority nobody trusts");
    let server = RedisServer::with_tls(&stranger.server_tls(), None);
    let url = insecure(&server.url());
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");
    let worker = WorkerProcess::start(&url, "tls", 2, LEASE);
    let cluster = executor(&url, "tls");
    assert_eq!(get(cluster.submit(SQUARE, 7)), Ok(49));
    let squares: Vec<u64> = cluster.map(SQUARE, 0..20u64).map(Result::unwrap).collect();
    assert_eq!(squares, (0..20u64).map(|n| n * n).collect::<Vec<_>>());
    let status = pool_status(&url, "tls");
    assert_eq!((status.done, status.submitted), (21, 21), "{status:?}");
    assert_eq!(status.workers[0].pid, u64::from(worker.pid()));
}

fn the_certificate_is_checked_without_insecure() {
    // Signed by the trusted authority, for 127.0.0.1: accepted, checked.
    let server = RedisServer::with_tls(&trusted().server_tls(), None);
    let url = server.url();
    let _worker = WorkerProcess::start(&url, "checked", 1, LEASE);
    let cluster = executor(&url, "checked");
    assert_eq!(get(cluster.submit(SQUARE, 8)), Ok(64));

    // Signed by another authority: refused, saying why; taken with `#insecure`.
    let stranger = TestCa::new("an authority nobody trusts");
    let other = RedisServer::with_tls(&stranger.server_tls(), None);
    let text = refused(&other.url(), &other.url());
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    ClusterExecutor::connect(&insecure(&other.url())).unwrap();
}

fn a_plain_connection_to_the_tls_port_fails_within_5s_naming_the_url() {
    let server = RedisServer::with_tls(&trusted().server_tls(), None);
    let plain = format!("redis://127.0.0.1:{}", server.port());
    let text = refused(&plain, &plain);
    assert!(
        text.contains("if it speaks TLS, its URL is rediss://"),
        "{text}"
    );
    let started = Instant::now();
    let err = Worker::connect(&plain).unwrap_err();
    assert!(started.elapsed() < CONNECT_BOUND, "{err}");
    assert!(err.to_string().contains(&plain), "{err}");

    // And the other way round: TLS to a port that speaks plain Redis, which waits for
    // the rest of what it takes for a command until the connect timeout.
    let plain_server = RedisServer::start();
    let tls = insecure(&format!("rediss://127.0.0.1:{}", plain_server.port()));
    let text = refused(&tls, &tls);
    assert!(text.contains("its URL is redis://"), "{text}");
}

fn a_password_in_the_url_travels_inside_tls() {
    let server = RedisServer::with_tls(&trusted().server_tls(), Some("s3cret"));
    let url = server.url();
    assert!(url.starts_with("rediss://:s3cret@"), "{url}");
    let _worker = WorkerProcess::start(&url, "pw", 1, LEASE);
    let cluster = executor(&url, "pw");
    assert_eq!(get(cluster.submit(SQUARE, 9)), Ok(81));
    assert!(!cluster.url().contains("s3cret"), "{}", cluster.url());

    let port = server.port();
    let wrong = format!("rediss://:wrong@127.0.0.1:{port}");
    let text = refused(&wrong, &format!("rediss://:***@127.0.0.1:{port}"));
    assert!(!text.contains("wrong"), "{text}");
    refused(
        &format!("rediss://127.0.0.1:{port}"),
        &format!("rediss://127.0.0.1:{port}"),
    );
}

const CASES: &[cases::Case] = &[
    (
        "tasks_run_over_tls_with_insecure_and_any_certificate",
        tasks_run_over_tls_with_insecure_and_any_certificate,
    ),
    (
        "the_certificate_is_checked_without_insecure",
        the_certificate_is_checked_without_insecure,
    ),
    (
        "a_plain_connection_to_the_tls_port_fails_within_5s_naming_the_url",
        a_plain_connection_to_the_tls_port_fails_within_5s_naming_the_url,
    ),
    (
        "a_password_in_the_url_travels_inside_tls",
        a_password_in_the_url_travels_inside_tls,
    ),
];

const CASE_LIMIT: Duration = Duration::from_secs(90);

/// Makes a new authority, and has this process and every worker it starts trust it
/// (through `SSL_CERT_FILE`, which the workers inherit): the file's path.
fn trust_a_new_authority() -> PathBuf {
    let ca = TestCa::new("spindle test authority");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("spindle-cluster-tls-ca-{}.pem", std::process::id()));
    std::fs::write(&path, ca.certificate_pem()).unwrap();
    // SAFETY: main calls this before any thread starts: nothing reads the environment
    // while it changes.
    unsafe { std::env::set_var("SSL_CERT_FILE", &path) };
    assert!(TRUSTED.set(ca).is_ok(), "one authority per run");
    path
}

fn main() {
    spindle::process::init();
    serve_if_worker();
    let authority = trust_a_new_authority();
    cases::run(CASES, CASE_LIMIT, || {});
    let _ = std::fs::remove_file(authority);
}
