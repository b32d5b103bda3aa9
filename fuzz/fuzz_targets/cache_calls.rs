//! Interleaved, cancelled, panicking and failing calls of one cache, with clears and
//! expiry, on a deterministic executor: see `haiway_fuzz::cache_calls`.
#![no_main]

use haiway_fuzz::cache_calls::{Input, replay};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input| replay(&input));
