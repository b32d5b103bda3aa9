//! The untyped heart of a cached function: its settings, its shards (store, flights
//! and counters, each under a lock that is never held across an `.await`), and its
//! backend writes.
//!
//! A call's way through it: [`Core::hit`], inlined into the call's `poll`, hashes the
//! key once, locks its shard, and on a live value clones it, counts it and returns.
//! Anything else goes, with the lock still held, to [`Core::miss`] (cold): join the
//! key's flight, or reserve a pending node and lead a new one. The flight is then driven
//! by [`Core::drive`] and finished by [`Core::complete`]; see [`flight`](super::flight).

use std::any::Any;
use std::borrow::{Borrow, Cow};
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroUsize;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use hashbrown::DefaultHashBuilder;

use super::backend::{BoxFut, CacheError, DynBackend};
use super::clock::Clock;
use super::flight::{Attached, Flight};
use super::lru::{Insert, Lru, Reserve};
use super::run::{Function, Runner};
use super::shard::{self, Counts, Pending, Shard, ShardState};
use super::write::{self, PendingWrite, Writes};
use crate::ctx;
use crate::event::{Event, Level, PreparedEvent};

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

/// What the hit path hands the miss path: the shard's lock, the key's hash, and the
/// instant expiry was checked against.
pub(crate) type Locked<'a, A, K, V, E> = (Guard<'a, A, K, V, E>, u64, Option<Instant>);

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
    /// The shards (a power of two of them).
    pub(super) shards: Box<[Shard<A, K, V, E>]>,
    /// `shards.len() - 1`.
    pub(super) mask: usize,
    /// Whether values are kept in memory (`false`: a backend with no memory tier; the
    /// stores then hold only pending nodes).
    pub(super) memory: bool,
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
        let event = |event| PreparedEvent::new(Event::debug(event).with("cache", name.clone()));
        Events {
            hit: event("cache.hit"),
            miss: event("cache.miss"),
            evict: event("cache.evict"),
        }
    }
}

/// A snapshot of a cache's counters. Compare it with `==`, print it with `{}`.
///
/// # Examples
///
/// ```
/// use haiway::cache::cache;
///
/// let double = cache(|x: u32| async move { x * 2 });
/// # futures_lite::future::block_on(async {
/// double.call(1).await;
/// double.call(1).await;
/// # });
/// let stats = double.stats();
/// assert_eq!((stats.hits, stats.misses, stats.evictions, stats.len), (1, 1, 0, 1));
/// assert_eq!(stats.to_string(), "1 hits, 1 misses, 0 evictions, 1 stored");
///
/// // Snapshots compare: nothing happened in between.
/// assert_eq!(double.stats(), stats);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Calls answered from the store: the memory tier, or the backend.
    pub hits: u64,
    /// Calls that found no stored value: they ran the function or waited for the call
    /// that was running it.
    pub misses: u64,
    /// Values removed to respect the limit.
    pub evictions: u64,
    /// Values stored now.
    pub len: usize,
}

impl std::fmt::Display for Stats {
    /// `1 hits, 1 misses, 0 evictions, 1 stored`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hits, {} misses, {} evictions, {} stored",
            self.hits, self.misses, self.evictions, self.len
        )
    }
}

