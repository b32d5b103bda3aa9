//! Custom cache backends: the [`Backend`] trait, the closure form behind
//! [`CacheBuilder::read`](super::CacheBuilder::read), and the errors of clearing.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Any error a backend returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed, `Send` future borrowing for `'a`.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a cache keeps its values outside the process: Redis, a database, a file.
///
/// A cache with a backend looks a key up with [`read`](Backend::read); on a miss it runs
/// the function once (however many callers are waiting), returns the value at once, and
/// schedules [`write`](Backend::write) in the background: the caller does not wait for
/// persistence. Where the write goes is chosen at each write, in this order:
///
/// 1. Under a scope marked [`Scope::background`](crate::Scope::background) (the
///    application's, typically), the write is a background task of that owner
///    ([`ctx::spawn_background`](crate::ctx::spawn_background)): the request's scope
///    neither waits for it nor cancels it when dropped, so **a client that disconnects
///    does not lose the write**. It keeps the request's trace id for its events, and
///    the owner's scope (or its [`shutdown`](crate::ctx::Background::shutdown)) waits
///    for it. Use this in a web service.
/// 2. Otherwise, in a scope, it is a task of the current scope
///    ([`ctx::spawn`](crate::ctx::spawn)): the scope does not finish before the write has
///    landed, and dropping the scope's future cancels it.
/// 3. Outside any scope the write is awaited inline instead, so nothing is lost unless
///    the caller drops the call before it returns: that cancels the write with it.
///
/// Failures never fail a call: a failing `read` falls back to running the function
/// (event `cache.read_failed`), a failing `write` is recorded (event
/// `cache.write_failed`). Only clearing reports errors to its caller.
///
/// # Examples
///
/// ```
/// use haiway::cache::{Backend, BoxError, Cached};
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
///
/// #[derive(Clone, Default)]
/// struct MapBackend(Arc<Mutex<HashMap<String, String>>>);
///
/// impl Backend<String, String> for MapBackend {
///     async fn read(&self, key: &String) -> Result<Option<String>, BoxError> {
///         Ok(self.0.lock().unwrap().get(key).cloned())
///     }
///     async fn write(&self, key: String, value: String) -> Result<(), BoxError> {
///         self.0.lock().unwrap().insert(key, value);
///         Ok(())
///     }
///     async fn clear(&self, key: Option<&String>) -> Result<(), BoxError> {
///         let mut map = self.0.lock().unwrap();
///         match key {
///             Some(key) => drop(map.remove(key)),
///             None => map.clear(),
///         }
///         Ok(())
///     }
/// }
///
/// let store = MapBackend::default();
/// let greet = Cached::builder()
///     .backend(store.clone())
///     .build(|name: String| async move { format!("hello, {name}") });
/// # futures_lite::future::block_on(async {
/// assert_eq!(greet.call("ada".into()).await, "hello, ada");
/// # });
/// // Outside a scope the write was awaited: it has landed.
/// assert_eq!(store.0.lock().unwrap()["ada"], "hello, ada");
/// ```
pub trait Backend<K, V>: Send + Sync + 'static {
    /// The stored value for `key`, or `None` when there is none.
    fn read(&self, key: &K) -> impl Future<Output = Result<Option<V>, BoxError>> + Send;

    /// Stores `value` under `key`.
    fn write(&self, key: K, value: V) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Removes `key`'s value, or every value of this cache when `key` is `None`.
    ///
    /// The default reports [`ClearUnsupported`], which the cache turns into
    /// [`CacheError::Unsupported`].
    fn clear(&self, key: Option<&K>) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = key;
        async { Err(Box::new(ClearUnsupported) as BoxError) }
    }

    /// Removes `key`'s value only if it is still `value` (compare-and-delete), as one
    /// atomic step: nothing may be written to `key` between the comparison and the
    /// removal. `Ok` means `key` no longer holds `value`: it was removed, or `key` held
    /// something else (or nothing), which stays.
    ///
    /// The cache calls it to undo a backend write that a clear made stale (see
    /// [Clearing](super#clearing)): the write's value is removed, while a newer value
    /// written since the clear (by a later call, or by another process) is kept.
    ///
    /// The default clears the key whatever it holds, with
    /// [`clear(Some(key))`](Backend::clear): the stale value goes, and a newer one goes
    /// with it (the next call runs the function again). Implement it when the backend
    /// can compare and delete atomically;
    /// [`RedisBackend`](super::redis::RedisBackend) does, with a server-side script.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::{Backend, BoxError};
    /// use std::collections::HashMap;
    /// use std::sync::Mutex;
    ///
    /// struct MapBackend(Mutex<HashMap<u32, String>>);
    ///
    /// impl Backend<u32, String> for MapBackend {
    ///     async fn read(&self, key: &u32) -> Result<Option<String>, BoxError> {
    ///         Ok(self.0.lock().unwrap().get(key).cloned())
    ///     }
    ///     async fn write(&self, key: u32, value: String) -> Result<(), BoxError> {
    ///         self.0.lock().unwrap().insert(key, value);
    ///         Ok(())
    ///     }
    ///     async fn clear_if(&self, key: &u32, value: &String) -> Result<(), BoxError> {
    ///         // One lock around the comparison and the removal: atomic.
    ///         let mut map = self.0.lock().unwrap();
    ///         if map.get(key) == Some(value) {
    ///             map.remove(key);
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let backend = MapBackend(Mutex::new(HashMap::from([(1, "newer".to_owned())])));
    /// # futures_lite::future::block_on(async {
    /// // Undoing a stale "older" keeps the newer value...
    /// backend.clear_if(&1, &"older".to_owned()).await.unwrap();
    /// assert_eq!(backend.read(&1).await.unwrap().as_deref(), Some("newer"));
    /// // ...and removes the value it was given.
    /// backend.clear_if(&1, &"newer".to_owned()).await.unwrap();
    /// assert_eq!(backend.read(&1).await.unwrap(), None);
    /// # });
    /// ```
    fn clear_if(&self, key: &K, value: &V) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = value;
        self.clear(Some(key))
    }

    /// Told once, when the cache is built, how long its values live (its
    /// [`expiration`](super::CacheBuilder::expiration)), so the backend can expire them
    /// too (Redis: the key's TTL). The default ignores it.
    fn set_expiration(&mut self, expiration: Option<Duration>) {
        let _ = expiration;
    }

    /// Told once, when a cache with a memory tier is built, how to drop entries from
    /// that memory tier: a backend shared by several processes calls
    /// [`Invalidator::invalidate`] when it learns that another process changed or
    /// deleted a key, so this process stops serving its old copy. Without a memory tier
    /// it is not called. The default ignores it;
    /// [`RedisBackend`](super::redis::RedisBackend) listens to Redis for changes.
    ///
    /// # Examples
    ///
    /// See [`Invalidator`].
    fn set_invalidator(&mut self, invalidator: Invalidator<K>) {
        let _ = invalidator;
    }
}

