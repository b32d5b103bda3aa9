//! The context: the current scope, events, interleaved scopes, lifetimes, nesting and
//! spawned tasks, each on every executor the crate supports. One test binary.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

// Background tasks with no spawner run on a thread the library starts and never
// stops, and shutdowns keep their timeout on a thread: not for Miri.
#[cfg(not(miri))]
mod background;
mod current;
mod events;
mod interleave;
mod lifetime;
mod nesting;
mod spawn;
mod state;
#[cfg(feature = "tower")]
mod tower;
