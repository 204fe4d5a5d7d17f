// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! What a `Queue` (first in, first out) is underneath, chosen when it is made:
//!
//! | made with                     | items kept in                        | locks? |
//! |-------------------------------|--------------------------------------|--------|
//! | `new()`                       | a [`List`] of blocks, freed as read  | no     |
//! | `bounded(n)`, `n` slots ≤ 256 KiB | a [`Ring`] of `n` slots          | no     |
//! | `bounded(n)`, larger          | a growable buffer ([`Channel`], as `LifoQueue`) | yes |
//!
//! A large bounded queue would allocate its whole ring up front; the buffer holds memory
//! only for the items there. All three keep the same semantics; only their speed and
//! memory differ.

use std::fmt;

use super::channel::{Block, Channel};
use super::error::{GetError, PutError, TaskDoneError};
use super::list::List;
use super::lock_free::LockFree;
use super::order::Fifo;
use super::ring::{self, Ring};
use crate::sync::label::Label;

pub(crate) enum FifoChannel<T> {
    List(LockFree<List<T>>),
    Ring(LockFree<Ring<T>>),
    Buffer(Channel<Fifo<T>>),
}

/// Calls `$method` on whichever implementation the queue has.
macro_rules! dispatch {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match $self {
            FifoChannel::List(q) => q.$method($($arg),*),
            FifoChannel::Ring(q) => q.$method($($arg),*),
            FifoChannel::Buffer(q) => q.$method($($arg),*),
        }
    };
}

impl<T> FifoChannel<T> {
    /// A queue holding at most `maxsize` items (`None`: unbounded).
    ///
    /// # Panics
    /// If `maxsize` is `Some(0)`.
    #[track_caller]
    pub(crate) fn new(maxsize: Option<usize>, label: Label) -> Self {
        match maxsize {
            None => FifoChannel::List(LockFree::new(List::new(), label)),
            Some(max) if max > 0 && ring::fits::<T>(max) => {
                FifoChannel::Ring(LockFree::new(Ring::new(max), label))
            }
            Some(_) => FifoChannel::Buffer(Channel::new(maxsize, label)),
        }
    }

    #[inline]
    #[track_caller]
    pub(crate) fn put(&self, item: T, block: Block) -> Result<(), PutError<T>> {
        dispatch!(self.put(item, block))
    }

    #[inline]
    #[track_caller]
    pub(crate) fn get(&self, block: Block) -> Result<T, GetError> {
        dispatch!(self.get(block))
    }

    #[track_caller]
    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        dispatch!(self.task_done())
    }

    #[track_caller]
    pub(crate) fn join(&self, block: Block) -> bool {
        dispatch!(self.join(block))
    }

    #[track_caller]
    pub(crate) fn shutdown(&self, immediate: bool) {
        dispatch!(self.shutdown(immediate))
    }

    #[track_caller]
    pub(crate) fn is_shutdown(&self) -> bool {
        dispatch!(self.is_shutdown())
    }

    #[track_caller]
    pub(crate) fn len(&self) -> usize {
        dispatch!(self.len())
    }

    #[track_caller]
    pub(crate) fn is_full_now(&self) -> bool {
        dispatch!(self.is_full_now())
    }

    #[track_caller]
    pub(crate) fn unfinished_tasks(&self) -> usize {
        dispatch!(self.unfinished_tasks())
    }

    pub(crate) fn maxsize(&self) -> Option<usize> {
        dispatch!(self.maxsize())
    }
}

impl<T> fmt::Debug for FifoChannel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FifoChannel::List(q) => fmt::Debug::fmt(q, f),
            FifoChannel::Ring(q) => fmt::Debug::fmt(q, f),
            FifoChannel::Buffer(q) => fmt::Debug::fmt(q, f),
        }
    }
}
