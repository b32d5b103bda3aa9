//! Models shared by haiway's fuzz targets (in `fuzz_targets/`) and its property tests
//! (`tests/cache/prop_*.rs`): each replays a list of ops against the real cache and a simple
//! model, and panics on the first difference.
//!
//! The models live in the main package, under `tests/model/`, so the published crate's
//! tests build without this (unpublished) crate; this crate includes them by path.

#[path = "../../tests/model/cache_calls.rs"]
pub mod cache_calls;
#[path = "../../tests/model/exec.rs"]
pub mod exec;
#[path = "../../tests/model/make_key.rs"]
pub mod make_key;
