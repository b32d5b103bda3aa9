//! The untyped heart of a cached function: its settings, its shards (store, flights
//! and counters, each under a lock that is never held across an `.await`), and its
//! backend writes.
//!
//! A call's way through it: [`Core::hit`], inlined into the call's `poll`, hashes the
//! key once, locks its shard, and on a live value clones it, counts it and returns.
//! Anything else goes, with the lock still held, to the call's cold miss path: the
//! common miss (no node for the key, no backend) to [`Core::lead_new`], the lean lead
//! path (see [`lead`](super::lead)); any other to [`Core::miss`]: join the key's
//! flight, or reserve a pending node and lead a new one. The flight is then driven by
//! [`Core::drive_here`] (inlined into the general lead path, and into the out-of-line
//! [`Core::drive`] that other callers use), which
//! finishes a function's run with [`Core::complete_here`] (inlined); a backend read's
//! hit, a result already there and a followed flight's result go through the
//! out-of-line `Core::complete`. See [`flight`](super::flight).

use std::any::Any;
use std::borrow::{Borrow, Cow};
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hashbrown::DefaultHashBuilder;

use super::backend::{BoxFut, CacheError, DynBackend};
use super::clock::Clock;
use super::lru::{Insert, Lru, Seen};
use super::run::Function;
use super::shard::{self, Counts, Shard, ShardState};
use super::stats::Stats;
use super::write::{self, PendingWrite, Writes};
use crate::ctx;
use crate::event::{Event, Level, PreparedEvent};
use crate::sync::MutexGuard;

/// Turns call arguments into the key, when the key is not the arguments themselves.
pub(crate) type KeyFn<A, K> = Box<dyn Fn(&A) -> K + Send + Sync + 'static>;

/// How a cache keys calls: `None` when the arguments are the key (`K` is `A`), so a
/// lookup borrows them and calls no function.
pub(crate) type MakeKey<A, K> = Option<KeyFn<A, K>>;

/// A key borrowed from the arguments (the default key) or made from them.
pub(crate) enum KeyRef<'a, K> {
    /// The arguments themselves.
    Borrowed(&'a K),
    /// Made by a key function.
    Owned(K),
}

impl<K: Clone> KeyRef<'_, K> {
    /// An owned key, cloning a borrowed one.
    pub(crate) fn into_owned(self) -> K {
        match self {
            KeyRef::Borrowed(k) => k.clone(),
            KeyRef::Owned(k) => k,
        }
    }
}

impl<K> std::ops::Deref for KeyRef<'_, K> {
    type Target = K;
    #[inline]
    fn deref(&self) -> &K {
        match self {
            KeyRef::Borrowed(k) => k,
            KeyRef::Owned(k) => k,
        }
    }
}

/// A shard's lock, held from the hit path into the miss path.
pub(crate) type Guard<'a, A, K, V, E> = MutexGuard<'a, ShardState<A, K, V, E>>;

/// What the hit path hands the miss path: the shard's lock, the key's hash, the
/// instant expiry was checked against, and what the store's probe saw of the key (valid
/// while that lock is held).
pub(crate) type Locked<'a, A, K, V, E> = (Guard<'a, A, K, V, E>, u64, Option<Instant>, Seen);

/// Everything a `Cached` handle points at.
pub(crate) struct Core<A, K, V, E> {
    /// Name used in events.
    pub(crate) name: Cow<'static, str>,
    /// The cache's hit, miss and evict events, built once: recording one lends it.
    pub(super) events: Events,
    /// The wrapped function, as a maker of runners for its futures.
    pub(super) function: Function<A, V, E>,
    /// Arguments to key.
    make_key: MakeKey<A, K>,
    /// How long a stored value lives; `None`: until evicted or cleared.
    pub(super) expiration: Option<Duration>,
    /// Where time comes from (only read when `expiration` is set).
    clock: Arc<dyn Clock>,
    /// The shared store behind the memory tier, if any.
    pub(crate) backend: Option<Arc<dyn DynBackend<K, V>>>,
    /// The backend writes not finished yet, and the keys the backend may hold a value
    /// of from before a clear: see [`write`](super::write).
    pub(super) writes: Writes<K>,
    /// Hashes keys for every shard's store, so a call hashes its key once.
    hasher: DefaultHashBuilder,
    /// The one shard of a cache of one shard (the default), in place, so that picking
    /// it reads no pointer; unused (and empty) when there are more.
    first: Shard<A, K, V, E>,
    /// The shards of a cache of more than one (a power of two of them); empty when
    /// there is one: see [`all_shards`](Self::all_shards).
    shards: Box<[Shard<A, K, V, E>]>,
    /// The number of shards, less one.
    pub(super) mask: usize,
    /// Whether values are kept in memory (`false`: a backend with no memory tier; the
    /// stores then hold only pending nodes).
    pub(super) memory: bool,
    /// One shard and nothing expires: the hit path's one branch for both (no shard to
    /// pick, no clock to read).
    simple: bool,
    /// Times the function was started (see [`Stats::runs`]).
    pub(super) runs: AtomicU64,
}

