//! The builder's stages: keyed by the arguments ([`Plain`]), by a key function
//! ([`Keyed`]), a `read` closure waiting for its `write` ([`Reading`]), a backend of
//! closures ([`FnBacked`]), or a [`Backend`] implementation ([`Backed`]).
//!
//! Backend closures return `Result<_, BoxError>`: `Ok(..)` needs no annotation, and
//! `?` converts any error.

use std::future::Future;
use std::hash::Hash;

use super::{Backed, CacheBuilder, FnBacked, Keyed, Plain, Reading};
use crate::cache::backend::{self, Backend, BoxError, FnBackend};
use crate::cache::cached::{Cached, TryCached};
use crate::cache::function::CacheFn;

impl<A, V> CacheBuilder<A, V, Plain> {
    /// Keys the cache by `make_key(&args)` instead of the arguments themselves: to
    /// share keys with other processes through a backend, or to key by part of the
    /// arguments. The handle's type stays `Cached<A, V>`. The arguments are `Hash + Eq
    /// + Clone` as for any cache (every handle's `call` asks it), though only their
    /// key is stored and compared; clear one call by its key with
    /// [`clear_key`](crate::cache::Cached::clear_key).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::Cached;
    ///
    /// #[derive(Clone, PartialEq, Eq, Hash)]
    /// struct Request { user_id: u64, trace: String }
    ///
    /// let profile: Cached<Request, String> = Cached::builder()
    ///     .limit(100)
    ///     .make_key(|r: &Request| r.user_id)
    ///     .build(|r: Request| async move { format!("profile {}", r.user_id) });
    /// # futures_lite::future::block_on(async {
    /// profile.call(Request { user_id: 1, trace: "a".into() }).await;
    /// profile.call(Request { user_id: 1, trace: "b".into() }).await; // same key: a hit
    /// # });
    /// assert_eq!(profile.stats().hits, 1);
    /// ```
    pub fn make_key<K, M>(self, make_key: M) -> CacheBuilder<A, V, Keyed<A, K>>
    where
        M: Fn(&A) -> K + Send + Sync + 'static,
    {
        self.stage(Keyed {
            make_key: Some(Box::new(make_key)),
        })
    }

    /// Uses a backend of closures, keyed by the arguments: `read` here, then
    /// [`write`](CacheBuilder::write) and optionally [`clear`](CacheBuilder::clear).
    /// Prefer [`make_key`](CacheBuilder::make_key) first when the key is shared with
    /// other processes. The closures return `Result<_, BoxError>`, so `Ok(..)` needs no
    /// annotation and `?` converts any error.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::Cached;
    ///
    /// let cached = Cached::builder()
    ///     .read(|key: u32| async move { Ok(Some(key * 10)) })
    ///     .write(|_key: u32, _value: u32| async { Ok(()) })
    ///     .build(|_x: u32| async { unreachable!("the backend has every value") });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(cached.call(1).await, 10);
    /// # });
    /// ```
    pub fn read<R, Fut>(self, read: R) -> CacheBuilder<A, V, Reading<A, A, V>>
    where
        R: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<V>, BoxError>> + Send + 'static,
    {
        self.stage(Reading {
            make_key: None,
            read: backend::read_fn(read),
        })
    }

    /// Uses `backend` (a [`Backend`] of the arguments and the function's values, checked
    /// at `build`), keyed by the arguments.
    ///
    /// # Examples
    ///
    /// See [`Backend`].
    pub fn backend<B>(self, backend: B) -> CacheBuilder<A, V, Backed<A, A, B>> {
        self.stage(Backed {
            make_key: None,
            backend,
        })
    }

    /// Wraps `function`, an async function of `A` (of several arguments: see
    /// [`CacheFn`]), with these settings.
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
    pub fn build<F, M>(self, function: F) -> Cached<A, V>
    where
        F: CacheFn<A, M, Output = V>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.split().0.build::<F, M, A, A, V>(function, None, None)
    }

    /// Wraps the fallible `function` with these settings: only `Ok` values are stored.
    /// An error reaches every caller that waited on the same run, each with a clone of
    /// it (for an error that is not `Clone`, return an `Arc` of it).
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
    /// assert_eq!(cached.call(1).await, Ok(201));
    /// assert_eq!(cached.call(100).await, Err("overflow"));
    /// # });
    /// ```
    #[track_caller]
    pub fn try_build<E, F, M>(self, function: F) -> TryCached<A, V, E>
    where
        F: CacheFn<A, M, Output = Result<V, E>>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.split()
            .0
            .try_build::<F, M, A, A, V, E>(function, None, None)
    }
}

