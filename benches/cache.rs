//! Placeholder: replaced by the cache benchmarks.
fn main() {}
