//! [`CacheBuilder`]: the settings of a cache, and the stages that choose its key and
//! backend.
//!
//! The builder's type records what has been chosen, so a wrong combination does not
//! compile: the key function comes before the backend, a `read` closure needs a
//! `write` closure before the cache can be built, and a `clear` closure comes after
//! both. The only settings that panic, at `build`, are a zero limit and a zero
//! expiration.
//!
//! | stage | reached by | `build(f)` gives |
//! |---|---|---|
//! | [`Plain`] | `Cached::builder()` | in memory, keyed by the arguments |
//! | [`Keyed`] | `.make_key(..)` | in memory, keyed by `make_key` |
//! | [`Reading`] | `.read(..)` | nothing yet: add `.write(..)` |
//! | [`FnBacked`] | `.read(..).write(..)`, then `.clear(..)` | a backend of closures |
//! | [`Backed`] | `.backend(b)` | a [`Backend`] implementation |
//!
//! A `read` without a `write` does not compile:
//!
//! ```compile_fail,E0599
//! use haiway::cache::Cached;
//!
//! let cached = Cached::builder()
//!     .read(|key: u32| async move { Ok(Some(key)) })
//!     .build(|x: u32| async move { x }); // no `build` before `.write(..)`
//! ```

use std::borrow::Cow;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use super::backend::{Backend, DynBackend, FnBackend, Invalidator};
use super::cached::{Cached, TryCached};
use super::clock::{Clock, SystemClock};
use super::core::{Core, MakeKey};
use super::engine::{Engine, KeyedCore};
use super::function::{CacheFn, default_name};
use super::key::ErasedBackend;
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

/// Configures a cache of a function of `A` returning `V`, then wraps the function with
/// [`build`](CacheBuilder::build) or [`try_build`](CacheBuilder::try_build).
///
/// Get one with [`Cached::builder`]: `A` and `V` are inferred from the function given
/// to `build`, or named up front (`Cached::<String, String>::builder()`). Settings are
/// checked in one place, when the cache is built. See the [module docs](self) for the
/// stages.
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
///
/// // The types named up front, the function checked against them.
/// let greet = Cached::<String, String>::builder()
///     .limit(10)
///     .build(|name: String| async move { format!("hello, {name}") });
/// # futures_lite::future::block_on(async {
/// assert_eq!(greet.call("ada".into()).await, "hello, ada");
/// # });
/// ```
#[must_use = "a CacheBuilder does nothing until `.build(function)`"]
pub struct CacheBuilder<A, V, S = Plain> {
    /// How many values the memory tier keeps; `None`: the stage's default.
    limit: Option<Limit>,
    /// How many shards the store is split into (1: one exact LRU).
    shards: usize,
    /// How long a value lives.
    expiration: Option<Duration>,
    /// Name for events; defaults to the function's name.
    name: Option<Cow<'static, str>>,
    /// Where time comes from.
    clock: Option<Arc<dyn Clock>>,
    /// The key and backend chosen so far.
    stage: S,
    /// The function's argument and value.
    types: PhantomData<fn(A) -> V>,
}

/// Builder stage: keyed by the arguments, in memory. See [`CacheBuilder`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

/// Builder stage: keyed by a `make_key` function. See [`CacheBuilder::make_key`].
pub struct Keyed<A, K> {
    /// Arguments to key.
    make_key: MakeKey<A, K>,
}

/// Builder stage: a `read` closure, waiting for its `write` closure. See
/// [`CacheBuilder::read`].
pub struct Reading<A, K, V> {
    /// Arguments to key.
    make_key: MakeKey<A, K>,
    /// The read closure.
    read: ReadFn<K, V>,
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

/// A boxed `read` closure.
type ReadFn<K, V> = Box<
    dyn Fn(K) -> super::backend::BoxFut<'static, Result<Option<V>, super::BoxError>> + Send + Sync,
>;

impl<A, V> CacheBuilder<A, V, Plain> {
    /// The defaults: limit 1 (as in haiway), no expiration, the function's name, the
    /// system clock. The same as [`Cached::builder`].
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::CacheBuilder::<u32, u32>::new();
    /// ```
    pub fn new() -> Self {
        CacheBuilder {
            limit: None,
            shards: 1,
            expiration: None,
            name: None,
            clock: None,
            stage: Plain,
            types: PhantomData,
        }
    }
}

impl<A, V> Default for CacheBuilder<A, V, Plain> {
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

impl<A, V, S> CacheBuilder<A, V, S> {
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
    /// let _builder = haiway::cache::Cached::<u32, u32>::builder().limit(100);
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
    /// let _builder = haiway::cache::Cached::<u32, u32>::builder().unbounded();
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
    /// let _builder = haiway::cache::Cached::<u32, u32>::builder()
    ///     .expiration(std::time::Duration::from_secs(30));
    /// ```
    pub fn expiration(mut self, ttl: Duration) -> Self {
        self.expiration = Some(ttl);
        self
    }

    /// Names the cache in its events (the `cache` attribute). The default is the
    /// wrapped function's name (`fetch_profile`), or `cache` for a closure.
    ///
    /// # Examples
    ///
    /// ```
    /// let _builder = haiway::cache::Cached::<u32, u32>::builder().name("profiles");
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
    ///     .build(|| async { std::time::Instant::now() });
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

