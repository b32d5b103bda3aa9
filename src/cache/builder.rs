//! [`CacheBuilder`]: the settings of a cache, and the stages that choose its key and
//! backend.
//!
//! The builder's type records what has been chosen, so a wrong combination does not
//! compile: the key function comes before the backend, and `write` / `clear` closures
//! exist only after a `read` closure.
//!
//! | stage | reached by | `build(f)` gives |
//! |---|---|---|
//! | [`Plain`] | `Cached::builder()` | in memory, keyed by the arguments |
//! | [`Keyed`] | `.make_key(..)` | in memory, keyed by `make_key` |
//! | [`FnBacked`] | `.read(..)`, then `.write(..)`, `.clear(..)` | a backend of closures |
//! | [`Backed`] | `.backend(b)` | a [`Backend`] implementation |

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use super::backend::{Backend, BoxError, DynBackend, FnBackend};
use super::cached::{Cached, TryCached};
use super::clock::{Clock, SystemClock};
use super::core::{Core, MakeKey};
use super::run::{Function, fallible, infallible};

mod stages;

/// How many values the memory tier keeps.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// At most this many (validated to be non-zero at build time).
    Bounded(usize),
    /// No limit.
    Unbounded,
}

/// Configures a cache, then wraps a function with [`build`](CacheBuilder::build) or
/// [`try_build`](CacheBuilder::try_build).
///
/// Get one with [`Cached::builder`]. Settings are checked in one place, when the cache
/// is built. See the [module docs](self) for the stages.
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
pub struct CacheBuilder<S = Plain> {
    /// How many values the memory tier keeps; `None`: the stage's default.
    limit: Option<Limit>,
    /// How many shards the store is split into (1: one exact LRU).
    shards: usize,
    /// How long a value lives.
    expiration: Option<Duration>,
    /// Name for events; defaults to the function's type name.
    name: Option<Cow<'static, str>>,
    /// Where time comes from.
    clock: Option<Arc<dyn Clock>>,
    /// The key and backend chosen so far.
    stage: S,
}

/// Builder stage: keyed by the arguments, in memory. See [`CacheBuilder`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

/// Builder stage: keyed by a `make_key` function. See [`CacheBuilder::make_key`].
pub struct Keyed<A, K> {
    /// Arguments to key.
    make_key: MakeKey<A, K>,
}

/// Builder stage: a backend of `read` / `write` / `clear` closures. See
/// [`CacheBuilder::read`].
pub struct FnBacked<A, K, V> {
    /// Arguments to key.
    make_key: MakeKey<A, K>,
    /// The closures.
    backend: FnBackend<K, V>,
}

/// Builder stage: a [`Backend`] implementation. See [`CacheBuilder::backend`].
pub struct Backed<A, K, B> {
    /// Arguments to key.
    make_key: MakeKey<A, K>,
    /// The backend.
    backend: B,
}

impl CacheBuilder<Plain> {
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
            limit: None,
            shards: 1,
            expiration: None,
            name: None,
            clock: None,
            stage: Plain,
        }
    }

    /// Keys the cache by `make_key(&args)` instead of the arguments themselves: to
    /// share keys with other processes through a backend, or to key by part of the
    /// arguments. The arguments then need not be `Hash`, `Eq` or `Clone`.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::Cached;
    ///
    /// struct Request { user_id: u64, trace: String }
    ///
    /// let profile = Cached::builder()
    ///     .limit(100)
    ///     .make_key(|r: &Request| r.user_id)
    ///     .build(|r: Request| async move { format!("profile {}", r.user_id) });
    /// # futures_lite::future::block_on(async {
    /// profile.call(Request { user_id: 1, trace: "a".into() }).await;
    /// profile.call(Request { user_id: 1, trace: "b".into() }).await; // same key: a hit
    /// # });
    /// assert_eq!(profile.stats().hits, 1);
    /// ```
    pub fn make_key<A, K, M>(self, make_key: M) -> CacheBuilder<Keyed<A, K>>
    where
        M: Fn(&A) -> K + Send + Sync + 'static,
    {
        let make_key: MakeKey<A, K> = Some(Box::new(make_key));
        self.stage(Keyed { make_key })
    }

    /// Uses a backend of closures, keyed by the arguments: `read` here, then
    /// [`write`](CacheBuilder::write) and optionally [`clear`](CacheBuilder::clear).
    /// Prefer [`make_key`](CacheBuilder::make_key) first when the key is shared with
    /// other processes.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::Cached;
    ///
    /// let cached = Cached::builder()
    ///     .read(|_key: u32| async { Ok::<_, std::io::Error>(Some(7)) })
    ///     .write(|_key: u32, _value: u32| async { Ok::<_, std::io::Error>(()) })
    ///     .build(|_x: u32| async { unreachable!("the backend has every value") });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(cached.call(1).await, 7);
    /// # });
    /// ```
    pub fn read<A, V, R, Fut, Er>(self, read: R) -> CacheBuilder<FnBacked<A, A, V>>
    where
        A: Clone + Send + Sync + 'static,
        V: Send + 'static,
        R: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<V>, Er>> + Send + 'static,
        Er: Into<BoxError>,
    {
        self.stage(FnBacked {
            make_key: identity_key(),
            backend: FnBackend::new(read),
        })
    }

    /// Uses `backend` (a [`Backend`] of the arguments and the function's values, checked
    /// at `build`), keyed by the arguments.
    ///
    /// # Examples
    ///
    /// See [`Backend`].
    pub fn backend<A, B>(self, backend: B) -> CacheBuilder<Backed<A, A, B>>
    where
        A: Clone + Send + Sync + 'static,
    {
        self.stage(Backed {
            make_key: identity_key(),
            backend,
        })
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
        Cached::from_core(self.split().0.core::<F, _, _, _, _>(
            infallible(function),
            identity_key(),
            None,
        ))
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
        TryCached::from_core(self.split().0.core::<F, _, _, _, _>(
            fallible(function),
            identity_key(),
            None,
        ))
    }
}