/// A backend error meaning "this backend cannot clear"; see [`Backend::clear`].
///
/// # Examples
///
/// ```
/// let err = haiway::cache::ClearUnsupported;
/// assert!(err.to_string().contains("not supported"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ClearUnsupported;

impl fmt::Display for ClearUnsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("clearing is not supported by this backend")
    }
}

impl std::error::Error for ClearUnsupported {}

/// Why clearing a cache failed.
///
/// # Examples
///
/// ```
/// use haiway::cache::{CacheError, Cached};
///
/// // A backend without a `clear` function cannot clear.
/// let cached = Cached::builder()
///     .read(|_key: u32| async { Ok(None) })
///     .write(|_key: u32, _value: u32| async { Ok(()) })
///     .build(|x: u32| async move { x });
/// # futures_lite::future::block_on(async {
/// let err = cached.clear_cache().await.unwrap_err();
/// assert!(matches!(err, CacheError::Unsupported));
/// # });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError {
    /// The backend has no way to clear: give the builder a `clear` function, or
    /// implement [`Backend::clear`].
    Unsupported,
    /// The backend's `clear` failed.
    Backend(BoxError),
    /// [`clear_key`](super::Cached::clear_key) was given a key of another type than the
    /// cache's keys (the key function's output, or the arguments without one), so it
    /// could match no entry. Nothing was cleared.
    KeyType {
        /// The type of the cache's keys.
        expected: &'static str,
        /// The type of the key given.
        found: &'static str,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Unsupported => f.write_str(
                "clearing is not supported by this cache's backend: pass a `clear` function to \
                 the cache builder, or implement `Backend::clear`",
            ),
            CacheError::Backend(e) => write!(f, "the cache backend failed to clear: {e}"),
            CacheError::KeyType { expected, found } => write!(
                f,
                "this cache's keys are `{expected}`, not `{found}`: `clear_key` takes a key of \
                 the key function's output type (the arguments' type without a key function)"
            ),
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CacheError::Unsupported | CacheError::KeyType { .. } => None,
            CacheError::Backend(e) => Some(&**e),
        }
    }
}

