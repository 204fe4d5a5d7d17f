//! Benchmarks only: see `benches/deadlock_cost.rs`.
