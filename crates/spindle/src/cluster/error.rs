// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! Every error of `spindle::cluster`, in one place.

use std::fmt;

/// Why a cluster executor or worker could not start, or stopped: every message names
/// the server's URL (its password hidden) and what failed.
///
/// ```
/// use std::time::Instant;
/// use spindle::cluster::{ClusterError, ClusterExecutor};
///
/// // Nothing listens on port 1: connecting fails at once, naming the URL.
/// let started = Instant::now();
/// let err = ClusterExecutor::connect("redis://:hunter2@127.0.0.1:1").unwrap_err();
/// assert!(matches!(err, ClusterError::Unreachable { .. }));
/// assert!(err.to_string().contains("redis://:***@127.0.0.1:1"), "{err}");
/// assert!(!err.to_string().contains("hunter2"));
/// assert!(started.elapsed().as_secs() < 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// The URL is not one the Redis client understands (`redis://`, `rediss://`,
    /// `redis+unix://`, `valkey://`, ...).
    InvalidUrl {
        /// The URL, its password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answered at the URL within the connect timeout (5 s), or it refused the
    /// connection or the password.
    Unreachable {
        /// The URL, its password hidden.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The server answers but is too old: streams need Redis 6.2 or later (or Valkey).
    Unsupported {
        /// The URL, its password hidden.
        url: String,
        /// The version the server reported.
        version: String,
    },
    /// The pool name cannot be used: empty, or holding `{`, `}` or a control character
    /// (the pool's name is the hash tag of its keys).
    InvalidPool {
        /// The name as given.
        pool: String,
    },
    /// A command failed, or the connection was lost while the worker served.
    Redis {
        /// The URL, its password hidden.
        url: String,
        /// What was being done.
        action: String,
        /// What the server or the connection said.
        reason: String,
    },
    /// The worker could not set itself up on this machine (its signal handlers).
    Setup {
        /// What failed.
        reason: String,
    },
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::InvalidUrl { url, reason } => {
                write!(f, "{url:?} is not a Redis URL: {reason}")
            }
            ClusterError::Unreachable { url, reason } => {
                write!(f, "cannot connect to {url}: {reason}")
            }
            ClusterError::Unsupported { url, version } => write!(
                f,
                "the server at {url} runs Redis {version}; spindle::cluster needs Redis 6.2 \
                 or later (or Valkey)"
            ),
            ClusterError::InvalidPool { pool } => write!(
                f,
                "{pool:?} cannot name a pool: it must be non-empty, without '{{', '}}' or \
                 control characters"
            ),
            ClusterError::Redis {
                url,
                action,
                reason,
            } => write!(f, "{action} at {url} failed: {reason}"),
            ClusterError::Setup { reason } => {
                write!(f, "the cluster worker cannot start: {reason}")
            }
        }
    }
}

impl std::error::Error for ClusterError {}
