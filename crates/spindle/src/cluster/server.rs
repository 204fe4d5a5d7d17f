// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The Redis server a pool lives on: its URL (shown with the password hidden),
//! connections with bounded waits, and the version check.

use std::time::Duration;

use redis::{Client, Connection};

use super::error::ClusterError;

/// How long connecting may take before `connect` gives up: API.md promises an error
/// within 5 s, and this leaves room for a loaded machine.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// The longest an ordinary command may wait for its reply: past it the connection
/// counts as lost (a stopped server or a cut network), never a hang.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A server's address and how to reach it.
#[derive(Clone)]
pub(crate) struct Server {
    client: Client,
    /// The URL as errors and status show it: the password replaced by `***`.
    shown: String,
    /// Whether the URL asks for TLS (`rediss://`, `valkeys://`).
    tls: bool,
}

impl Server {
    /// Parses `url`; connects to nothing yet.
    pub(crate) fn open(url: &str) -> Result<Server, ClusterError> {
        let shown = redact(url);
        let client = Client::open(url).map_err(|e| ClusterError::InvalidUrl {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        let tls = url.starts_with("rediss://") || url.starts_with("valkeys://");
        Ok(Server { client, shown, tls })
    }

    /// The URL, its password hidden.
    pub(crate) fn url(&self) -> &str {
        &self.shown
    }

    /// A new connection, within [`CONNECT_TIMEOUT`]; its replies bounded by
    /// [`REPLY_TIMEOUT`].
    ///
    /// The attempt runs on a helper thread: the client's own connect timeout bounds
    /// each step of its handshake, not the whole (a listener that accepts and never
    /// answers held it for twice the timeout). A late attempt ends by itself.
    pub(crate) fn connect(&self) -> Result<Connection, ClusterError> {
        let unreachable = |reason: String| ClusterError::Unreachable {
            url: self.shown.clone(),
            reason,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let client = self.client.clone();
        std::thread::Builder::new()
            .name("cluster-connect".to_owned())
            .spawn(move || {
                let _ = tx.send(open_connection(&client));
            })
            .map_err(|e| unreachable(format!("cannot start a thread to connect: {e}")))?;
        match rx.recv_timeout(CONNECT_TIMEOUT) {
            Ok(Ok(con)) => Ok(con),
            Ok(Err(e)) => {
                // A TLS server drops a plain client at its first bytes.
                let hint = if !self.tls && e.is_connection_dropped() && !e.is_connection_refusal() {
                    " (the server closed the connection at once: if it speaks TLS, its URL \
                     is rediss://)"
                } else {
                    ""
                };
                Err(unreachable(format!("{e}{hint}")))
            }
            Err(_) => {
                // A plain server waits forever for the end of a TLS handshake's "command".
                let hint = if self.tls {
                    " (a server that does not speak TLS never answers a rediss:// handshake: \
                     if it speaks plain Redis, its URL is redis://)"
                } else {
                    ""
                };
                Err(unreachable(format!(
                    "no answer within {} s{hint}",
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// A connection, after checking that the server is Redis 6.2 or later (or Valkey).
    pub(crate) fn connect_checked(&self) -> Result<Connection, ClusterError> {
        let mut con = self.connect()?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut con)
            .map_err(|e| self.failed("reading the server's version", e))?;
        let version = info_field(&info, "redis_version").unwrap_or("unknown");
        let is_valkey = info_field(&info, "valkey_version").is_some();
        if !is_valkey && !at_least(version, (6, 2)) {
            return Err(ClusterError::Unsupported {
                url: self.shown.clone(),
                version: version.to_owned(),
            });
        }
        Ok(con)
    }

    /// The error for `action` failing with `e`.
    pub(crate) fn failed(&self, action: &str, e: redis::RedisError) -> ClusterError {
        ClusterError::Redis {
            url: self.shown.clone(),
            action: action.to_owned(),
            reason: e.to_string(),
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Connects, checks that the server answers, and bounds every later reply.
fn open_connection(client: &Client) -> redis::RedisResult<Connection> {
    let mut con = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    con.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    redis::cmd("PING").query::<()>(&mut con)?;
    con.set_read_timeout(Some(REPLY_TIMEOUT))?;
    con.set_write_timeout(Some(REPLY_TIMEOUT))?;
    Ok(con)
}

/// `url` with the password of its user-info part replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let user_info = &authority[..at];
    let user = match user_info.find(':') {
        Some(colon) => &user_info[..colon],
        None => user_info,
    };
    // A user-info without a colon is a password too, for Redis (`redis://secret@host`).
    let hidden = if user_info.contains(':') {
        format!("{user}:***")
    } else {
        "***".to_owned()
    };
    format!("{}://{hidden}{}", &url[..scheme_end], &rest[at..])
}

/// The value of `field` in an `INFO` reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// Whether a dotted version is at least `(major, minor)`.
fn at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("redis://:pw@host:1/0"), "redis://:***@host:1/0");
        assert_eq!(redact("rediss://me:pw@host"), "rediss://me:***@host");
        assert_eq!(redact("redis://pw@host"), "redis://***@host");
        assert_eq!(redact("redis://host/0#frag@x"), "redis://host/0#frag@x");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(at_least("7.0.15", (6, 2)));
        assert!(at_least("6.2.0", (6, 2)));
        assert!(at_least("10.0", (6, 2)));
        assert!(!at_least("6.0.9", (6, 2)));
        assert!(!at_least("5", (6, 2)));
    }

    #[test]
    fn info_fields_are_read() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(info_field(info, "redis_version"), Some("7.0.15"));
        assert_eq!(info_field(info, "valkey_version"), None);
    }
}
