//! What a `Queue` (first in, first out) is underneath, chosen when it is made: a
//! lock-free ring ([`RingChannel`]) when it is bounded and its slots are few enough to
//! allocate up front, else the locked, growable buffer that `LifoQueue` and
//! `PriorityQueue` also use ([`Channel`]), which holds memory only for the items there.
//! Both keep the same semantics; only their speed and memory differ.

use std::fmt;

use super::channel::{Block, Channel};
use super::error::{GetError, PutError, TaskDoneError};
use super::order::Fifo;
use super::ring;
use super::ring_channel::RingChannel;
use crate::sync::label::Label;

pub(crate) enum FifoChannel<T> {
    Ring(RingChannel<T>),
    Buffer(Channel<Fifo<T>>),
}

/// Calls `$method` on whichever implementation the queue has.
macro_rules! dispatch {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match $self {
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
            Some(max) if max > 0 && ring::fits::<T>(max) => {
                FifoChannel::Ring(RingChannel::new(max, label))
            }
            _ => FifoChannel::Buffer(Channel::new(maxsize, label)),
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
            FifoChannel::Ring(q) => fmt::Debug::fmt(q, f),
            FifoChannel::Buffer(q) => fmt::Debug::fmt(q, f),
        }
    }
}