impl Default for CacheBuilder<Plain> {
    fn default() -> Self {
        CacheBuilder::new()
    }
}

/// The settings of a builder, without its stage.
struct Settings {
    limit: Option<Limit>,
    shards: usize,
    expiration: Option<Duration>,
    name: Option<Cow<'static, str>>,
    clock: Option<Arc<dyn Clock>>,
}

impl<S> CacheBuilder<S> {
    /// Keeps at most `limit` values in memory, evicting the least recently used.
    ///
    /// In memory the default is 1, as in haiway. With a backend the default is no memory
    /// tier; setting a limit adds one that answers before the backend.
    ///
    /// # Panics
    ///
    /// `build` panics if `limit` is 0: a cache that keeps nothing is a mistake. To turn
    /// caching off, call the function directly.
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::Cached::builder().limit(100);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(Limit::Bounded(limit));
        self
    }

    /// Keeps every value in memory until it expires or is cleared.
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::Cached::builder().unbounded();
    /// ```
    pub fn unbounded(mut self) -> Self {
        self.limit = Some(Limit::Unbounded);
        self
    }

    /// Splits the store into `shards` parts by key hash, each with its own lock, so
    /// calls on many cores contend less. The limit is split across them: each part is
    /// an exact LRU of its share, so eviction is LRU per shard, not across the whole
    /// cache. `shards` is rounded up to a power of two, at most 1,024, and lowered so
    /// that every shard keeps at least one value. The default, 1, is one exact LRU.
    ///
    /// # Examples
    ///
    /// ```
    /// let profiles = haiway::cache::Cached::builder()
    ///     .limit(10_000)
    ///     .shards(8)
    ///     .build(|id: u64| async move { id * 2 });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(profiles.call(21).await, 42);
    /// # });
    /// ```
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Lets a stored value live for `ttl` from when it was stored; the first call after
    /// that runs the function again. A hit does not extend it. Expiration is not a
    /// timeout: a slow function is never cancelled. A [`Backend`] is told the value
    /// too (Redis uses it as the key's TTL).
    ///
    /// # Panics
    ///
    /// `build` panics if `ttl` is zero: nothing could ever be reused.
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
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Measures expiration on `clock` instead of the system clock: tests pass a
    /// [`ManualClock`](super::ManualClock) to control time.
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

    fn stage<T>(self, stage: T) -> CacheBuilder<T> {
        CacheBuilder {
            limit: self.limit,
            shards: self.shards,
            expiration: self.expiration,
            name: self.name,
            clock: self.clock,
            stage,
        }
    }

    fn split(self) -> (Settings, S) {
        let settings = Settings {
            limit: self.limit,
            shards: self.shards,
            expiration: self.expiration,
            name: self.name,
            clock: self.clock,
        };
        (settings, self.stage)
    }
}

impl Settings {
    /// Tells a backend the expiration, then boxes it.
    fn attach<K, V, B>(&self, mut backend: B) -> Arc<dyn DynBackend<K, V>>
    where
        B: Backend<K, V>,
        K: Send + Sync + 'static,
        V: Send + 'static,
    {
        backend.set_expiration(self.expiration);
        Arc::new(backend)
    }

    /// Validates the settings (the one place that does) and builds the core.
    #[track_caller]
    fn core<F, A, K, V, E>(
        self,
        function: Function<A, V, E>,
        make_key: MakeKey<A, K>,
        backend: Option<Arc<dyn DynBackend<K, V>>>,
    ) -> Core<A, K, V, E>
    where
        A: Send + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        // In memory the default limit is 1 (haiway's); with a backend, no memory tier.
        let limit = self.limit.or(if backend.is_none() {
            Some(Limit::Bounded(1))
        } else {
            None
        });
        let memory = match limit {
            None => None,
            Some(Limit::Unbounded) => Some(None),
            Some(Limit::Bounded(n)) => Some(Some(NonZeroUsize::new(n).unwrap_or_else(|| {
                panic!(
                    "haiway cache: limit(0) would keep nothing; use a limit of at least 1, \
                     `unbounded()`, or call the function without a cache"
                )
            }))),
        };
        if self.expiration == Some(Duration::ZERO) {
            panic!(
                "haiway cache: expiration(Duration::ZERO) would make every value stale at once; \
                 use a positive duration, or leave expiration unset for values that never expire"
            );
        }
        let name = self
            .name
            .unwrap_or(Cow::Borrowed(std::any::type_name::<F>()));
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        Core::new(
            name,
            function,
            make_key,
            memory,
            self.shards,
            self.expiration,
            clock,
            backend,
        )
    }
}

impl<S> fmt::Debug for CacheBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("limit", &self.limit)
            .field("expiration", &self.expiration)
            .field("name", &self.name)
            .field("stage", &std::any::type_name::<S>())
            .finish_non_exhaustive()
    }
}

impl<A, K> fmt::Debug for Keyed<A, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed").finish_non_exhaustive()
    }
}

impl<A, K, V> fmt::Debug for FnBacked<A, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnBacked")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl<A, K, B> fmt::Debug for Backed<A, K, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backed").finish_non_exhaustive()
    }
}

/// The arguments are the key: borrowed for lookups, cloned only to store.
fn identity_key<A: Clone + Send + Sync + 'static>() -> MakeKey<A, A> {
    None
}