impl CacheError {
    /// Classifies an error returned by [`Backend::clear`].
    pub(crate) fn from_backend(e: BoxError) -> Self {
        if e.is::<ClearUnsupported>() {
            CacheError::Unsupported
        } else {
            CacheError::Backend(e)
        }
    }
}

/// The object-safe form of [`Backend`] that a cache stores.
pub(crate) trait DynBackend<K, V>: Send + Sync {
    /// `'static`: the read lives in its flight, which any caller may drive.
    fn read_owned(self: Arc<Self>, key: K) -> BoxFut<'static, Result<Option<V>, BoxError>>;
    /// `'static`: the write is spawned and may outlive the call.
    fn write(self: Arc<Self>, key: K, value: V) -> BoxFut<'static, Result<(), BoxError>>;
    fn clear<'a>(&'a self, key: Option<&'a K>) -> BoxFut<'a, Result<(), BoxError>>;
    fn clear_if<'a>(&'a self, key: &'a K, value: &'a V) -> BoxFut<'a, Result<(), BoxError>>;
}

impl<K, V, B> DynBackend<K, V> for B
where
    B: Backend<K, V>,
    K: Send + Sync + 'static,
    V: Send + 'static,
{
    fn read_owned(self: Arc<Self>, key: K) -> BoxFut<'static, Result<Option<V>, BoxError>> {
        Box::pin(async move { Backend::read(&*self, &key).await })
    }
    fn write(self: Arc<Self>, key: K, value: V) -> BoxFut<'static, Result<(), BoxError>> {
        Box::pin(async move { Backend::write(&*self, key, value).await })
    }
    fn clear<'a>(&'a self, key: Option<&'a K>) -> BoxFut<'a, Result<(), BoxError>> {
        Box::pin(Backend::clear(self, key))
    }
    fn clear_if<'a>(&'a self, key: &'a K, value: &'a V) -> BoxFut<'a, Result<(), BoxError>> {
        Box::pin(Backend::clear_if(self, key, value))
    }
}

/// A read function of the closure form.
type ReadFn<K, V> = Box<dyn Fn(K) -> BoxFut<'static, Result<Option<V>, BoxError>> + Send + Sync>;
/// A write function of the closure form.
type WriteFn<K, V> = Box<dyn Fn(K, V) -> BoxFut<'static, Result<(), BoxError>> + Send + Sync>;
/// A clear function of the closure form.
type ClearFn<K> = Box<dyn Fn(Option<K>) -> BoxFut<'static, Result<(), BoxError>> + Send + Sync>;

