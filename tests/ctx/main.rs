//! The context: the current scope, events, interleaved scopes, lifetimes, nesting and
//! spawned tasks, each on every executor the crate supports. One test binary.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

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
