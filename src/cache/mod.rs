//! Memoized async functions: [`cache`], [`try_cache`] and [`CacheBuilder`].
//!
//! Wrap an async function of one argument (several arguments: a tuple) and call it
//! through the returned handle: the first call with some arguments runs the function,
//! later calls with equal arguments get a clone of the stored value.
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
//!   (single-flight). If the call running it is cancelled or panics, a waiting call takes
//!   over: nobody hangs.
//! - Each call records `cache.hit` or `cache.miss` (and `cache.evict` on eviction) at
//!   debug level through the current [`Ctx`](crate::Ctx), with the attribute `cache` set
//!   to the cache's name; [`Cached::stats`] counts the same.
//! - Values are cloned out of the cache: wrap large values in an `Arc`.
//!
//! A [`Cached`] handle is a cheap `Clone` (one reference count) and `Send + Sync`: keep
//! it in a struct field, or in a `static` with [`std::sync::LazyLock`].

mod call;
mod clock;
mod core;
pub(crate) mod lru;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use self::call::{Call, TryCall};
pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::core::Stats;

use self::call::Calling;
use self::core::{Compute, Core, Function, KeyRef, MakeKey};

/// Wraps the async function `function` in an in-memory cache with the default settings
/// (limit 1, no expiration). Use [`CacheBuilder`] to change them.
///
/// # Examples
///
/// ```
/// use haiway::cache::cache;
///
/// let square = cache(|x: u64| async move { x * x });
/// # futures_lite::future::block_on(async {
/// assert_eq!(square.call(12).await, 144);
/// # });
/// ```
pub fn cache<A, V, F, Fut>(function: F) -> Cached<A, V>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = V> + Send + 'static,
{
    CacheBuilder::new().build(function)
}

/// Wraps the fallible async function `function` in an in-memory cache with the default
/// settings: only `Ok` values are stored; an `Err` reaches the caller (and every caller
/// that waited on the same run) and the next call runs the function again.
///
/// # Examples
///
/// ```
/// use haiway::cache::try_cache;
///
/// let parse = try_cache(|s: String| async move { s.parse::<u32>() });
/// # futures_lite::future::block_on(async {
/// assert_eq!(parse.call("7".into()).await.unwrap(), 7);
/// assert!(parse.call("x".into()).await.is_err());
/// # });
/// ```
pub fn try_cache<A, V, E, F, Fut>(function: F) -> TryCached<A, V, E>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
{
    CacheBuilder::new().try_build(function)
}

/// How many values a cache keeps.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// At most this many (validated to be non-zero at build time).
    Bounded(usize),
    /// No limit.
    Unbounded,
}

/// Configures a cache: limit, expiration, name and clock; then wraps a function.
///
/// Get one with [`Cached::builder`] (or [`CacheBuilder::new`]). Settings are checked
/// in one place, when the cache is built.
///
/// # Examples
///
/// ```
/// use haiway::cache::Cached;
/// use std::time::Duration;
///
/// let lookup = Cached::builder()
///     .limit(1_000)
///     .expiration(Duration::from_secs(60))
///     .name("lookup")
///     .build(|id: u32| async move { format!("item {id}") });
/// # futures_lite::future::block_on(async {
/// assert_eq!(lookup.call(3).await, "item 3");
/// # });
/// assert_eq!(lookup.name(), "lookup");
/// ```
#[must_use = "a CacheBuilder does nothing until `.build(function)`"]
#[derive(Clone)]
pub struct CacheBuilder {
    /// How many values to keep.
    limit: Limit,
    /// How long a value lives.
    expiration: Option<Duration>,
    /// Name for events; defaults to the function's type name.
    name: Option<Arc<str>>,
    /// Where time comes from.
    clock: Option<Arc<dyn Clock>>,
}

impl CacheBuilder {
    /// The defaults: limit 1 (as in haiway), no expiration, the function's type name,
    /// the system clock.
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::CacheBuilder::new();
    /// ```
    pub fn new() -> Self {
        CacheBuilder {
            limit: Limit::Bounded(1),
            expiration: None,
            name: None,
            clock: None,
        }
    }