/// A `read` closure of the builder, boxed.
pub(crate) fn read_fn<K, V, R, Fut>(read: R) -> ReadFn<K, V>
where
    R: Fn(K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<V>, BoxError>> + Send + 'static,
{
    Box::new(move |key| Box::pin(read(key)))
}

/// A `write` closure of the builder, boxed.
pub(crate) fn write_fn<K, V, W, Fut>(write: W) -> WriteFn<K, V>
where
    W: Fn(K, V) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    Box::new(move |key, value| Box::pin(write(key, value)))
}

/// A `clear` closure of the builder, boxed.
pub(crate) fn clear_fn<K, C, Fut>(clear: C) -> ClearFn<K>
where
    C: Fn(Option<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    Box::new(move |key| Box::pin(clear(key)))
}

/// The backend built from the builder's `read`, `write` and `clear` closures. Keys are
/// passed to the closures by value (cloned), so they can move into `async` blocks.
pub(crate) struct FnBackend<K, V> {
    /// Reads a key.
    pub(crate) read: ReadFn<K, V>,
    /// Writes a computed value.
    pub(crate) write: WriteFn<K, V>,
    /// Clears; without it clearing reports `Unsupported`.
    pub(crate) clear: Option<ClearFn<K>>,
}

impl<K, V> Backend<K, V> for FnBackend<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Send + 'static,
{
    fn read(&self, key: &K) -> impl Future<Output = Result<Option<V>, BoxError>> + Send {
        (self.read)(key.clone())
    }

    fn write(&self, key: K, value: V) -> impl Future<Output = Result<(), BoxError>> + Send {
        (self.write)(key, value)
    }

    fn clear(&self, key: Option<&K>) -> impl Future<Output = Result<(), BoxError>> + Send {
        let fut = self.clear.as_ref().map(|c| c(key.cloned()));
        async move {
            match fut {
                Some(fut) => fut.await,
                None => Err(Box::new(ClearUnsupported) as BoxError),
            }
        }
    }
}

impl<K, V> fmt::Debug for FnBackend<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnBackend")
            .field("clear", &self.clear.is_some())
            .finish_non_exhaustive()
    }
}

/// What a cache's memory tier is told by its backend: "this key changed elsewhere,
/// drop your copy". A backend gets one from [`Backend::set_invalidator`] when a cache
/// with a memory tier is built. Cheap to clone; it keeps the cache alive no longer
/// than its handles do (once they are all dropped, it does nothing).
///
/// Dropping an entry touches only the memory tier: the backend is not cleared and no
/// backend write is undone. A computation of the key running at that moment still
/// returns its value to its callers, but stores it nowhere (neither in memory nor in
/// the backend, which holds the newer value).
///
/// # Examples
///
/// ```
/// use haiway::cache::{Backend, BoxError, Cached, Invalidator};
/// use std::sync::{Arc, Mutex};
///
/// /// A backend that never has a value, and keeps the invalidator to use later.
/// #[derive(Default)]
/// struct Remote(Arc<Mutex<Option<Invalidator<u32>>>>);
///
/// impl Backend<u32, String> for Remote {
///     async fn read(&self, _key: &u32) -> Result<Option<String>, BoxError> {
///         Ok(None)
///     }
///     async fn write(&self, _key: u32, _value: String) -> Result<(), BoxError> {
///         Ok(())
///     }
///     fn set_invalidator(&mut self, invalidator: Invalidator<u32>) {
///         *self.0.lock().unwrap() = Some(invalidator);
///     }
/// }
///
/// let remote = Remote::default();
/// let slot = remote.0.clone();
/// let cached = Cached::builder()
///     .limit(10) // a memory tier: the backend gets an invalidator
///     .backend(remote)
///     .build(|x: u32| async move { x.to_string() });
/// # futures_lite::future::block_on(async {
/// cached.call(1).await;
/// assert_eq!(cached.get(&1).as_deref(), Some("1"));
/// // Another process changed key 1: this one drops its copy.
/// slot.lock().unwrap().as_ref().unwrap().invalidate(&1);
/// assert_eq!(cached.get(&1), None);
/// # });
/// ```
pub struct Invalidator<K> {
    /// The memory tier's entry point, set once the cache is built.
    target: Arc<OnceLock<ForgetFn<K>>>,
    /// The memory tier's limit; `None`: unbounded.
    limit: Option<usize>,
}

