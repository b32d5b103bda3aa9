//! The handles: [`Cached`] and [`TryCached`], and the [`ClearCache`] future.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::backend::{BoxFut, CacheError};
use super::builder::CacheBuilder;
use super::call::{Call, Calling, TryCall};
use super::core::{Core, Stats};

/// A memoized async function; see the [module docs](super).
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

impl<A, V, K> Cached<A, V, K> {
    pub(crate) fn from_core(core: Core<A, K, V, Infallible>) -> Self {
        Cached {
            core: Arc::new(core),
        }
    }
}

impl<A, V, E, K> TryCached<A, V, E, K> {
    pub(crate) fn from_core(core: Core<A, K, V, E>) -> Self {
        TryCached {
            core: Arc::new(core),
        }
    }
}

impl<A, V, K> Cached<A, V, K>
where
    A: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The value for `args`: a clone of the stored one, or the function's result.
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
    pub fn call(&self, args: A) -> Call<'_, A, V, K> {
        Call::new(Calling::new(&self.core, args))
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
    /// [`CacheError::Unsupported`] when the backend cannot clear, or the backend's
    /// error. An in-memory cache always succeeds.
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
        ClearCache::new(self.core.clear_everywhere(None))
    }

    /// Removes the value stored for `args`, in memory and in the backend
    /// (`clear(Some(&key))`); a computation of it running now will not store its result.
    /// Once it has returned `Ok`, no call of `args` that starts afterwards returns a
    /// value computed before it, as with [`clear_cache`](Self::clear_cache).
    ///
    /// # Errors
    ///
    /// As [`clear_cache`](Self::clear_cache).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::Cached::builder().limit(2).build(|x: u8| async move { x });
    /// # futures_lite::future::block_on(async {
    /// c.call(1).await;
    /// c.call(2).await;
    /// c.clear_call_cache(&1).await.unwrap();
    /// assert_eq!(c.stats().len, 1);
    /// # });
    /// ```
    pub fn clear_call_cache(&self, args: &A) -> ClearCache<'_> {
        let key = self.core.key(args).into_owned();
        ClearCache::new(self.core.clear_everywhere(Some(key)))
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

    /// Checks the store's internal links (fuzzing builds only); panics on corruption.
    #[cfg(fuzzing)]
    #[doc(hidden)]
    pub fn validate(&self) {
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
/// [`try_cache`](super::try_cache) or [`CacheBuilder::try_build`].
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
    A: Send + 'static,
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
    /// If the function panics while this call polls it (nothing is stored; the run
    /// starts again for the other callers).
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
    /// # Errors
    ///
    /// As [`Cached::clear_cache`].
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
        ClearCache::new(self.core.clear_everywhere(None))
    }

    /// Removes the value stored for `args`; see [`Cached::clear_call_cache`].
    ///
    /// # Errors
    ///
    /// As [`Cached::clear_cache`].
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
    pub fn clear_call_cache(&self, args: &A) -> ClearCache<'_> {
        let key = self.core.key(args).into_owned();
        ClearCache::new(self.core.clear_everywhere(Some(key)))
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

    /// Checks the store's internal links (fuzzing builds only); panics on corruption.
    #[cfg(fuzzing)]
    #[doc(hidden)]
    pub fn validate(&self) {
        self.core.validate();
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

/// The future returned by `clear_cache` and `clear_call_cache`. Nothing is cleared
/// until it is awaited.
#[must_use = "nothing is cleared until the future is awaited"]
pub struct ClearCache<'a> {
    /// Clears memory, then the backend.
    inner: BoxFut<'a, Result<(), CacheError>>,
}

impl<'a> ClearCache<'a> {
    fn new(inner: BoxFut<'a, Result<(), CacheError>>) -> Self {
        ClearCache { inner }
    }
}

impl Future for ClearCache<'_> {
    type Output = Result<(), CacheError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ClearCache<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClearCache").finish_non_exhaustive()
    }
}
