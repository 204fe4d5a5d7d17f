// Layer 11 (cluster): the process pool's tasks through Redis, over the process layer.
//! The adapter between the cluster and the process pool: every call the cluster makes
//! into `spindle::process` internals is in this file, so that it can be re-pointed
//! when those internals change.
//!
//! A cluster worker runs each task in a local [`ProcessPoolExecutor`] child, so a crash
//! or a timeout is contained exactly as in the process pool, and is final. The worker
//! never decodes a task's argument or result: it hands the client's postcard bytes to
//! the child as they are, and takes the child's result bytes back as they are
//! ([`Encoded`], [`EncodedResult`]).

use std::fmt;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeTuple, Serializer};

use crate::futures::{Future, TaskError};
use crate::process::ProcessPoolExecutor;
use crate::thread::Panicked;

/// The default largest argument or result, as the process pool's (64 MiB).
pub(crate) const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// The worker's local pool of processes.
pub(crate) struct LocalPool {
    pool: ProcessPoolExecutor,
}

impl LocalPool {
    /// Starts `processes` local worker processes, refusing frames over `max_frame`.
    pub(crate) fn start(processes: usize, max_frame: usize) -> LocalPool {
        LocalPool {
            pool: ProcessPoolExecutor::builder()
                .max_workers(processes)
                .max_frame_size(max_frame)
                .build(),
        }
    }

    /// Runs task `name` on `arg` (postcard bytes as the client encoded them; a sequence
    /// of arguments when `chunk` is `Some(items)`) in a local process.
    pub(crate) fn run(
        &self,
        name: &str,
        arg: &[u8],
        chunk: Option<usize>,
        timeout: Option<Duration>,
    ) -> Future<EncodedResult> {
        self.pool.submit_raw(name, &Encoded(arg), chunk, timeout)
    }

    /// Waits for the local tasks and stops the processes.
    pub(crate) fn shutdown(&self) {
        self.pool.shutdown(true, false);
    }
}

/// Every registered task as `name(A) -> O` (its argument and result types by their
/// full paths), for the default pool's fingerprint: a rebuild that changes a task's
/// types, and nothing else, serves another pool.
pub(crate) fn task_signatures() -> Vec<String> {
    inventory::iter::<crate::process::__private::TaskEntry>
        .into_iter()
        .map(|entry| entry.signature())
        .collect()
}

/// The error for an argument over the frame limit, refused before it is sent: the
/// process pool's own.
pub(crate) fn argument_refused(_len: usize, limit: usize) -> TaskError {
    TaskError::ArgumentTooLarge { limit }
}

/// How a task's failure travels in a result entry: a kind, a text and the panicking
/// thread's name. The inverse of [`decode_error`]. Exhaustive on purpose: a new
/// `TaskError` variant fails to compile here until it has a kind of its own.
pub(crate) fn encode_error(error: &TaskError) -> (&'static str, String, String) {
    match error {
        TaskError::Panicked(p) => (
            "panicked",
            p.message().to_owned(),
            p.thread_name().to_owned(),
        ),
        TaskError::Timeout => ("timeout", String::new(), String::new()),
        TaskError::WorkerDied(why) => ("died", why.clone(), String::new()),
        TaskError::BrokenPool(why) => ("broken", why.clone(), String::new()),
        TaskError::Cancelled => (
            "died",
            "the worker's local pool cancelled the task (it was shutting down)".to_owned(),
            String::new(),
        ),
        TaskError::ArgumentTooLarge { limit } => {
            ("argument-too-large", limit.to_string(), String::new())
        }
        TaskError::ResultTooLarge { limit } => {
            ("result-too-large", limit.to_string(), String::new())
        }
    }
}

/// The `TaskError` a result entry of kind `kind` stands for; `None` for a kind this
/// build does not know.
pub(crate) fn decode_error(kind: &str, text: String, thread: String) -> Option<TaskError> {
    Some(match kind {
        "panicked" => TaskError::Panicked(Panicked::new(text, thread)),
        "timeout" => TaskError::Timeout,
        "died" => TaskError::WorkerDied(text),
        "broken" => TaskError::BrokenPool(text),
        "argument-too-large" => TaskError::ArgumentTooLarge {
            limit: text.parse().ok()?,
        },
        "result-too-large" => TaskError::ResultTooLarge {
            limit: text.parse().ok()?,
        },
        _ => return None,
    })
}

