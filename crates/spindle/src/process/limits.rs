// Layer 10 (process): worker processes, over the futures layer.
//! The frame limit as tasks meet it: an argument or a result over it is refused with
//! [`TaskError::ArgumentTooLarge`] or [`TaskError::ResultTooLarge`], never sent, and
//! never encoded past the limit (so an enormous value costs at most the limit in
//! memory). The process pool applies it to every frame; `spindle::cluster` applies the
//! same check to the tasks it carries, so that both refuse alike.

use serde::Serialize;

use super::wire::{self, EncodeError};
use crate::futures::TaskError;

/// Which side of a task a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Argument,
    Result,
}

/// The error for a `part` over `limit` bytes.
pub(crate) fn too_large(part: Part, limit: usize) -> TaskError {
    match part {
        Part::Argument => TaskError::ArgumentTooLarge { limit },
        Part::Result => TaskError::ResultTooLarge { limit },
    }
}

/// Refuses `len` encoded bytes of `part` over `limit`.
pub(crate) fn check(part: Part, len: usize, limit: usize) -> Result<(), TaskError> {
    if len > limit {
        Err(too_large(part, limit))
    } else {
        Ok(())
    }
}

/// `value` postcard-encoded, refused as soon as it passes `limit` bytes.
#[allow(dead_code)] // spindle::cluster's, which refuses as the pool does
pub(crate) fn encode<T: Serialize + ?Sized>(
    value: &T,
    part: Part,
    limit: usize,
) -> Result<Vec<u8>, TaskError> {
    let mut out = Vec::new();
    match wire::encode_within(value, &mut out, limit) {
        Ok(()) => Ok(out),
        Err(e) => Err(encode_error(e, part, limit)),
    }
}

/// The task error for a value of `part` that did not encode within `limit`.
pub(crate) fn encode_error(e: EncodeError, part: Part, limit: usize) -> TaskError {
    match (e, part) {
        (EncodeError::TooLarge, _) => too_large(part, limit),
        (EncodeError::Serde(e), Part::Argument) => {
            TaskError::WorkerDied(format!("the argument does not encode: {e}"))
        }
        (EncodeError::Serde(e), Part::Result) => {
            TaskError::WorkerDied(format!("the result does not encode: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_limit_is_refused_with_its_own_error() {
        assert_eq!(
            encode(&vec![0u8; 100], Part::Argument, 50),
            Err(TaskError::ArgumentTooLarge { limit: 50 })
        );
        assert_eq!(encode(&7u8, Part::Result, 50), Ok(vec![7]));
        assert_eq!(
            check(Part::Result, 51, 50),
            Err(TaskError::ResultTooLarge { limit: 50 })
        );
        assert_eq!(check(Part::Result, 50, 50), Ok(()));
    }
}
