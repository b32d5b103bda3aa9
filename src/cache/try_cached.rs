//! The handle of a memoized fallible function: [`TryCached`].

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use super::call::{Calling, TryCall};
use super::engine::Engine;
use super::futures::{CallOwned, ClearCache, Insert};
use super::stats::Stats;

/// A memoized fallible async function of `A`, returning `Result<V, E>`: only `Ok`
/// values are stored. Built by [`try_cache`](super::try_cache) or
/// [`CacheBuilder::try_build`](super::CacheBuilder::try_build).
///
/// A call returns the function's own `Result<V, E>`; every caller that waited on the
/// run that failed gets a clone of its error, so `E` is `Clone` (for an error that is
/// not, return an `Arc` of it from the function). An error is never stored.
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
/// let flaky = try_cache(move || {
///     let n = counter.fetch_add(1, Ordering::SeqCst);
///     async move { if n == 0 { Err("first call fails") } else { Ok(n) } }
/// });
/// # futures_lite::future::block_on(async {
/// assert_eq!(flaky.call(()).await, Err("first call fails")); // not stored
/// assert_eq!(flaky.call(()).await, Ok(1)); // ran again, stored
/// assert_eq!(flaky.call(()).await, Ok(1)); // hit
/// # });
/// assert_eq!(attempts.load(Ordering::SeqCst), 2);
/// ```
///
/// A call returns the function's error type, so `?` works on it:
///
/// ```
/// use haiway::cache::{try_cache, TryCached};
///
/// #[derive(Debug, Clone, PartialEq)]
/// enum FetchError {
///     NotFound,
/// }
///
/// async fn fetch_item(id: u32) -> Result<String, FetchError> {
///     if id == 0 { Err(FetchError::NotFound) } else { Ok(format!("item {id}")) }
/// }
///
/// async fn title_len(items: &TryCached<u32, String, FetchError>, id: u32) -> Result<usize, FetchError> {
///     Ok(items.call(id).await?.len())
/// }
///
/// let items = try_cache(fetch_item);
/// # futures_lite::future::block_on(async {
/// assert_eq!(title_len(&items, 1).await, Ok(6));
/// assert_eq!(title_len(&items, 0).await, Err(FetchError::NotFound));
/// # });
/// ```
pub struct TryCached<A, V, E> {
    /// Shared by every clone.
    engine: Arc<Engine<A, V, E>>,
}

impl<A, V, E> TryCached<A, V, E> {
    pub(crate) fn from_engine(engine: Engine<A, V, E>) -> Self {
        TryCached {
            engine: Arc::new(engine),
        }
    }

    /// The engine, for the builder to point a backend's invalidator at.
    pub(crate) fn engine(&self) -> &Arc<Engine<A, V, E>> {
        &self.engine
    }
}

impl<A, V, E> TryCached<A, V, E>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// The value for `args`, or the function's error.
    ///
    /// # Errors
    ///
    /// The function's error; the callers that waited on the same run get clones of it.
    ///
    /// # Panics
    ///
    /// If the function panics while this call polls it (nothing is stored; the run
    /// starts again for the other callers).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: i32| async move { if x >= 0 { Ok(x) } else { Err("negative") } });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(c.call(3).await, Ok(3));
    /// assert_eq!(c.call(-1).await, Err("negative"));
    /// # });
    /// ```
    #[inline]
    pub fn call(&self, args: A) -> TryCall<'_, A, V, E> {
        TryCall::new(Calling::new(&self.engine, args))
    }

    /// [`call`](Self::call), owning the handle: a `'static` future, to spawn; see
    /// [`Cached::call_owned`](super::Cached::call_owned).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: u8| async move { x.checked_add(1).ok_or("overflow") });
    /// let call = c.clone().call_owned(1);
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(call.await, Ok(2));
    /// # });
    /// ```
    pub fn call_owned(self, args: A) -> CallOwned<Result<V, E>> {
        CallOwned::new(Box::pin(async move { self.call(args).await }))
    }

    /// A clone of the value stored in memory for `args`, if any; see
    /// [`Cached::get`](super::Cached::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: u8| async move { Ok::<_, ()>(x) });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await.unwrap();
    /// # });
    /// assert_eq!(c.get(&1), Some(1));
    /// ```
    pub fn get<Q>(&self, args: &Q) -> Option<V>
    where
        A: Borrow<Q>,
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Into<A>,
    {
        self.engine.get(args)
    }

    /// Stores `value` for `args` as if the function had just returned it; see
    /// [`Cached::insert`](super::Cached::insert).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: u8| async move { Err::<u8, _>("unreachable") });
    /// # futures_lite::future::block_on(async {
    /// c.insert(1, 10).await;
    /// assert_eq!(c.call(1).await, Ok(10));
    /// # });
    /// ```
    pub fn insert(&self, args: A, value: V) -> Insert<'_> {
        Insert::new(self.engine.insert(args, value))
    }

    /// Removes every stored value; see [`Cached::clear_cache`](super::Cached::clear_cache).
    ///
    /// # Errors
    ///
    /// As [`Cached::clear_cache`](super::Cached::clear_cache).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: u8| async move { Ok::<_, ()>(x) });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await.unwrap();
    /// c.clear_cache().await.unwrap();
    /// assert_eq!(c.stats().len, 0);
    /// # });
    /// ```
    pub fn clear_cache(&self) -> ClearCache<'_> {
        ClearCache::new(self.engine.clear_cache())
    }

    /// Removes the value stored for the arguments `args` borrows as; see
    /// [`Cached::clear_call_cache`](super::Cached::clear_call_cache).
    ///
    /// # Errors
    ///
    /// As [`Cached::clear_cache`](super::Cached::clear_cache).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::try_cache(|x: u8| async move { Ok::<_, ()>(x) });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await.unwrap();
    /// c.clear_call_cache(&1).await.unwrap();
    /// assert_eq!(c.stats().len, 0);
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

    /// Removes the value stored under `key`; see
    /// [`Cached::clear_key`](super::Cached::clear_key).
    ///
    /// # Errors
    ///
    /// As [`Cached::clear_key`](super::Cached::clear_key).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::Cached::builder()
    ///     .make_key(|s: &String| s.to_lowercase())
    ///     .try_build(|s: String| async move { s.parse::<u8>() });
    /// # futures_lite::future::block_on(async {
    /// c.call("7".into()).await.unwrap();
    /// c.clear_key(&"7".to_owned()).await.unwrap();
    /// assert_eq!(c.stats().len, 0);
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
    /// let c = haiway::cache::try_cache(|x: u8| async move { Ok::<_, ()>(x) });
    /// assert_eq!(c.stats().hits, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        self.engine.stats()
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
        self.engine.name()
    }

    /// Checks the store's internal links (fuzzing builds only); panics on corruption.
    #[cfg(fuzzing)]
    #[doc(hidden)]
    pub fn validate(&self) {
        self.engine.validate();
    }
}

impl<A, V, E> Clone for TryCached<A, V, E> {
    fn clone(&self) -> Self {
        TryCached {
            engine: self.engine.clone(),
        }
    }
}

impl<A, V, E> fmt::Debug for TryCached<A, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryCached")
            .field("name", &self.engine.name())
            .finish_non_exhaustive()
    }
}
