// Layer 1 (wait-for graph vocabulary): what a parked thread waits on and who must act; uses only layer 0.
//! How a primitive is named in states and reports.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::description;

/// A primitive's name: the one given to `named`, else where it was created.
pub(crate) enum Label {
    Created(&'static Location<'static>),
    Named(Arc<str>),
}

impl Label {
    #[track_caller]
    pub(crate) const fn here() -> Label {
        Label::Created(Location::caller())
    }

    pub(crate) fn named(name: impl Into<String>) -> Label {
        Label::Named(name.into().into())
    }

    /// `Mutex "accounts"` or `Mutex created at src/bank.rs:12:17`.
    pub(crate) fn describe(&self, kind: &str) -> String {
        match self {
            Label::Named(name) => format!("{kind} \"{name}\""),
            Label::Created(at) => format!("{kind} created at {at}"),
        }
    }

    /// [`describe`](Label::describe), made once per thread and shared after that.
    pub(crate) fn description(&self, kind: &'static str) -> Arc<str> {
        let make = || self.describe(kind);
        match self {
            Label::Named(name) => {
                description::cached(kind, name.as_ptr() as usize, Some(name), make)
            }
            Label::Created(at) => {
                description::cached(kind, *at as *const Location<'static> as usize, None, make)
            }
        }
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Named(name) => write!(f, "{name:?}"),
            Label::Created(at) => write!(f, "created at {at}"),
        }
    }
}

/// A wait on a primitive nobody in particular holds: described by its kind and label.
pub(crate) struct Labelled<'a> {
    pub(crate) kind: &'static str,
    pub(crate) label: &'a Label,
}

impl crate::graph::edge::Waitable for Labelled<'_> {
    fn describe(&self) -> String {
        self.label.describe(self.kind)
    }

    fn description(&self) -> Arc<str> {
        self.label.description(self.kind)
    }
}
