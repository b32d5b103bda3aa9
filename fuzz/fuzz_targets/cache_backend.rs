//! The `cache_calls` model in front of a backend whose reads, writes and clears fail,
//! wait and complete out of order, with or without a memory tier, callers inside or
//! outside scopes: see `haiway_fuzz::cache_calls` (its backend mode).
#![no_main]

use haiway_fuzz::cache_calls::{BackendMode, Input, replay};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (BackendMode, Input)| {
    let (mode, mut input) = input;
    input.backend = Some(mode);
    replay(&input);
});