    /// Keeps at most `limit` values, evicting the least recently used.
    ///
    /// # Panics
    ///
    /// [`build`](Self::build) panics if `limit` is 0: a cache that keeps nothing is a
    /// mistake. To turn caching off, call the function directly.
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::Cached::builder().limit(100);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Limit::Bounded(limit);
        self
    }

    /// Keeps every value until it expires or is cleared.
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::Cached::builder().unbounded();
    /// ```
    pub fn unbounded(mut self) -> Self {
        self.limit = Limit::Unbounded;
        self
    }

    /// Lets a stored value live for `ttl` from when it was stored; the first call after
    /// that runs the function again. A hit does not extend it. Expiration is not a
    /// timeout: a slow function is never cancelled.
    ///
    /// # Panics
    ///
    /// [`build`](Self::build) panics if `ttl` is zero: nothing could ever be reused.
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::Cached::builder().expiration(std::time::Duration::from_secs(30));
    /// ```
    pub fn expiration(mut self, ttl: Duration) -> Self {
        self.expiration = Some(ttl);
        self
    }

    /// Names the cache in its events (the `cache` attribute). The default is the
    /// wrapped function's type name.
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::Cached::builder().name("profiles");
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Measures expiration on `clock` instead of the system clock: tests pass a
    /// [`ManualClock`] to control time.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::{Cached, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let now = Cached::builder()
    ///     .expiration(Duration::from_secs(1))
    ///     .clock(clock.clone())
    ///     .build(|(): ()| async { std::time::Instant::now() });
    /// # futures_lite::future::block_on(async {
    /// let first = now.call(()).await;
    /// assert_eq!(now.call(()).await, first);
    /// clock.advance(Duration::from_secs(1));
    /// assert_ne!(now.call(()).await, first);
    /// # });
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Wraps `function` with these settings.
    ///
    /// # Panics
    ///
    /// If the limit is 0 or the expiration is zero, with a message naming the setting.
    ///
    /// # Examples
    ///
    /// ```
    /// let cached = haiway::cache::Cached::builder().limit(2).build(|x: u8| async move { x + 1 });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(cached.call(1).await, 2);
    /// # });
    /// ```
    #[track_caller]
    pub fn build<A, V, F, Fut>(self, function: F) -> Cached<A, V>
    where
        A: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let boxed: Function<A, V, Infallible> = Box::new(move |args| {
            Box::pin(call_infallible(function(args))) as Compute<V, Infallible>
        });
        Cached {
            core: Arc::new(self.core::<F, _, _, _, _>(boxed, identity_key())),
        }
    }

    /// Wraps the fallible `function` with these settings: only `Ok` values are stored.
    ///
    /// # Panics
    ///
    /// If the limit is 0 or the expiration is zero, with a message naming the setting.
    ///
    /// # Examples
    ///
    /// ```
    /// let cached = haiway::cache::Cached::builder()
    ///     .limit(10)
    ///     .try_build(|x: u8| async move { x.checked_add(200).ok_or("overflow") });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(cached.call(1).await.unwrap(), 201);
    /// assert_eq!(*cached.call(100).await.unwrap_err(), "overflow");
    /// # });
    /// ```
    #[track_caller]
    pub fn try_build<A, V, E, F, Fut>(self, function: F) -> TryCached<A, V, E>
    where
        A: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let boxed: Function<A, V, E> =
            Box::new(move |args| Box::pin(function(args)) as Compute<V, E>);
        TryCached {
            core: Arc::new(self.core::<F, _, _, _, _>(boxed, identity_key())),
        }
    }

    /// Validates the settings (the one place that does) and builds the core.
    #[track_caller]
    fn core<F, A, K, V, E>(
        self,
        function: Function<A, V, E>,
        make_key: MakeKey<A, K>,
    ) -> Core<A, K, V, E>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let limit = match self.limit {
            Limit::Bounded(n) => Some(NonZeroUsize::new(n).unwrap_or_else(|| {
                panic!(
                    "haiway cache: limit(0) would keep nothing; use a limit of at least 1, \
                     `unbounded()`, or call the function without a cache"
                )
            })),
            Limit::Unbounded => None,
        };
        if self.expiration == Some(Duration::ZERO) {
            panic!(
                "haiway cache: expiration(Duration::ZERO) would make every value stale at once; \
                 use a positive duration, or leave expiration unset for values that never expire"
            );
        }
        let name = self
            .name
            .unwrap_or_else(|| Arc::from(std::any::type_name::<F>()));
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        Core::new(name, function, make_key, limit, self.expiration, clock)
    }
}

impl Default for CacheBuilder {
    fn default() -> Self {
        CacheBuilder::new()
    }
}

impl fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("limit", &self.limit)
            .field("expiration", &self.expiration)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The arguments are the key: borrowed for lookups, cloned only to store.
fn identity_key<A: Clone + Send + Sync + 'static>() -> MakeKey<A, A> {
    Box::new(|args: &A| KeyRef::Borrowed(args))
}