impl<A, V, K> CacheBuilder<A, V, Keyed<A, K>>
where
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
    ///         async move { Ok(value) }
    ///     })
    ///     .write(move |key: String, value: String| {
    ///         w.lock().unwrap().insert(key, value);
    ///         async { Ok(()) }
    ///     })
    ///     .build(|user_id: String| async move { format!("profile of {user_id}") });
    /// # futures_lite::future::block_on(async {
    /// resolve_profile.call("ada".to_owned()).await;
    /// # });
    /// assert_eq!(store.lock().unwrap()["profile:ada"], "profile of ada");
    /// ```
    pub fn read<R, Fut>(self, read: R) -> CacheBuilder<A, V, Reading<A, K, V>>
    where
        R: Fn(K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<V>, BoxError>> + Send + 'static,
    {
        let (settings, stage) = self.split();
        settings.into_builder(Reading {
            make_key: stage.make_key,
            read: backend::read_fn(read),
        })
    }

    /// Uses `backend`, keyed by `make_key`.
    ///
    /// # Examples
    ///
    /// See [`Backend`].
    pub fn backend<B>(self, backend: B) -> CacheBuilder<A, V, Backed<A, K, B>> {
        let (settings, stage) = self.split();
        settings.into_builder(Backed {
            make_key: stage.make_key,
            backend,
        })
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
    pub fn build<F, M>(self, function: F) -> Cached<A, V>
    where
        F: CacheFn<A, M, Output = V>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let (settings, stage) = self.split();
        settings.build::<F, M, A, K, V>(function, stage.make_key, None)
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
    /// assert_eq!(c.call("7".into()).await, Ok(7));
    /// # });
    /// ```
    #[track_caller]
    pub fn try_build<E, F, M>(self, function: F) -> TryCached<A, V, E>
    where
        F: CacheFn<A, M, Output = Result<V, E>>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let (settings, stage) = self.split();
        settings.try_build::<F, M, A, K, V, E>(function, stage.make_key, None)
    }
}

impl<A, V, K> CacheBuilder<A, V, Reading<A, K, V>> {
    /// Stores computed values with `write(key, value)`. The cache schedules it with
    /// [`ctx::spawn`](crate::ctx::spawn), so callers do not wait for it; outside any
    /// scope it is awaited inline. A failure is recorded as `cache.write_failed`.
    ///
    /// # Examples
    ///
    /// See [`CacheBuilder::read`].
    pub fn write<W, Fut>(self, write: W) -> CacheBuilder<A, V, FnBacked<A, K, V>>
    where
        W: Fn(K, V) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let (settings, stage) = self.split();
        settings.into_builder(FnBacked {
            make_key: stage.make_key,
            backend: FnBackend {
                read: stage.read,
                write: backend::write_fn(write),
                clear: None,
            },
        })
    }
}

impl<A, V, K> CacheBuilder<A, V, FnBacked<A, K, V>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
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
    ///     .read(|_k: u8| async { Ok(None) })
    ///     .write(|_k: u8, _v: u8| async { Ok(()) })
    ///     .clear(|key: Option<u8>| async move {
    ///         println!("clearing {key:?}");
    ///         Ok(())
    ///     })
    ///     .build(|x: u8| async move { x });
    /// # futures_lite::future::block_on(async {
    /// cached.clear_cache().await.unwrap();
    /// # });
    /// ```
    pub fn clear<C, Fut>(mut self, clear: C) -> Self
    where
        C: Fn(Option<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.stage.backend.clear = Some(backend::clear_fn(clear));
        self
    }

    /// Wraps `function` in front of the backend (and of a memory tier, if a limit was
    /// set).
    ///
    /// # Panics
    ///
    /// If the limit is 0 or the expiration is zero.
    ///
    /// # Examples
    ///
    /// See [`CacheBuilder::read`].
    #[track_caller]
    pub fn build<F, M>(self, function: F) -> Cached<A, V>
    where
        F: CacheFn<A, M, Output = V>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let (settings, stage) = self.split();
        let backend = settings.attach(stage.backend);
        settings.build::<F, M, A, K, V>(function, stage.make_key, Some(backend))
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
    ///     .read(|_k: u8| async { Ok(None) })
    ///     .write(|_k: u8, _v: u8| async { Ok(()) })
    ///     .try_build(|x: u8| async move { x.checked_mul(2).ok_or("overflow") });
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(c.call(4).await, Ok(8));
    /// # });
    /// ```
    #[track_caller]
    pub fn try_build<E, F, M>(self, function: F) -> TryCached<A, V, E>
    where
        F: CacheFn<A, M, Output = Result<V, E>>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let (settings, stage) = self.split();
        let backend = settings.attach(stage.backend);
        settings.try_build::<F, M, A, K, V, E>(function, stage.make_key, Some(backend))
    }
}

impl<A, V, K, B> CacheBuilder<A, V, Backed<A, K, B>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: Backend<K, V>,
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
    pub fn build<F, M>(self, function: F) -> Cached<A, V>
    where
        F: CacheFn<A, M, Output = V>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let (settings, stage) = self.split();
        let backend = settings.attach(stage.backend);
        settings.build::<F, M, A, K, V>(function, stage.make_key, Some(backend))
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
    pub fn try_build<E, F, M>(self, function: F) -> TryCached<A, V, E>
    where
        F: CacheFn<A, M, Output = Result<V, E>>,
        A: Hash + Eq + Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let (settings, stage) = self.split();
        let backend = settings.attach(stage.backend);
        settings.try_build::<F, M, A, K, V, E>(function, stage.make_key, Some(backend))
    }
}
