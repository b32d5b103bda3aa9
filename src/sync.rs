//! The locks, atomics and thread-locals whose interleavings matter (the cache's
//! flights, shards and book of backend writes; a scope's task set and tasks; the
//! context's slot): std's, or, in the model-checking build (`RUSTFLAGS="--cfg
//! shuttle"`, the package in `shuttle/`), shuttle's, so that shuttle chooses which
//! thread runs at each of them (its threads share one OS thread: the slot must be
//! shuttle's too).

#[cfg(not(shuttle))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(shuttle))]
pub(crate) use std::sync::{Mutex, MutexGuard};
#[cfg(not(shuttle))]
pub(crate) use std::thread_local;

#[cfg(shuttle)]
pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(shuttle)]
pub(crate) use shuttle::sync::{Mutex, MutexGuard};
#[cfg(shuttle)]
pub(crate) use shuttle::thread_local;
