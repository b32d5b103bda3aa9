//! The cache: calls, keys and limits, backends, clearing, errors, events, expiry,
//! single-flight, drops, the regression tests of fixed bugs, and the model-based property
//! and stress tests. One test binary (modules by area) so that a cold build links once.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

#[allow(dead_code)]
#[path = "../model/cache_calls.rs"]
mod cache_calls;
#[allow(dead_code)]
#[path = "../model/exec.rs"]
mod exec;
#[allow(dead_code)]
#[path = "../model/make_key.rs"]
mod make_key;

mod attribute;
mod backend;
// Its writes run on the library's background thread: not for Miri.
#[cfg(not(miri))]
mod background_write;
mod basic;
mod clear;
mod drops;
mod errors;
mod events;
mod expiry;
mod invalidator;
mod prop_cache_calls;
mod prop_make_key;
mod regression_clear_pending_write;
mod single_flight;
mod stress;
mod stress_cancel;