/// Lifts an infallible future into the `Result` the core expects.
async fn call_infallible<V>(future: impl Future<Output = V>) -> Result<V, Infallible> {
    Ok(future.await)
}

/// A memoized async function; see the [module docs](self).
///
/// Cheap to clone: clones share the cache.
///
/// # Examples
///
/// A handle in a `static`:
///
/// ```
/// use haiway::cache::Cached;
/// use std::sync::LazyLock;
///
/// static GREETING: LazyLock<Cached<String, String>> = LazyLock::new(|| {
///     Cached::builder().limit(100).build(|name: String| async move { format!("hello, {name}") })
/// });
///
/// # futures_lite::future::block_on(async {
/// assert_eq!(GREETING.call("ada".into()).await, "hello, ada");
/// # });
/// ```
pub struct Cached<A, V, K = A> {
    /// Shared by every clone.
    core: Arc<Core<A, K, V, Infallible>>,
}

impl Cached<(), ()> {
    /// A [`CacheBuilder`] with the default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let cached = haiway::cache::Cached::builder().limit(10).build(|x: i32| async move { -x });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(cached.call(5).await, -5);
    /// # });
    /// ```
    pub fn builder() -> CacheBuilder {
        CacheBuilder::new()
    }
}

impl<A, V, K> Cached<A, V, K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The value for `args`: a clone of the stored one, or the function's result.
    ///
    /// # Panics
    ///
    /// If this call runs the function and the function panics, the panic reaches this
    /// caller (and nothing is stored); callers waiting on it start over.
    ///
    /// # Examples
    ///
    /// ```
    /// let len = haiway::cache::cache(|s: String| async move { s.len() });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(len.call("four".into()).await, 4);
    /// # });
    /// ```
    #[inline]
    pub fn call(&self, args: A) -> Call<'_, A, V, K> {
        Call::new(Calling::new(&self.core, args))
    }

    /// Removes every stored value. Computations running now will not store their
    /// results.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::cache(|x: u8| async move { x });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await;
    /// c.clear_cache().await;
    /// assert_eq!(c.stats().len, 0);
    /// # });
    /// ```
    pub fn clear_cache(&self) -> ClearCache<'_, K> {
        ClearCache::new(&*self.core, None)
    }

    /// Removes the value stored for `args`; a computation of it running now will not
    /// store its result.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::Cached::builder().limit(2).build(|x: u8| async move { x });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await;
    /// c.call(2).await;
    /// c.clear_call_cache(&1).await;
    /// assert_eq!(c.stats().len, 1);
    /// # });
    /// ```
    pub fn clear_call_cache(&self, args: &A) -> ClearCache<'_, K> {
        let key = (self.core.make_key)(args).into_owned();
        ClearCache::new(&*self.core, Some(key))
    }

    /// The cache's counters now.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::cache(|x: u8| async move { x });
    /// assert_eq!(c.stats().misses, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The name used in this cache's events.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::Cached::builder().name("users").build(|x: u8| async move { x });
    /// assert_eq!(c.name(), "users");
    /// ```
    pub fn name(&self) -> &str {
        &self.core.name
    }

    #[cfg(any(test, fuzzing))]
    pub(crate) fn validate(&self) {
        self.core.validate();
    }
}

impl<A, V, K> Clone for Cached<A, V, K> {
    fn clone(&self) -> Self {
        Cached {
            core: self.core.clone(),
        }
    }
}

impl<A, V, K> fmt::Debug for Cached<A, V, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("name", &self.core.name)
            .finish_non_exhaustive()
    }
}

/// A memoized fallible async function: only `Ok` values are stored. Built by
/// [`try_cache`] or [`CacheBuilder::try_build`].
///
/// An error is shared, as an `Arc<E>`, with every caller that waited on the same run
/// of the function (so `E` need not be `Clone`), and is never stored.
///
/// # Examples
///
/// ```
/// use haiway::cache::try_cache;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// let attempts = Arc::new(AtomicU32::new(0));
/// let counter = attempts.clone();
/// let flaky = try_cache(move |(): ()| {
///     let n = counter.fetch_add(1, Ordering::SeqCst);
///     async move { if n == 0 { Err("first call fails") } else { Ok(n) } }
/// });
/// # futures_lite::future::block_on(async {
/// assert!(flaky.call(()).await.is_err()); // not stored
/// assert_eq!(flaky.call(()).await.unwrap(), 1); // ran again, stored
/// assert_eq!(flaky.call(()).await.unwrap(), 1); // hit
/// # });
/// assert_eq!(attempts.load(Ordering::SeqCst), 2);
/// ```
pub struct TryCached<A, V, E, K = A> {
    /// Shared by every clone.
    core: Arc<Core<A, K, V, E>>,
}

