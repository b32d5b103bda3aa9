//! The builder's later stages: a key function ([`Keyed`]), a backend of closures
//! ([`FnBacked`]), or a [`Backend`] implementation ([`Backed`]).

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use super::{Backed, CacheBuilder, FnBacked, Keyed};
use crate::cache::backend::{Backend, BoxError, DynBackend, FnBackend};
use crate::cache::cached::{Cached, TryCached};
use crate::cache::core::MakeKey;
use crate::cache::run::{fallible, infallible};

impl<A, K> CacheBuilder<Keyed<A, K>>
where
    A: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Uses a backend of closures, keyed by `make_key`: `read` here, then
    /// [`write`](CacheBuilder::write) and optionally [`clear`](CacheBuilder::clear).
    /// Keys are passed to the closures by value, so they move into `async` blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::Cached;
    /// use std::collections::HashMap;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let store: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    /// let (r, w) = (store.clone(), store.clone());
    /// let resolve_profile = Cached::builder()
    ///     .make_key(|user_id: &String| format!("profile:{user_id}"))
    ///     .read(move |key: String| {
    ///         let value = r.lock().unwrap().get(&key).cloned();
    ///         async move { Ok::<_, std::io::Error>(value) }
    ///     })
    ///     .write(move |key: String, value: String| {
    ///         w.lock().unwrap().insert(key, value);
    ///         async { Ok::<_, std::io::Error>(()) }
    ///     })
    ///     .build(|user_id: String| async move { format!("profile of {user_id}") });
    /// # futures_lite::future::block_on(async {
    /// resolve_profile.call("ada".to_owned()).await;
    /// # });
    /// assert_eq!(store.lock().unwrap()["profile:ada"], "profile of ada");
    /// ```
    pub fn read<V, R, Fut, Er>(self, read: R) -> CacheBuilder<FnBacked<A, K, V>>
    where
        V: Send + 'static,
        R: Fn(K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<V>, Er>> + Send + 'static,
        Er: Into<BoxError>,
    {
        let CacheBuilder {
            limit,
            shards,
            expiration,
            name,
            clock,
            stage,
        } = self;
        CacheBuilder {
            limit,
            shards,
            expiration,
            name,
            clock,
            stage: FnBacked {
                make_key: stage.make_key,
                backend: FnBackend::new(read),
            },
        }
    }

    /// Uses `backend`, keyed by `make_key`.
    ///
    /// # Examples
    ///
    /// See [`Backend`].
    pub fn backend<B>(self, backend: B) -> CacheBuilder<Backed<A, K, B>> {
        let make_key = self.stage.make_key;
        CacheBuilder {
            limit: self.limit,
            shards: self.shards,
            expiration: self.expiration,
            name: self.name,
            clock: self.clock,
            stage: Backed { make_key, backend },
        }
    }

    /// Wraps `function`, in memory, keyed by `make_key`.
    ///
    /// # Panics
    ///
    /// If the limit is 0 or the expiration is zero.
    ///
    /// # Examples
    ///
    /// See [`CacheBuilder::make_key`].
    #[track_caller]
    pub fn build<V, F, Fut>(self, function: F) -> Cached<A, V, K>
    where
        V: Clone + Send + Sync + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (settings, stage) = self.split();
        Cached::from_core(settings.core::<F, _, _, _, _>(
            infallible(function),
            stage.make_key,
            None,
        ))
    }

    /// Wraps the fallible `function`, in memory, keyed by `make_key`.
    ///
    /// # Panics
    ///
    /// If the limit is 0 or the expiration is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::Cached::builder()
    ///     .make_key(|s: &String| s.to_lowercase())
    ///     .try_build(|s: String| async move { s.parse::<u8>() });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(c.call("7".into()).await.unwrap(), 7);
    /// # });
    /// ```
    #[track_caller]
    pub fn try_build<V, E, F, Fut>(self, function: F) -> TryCached<A, V, E, K>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let (settings, stage) = self.split();
        TryCached::from_core(settings.core::<F, _, _, _, _>(
            fallible(function),
            stage.make_key,
            None,
        ))
    }
}

