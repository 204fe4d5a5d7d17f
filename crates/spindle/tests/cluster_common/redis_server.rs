//! A throwaway `redis-server` for one test: on a free loopback port, persistence off,
//! in a temporary directory, killed and removed when dropped; plain or TLS only.
//!
//! A machine without `redis-server`, or with one built without TLS for a TLS test,
//! fails the test with how to install one: these tests are never skipped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What to say when `redis-server` is missing.
pub const INSTALL_HINT: &str = "these tests need redis-server (Redis 6.2 or later) on the \
     PATH: on Debian or Ubuntu, `apt-get install redis-server` (or run `scripts/test`, \
     which installs it)";

/// What to say when `redis-server` will not start with TLS.
pub const TLS_HINT: &str = "the TLS tests need a redis-server built with TLS: Debian's and \
     Ubuntu's redis-server package (6.0 or later) is; a build from source needs `make \
     BUILD_TLS=yes`";

/// A running `redis-server`.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    password: Option<String>,
    tls: bool,
}

/// The PEM files of a TLS server: its certificate and key, and the CA it names (which
/// Redis requires even when clients need no certificate).
pub struct ServerTls {
    pub certificate: String,
    pub key: String,
    pub ca: String,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        RedisServer::start_with(None, None)
    }

    /// Starts a server that requires `password`.
    pub fn with_password(password: &str) -> RedisServer {
        RedisServer::start_with(Some(password), None)
    }

    /// Starts a server that speaks only TLS, with `tls`'s certificate (clients show
    /// none), requiring `password` if one is given.
    pub fn with_tls(tls: &ServerTls, password: Option<&str>) -> RedisServer {
        RedisServer::start_with(password, Some(tls))
    }

    fn start_with(password: Option<&str>, tls: Option<&ServerTls>) -> RedisServer {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spindle-redis-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut extra: Vec<String> = Vec::new();
        if let Some(pw) = password {
            extra.extend(["--requirepass".to_owned(), pw.to_owned()]);
        }
        if let Some(tls) = tls {
            for (flag, file, pem) in [
                ("--tls-cert-file", "server.pem", &tls.certificate),
                ("--tls-key-file", "server.key", &tls.key),
                ("--tls-ca-cert-file", "ca.pem", &tls.ca),
            ] {
                std::fs::write(dir.join(file), pem).unwrap();
                extra.extend([flag.to_owned(), dir.join(file).display().to_string()]);
            }
            extra.extend(["--tls-auth-clients".to_owned(), "no".to_owned()]);
        }
        let mut last_words = String::new();
        // A port the kernel just handed out and took back: free, barring a race with
        // another program, which the retry below absorbs.
        for _ in 0..5 {
            let port = free_port();
            let listen = match tls {
                None => ["--port".to_owned(), port.to_string()],
                // The plain port closed, the TLS one open.
                Some(_) => ["--port".to_owned(), "0".to_owned()],
            };
            let tls_listen = match tls {
                None => vec![],
                Some(_) => vec!["--tls-port".to_owned(), port.to_string()],
            };
            let child = Command::new("redis-server")
                .args(listen)
                .args(tls_listen)
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(["--logfile", "redis.log", "--daemonize", "no"])
                .args(&extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn();
            let child = match child {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    panic!("redis-server is not installed: {INSTALL_HINT}")
                }
                Err(e) => panic!("cannot start redis-server: {e}"),
            };
            let mut server = RedisServer {
                child,
                port,
                dir: dir.clone(),
                password: password.map(str::to_owned),
                tls: tls.is_some(),
            };
            if server.wait_ready() {
                return server;
            }
            last_words = server.stop_and_read_stderr();
        }
        let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
        if tls.is_some() {
            panic!(
                "redis-server did not start with TLS: {TLS_HINT}.\nIts errors: \
                 {last_words}\nIts log: {log}"
            );
        }
        panic!("redis-server did not start.\nIts errors: {last_words}\nIts log: {log}");
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://` for a TLS server (with the password, if
    /// any).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        match &self.password {
            Some(pw) => format!("{scheme}://:{pw}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory the server (and the test) may write to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// SIGKILLs the server, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server (if it still runs) and returns what it wrote to stderr.
    fn stop_and_read_stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }

    /// Polls `PING` until the server answers (for a TLS server, until its port accepts
    /// connections), for at most 5 s; false if the server exited (its port was taken,
    /// or it cannot serve TLS) or never answered.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if self.ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        if self.tls {
            // The TLS port listens once the server has loaded its certificates.
            return true;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let cmd = match &self.password {
            Some(pw) => format!(
                "*2\r\n$4\r\nAUTH\r\n${}\r\n{pw}\r\n*1\r\n$4\r\nPING\r\n",
                pw.len()
            ),
            None => "*1\r\n$4\r\nPING\r\n".to_owned(),
        };
        if s.write_all(cmd.as_bytes()).is_err() {
            return false;
        }
        let mut reply = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
            if reply.windows(4).any(|w| w == b"PONG") {
                return true;
            }
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on (the kernel's pick, released at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