impl<A, V, E, K> TryCached<A, V, E, K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// The value for `args`, or the function's error.
    ///
    /// # Errors
    ///
    /// The function's error, shared with the callers that waited on the same run.
    ///
    /// # Panics
    ///
    /// If this call runs the function and it panics (nothing is stored; waiting
    /// callers start over).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: i32| async move { if x >= 0 { Ok(x) } else { Err("negative") } });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(c.call(3).await.unwrap(), 3);
    /// assert_eq!(*c.call(-1).await.unwrap_err(), "negative");
    /// # });
    /// ```
    #[inline]
    pub fn call(&self, args: A) -> TryCall<'_, A, V, E, K> {
        TryCall::new(Calling::new(&self.core, args))
    }

    /// Removes every stored value; see [`Cached::clear_cache`].
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: u8| async move { Ok::<_, ()>(x) });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await.unwrap();
    /// c.clear_cache().await;
    /// assert_eq!(c.stats().len, 0);
    /// # });
    /// ```
    pub fn clear_cache(&self) -> ClearCache<'_, K> {
        ClearCache::new(&*self.core, None)
    }

    /// Removes the value stored for `args`; see [`Cached::clear_call_cache`].
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: u8| async move { Ok::<_, ()>(x) });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await.unwrap();
    /// c.clear_call_cache(&1).await;
    /// assert_eq!(c.stats().len, 0);
    /// # });
    /// ```
    pub fn clear_call_cache(&self, args: &A) -> ClearCache<'_, K> {
        let key = (self.core.make_key)(args).into_owned();
        ClearCache::new(&*self.core, Some(key))
    }

    /// The cache's counters now.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: u8| async move { Ok::<_, ()>(x) });
    /// assert_eq!(c.stats().hits, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The name used in this cache's events.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::Cached::builder().name("n").try_build(|x: u8| async move { Ok::<_, ()>(x) });
    /// assert_eq!(c.name(), "n");
    /// ```
    pub fn name(&self) -> &str {
        &self.core.name
    }
}

impl<A, V, E, K> Clone for TryCached<A, V, E, K> {
    fn clone(&self) -> Self {
        TryCached {
            core: self.core.clone(),
        }
    }
}

impl<A, V, E, K> fmt::Debug for TryCached<A, V, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryCached")
            .field("name", &self.core.name)
            .finish_non_exhaustive()
    }
}

/// What a [`ClearCache`] future can clear: one key, or everything.
trait Clear<K>: Send + Sync {
    fn clear_all(&self);
    fn clear_key(&self, key: &K);
}

impl<A, K, V, E> Clear<K> for Core<A, K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn clear_all(&self) {
        self.clear();
    }
    fn clear_key(&self, key: &K) {
        Core::clear_key(self, key);
    }
}

/// The future returned by `clear_cache` and `clear_call_cache`: clears when first
/// polled.
#[must_use = "nothing is cleared until the future is awaited"]
pub struct ClearCache<'a, K> {
    /// The cache to clear.
    target: &'a dyn Clear<K>,
    /// One key, or `None` for everything.
    key: Option<K>,
    /// Already cleared.
    done: bool,
}

impl<'a, K> ClearCache<'a, K> {
    fn new(target: &'a dyn Clear<K>, key: Option<K>) -> Self {
        ClearCache {
            target,
            key,
            done: false,
        }
    }
}

impl<K> Unpin for ClearCache<'_, K> {}

impl<K> Future for ClearCache<'_, K> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        assert!(!self.done, "haiway: ClearCache polled after it completed");
        self.done = true;
        match self.key.take() {
            Some(key) => self.target.clear_key(&key),
            None => self.target.clear_all(),
        }
        Poll::Ready(())
    }
}

impl<K> fmt::Debug for ClearCache<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClearCache")
            .field("one_key", &self.key.is_some())
            .field("done", &self.done)
            .finish()
    }
}

const _: () = {
    const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    const fn assert_send<T: Send>() {}
    assert_send_sync_clone::<Cached<String, String>>();
    assert_send_sync_clone::<TryCached<String, String, std::io::Error>>();
    assert_send::<Call<'static, String, String>>();
    assert_send::<TryCall<'static, String, String, std::io::Error>>();
    assert_send::<ClearCache<'static, String>>();
};
