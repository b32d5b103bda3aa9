//! Memoized async functions: the attribute [`#[haiway::cache]`](macro@crate::cache),
//! and [`cache`], [`try_cache`] and [`CacheBuilder`].
//!
//! The attribute memoizes an `async fn` where it is declared, its call sites unchanged:
//!
//! ```
//! #[haiway::cache(limit = 100)]
//! async fn fetch_profile(user_id: String) -> String {
//!     format!("profile of {user_id}")
//! }
//!
//! # futures_lite::future::block_on(async {
//! let first = fetch_profile("ada".to_owned()).await; // runs the body
//! let again = fetch_profile("ada".to_owned()).await; // served from the cache
//! assert_eq!(first, again);
//! assert_eq!(fetch_profile::cached().stats().hits, 1);
//! # });
//! ```
//!
//! For a handle to keep in a struct, or one that tests build afresh, wrap an async
//! function and call it through the returned handle: the first call with
//! some arguments runs the function, later calls with equal arguments get a clone of
//! the stored value. A function of one argument is called with it; one of none or of
//! two to six arguments, with a tuple of them (`cache(|a: u32, b: u32| ..)` gives a
//! `Cached<(u32, u32), V>`, called as `cached.call((1, 2))`).
//!
//! ```
//! use haiway::cache::cache;
//!
//! async fn fetch_profile(user_id: String) -> String {
//!     format!("profile of {user_id}")
//! }
//!
//! let resolve_profile = cache(fetch_profile);
//! # futures_lite::future::block_on(async {
//! let first = resolve_profile.call("ada".to_owned()).await; // runs fetch_profile
//! let again = resolve_profile.call("ada".to_owned()).await; // served from the cache
//! assert_eq!(first, again);
//! assert_eq!(resolve_profile.stats().hits, 1);
//! # });
//! ```
//!
//! - **The default limit is 1 entry**, as in haiway: set [`CacheBuilder::limit`] (or
//!   [`CacheBuilder::unbounded`]) for more. Eviction is least-recently-used; a hit
//!   counts as a use.
//! - [`CacheBuilder::expiration`] bounds how long a value lives, measured on a monotonic
//!   clock from when it was stored; a hit does not extend it.
//! - Concurrent calls with equal arguments share one run of the function
//!   (single-flight), backend lookups included. Whichever of them is polled drives the
//!   run, so a call that stays alive but is never polled again (a `select!` branch that
//!   lost) stalls nobody, and a cancelled call leaves the run to the others; the run is
//!   cancelled only when no caller is left. If it panics, the call whose poll panicked
//!   gets the panic and the run starts again for the others (one of them running the
//!   function again). It also starts again when a call that drove it leaves after
//!   tasks were spawned in its scope (they may be the run's, and go with that scope).
//!   Nobody hangs.
//! - [`CacheBuilder::shards`] splits the store by key hash for many cores; the default,
//!   one shard, is one exact LRU.
//! - Each call records `cache.hit` or `cache.miss` (and `cache.evict` on eviction) at
//!   debug level through the current [`Ctx`](crate::Ctx), with the attribute `cache` set
//!   to the cache's name; [`Cached::stats`] counts the same.
//! - Values are cloned out of the cache: wrap large values in an `Arc`.
//! - [`Cached::get`] peeks at a stored value and [`Cached::insert`] primes one, without
//!   running the function.
//! - A call borrows its handle; [`Cached::call_owned`] owns one, for `'static` futures
//!   (`ctx::spawn(cached.clone().call_owned(args))`).
//!
//! # Clearing
//!
//! [`Cached::clear_cache`] and [`Cached::clear_call_cache`] remove values in memory
//! and in the backend. The rule they keep: **once a clear has returned `Ok`, no call
//! that starts afterwards returns a value computed before the clear**, in memory or
//! from the backend, with or without a memory tier, inside a scope or not. A
//! computation running at the time of the clear still answers the calls that were
//! waiting on it, but its result is neither stored nor written. (A run that starts
//! while the clear is under way is not before it: its value may be kept.) A backend write still
//! in flight is skipped if it has not started, and undone if it may have landed: its
//! key is cleared in the backend if it still holds the stale value
//! ([`Backend::clear_if`]; a backend that cannot compare clears the key whatever it
//! holds), so a newer value written since the clear stays. Until the undo has
//! succeeded, the key is not read from the backend: a call counts a miss and runs the
//! function. If the undo fails, the key stays unread until a fresh value of it is
//! written or a clear of it succeeds. If the write is dropped once attempted but before
//! it returned (its call or its scope cancelled: a command already sent may still land,
//! even after a later write), the key stays unread until a clear of it succeeds: its
//! next fresh write clears the key in the backend first. Either costs runs of the
//! function (usually one), never a stale answer. A [`Backend`] must not apply a write
//! after a clear that was sent after it. Other processes' writes are not covered: they
//! are theirs.
//!
//! A [`Cached`] handle is a cheap `Clone` (one reference count) and `Send + Sync`: keep
//! it in a struct field, or in a `static` with [`std::sync::LazyLock`].