/// What [`Core::miss`] found.
pub(crate) enum Missed<'a, A, K, V, E> {
    /// A live value after all (a retry found it): counted as a hit.
    Hit(V),
    /// Another call leads this key's flight: this call joined it.
    Join(Attached<'a, A, K, V, E>),
    /// This call leads a new flight, holding its run: it starts it.
    Lead {
        /// The call's place in the flight.
        attached: Attached<'a, A, K, V, E>,
        /// With a backend, a copy of the key to read.
        key: Option<K>,
        /// The arguments to start the run with.
        args: A,
        /// The kept flight's empty runner, if the flight was a kept one.
        runner: Option<Runner<A, V, E>>,
        /// The value of an expired entry the pending node replaced, to drop once the
        /// lock is released.
        expired: Option<V>,
        /// Whether to record `cache.miss` (counted already), once the call holds the run.
        record_miss: bool,
    },
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
        let shards: Box<[_]> = limits
            .into_iter()
            .map(|limit| Shard::new(limit, hasher.clone()))
            .collect();
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
            mask: shards.len() - 1,
            shards,
            memory: memory.is_some(),
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

    /// The instant expiry is checked against; `None` when nothing expires (no clock read).
    #[inline(always)]
    pub(super) fn now(&self) -> Option<Instant> {
        self.expiration.map(|_| self.clock.now())
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
        let now = self.now();
        let mut st = self.shards[shard::index(hash, self.mask)].lock();
        let Some(value) = st.store.hit(hash, key, now) else {
            return Err((st, hash, now));
        };
        if count {
            st.counts.hit();
        }
        drop(st);
        if count {
            ctx::record_event(&self.events.hit);
        }
        Ok(value)
    }

    /// The miss path, with the shard's lock `st` from [`hit`](Self::hit): join the
    /// key's flight, or lead a new one. Counts and records a miss when `count`.
    #[cold]
    #[inline(never)]
    pub(crate) fn miss<'s>(
        &'s self,
        (mut st, hash, now): Locked<'s, A, K, V, E>,
        args: A,
        count: bool,
    ) -> Missed<'s, A, K, V, E> {
        let mut args = args;
        let mut key = self.key(&args);
        // With a backend a leader's hit or miss is known only once it has read.
        let uncounted = count && self.backend.is_some();
        loop {
            let ShardState {
                store,
                spare,
                spare_runner,
                ..
            } = &mut *st;
            // The flight of a new pending node: the shard's kept one if nobody holds
            // it any more, else a new one.
            let mut led = None;
            let mut runner = None;
            let mut left_behind = Vec::new();
            let found = store.reserve(
                hash,
                &*key,
                now,
                || (*key).clone(),
                || {
                    runner = spare_runner.take();
                    let kept = spare.take().and_then(|mut kept| {
                        left_behind = Arc::get_mut(&mut kept)?.reuse(uncounted);
                        Some(kept)
                    });
                    let flight = kept.unwrap_or_else(|| Arc::new(Flight::new(uncounted)));
                    led = Some(flight.clone());
                    Pending(flight)
                },
            );
            match found {
                Reserve::Live(value) => {
                    let value = value.clone();
                    if count {
                        st.counts.hit();
                        drop(st);
                        ctx::record_event(&self.events.hit);
                    }
                    return Missed::Hit(value);
                }
                Reserve::Pending(slot, Pending(flight)) => {
                    let flight = flight.clone();
                    drop(key);
                    if let Err(back) = flight.join(args) {
                        // Its last caller is on the way out, freeing the key: free it
                        // here, and lead a new flight.
                        args = back;
                        let stale = st.store.remove_pending(slot);
                        drop(st);
                        drop((stale, flight));
                        st = self.shards[shard::index(hash, self.mask)].lock();
                        key = self.key(&args);
                        continue;
                    }
                    if count {
                        st.counts.miss();
                    }
                    drop(st);
                    // A recorder is user code: if it panics, this call leaves.
                    let attached = Attached::new(self, hash, slot, flight);
                    if count {
                        ctx::record_event(&self.events.miss);
                    }
                    return Missed::Join(attached);
                }
                Reserve::Reserved(slot, expired) => {
                    let flight = led.expect("a reserved node has a new flight");
                    let record_miss = count && !uncounted;
                    if record_miss {
                        st.counts.miss();
                    }
                    drop(st);
                    drop(left_behind);
                    let key = self.backend.as_ref().map(|_| key.into_owned());
                    return Missed::Lead {
                        attached: Attached::new(self, hash, slot, flight),
                        key,
                        args,
                        runner,
                        expired,
                        record_miss,
                    };
                }
            }
        }
    }

    /// Records one `cache.miss` event.
    pub(crate) fn record_miss(&self) {
        ctx::record_event(&self.events.miss);
    }

    /// Empties every shard's store and forgets running computations (their results
    /// will not be stored; callers already waiting on them still get them), and marks
    /// every backend write in flight stale.
    pub(crate) fn clear(&self) {
        // Every shard locked at once: a write registered in any of them is either marked
        // here or made by a flight that started after its node was cleared.
        let mut guards: Vec<_> = self.shards.iter().map(Shard::lock).collect();
        self.writes.outdate(None);
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
            let mut st = self.shards[shard::index(hash, self.mask)].lock();
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
            let mut st = self.shards[shard::index(hash, self.mask)].lock();
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
            ctx::record_event(&self.events.evict);
        }
        drop(evicted);
        self.persist(write_key?, value, write?)
    }

    /// The counters of every shard, added up.
    pub(crate) fn stats(&self) -> Stats {
        let (counts, len) = self
            .shards
            .iter()
            .fold((Counts::default(), 0), |(c, len), shard| {
                let st = shard.lock();
                (c.add(st.counts), len + st.store.len())
            });
        Stats {
            hits: counts.hits,
            misses: counts.misses,
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
        for shard in self.shards.iter() {
            shard.lock().store.validate();
        }
    }
}

impl<A, K, V, E> Core<A, K, V, E> {
    /// Frees the pending node `slot` of the key with hash `hash` if it still holds
    /// `flight` (whose run was dropped); `uncounted`: a backend lookup that never told
    /// a hit from a miss, counted as a miss. Needs no bounds: a call's `Drop` reaches it.
    pub(crate) fn release(
        &self,
        hash: u64,
        slot: usize,
        flight: &Flight<A, V, E>,
        uncounted: bool,
    ) {
        let removed = {
            let mut st = self.shards[shard::index(hash, self.mask)].lock();
            if uncounted {
                st.counts.miss();
            }
            st.release(slot, flight)
        };
        // The key and the node's hold on the flight (maybe its last, and so the run's
        // runner) are dropped outside the lock.
        drop(removed);
        // Not while unwinding: a recorder that panicked now would abort the process.
        if uncounted && !std::thread::panicking() {
            ctx::record_event(&self.events.miss);
        }
    }
}

/// Records a backend failure as a warning, with the error's text.
#[cold]
fn record_failure(cache: &str, event: &'static str, error: &(dyn std::error::Error + 'static)) {
    ctx::record_event_with(Level::Warning, || {
        Event::warning(event)
            .with("cache", cache.to_owned())
            .with("error", error.to_string())
    });
}