impl<A, K, V> CacheBuilder<FnBacked<A, K, V>>
where
    A: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Stores computed values with `write(key, value)`. The cache schedules it with
    /// [`ctx::spawn`](crate::ctx::spawn), so callers do not wait for it; outside any
    /// scope it is awaited inline. A failure is recorded as `cache.write_failed`.
    ///
    /// # Examples
    ///
    /// See [`CacheBuilder::read`].
    pub fn write<W, Fut, Er>(mut self, write: W) -> Self
    where
        W: Fn(K, V) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Er>> + Send + 'static,
        Er: Into<BoxError>,
    {
        self.stage.backend.set_write(write);
        self
    }

    /// Clears the backend: `clear(Some(key))` for `clear_call_cache`, `clear(None)` for
    /// `clear_cache`. Without it, clearing returns [`CacheError::Unsupported`].
    ///
    /// [`CacheError::Unsupported`]: crate::cache::CacheError::Unsupported
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::Cached;
    ///
    /// let cached = Cached::builder()
    ///     .read(|_k: u8| async { Ok::<Option<u8>, std::io::Error>(None) })
    ///     .write(|_k: u8, _v: u8| async { Ok::<(), std::io::Error>(()) })
    ///     .clear(|key: Option<u8>| async move {
    ///         println!("clearing {key:?}");
    ///         Ok::<(), std::io::Error>(())
    ///     })
    ///     .build(|x: u8| async move { x });
    /// # futures_lite::future::block_on(async {
    /// cached.clear_cache().await.unwrap();
    /// # });
    /// ```
    pub fn clear<C, Fut, Er>(mut self, clear: C) -> Self
    where
        C: Fn(Option<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Er>> + Send + 'static,
        Er: Into<BoxError>,
    {
        self.stage.backend.set_clear(clear);
        self
    }

    /// Wraps `function` in front of the backend (and of a memory tier, if a limit was
    /// set).
    ///
    /// # Panics
    ///
    /// If no `write` was given (values would be computed and never stored), if the
    /// limit is 0, or if the expiration is zero.
    ///
    /// # Examples
    ///
    /// See [`CacheBuilder::read`].
    #[track_caller]
    pub fn build<F, Fut>(self, function: F) -> Cached<A, V, K>
    where
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (settings, stage) = self.split();
        let (make_key, backend) = stage.into_parts();
        Cached::from_core(settings.core::<F, _, _, _, _>(
            infallible(function),
            make_key,
            Some(backend),
        ))
    }

    /// Wraps the fallible `function` in front of the backend: only `Ok` values are
    /// stored.
    ///
    /// # Panics
    ///
    /// As [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = haiway::cache::Cached::builder()
    ///     .read(|_k: u8| async { Ok::<Option<u8>, std::io::Error>(None) })
    ///     .write(|_k: u8, _v: u8| async { Ok::<(), std::io::Error>(()) })
    ///     .try_build(|x: u8| async move { x.checked_mul(2).ok_or("overflow") });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(c.call(4).await.unwrap(), 8);
    /// # });
    /// ```
    #[track_caller]
    pub fn try_build<E, F, Fut>(self, function: F) -> TryCached<A, V, E, K>
    where
        E: Send + Sync + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let (settings, stage) = self.split();
        let (make_key, backend) = stage.into_parts();
        TryCached::from_core(settings.core::<F, _, _, _, _>(
            fallible(function),
            make_key,
            Some(backend),
        ))
    }
}

impl<A, K, V> FnBacked<A, K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Send + 'static,
{
    /// The key function and the closures as a backend, refusing a backend that could
    /// never store a value.
    #[track_caller]
    fn into_parts(self) -> (MakeKey<A, K>, Arc<dyn DynBackend<K, V>>) {
        assert!(
            self.backend.has_write(),
            "haiway cache: a backend with `read` needs `write` too, or computed values would \
             never be stored; add `.write(|key, value| async {{ .. }})` to the builder"
        );
        (self.make_key, Arc::new(self.backend))
    }
}

impl<A, K, B> CacheBuilder<Backed<A, K, B>>
where
    A: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Wraps `function` in front of the backend (and of a memory tier, if a limit was
    /// set). The backend is told the cache's expiration first
    /// ([`Backend::set_expiration`]).
    ///
    /// # Panics
    ///
    /// If the limit is 0 or the expiration is zero.
    ///
    /// # Examples
    ///
    /// See [`Backend`].
    #[track_caller]
    pub fn build<V, F, Fut>(self, function: F) -> Cached<A, V, K>
    where
        V: Clone + Send + Sync + 'static,
        B: Backend<K, V>,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (settings, stage) = self.split();
        let backend = settings.attach(stage.backend);
        Cached::from_core(settings.core::<F, _, _, _, _>(
            infallible(function),
            stage.make_key,
            Some(backend),
        ))
    }

    /// Wraps the fallible `function` in front of the backend: only `Ok` values are
    /// stored.
    ///
    /// # Panics
    ///
    /// If the limit is 0 or the expiration is zero.
    ///
    /// # Examples
    ///
    /// See [`Backend`]; the function returns a `Result`.
    #[track_caller]
    pub fn try_build<V, E, F, Fut>(self, function: F) -> TryCached<A, V, E, K>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
        B: Backend<K, V>,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let (settings, stage) = self.split();
        let backend = settings.attach(stage.backend);
        TryCached::from_core(settings.core::<F, _, _, _, _>(
            fallible(function),
            stage.make_key,
            Some(backend),
        ))
    }
}
