//! The handle of a memoized function: [`Cached`] (and, in
//! [`try_cached`](super::try_cached), [`TryCached`]).

use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use super::call::{Call, Calling};
use super::engine::Engine;
use super::futures::{CallOwned, ClearCache, Insert};
use super::stats::Stats;

pub use super::try_cached::TryCached;

/// A memoized async function of `A` returning `V`; see the [module docs](super).
///
/// Its type names the arguments and the value only, whatever key function or backend
/// the cache has. Cheap to clone: clones share the cache.
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
///
/// A field of this type takes a cache with a key function too:
///
/// ```
/// use haiway::cache::Cached;
///
/// struct Profiles {
///     cache: Cached<u32, String>,
/// }
///
/// let profiles = Profiles {
///     cache: Cached::builder()
///         .make_key(|id: &u32| format!("profile:{id}"))
///         .build(|id: u32| async move { format!("profile {id}") }),
/// };
/// # futures_lite::future::block_on(async {
/// assert_eq!(profiles.cache.call(7).await, "profile 7");
/// # });
/// ```
pub struct Cached<A, V> {
    /// Shared by every clone.
    engine: Arc<Engine<A, V, Infallible>>,
}

impl<A, V> Cached<A, V> {
    pub(crate) fn from_engine(engine: Engine<A, V, Infallible>) -> Self {
        Cached {
            engine: Arc::new(engine),
        }
    }

    /// The engine, for the builder to point a backend's invalidator at.
    pub(crate) fn engine(&self) -> &Arc<Engine<A, V, Infallible>> {
        &self.engine
    }
}

