//! What allocates and what does not: a binary of its own, with a global allocator that
//! counts the current thread's allocations.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

#[global_allocator]
static ALLOC: common::counting_alloc::Counting = common::counting_alloc::Counting;

mod cache;
mod ctx;
#[cfg(feature = "tower")]
mod tower;