/// Bytes that postcard writes as they are: a tuple of `u8`s, which postcard encodes
/// with no length and one byte per element.
pub(crate) struct Encoded<'a>(pub(crate) &'a [u8]);

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for byte in self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

/// Whatever bytes remain of a postcard input, taken as they are: a tuple of `u8`s read
/// until the input ends (postcard reads a `u8` as one byte, and ends a sequence that
/// runs past its input with an error, which marks the end here).
pub(crate) struct EncodedResult(pub(crate) Vec<u8>);

impl<'de> Deserialize<'de> for EncodedResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Rest;
        impl<'de> Visitor<'de> for Rest {
            type Value = EncodedResult;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the rest of the input")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<EncodedResult, S::Error> {
                let mut bytes = Vec::new();
                while let Ok(Some(byte)) = seq.next_element::<u8>() {
                    bytes.push(byte);
                }
                Ok(EncodedResult(bytes))
            }
        }
        deserializer.deserialize_tuple(usize::MAX, Rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::keys::fingerprint;
    use crate::process::__private::{RunError, TaskEntry};

    crate::task! {
        const TYPED_PROBE = fn typed_probe(x: u64) -> String { x.to_string() }
    }

    #[test]
    fn a_registered_tasks_signature_names_its_types() {
        assert_eq!(TYPED_PROBE.call(7), "7");
        let probe: Vec<String> = task_signatures()
            .into_iter()
            .filter(|s| s.contains("::typed_probe"))
            .collect();
        assert_eq!(
            probe,
            ["spindle::cluster::local::tests::typed_probe(u64) -> alloc::string::String"]
        );
    }

    fn never_run(_: &[u8], _: &mut Vec<u8>, _: usize) -> Result<(), RunError> {
        unreachable!("only the entry's signature is read")
    }

    fn entry(argument_type: fn() -> &'static str, result_type: fn() -> &'static str) -> String {
        TaskEntry::new(
            "app::shape",
            never_run,
            never_run,
            argument_type,
            result_type,
        )
        .signature()
    }

    /// Two builds whose task of one name differs in its argument type alone, or its
    /// result type alone, serve different default pools.
    #[test]
    fn the_fingerprint_changes_when_only_a_type_changes() {
        use std::any::type_name;
        let built = fingerprint(&[entry(type_name::<u64>, type_name::<Vec<u8>>)]);
        let argument_changed = fingerprint(&[entry(type_name::<u32>, type_name::<Vec<u8>>)]);
        let result_changed = fingerprint(&[entry(type_name::<u64>, type_name::<Vec<u16>>)]);
        assert_ne!(built, argument_changed);
        assert_ne!(built, result_changed);
        assert_ne!(argument_changed, result_changed);
        assert_eq!(
            built,
            fingerprint(&[entry(type_name::<u64>, type_name::<Vec<u8>>)]),
            "the same build, the same pool"
        );
    }

    #[test]
    fn encoded_bytes_are_written_as_they_are() {
        let value = (7u64, "seven".to_owned(), vec![1.5f64, -2.0]);
        let bytes = postcard::to_stdvec(&value).unwrap();
        assert_eq!(postcard::to_stdvec(&Encoded(&bytes)).unwrap(), bytes);
        assert!(postcard::to_stdvec(&Encoded(&[])).unwrap().is_empty());
    }

    #[test]
    fn the_rest_of_the_input_is_read_as_it_is() {
        let value = (300u32, Some("x".to_owned()));
        let bytes = postcard::to_stdvec(&value).unwrap();
        let EncodedResult(read) = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(read, bytes);
        let EncodedResult(empty) = postcard::from_bytes(&[]).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn errors_survive_their_trip() {
        for error in [
            TaskError::Panicked(Panicked::new("boom".into(), "process worker".into())),
            TaskError::Timeout,
            TaskError::WorkerDied("killed by signal 9".into()),
            TaskError::BrokenPool("initializer".into()),
            TaskError::ArgumentTooLarge { limit: 1024 },
            TaskError::ResultTooLarge { limit: 64 << 20 },
        ] {
            let (kind, text, thread) = encode_error(&error);
            assert_eq!(decode_error(kind, text, thread), Some(error));
        }
        assert_eq!(decode_error("new-kind", String::new(), String::new()), None);
    }
}