    fn stage<T>(self, stage: T) -> CacheBuilder<A, V, T> {
        self.split().0.into_builder(stage)
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
    /// A builder with these settings at `stage`.
    fn into_builder<A, V, T>(self, stage: T) -> CacheBuilder<A, V, T> {
        CacheBuilder {
            limit: self.limit,
            shards: self.shards,
            expiration: self.expiration,
            name: self.name,
            clock: self.clock,
            stage,
            types: PhantomData,
        }
    }

    /// Tells a backend the expiration and, with a memory tier, gives it an invalidator
    /// (bound to the memory tier once the cache is built), then boxes it.
    fn attach<K, V, B>(&self, mut backend: B) -> Attached<K, V>
    where
        B: Backend<K, V>,
        K: Send + Sync + 'static,
        V: Send + 'static,
    {
        backend.set_expiration(self.expiration);
        // With a backend there is a memory tier only when a limit was set.
        let invalidator = self.limit.map(|limit| {
            Invalidator::new(match limit {
                Limit::Bounded(n) => Some(n),
                Limit::Unbounded => None,
            })
        });
        if let Some(invalidator) = &invalidator {
            backend.set_invalidator(invalidator.clone());
        }
        (Arc::new(backend), invalidator)
    }

    /// Validates the settings (the one place that does) and builds the engine of the
    /// function `F`: keyed by the arguments without `make_key` (then `K` is `A`), by
    /// erased keys with it.
    #[track_caller]
    fn engine<F, A, K, V, E>(
        self,
        function: Function<A, V, E>,
        make_key: MakeKey<A, K>,
        backend: Option<Arc<dyn DynBackend<K, V>>>,
    ) -> Engine<A, V, E>
    where
        A: Hash + Eq + Clone + Send + Sync + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let Some(make_key) = make_key else {
            // Without a key function the stages keep `K` as `A`.
            let backend: Box<dyn std::any::Any> = Box::new(backend);
            let backend = *backend
                .downcast::<Option<Arc<dyn DynBackend<A, V>>>>()
                .unwrap_or_else(|_| {
                    unreachable!("a cache without a key function is keyed by its arguments")
                });
            return Engine::Plain(self.core::<F, _, _, _, _>(function, None, backend));
        };
        let (boxing, probe, key_type) = KeyedCore::<A, V, E>::key_fn(make_key);
        let backend = backend
            .map(|backend| Arc::new(ErasedBackend::new(backend)) as Arc<dyn DynBackend<_, V>>);
        let core = self.core::<F, _, _, _, _>(function, Some(boxing), backend);
        Engine::Keyed(KeyedCore::new(core, probe, key_type))
    }

    /// Validates the settings and builds a core.
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
        E: Clone + Send + Sync + 'static,
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
        let name = self.name.unwrap_or_else(default_name::<F>);
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

    /// Builds the handle of the infallible `function`.
    #[track_caller]
    fn build<F, M, A, K, V>(
        self,
        function: F,
        make_key: MakeKey<A, K>,
        backend: Option<Attached<K, V>>,
    ) -> Cached<A, V>
    where
        F: CacheFn<A, M, Output = V>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let function = infallible(move |args: A| function.call(args));
        let (backend, invalidator) = backend.map_or((None, None), |(b, i)| (Some(b), i));
        let cached = Cached::from_engine(self.engine::<F, _, _, _, _>(function, make_key, backend));
        if let Some(invalidator) = invalidator {
            bind(&invalidator, cached.engine());
        }
        cached
    }

    /// Builds the handle of the fallible `function`.
    #[track_caller]
    fn try_build<F, M, A, K, V, E>(
        self,
        function: F,
        make_key: MakeKey<A, K>,
        backend: Option<Attached<K, V>>,
    ) -> TryCached<A, V, E>
    where
        F: CacheFn<A, M, Output = Result<V, E>>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let function = fallible(move |args: A| function.call(args));
        let (backend, invalidator) = backend.map_or((None, None), |(b, i)| (Some(b), i));
        let cached =
            TryCached::from_engine(self.engine::<F, _, _, _, _>(function, make_key, backend));
        if let Some(invalidator) = invalidator {
            bind(&invalidator, cached.engine());
        }
        cached
    }
}

/// A backend as the builder hands it to a cache: boxed, with the invalidator it was
/// given (when the cache has a memory tier).
type Attached<K, V> = (Arc<dyn DynBackend<K, V>>, Option<Invalidator<K>>);

/// Points `invalidator` at `engine`'s memory tier, without keeping the engine alive.
fn bind<A, K, V, E>(invalidator: &Invalidator<K>, engine: &Arc<Engine<A, V, E>>)
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    let engine = Arc::downgrade(engine);
    invalidator.bind(Box::new(move |key: Option<&K>| {
        if let Some(engine) = engine.upgrade() {
            engine.forget(key);
        }
    }));
}

impl<A, V, S> fmt::Debug for CacheBuilder<A, V, S> {
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

impl<A, K, V> fmt::Debug for Reading<A, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reading").finish_non_exhaustive()
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

/// [`Cached::builder`] lives here, beside what it returns: `cached` does not import
/// the builder, which imports it.
impl<A, V> Cached<A, V> {
    /// A [`CacheBuilder`] with the default settings. `A` and `V` are inferred from the
    /// function given to `build`, or named here (`Cached::<String, String>::builder()`),
    /// and the function is then checked against them.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::Cached;
    ///
    /// let negate = Cached::builder().limit(10).build(|x: i32| async move { -x });
    /// let upper = Cached::<String, String>::builder().build(|s: String| async move { s.to_uppercase() });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(negate.call(5).await, -5);
    /// assert_eq!(upper.call("a".into()).await, "A");
    /// # });
    /// ```
    pub fn builder() -> CacheBuilder<A, V> {
        CacheBuilder::new()
    }
}
