// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! The wait-for graph: what each waiting thread waits on, who must act before each wait
//! can end, and the search for a cycle of such waits. Layers 1 and 3 of the crate: the
//! vocabulary (`edge`) sits below the registry; the shared state here and the searches
//! sit above it and below the waiting path, which publishes edges and calls the search.
//! See `README.md` beside this file for why no schedule makes a search report a cycle
//! that does not exist, and why the last thread to close a cycle always finds it.

pub(crate) mod edge;
pub(crate) mod reads;
mod report;
mod search;

pub(crate) use report::{Hop, cycle_report};
pub(crate) use search::{current_holders, find_cycle};

/// Serialises the publication of every wait that searches follow with the searches
/// themselves: while a search runs, no followable edge appears (edges may only end).
pub(crate) static GRAPH: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
