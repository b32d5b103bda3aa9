//! Models shared by haiway's fuzz targets (in `fuzz_targets/`) and its property tests
//! (`tests/prop_*.rs` include these files by path): each replays a list of ops
//! against the real cache and a simple model, and panics on the first difference.

pub mod cache_calls;
pub mod exec;
pub mod make_key;
