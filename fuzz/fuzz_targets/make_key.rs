//! Custom keys, argument tuples and colliding hashes never return another key's
//! value: see `haiway_fuzz::make_key`.
#![no_main]

use haiway_fuzz::make_key::{Input, replay};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input| replay(&input));