mod attached;
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod attribute;
mod backend;
pub mod builder;
mod cached;
mod call;
mod clock;
mod core;
mod drive;
mod engine;
mod flight;
pub mod function;
mod futures;
mod key;
mod lead;
pub(crate) mod lru;
#[cfg(feature = "redis")]
pub mod redis;
mod run;
mod shard;
mod stats;
mod try_cached;
mod write;

use std::hash::Hash;

pub use self::backend::{Backend, BoxError, CacheError, ClearUnsupported, Invalidator};
pub use self::builder::CacheBuilder;
pub use self::cached::{Cached, TryCached};
pub use self::call::{Call, TryCall};
pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::function::CacheFn;
pub use self::futures::{CallOwned, ClearCache, Insert};
pub use self::stats::Stats;

/// Wraps the async function `function` in an in-memory cache with the default settings
/// (limit 1, no expiration). Use [`CacheBuilder`] to change them.
///
/// `function` takes one argument, or none or two to six, which the handle takes as a
/// tuple (see [`CacheFn`]).
///
/// # Examples
///
/// ```
/// use haiway::cache::cache;
///
/// let square = cache(|x: u64| async move { x * x });
/// let add = cache(|a: u64, b: u64| async move { a + b });
/// # futures_lite::future::block_on(async {
/// assert_eq!(square.call(12).await, 144);
/// assert_eq!(add.call((2, 3)).await, 5);
/// # });
/// ```
pub fn cache<A, V, F, M>(function: F) -> Cached<A, V>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: CacheFn<A, M, Output = V>,
{
    CacheBuilder::new().build(function)
}

/// Wraps the fallible async function `function` in an in-memory cache with the default
/// settings: only `Ok` values are stored; an `Err` reaches the caller (and, as a clone,
/// every caller that waited on the same run) and the next call runs the function
/// again. The error type is `Clone`: for one that is not, return an `Arc` of it.
///
/// # Examples
///
/// ```
/// use haiway::cache::try_cache;
///
/// let parse = try_cache(|s: String| async move { s.parse::<u32>() });
/// # futures_lite::future::block_on(async {
/// assert_eq!(parse.call("7".into()).await, Ok(7));
/// assert!(parse.call("x".into()).await.is_err());
/// # });
/// ```
pub fn try_cache<A, V, E, F, M>(function: F) -> TryCached<A, V, E>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
    F: CacheFn<A, M, Output = Result<V, E>>,
{
    CacheBuilder::new().try_build(function)
}

const _: () = {
    const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    const fn assert_send<T: Send>() {}
    assert_send_sync_clone::<Cached<String, String>>();
    assert_send_sync_clone::<TryCached<String, String, std::io::ErrorKind>>();
    assert_send::<Call<'static, String, String>>();
    assert_send::<TryCall<'static, String, String, std::io::ErrorKind>>();
    assert_send::<ClearCache<'static>>();
    assert_send::<Insert<'static>>();
    assert_send::<CallOwned<String>>();
};