/// The events a cache records on its hot paths, each with the `cache` attribute.
pub(super) struct Events {
    /// `cache.hit`.
    pub(super) hit: PreparedEvent,
    /// `cache.miss`.
    pub(super) miss: PreparedEvent,
    /// `cache.evict`.
    pub(super) evict: PreparedEvent,
}

impl Events {
    /// The events of the cache named `name`.
    fn new(name: Cow<'static, str>) -> Self {
        let event = |event| {
            PreparedEvent::new(
                Event::debug(event)
                    .with_target(EVENT_TARGET)
                    .with("cache", name.clone()),
            )
        };
        Events {
            hit: event("cache.hit"),
            miss: event("cache.miss"),
            evict: event("cache.evict"),
        }
    }
}

impl<A, K, V, E> Core<A, K, V, E>
where
    A: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// `memory`: `None` for no memory tier, `Some(limit)` for one (`Some(None)`:
    /// unbounded). `shards`: how many shards to split the store into (see
    /// [`shard::split`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: Cow<'static, str>,
        function: Function<A, V, E>,
        make_key: MakeKey<A, K>,
        memory: Option<Option<NonZeroUsize>>,
        shards: usize,
        expiration: Option<Duration>,
        clock: Arc<dyn Clock>,
        backend: Option<Arc<dyn DynBackend<K, V>>>,
    ) -> Self {
        let hasher = DefaultHashBuilder::default();
        let limits = match memory {
            Some(limit) => shard::split(shards, limit),
            // No values kept: one shard of pending nodes serves single-flight.
            None => vec![None],
        };
        let mask = limits.len() - 1;
        let mut shards: Vec<_> = limits
            .into_iter()
            .map(|limit| Shard::new(limit, hasher.clone()))
            .collect();
        // One shard goes in place; of more, `first` is an unused one.
        let first = match mask {
            0 => shards.pop().expect("`split` gives at least one shard"),
            _ => Shard::new(None, hasher.clone()),
        };
        Core {
            events: Events::new(name.clone()),
            name,
            function,
            make_key,
            expiration,
            clock,
            backend,
            writes: Writes::new(),
            hasher,
            mask,
            first,
            shards: shards.into_boxed_slice(),
            memory: memory.is_some(),
            simple: mask == 0 && expiration.is_none(),
            runs: AtomicU64::new(0),
        }
    }

    /// `key`'s hash, for every shard's store.
    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The key of `args`: the arguments themselves, or the key function's.
    #[inline]
    pub(crate) fn key<'k>(&self, args: &'k A) -> KeyRef<'k, K> {
        match &self.make_key {
            Some(make_key) => KeyRef::Owned(make_key(args)),
            // Without a key function `K` is `A`; the check is decided at compile time.
            None => KeyRef::Borrowed(
                (args as &dyn Any)
                    .downcast_ref::<K>()
                    .expect("a cache without a key function is keyed by its arguments"),
            ),
        }
    }

    /// The key of `args`: `made`, the key function's (made by [`made_key`](Self::made_key)
    /// or by a lookup, before a lock was taken), or, in a cache keyed by its arguments,
    /// the arguments themselves. Calls no user code.
    #[inline]
    pub(crate) fn key_or_made<'k>(&self, made: Option<K>, args: &'k A) -> KeyRef<'k, K> {
        match made {
            Some(made) => KeyRef::Owned(made),
            None => {
                debug_assert!(
                    self.make_key.is_none(),
                    "a key function's key is made first"
                );
                self.key(args)
            }
        }
    }

    /// The key of `args` made by the key function, if the cache has one (`None`: the
    /// arguments are the key). The key function is user code: called outside any lock.
    #[inline]
    pub(crate) fn made_key(&self, args: &A) -> Option<K> {
        self.make_key.as_ref().map(|make_key| make_key(args))
    }

    /// The instant expiry is checked against; `None` when nothing expires (no clock read).
    #[inline(always)]
    pub(super) fn now(&self) -> Option<Instant> {
        self.expiration.map(|_| self.clock.now())
    }

    /// The shard of a key with hash `hash`, and the instant expiry is checked against
    /// ([`now`](Self::now)): one branch for both in a simple cache.
    #[inline(always)]
    pub(super) fn shard_now(&self, hash: u64) -> (&Shard<A, K, V, E>, Option<Instant>) {
        if self.simple {
            (&self.first, None)
        } else {
            (self.shard(hash), self.now())
        }
    }

    /// The hit path: a clone of `key`'s live value (the arguments, for a cache keyed by
    /// them; the key on the stack, for a cache with a key function), counted and
    /// recorded as a hit when `count`; or, for anything else, what
    /// [`miss`](Self::miss) needs, with the shard's lock still held.
    #[inline(always)]
    pub(crate) fn hit<'s, Q>(&'s self, key: &Q, count: bool) -> Result<V, Locked<'s, A, K, V, E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        // Two inlined copies: the simple cache's with no shard to pick and no clock.
        if self.simple {
            self.hit_in(&self.first, hash, key, None, count)
        } else {
            self.hit_in(self.shard(hash), hash, key, self.now(), count)
        }
    }

    /// [`hit`](Self::hit) in `shard`, checking expiry against `now`.
    #[inline(always)]
    fn hit_in<'s, Q>(
        &'s self,
        shard: &'s Shard<A, K, V, E>,
        hash: u64,
        key: &Q,
        now: Option<Instant>,
        count: bool,
    ) -> Result<V, Locked<'s, A, K, V, E>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut st = shard.lock();
        let value = match st.store.hit(hash, key, now) {
            Ok(value) => value,
            Err(seen) => return Err((st, hash, now, seen)),
        };
        if count {
            st.counts.hit();
        }
        drop(st);
        if count {
            ctx::record_debug(&self.events.hit);
        }
        Ok(value)
    }

    /// Records one `cache.miss` event.
    pub(crate) fn record_miss(&self) {
        ctx::record_debug(&self.events.miss);
    }

    /// Empties every shard's store and forgets running computations (their results
    /// will not be stored; callers already waiting on them still get them), and marks
    /// every backend write in flight stale.
    pub(crate) fn clear(&self) {
        self.empty(true);
    }

    /// Empties every shard's store; with `outdate`, marks every backend write in flight
    /// stale, while every shard is locked (so a write registered in any of them is
    /// either marked here or made by a flight that started after its node was cleared).
    fn empty(&self, outdate: bool) {
        let mut guards: Vec<_> = self.all_shards().iter().map(Shard::lock).collect();
        if outdate {
            self.writes.outdate(None);
        }
        let old: Vec<_> = guards
            .iter_mut()
            .map(|st| {
                let fresh = Lru::with_hasher(st.store.limit(), self.hasher.clone());
                std::mem::replace(&mut st.store, fresh)
            })
            .collect();
        drop(guards);
        // Keys, values and flights are dropped outside the lock: their Drop is user code.
        drop(old);
    }

    /// Removes one key's value and forgets its running computation.
    pub(crate) fn clear_key(&self, key: &K) {
        let hash = self.hash(key);
        let removed = {
            let mut st = self.shard(hash).lock();
            self.writes.outdate(Some(key));
            st.store.take(hash, key)
        };
        // The key and value are dropped outside the lock: their Drop is user code.
        drop(removed);
    }

    /// A clone of `key`'s live value, if the memory tier holds one: not counted, not
    /// recorded, and no flight is joined. It counts as a use for the LRU order.
    pub(crate) fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.hit(key, false).ok()
    }

    /// Stores `value` under `key` as if computed now: in the memory tier (replacing a
    /// value, or the pending node of a run, whose result then is not stored), and
    /// registers its backend write, which is returned to be run.
    pub(crate) fn insert(&self, key: K, value: V) -> Option<BoxFut<'static, ()>> {
        let hash = self.hash(&key);
        let now = self.now();
        let expires = now.zip(self.expiration).map(|(now, ttl)| now + ttl);
        // Dropped after the lock is released: their `Drop` is user code.
        let (mut old, mut evicted, mut write) = (None, None, None);
        let write_key = self.backend.as_ref().map(|_| key.clone());
        {
            let mut st = self.shard(hash).lock();
            if let Some(key) = &write_key {
                // Registered under the lock, so a clear from now on finds it.
                write = Some(self.writes.start(key.clone()));
            }
            if self.memory {
                old = st.store.take(hash, &key);
                if let Insert::Evicted(k, v) =
                    st.store.insert_hashed(hash, key, value.clone(), expires)
                {
                    st.counts.evicted();
                    evicted = Some((k, v));
                }
            }
        }
        drop(old);
        if evicted.is_some() {
            ctx::record_debug(&self.events.evict);
        }
        drop(evicted);
        self.persist(write_key?, value, write?)
    }

    /// The counters of every shard, added up.
    pub(crate) fn stats(&self) -> Stats {
        let (counts, len) =
            self.all_shards()
                .iter()
                .fold((Counts::default(), 0), |(c, len), shard| {
                    let st = shard.lock();
                    (c.add(st.counts), len + st.store.len())
                });
        Stats {
            hits: counts.hits,
            misses: counts.misses,
            coalesced: counts.coalesced,
            runs: self.runs.load(Ordering::Relaxed),
            evictions: counts.evictions,
            len,
        }
    }

    /// Clears the memory tier and the backend (`None`: everything; `Some`: one key).
    pub(crate) fn clear_everywhere(&self, key: Option<K>) -> BoxFut<'_, Result<(), CacheError>> {
        Box::pin(async move {
            self.clear_memory(key.as_ref());
            let Some(backend) = &self.backend else {
                return Ok(());
            };
            let since = self.writes.epoch();
            let cleared = backend
                .clear(key.as_ref())
                .await
                .map_err(CacheError::from_backend);
            if cleared.is_ok() {
                // Stale values that stayed in the backend before this clear are gone.
                self.writes.cleared(key.as_ref(), since);
            }
            // Again: a call may have refilled the memory tier from the backend meanwhile.
            self.clear_memory(key.as_ref());
            cleared
        })
    }

    fn clear_memory(&self, key: Option<&K>) {
        match key {
            Some(key) => self.clear_key(key),
            None => self.clear(),
        }
    }

    /// The write of a computed value to the backend, registered as `pending` when the
    /// value was stored; see [`write::persist`].
    pub(super) fn persist(
        &self,
        key: K,
        value: V,
        pending: PendingWrite<K>,
    ) -> Option<BoxFut<'static, ()>> {
        let backend = self.backend.clone()?;
        let name = self.name.clone();
        let failed = move |event, error: &(dyn std::error::Error + 'static)| {
            record_failure(&name, event, error);
        };
        Some(write::persist(backend, key, value, pending, failed))
    }

    pub(super) fn record_failure(
        &self,
        event: &'static str,
        error: &(dyn std::error::Error + 'static),
    ) {
        record_failure(&self.name, event, error);
    }

    #[cfg(fuzzing)]
    pub(crate) fn validate(&self) {
        for shard in self.all_shards() {
            shard.lock().store.validate();
        }
    }

    /// Drops `key`'s value (`None`: every value) from the memory tier only, and forgets
    /// its running computation (its result will not be stored, nor written): for a
    /// backend that learnt that the key changed elsewhere. Unlike a clear, it neither
    /// touches the backend nor marks backend writes in flight stale: the value the
    /// backend holds now is the one to keep.
    pub(crate) fn forget(&self, key: Option<&K>) {
        let Some(key) = key else {
            self.empty(false);
            return;
        };
        let hash = self.hash(key);
        let removed = self.shard(hash).lock().store.take(hash, key);
        drop(removed);
    }
}

impl<A, K, V, E> Core<A, K, V, E> {
    /// Every shard of the cache.
    pub(super) fn all_shards(&self) -> &[Shard<A, K, V, E>] {
        if self.mask == 0 {
            std::slice::from_ref(&self.first)
        } else {
            &self.shards
        }
    }

    /// The shard of a key with hash `hash`. With one shard (the default) no bits of
    /// the hash are mixed: a branch instead of a multiply, shift and mask.
    #[inline(always)]
    pub(super) fn shard(&self, hash: u64) -> &Shard<A, K, V, E> {
        if self.mask == 0 {
            &self.first
        } else {
            &self.shards[shard::index(hash, self.mask)]
        }
    }
}

/// The target of the cache's events (`tracing`'s, for `RUST_LOG=haiway::cache=warn`).
const EVENT_TARGET: &str = "haiway::cache";

/// Records a backend failure as a warning, with the error's text.
#[cold]
fn record_failure(cache: &str, event: &'static str, error: &(dyn std::error::Error + 'static)) {
    ctx::record_event_with(Level::Warning, || {
        Event::warning(event)
            .with_target(EVENT_TARGET)
            .with("cache", cache.to_owned())
            .with("error", error.to_string())
    });
}
