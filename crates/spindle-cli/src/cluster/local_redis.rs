//! A throwaway `redis-server` on a free loopback port, persistence off, in a temporary
//! directory; killed and removed when dropped (or when the thread that started it ends).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::child;

/// How to get `redis-server` when it is missing.
pub const INSTALL_HINT: &str = "apt-get install redis-server (Debian, Ubuntu)";

pub struct LocalRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// Why no server could be started.
pub enum NoServer {
    /// `redis-server` is not on the PATH.
    NotInstalled,
    /// It is, but did not start.
    Failed(String),
}

impl LocalRedis {
    pub fn start() -> Result<LocalRedis, NoServer> {
        let dir = std::env::temp_dir().join(format!("spindle-demo-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| NoServer::Failed(e.to_string()))?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| NoServer::Failed(e.to_string()))?
                .port();
            let child = child::owned_by_this_thread(&mut Command::new("redis-server"))
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(["--logfile", "redis.log"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match child {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(NoServer::NotInstalled);
                }
                Err(e) => return Err(NoServer::Failed(e.to_string())),
            };
            let mut server = LocalRedis {
                child,
                port,
                dir: dir.clone(),
            };
            if server.wait_ready() {
                return Ok(server);
            }
            last = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
        }
        Err(NoServer::Failed(format!(
            "redis-server did not start: {last}"
        )))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Until the server answers (status reads it), for at most 5 s.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if spindle::cluster::status(&self.url(), None).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
