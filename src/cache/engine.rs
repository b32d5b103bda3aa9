//! What a handle points at: an [`Engine`], the core of a cache keyed by its arguments,
//! or of one with a key function, whose keys are erased (see [`key`](super::key)).
//!
//! The handle's type names only the arguments and the value, so the key type lives in
//! the engine. A cache keyed by its arguments (the default) is a plain [`Core`] over
//! them: its hit path is the core's, inlined into the call, as if no other kind
//! existed (the one branch on the kind replaces the one on "is there a key
//! function"). A cache with a key function keeps erased keys, and looks a call up by
//! the key its function makes on the stack ([`Probe`]).

use std::any::Any;
use std::borrow::Borrow;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use super::backend::{BoxFut, CacheError};
use super::core::{Core, Locked};
use super::key::{DynKey, ErasedKey, KeyType};
use super::stats::Stats;
use crate::ctx;

/// The core of a cache, by how it keys calls.
pub(crate) enum Engine<A, V, E> {
    /// Keyed by the arguments.
    Plain(Core<A, A, V, E>),
    /// Keyed by a key function.
    Keyed(KeyedCore<A, V, E>),
}

/// The core of a cache with a key function, and that function in the forms the hit
/// path and `clear_key` need.
pub(crate) struct KeyedCore<A, V, E> {
    /// The core, over erased keys (its own key function boxes them, for misses).
    pub(crate) core: Core<A, ErasedKey, V, E>,
    /// Makes a call's key on the stack, for the hit path.
    probe: Box<dyn Probe<A>>,
    /// The key function's key type.
    key_type: KeyType,
}

/// A key function that lends the key it makes, unboxed.
pub(crate) trait Probe<A>: Send + Sync {
    /// Calls `with` on the key of `args`. If `with` wants the key (returns `true`: a
    /// miss, still holding the shard's lock), it is returned, boxed, instead of
    /// dropped: a key's `Drop` is user code, never run under the lock.
    fn with_key(&self, args: &A, with: &mut dyn FnMut(&dyn DynKey) -> bool) -> Option<ErasedKey>;
}

/// The [`Probe`] of a key function `M` making keys of type `K`.
struct KeyFn<M, K> {
    /// The key function, shared with the core's.
    make_key: Arc<M>,
    /// The key type.
    key: PhantomData<fn() -> K>,
}

impl<A, K, M> Probe<A> for KeyFn<M, K>
where
    M: Fn(&A) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn with_key(&self, args: &A, with: &mut dyn FnMut(&dyn DynKey) -> bool) -> Option<ErasedKey> {
        let key = (self.make_key)(args);
        with(&key).then(|| ErasedKey::new(key))
    }
}

/// Runs `$body` with `$core` bound to the engine's core, whichever its kind.
macro_rules! with_core {
    ($engine:expr, $core:ident => $body:expr) => {
        match $engine {
            Engine::Plain($core) => $body,
            Engine::Keyed(keyed) => {
                let $core = &keyed.core;
                $body
            }
        }
    };
}

impl<A, V, E> KeyedCore<A, V, E>
where
    A: Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// The key function `make_key` in its two forms: the core's, which boxes the key
    /// (for misses), and the probe of the hit path; and its key type.
    #[allow(clippy::type_complexity)]
    pub(crate) fn key_fn<K, M>(
        make_key: M,
    ) -> (
        Box<dyn Fn(&A) -> ErasedKey + Send + Sync + 'static>,
        Box<dyn Probe<A>>,
        KeyType,
    )
    where
        M: Fn(&A) -> K + Send + Sync + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let make_key = Arc::new(make_key);
        let boxing = make_key.clone();
        let probe = KeyFn {
            make_key,
            key: PhantomData,
        };
        (
            Box::new(move |args: &A| ErasedKey::new(boxing(args))),
            Box::new(probe),
            KeyType::of::<K>(),
        )
    }

    /// The engine of `core`, keyed by the key function whose `probe` and `key_type`
    /// [`key_fn`](Self::key_fn) made.
    pub(crate) fn new(
        core: Core<A, ErasedKey, V, E>,
        probe: Box<dyn Probe<A>>,
        key_type: KeyType,
    ) -> Self {
        KeyedCore {
            core,
            probe,
            key_type,
        }
    }

    /// The hit path of a call: the key made on the stack, then the core's. On a miss,
    /// what the core's miss path needs, with the key (boxed, to be stored or dropped
    /// once the lock is released).
    #[inline]
    #[allow(clippy::type_complexity)]
    pub(crate) fn hit(&self, args: &A) -> Result<V, (Locked<'_, A, ErasedKey, V, E>, ErasedKey)> {
        let mut found = None;
        let kept = self.probe.with_key(args, &mut |key| {
            let hit = self.core.hit(key, true);
            let missed = hit.is_err();
            found = Some(hit);
            missed
        });
        match found.expect("a probe lends its key") {
            Ok(value) => Ok(value),
            Err(locked) => Err((locked, kept.expect("a probe keeps the key of a miss"))),
        }
    }

    /// A clone of the live value of `args`, if any, as [`Core::peek`] (the lock is
    /// released before the key is dropped).
    fn peek(&self, args: &A) -> Option<V> {
        let mut found = None;
        self.probe.with_key(args, &mut |key| {
            found = self.core.hit(key, false).ok();
            false
        });
        found
    }
}

