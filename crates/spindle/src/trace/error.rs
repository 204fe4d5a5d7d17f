// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! What can go wrong reading a trace.

use std::error::Error;
use std::fmt;

/// Why [`Timeline::from_chrome_json`](super::Timeline::from_chrome_json) could not read a trace.
///
/// ```
/// use spindle::trace::{Timeline, TimelineError};
///
/// let err = Timeline::from_chrome_json("{\"traceEvents\": 3}").unwrap_err();
/// assert!(matches!(err, TimelineError::NotATrace(_)));
/// assert!(err.to_string().contains("traceEvents"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimelineError {
    /// The text is not JSON; the message says where it stops making sense.
    InvalidJson(String),
    /// JSON, but not a Chrome trace: neither an array of events nor an object with a
    /// `traceEvents` array.
    NotATrace(String),
}

impl fmt::Display for TimelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimelineError::InvalidJson(why) => write!(f, "the trace is not valid JSON: {why}"),
            TimelineError::NotATrace(why) => write!(f, "not a Chrome trace: {why}"),
        }
    }
}

impl Error for TimelineError {}