/// Drops a key's entry (`None`: every entry) from a memory tier.
pub(crate) type ForgetFn<K> = Box<dyn Fn(Option<&K>) + Send + Sync>;

impl<K> Invalidator<K> {
    /// An invalidator for a memory tier of `limit` entries, to be [`bind`](Self::bind)-ed
    /// once the cache is built.
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Invalidator {
            target: Arc::new(OnceLock::new()),
            limit,
        }
    }

    /// Points this invalidator (and its clones) at a built cache's memory tier.
    pub(crate) fn bind(&self, forget: ForgetFn<K>) {
        let _ = self.target.set(forget);
    }

    /// Drops `key`'s entry from the memory tier (and forgets a computation of it that
    /// is running, whose result will then not be stored).
    ///
    /// # Examples
    ///
    /// See [`Invalidator`].
    pub fn invalidate(&self, key: &K) {
        if let Some(forget) = self.target.get() {
            forget(Some(key));
        }
    }

    /// Drops every entry from the memory tier: for a backend that may have missed
    /// changes (its connection to the shared store was lost).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::{Backend, BoxError, Cached, Invalidator};
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Default)]
    /// struct Remote(Arc<Mutex<Option<Invalidator<u32>>>>);
    /// impl Backend<u32, u32> for Remote {
    ///     async fn read(&self, _key: &u32) -> Result<Option<u32>, BoxError> { Ok(None) }
    ///     async fn write(&self, _key: u32, _value: u32) -> Result<(), BoxError> { Ok(()) }
    ///     fn set_invalidator(&mut self, invalidator: Invalidator<u32>) {
    ///         *self.0.lock().unwrap() = Some(invalidator);
    ///     }
    /// }
    ///
    /// let remote = Remote::default();
    /// let slot = remote.0.clone();
    /// let cached = Cached::builder().limit(10).backend(remote).build(|x: u32| async move { x });
    /// # futures_lite::future::block_on(async {
    /// cached.call(1).await;
    /// cached.call(2).await;
    /// slot.lock().unwrap().as_ref().unwrap().invalidate_all();
    /// assert_eq!(cached.stats().len, 0);
    /// # });
    /// ```
    pub fn invalidate_all(&self) {
        if let Some(forget) = self.target.get() {
            forget(None);
        }
    }

    /// How many entries the memory tier keeps at most (`None`: unbounded), for a
    /// backend that keeps track of the keys the memory tier may hold.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::{Backend, BoxError, Cached, Invalidator};
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Default)]
    /// struct Remote(Arc<Mutex<Option<usize>>>);
    /// impl Backend<u32, u32> for Remote {
    ///     async fn read(&self, _key: &u32) -> Result<Option<u32>, BoxError> { Ok(None) }
    ///     async fn write(&self, _key: u32, _value: u32) -> Result<(), BoxError> { Ok(()) }
    ///     fn set_invalidator(&mut self, invalidator: Invalidator<u32>) {
    ///         *self.0.lock().unwrap() = invalidator.limit();
    ///     }
    /// }
    ///
    /// let remote = Remote::default();
    /// let limit = remote.0.clone();
    /// let _cached = Cached::builder().limit(64).backend(remote).build(|x: u32| async move { x });
    /// assert_eq!(*limit.lock().unwrap(), Some(64));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }
}

impl<K> Clone for Invalidator<K> {
    fn clone(&self) -> Self {
        Invalidator {
            target: self.target.clone(),
            limit: self.limit,
        }
    }
}

impl<K> fmt::Debug for Invalidator<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invalidator")
            .field("bound", &self.target.get().is_some())
            .field("limit", &self.limit)
            .finish()
    }
}