impl<A, V, E> Engine<A, V, E> {
    /// The name used in events.
    pub(crate) fn name(&self) -> &str {
        with_core!(self, core => &core.name)
    }
}

impl<A, V, E> Engine<A, V, E>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// The counters, added up over the shards.
    pub(crate) fn stats(&self) -> Stats {
        with_core!(self, core => core.stats())
    }

    /// The live value of the arguments `args` borrow as, without running, joining,
    /// counting or recording anything.
    pub(crate) fn get<Q>(&self, args: &Q) -> Option<V>
    where
        A: Borrow<Q>,
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Into<A>,
    {
        match self {
            Engine::Plain(core) => core.peek(args),
            Engine::Keyed(keyed) => keyed.peek(&args.to_owned().into()),
        }
    }

    /// Stores `value` for `args` as if computed now; its backend write is spawned in
    /// the current scope, or awaited outside any.
    pub(crate) fn insert(&self, args: A, value: V) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let write = match self {
                Engine::Plain(core) => core.insert(args, value),
                Engine::Keyed(keyed) => {
                    let key = keyed.core.key(&args).into_owned();
                    drop(args);
                    keyed.core.insert(key, value)
                }
            };
            let Some(write) = write else { return };
            // The same home as a call's write: the nearest background owner, else the
            // current scope, else awaited here.
            match ctx::spawn_kept(write) {
                Ok(task) => task.detach(),
                Err(write) => write.await,
            }
        })
    }

    /// Clears everything, in memory and in the backend.
    pub(crate) fn clear_cache(&self) -> BoxFut<'_, Result<(), CacheError>> {
        with_core!(self, core => core.clear_everywhere(None))
    }

    /// Clears the entry of the arguments `args` borrow as.
    pub(crate) fn clear_call<Q>(&self, args: &Q) -> BoxFut<'_, Result<(), CacheError>>
    where
        Q: ToOwned + ?Sized,
        Q::Owned: Into<A>,
    {
        let args: A = args.to_owned().into();
        match self {
            Engine::Plain(core) => core.clear_everywhere(Some(args)),
            Engine::Keyed(keyed) => {
                let key = keyed.core.key(&args).into_owned();
                keyed.core.clear_everywhere(Some(key))
            }
        }
    }

    /// Clears the entry of `key`, which must be of the cache's key type.
    pub(crate) fn clear_key<Q>(&self, key: &Q) -> BoxFut<'_, Result<(), CacheError>>
    where
        Q: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let mismatch = |expected: KeyType| {
            let error = CacheError::KeyType {
                expected: expected.name,
                found: std::any::type_name::<Q>(),
            };
            Box::pin(std::future::ready(Err(error))) as BoxFut<'_, _>
        };
        match self {
            Engine::Plain(core) => match (key as &dyn Any).downcast_ref::<A>() {
                Some(args) => core.clear_everywhere(Some(args.clone())),
                None => mismatch(KeyType::of::<A>()),
            },
            Engine::Keyed(keyed) if keyed.key_type.id == KeyType::of::<Q>().id => keyed
                .core
                .clear_everywhere(Some(ErasedKey::new(key.clone()))),
            Engine::Keyed(keyed) => mismatch(keyed.key_type),
        }
    }

    /// Checks every store's links (fuzzing builds only).
    #[cfg(fuzzing)]
    pub(crate) fn validate(&self) {
        with_core!(self, core => core.validate());
    }

    /// Drops `key`'s entry (`None`: every entry) from the memory tier only; see
    /// [`Core::forget`]. `key` is of the cache's key type (the backend's); a key of
    /// another type matches nothing.
    pub(crate) fn forget<Q>(&self, key: Option<&Q>)
    where
        Q: Hash + Eq + Clone + Send + Sync + 'static,
    {
        match (self, key) {
            (Engine::Plain(core), None) => core.forget(None),
            (Engine::Keyed(keyed), None) => keyed.core.forget(None),
            (Engine::Plain(core), Some(key)) => {
                if let Some(args) = (key as &dyn Any).downcast_ref::<A>() {
                    core.forget(Some(args));
                }
            }
            (Engine::Keyed(keyed), Some(key)) if keyed.key_type.id == KeyType::of::<Q>().id => {
                keyed.core.forget(Some(&ErasedKey::new(key.clone())));
            }
            (Engine::Keyed(_), Some(_)) => {}
        }
    }
}
