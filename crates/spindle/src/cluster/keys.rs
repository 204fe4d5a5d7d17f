// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The names of a pool's keys. Every key of pool `P` carries the hash tag `{P}`, so all
//! of them live in one slot and the scripts stay valid on Redis Cluster.
//!
//! | key                              | type   | holds                                        |
//! |----------------------------------|--------|----------------------------------------------|
//! | `spindle:{P}:tasks`              | stream | one entry per queued task; group `workers`   |
//! | `spindle:{P}:task:<id>`          | hash   | a task's state, starts, lease, holder        |
//! | `spindle:{P}:results:<client>`   | stream | a client's results; trimmed as it reads      |
//! | `spindle:{P}:workers`            | hash   | worker name → JSON (host, pid, heartbeat...) |
//! | `spindle:{P}:counts`             | hash   | submitted, started, done, cancelled, ...     |
//! | `spindle:pools`                  | set    | the pools' names (for `spindle cluster status`) |

use super::error::ClusterError;
use super::local;

/// The consumer group every worker of a pool reads the task stream with.
pub(crate) const GROUP: &str = "workers";
/// The set of pool names, for status.
pub(crate) const POOLS: &str = "spindle:pools";

/// The keys of one pool.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pool: String,
    prefix: String,
}

impl Keys {
    /// The keys of pool `pool`, which must be a valid name ([`check_pool`]).
    pub(crate) fn new(pool: &str) -> Result<Keys, ClusterError> {
        check_pool(pool)?;
        Ok(Keys {
            pool: pool.to_owned(),
            prefix: format!("spindle:{{{pool}}}:"),
        })
    }

    pub(crate) fn pool(&self) -> &str {
        &self.pool
    }

    pub(crate) fn tasks(&self) -> String {
        format!("{}tasks", self.prefix)
    }

    /// The prefix of task state keys: the task id follows it.
    pub(crate) fn task_prefix(&self) -> String {
        format!("{}task:", self.prefix)
    }

    pub(crate) fn task(&self, id: &str) -> String {
        format!("{}task:{id}", self.prefix)
    }

    pub(crate) fn results(&self, client: &str) -> String {
        format!("{}results:{client}", self.prefix)
    }

    pub(crate) fn workers(&self) -> String {
        format!("{}workers", self.prefix)
    }

    pub(crate) fn counts(&self) -> String {
        format!("{}counts", self.prefix)
    }
}

/// Refuses a name that would break the hash tag or print badly.
pub(crate) fn check_pool(pool: &str) -> Result<(), ClusterError> {
    if pool.is_empty() || pool.contains(['{', '}']) || pool.chars().any(char::is_control) {
        return Err(ClusterError::InvalidPool {
            pool: pool.to_owned(),
        });
    }
    Ok(())
}

/// The default pool: the program's file name and a fingerprint of its registered
/// tasks' names and types, so that a worker of another build (other tasks, or a task
/// of the same name with another argument or result type) never takes its tasks.
pub(crate) fn default_pool() -> String {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "spindle".to_owned());
    let program: String = program
        .chars()
        .map(|c| {
            if c == '{' || c == '}' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{program}-{:016x}", fingerprint(&local::task_signatures()))
}

/// FNV-1a over the sorted signatures: the same for the same signatures in every build,
/// unlike `DefaultHasher`. (The signatures' type names are the compiler's: a program
/// built by another compiler may serve another pool.)
pub(crate) fn fingerprint(signatures: &[String]) -> u64 {
    let mut sorted: Vec<&String> = signatures.iter().collect();
    sorted.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for sig in sorted {
        for byte in sig.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_pool_tag() {
        let keys = Keys::new("reports").unwrap();
        for key in [
            keys.tasks(),
            keys.task("c1:7"),
            keys.results("c1"),
            keys.workers(),
            keys.counts(),
        ] {
            assert!(key.starts_with("spindle:{reports}:"), "{key}");
        }
        assert_eq!(keys.task("x"), format!("{}x", keys.task_prefix()));
    }

    #[test]
    fn names_that_break_the_tag_are_refused() {
        for bad in ["", "a{b", "a}b", "tab\there"] {
            assert!(Keys::new(bad).is_err(), "{bad:?}");
        }
        assert!(Keys::new("reports v2 (prod)").is_ok());
    }

    #[test]
    fn the_fingerprint_depends_on_the_set_not_its_order() {
        let a = fingerprint(&["x::a".into(), "x::b".into()]);
        let b = fingerprint(&["x::b".into(), "x::a".into()]);
        let c = fingerprint(&["x::a".into(), "x::c".into()]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Not a concatenation: the separator keeps ["ab", ""] apart from ["a", "b"].
        assert_ne!(
            fingerprint(&["ab".into(), "".into()]),
            fingerprint(&["a".into(), "b".into()])
        );
    }

    #[test]
    fn the_default_pool_is_a_valid_name() {
        let pool = default_pool();
        assert!(check_pool(&pool).is_ok(), "{pool}");
    }
}