impl<A, V> Cached<A, V>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The value for `args`: a clone of the stored one, or the function's result.
    ///
    /// The future borrows the handle; [`call_owned`](Self::call_owned) gives one that
    /// owns it, for `'static` futures.
    ///
    /// # Panics
    ///
    /// If the function panics while this call polls it, the panic reaches this caller
    /// (and nothing is stored); the run starts again for the other callers of the same
    /// key. Any caller of a key may be the one polling its run.
    ///
    /// # Cancellation
    ///
    /// Dropping the returned future leaves the run to the other callers of the same
    /// key, if any: whichever is polled drives it on, so the function's work is not
    /// lost. The run is dropped only when no caller is left. If this call drove the run
    /// and tasks were spawned in its scope since (with [`ctx::spawn`](crate::ctx::spawn),
    /// from any thread; they may be the run's, and go with this call's scope), or the
    /// call is dropped in another scope, the run is started again for the others.
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
    pub fn call(&self, args: A) -> Call<'_, A, V> {
        Call::new(Calling::new(&self.engine, args))
    }

    /// [`call`](Self::call), owning the handle: a `'static` future, to spawn. Call it
    /// on a clone to keep the handle: `cached.clone().call_owned(args)`. It costs one
    /// allocation per call, which [`call`](Self::call) does not.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    ///
    /// let double = haiway::cache::cache(|x: u32| async move { x * 2 });
    /// # futures_lite::future::block_on(async {
    /// Scope::new("request")
    ///     .run(async {
    ///         // `ctx::spawn` (like `tokio::spawn`) needs a `'static` future.
    ///         let task = ctx::spawn(double.clone().call_owned(21));
    ///         assert_eq!(task.await, 42);
    ///     })
    ///     .await;
    /// # });
    /// ```
    pub fn call_owned(self, args: A) -> CallOwned<V> {
        CallOwned::new(Box::pin(async move { self.call(args).await }))
    }

    /// A clone of the value stored in memory for the arguments `args` borrows as (a
    /// `&str` for `String` arguments, as with `HashMap::get`), if it is there and has
    /// not expired. It does not run the function, join a run in flight, read the
    /// backend, record an event or count a hit or a miss; it counts as a use for the
    /// LRU order. A cache with a backend and no memory tier has nothing to return.
    ///
    /// # Examples
    ///
    /// ```
    /// let profile = haiway::cache::cache(|id: String| async move { format!("profile of {id}") });
    /// assert_eq!(profile.get("ada"), None);
    /// # futures_lite::future::block_on(async {
    /// profile.call("ada".to_owned()).await;
    /// # });
    /// assert_eq!(profile.get("ada").as_deref(), Some("profile of ada"));
    /// assert_eq!(profile.stats().hits, 0);
    /// ```
    pub fn get<Q>(&self, args: &Q) -> Option<V>
    where
        A: Borrow<Q>,
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Into<A>,
    {
        self.engine.get(args)
    }

    /// Stores `value` for `args` as if the function had just returned it: its
    /// expiration counts from now, it replaces a stored value, and a backend gets the
    /// write (spawned in the current scope, or awaited outside any, as for a computed
    /// value). A run of the same key in flight still answers its callers, but its
    /// result is not stored. Nothing happens until the future is awaited.
    ///
    /// # Examples
    ///
    /// ```
    /// let profile = haiway::cache::cache(|id: u32| async move { format!("fetched {id}") });
    /// # futures_lite::future::block_on(async {
    /// profile.insert(7, "primed".to_owned()).await;
    /// assert_eq!(profile.call(7).await, "primed"); // a hit: the function did not run
    /// # });
    /// ```
    pub fn insert(&self, args: A, value: V) -> Insert<'_> {
        Insert::new(self.engine.insert(args, value))
    }

    /// Removes every stored value, in memory and in the backend (`clear(None)`).
    /// Computations running now will not store their results.
    ///
    /// Once it has returned `Ok`, no call that starts afterwards returns a value
    /// computed before it, from memory or from the backend, whatever the timing of
    /// backend writes still in flight: a write outdated by the clear is skipped, or
    /// undone if it may have landed, and until then its key is not read from the
    /// backend (a call runs the function instead). See the
    /// [module docs](super#clearing).
    ///
    /// # Errors
    ///
    /// [`CacheError::Unsupported`](super::CacheError::Unsupported) when the backend
    /// cannot clear, or the backend's error. An in-memory cache always succeeds.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::cache(|x: u8| async move { x });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await;
    /// c.clear_cache().await.unwrap();
    /// assert_eq!(c.stats().len, 0);
    /// # });
    /// ```
    pub fn clear_cache(&self) -> ClearCache<'_> {
        ClearCache::new(self.engine.clear_cache())
    }

    /// Removes the value stored for the arguments `args` borrows as (a `&str` for
    /// `String` arguments, as with `HashMap::get`), in memory and in the backend
    /// (`clear(Some(&key))`); a computation of it running now will not store its
    /// result. Once it has returned `Ok`, no call of those arguments that starts
    /// afterwards returns a value computed before it, as with
    /// [`clear_cache`](Self::clear_cache). With a key function, clear by the key with
    /// [`clear_key`](Self::clear_key).
    ///
    /// # Errors
    ///
    /// As [`clear_cache`](Self::clear_cache).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::Cached::builder()
    ///     .limit(2)
    ///     .build(|name: String| async move { name.len() });
    /// # futures_lite::future::block_on(async {
    /// c.call("ada".to_owned()).await;
    /// c.call("grace".to_owned()).await;
    /// c.clear_call_cache("ada").await.unwrap();
    /// assert_eq!(c.stats().len, 1);
    /// # });
    /// ```
    pub fn clear_call_cache<Q>(&self, args: &Q) -> ClearCache<'_>
    where
        A: Borrow<Q>,
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Into<A>,
    {
        ClearCache::new(self.engine.clear_call(args))
    }

    /// Removes the value stored under `key`, as [`clear_call_cache`] does for the
    /// arguments that make it: with a key function, clear by the key without building
    /// arguments. `key` is of the key function's output type (without a key function,
    /// the arguments' type); a key of another type could match nothing, and the clear
    /// fails with [`CacheError::KeyType`](super::CacheError::KeyType).
    ///
    /// [`clear_call_cache`]: Self::clear_call_cache
    ///
    /// # Errors
    ///
    /// [`CacheError::KeyType`](super::CacheError::KeyType) for a key of another type;
    /// else as [`clear_cache`](Self::clear_cache).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::{CacheError, Cached};
    ///
    /// let profile = Cached::builder()
    ///     .make_key(|id: &u32| format!("profile:{id}"))
    ///     .build(|id: u32| async move { format!("profile {id}") });
    /// # futures_lite::future::block_on(async {
    /// profile.call(7).await;
    /// profile.clear_key(&"profile:7".to_owned()).await.unwrap();
    /// assert_eq!(profile.stats().len, 0);
    /// // Keys are `String`s: a `&'static str` is another type.
    /// let wrong = profile.clear_key(&"profile:7").await;
    /// assert!(matches!(wrong, Err(CacheError::KeyType { .. })));
    /// # });
    /// ```
    pub fn clear_key<K>(&self, key: &K) -> ClearCache<'_>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        ClearCache::new(self.engine.clear_key(key))
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
        self.engine.stats()
    }

    /// The name used in this cache's events: the one given to the builder, or the
    /// function's own name (`cache` for a closure).
    ///
    /// # Examples
    ///
    /// ```
    /// async fn fetch_profile(id: u32) -> String {
    ///     format!("profile {id}")
    /// }
    ///
    /// assert_eq!(haiway::cache::cache(fetch_profile).name(), "fetch_profile");
    /// assert_eq!(haiway::cache::cache(|x: u8| async move { x }).name(), "cache");
    /// let c = haiway::cache::Cached::builder().name("users").build(|x: u8| async move { x });
    /// assert_eq!(c.name(), "users");
    /// ```
    pub fn name(&self) -> &str {
        self.engine.name()
    }

    /// Checks the store's internal links (fuzzing builds only); panics on corruption.
    #[cfg(fuzzing)]
    #[doc(hidden)]
    pub fn validate(&self) {
        self.engine.validate();
    }
}

impl<A, V> Clone for Cached<A, V> {
    fn clone(&self) -> Self {
        Cached {
            engine: self.engine.clone(),
        }
    }
}

impl<A, V> fmt::Debug for Cached<A, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("name", &self.engine.name())
            .finish_non_exhaustive()
    }
}
