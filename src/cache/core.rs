//! The untyped heart of a cached function: the store, the in-flight computations and
//! the counters, under one lock that is never held across an `.await`.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use event_listener::Event as Notify;
use hashbrown::hash_table::Entry as HashEntry;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::backend::{BoxFut, CacheError, DynBackend};
use super::clock::Clock;
use super::lru::{Insert, Lookup, Lru};
use super::run::{Function, Runner};
use crate::ctx;
use crate::event::{Event, Level};

/// Turns call arguments into the key (borrowing them when they are the key).
pub(crate) type MakeKey<A, K> = Box<dyn for<'a> Fn(&'a A) -> KeyRef<'a, K> + Send + Sync + 'static>;

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

/// A result shared by a computation with the callers waiting on it.
pub(crate) type Shared<V, E> = Result<V, Arc<E>>;

/// Everything a `Cached` handle points at.
pub(crate) struct Core<A, K, V, E> {
    /// Name used in events.
    pub(crate) name: Cow<'static, str>,
    /// The cache's hit, miss and evict events, built once: recording one lends it.
    events: Events,
    /// The wrapped function, as a maker of runners for its futures.
    pub(crate) function: Function<A, V, E>,
    /// Arguments to key.
    pub(crate) make_key: MakeKey<A, K>,
    /// How long a stored value lives; `None`: until evicted or cleared.
    pub(crate) expiration: Option<Duration>,
    /// Where time comes from (only read when `expiration` is set).
    pub(crate) clock: Arc<dyn Clock>,
    /// The shared store behind the memory tier, if any.
    pub(crate) backend: Option<Arc<dyn DynBackend<K, V>>>,
    /// Counts clears (bumped under the state lock), so a backend write still in flight
    /// can tell that a clear happened since its value was computed.
    clears: Arc<AtomicU64>,
    /// Hashes keys for the store and the flights alike, so a call hashes its key once.
    hasher: DefaultHashBuilder,
    /// The mutable part.
    state: Mutex<State<A, K, V, E>>,
}

/// The lock-protected part of a [`Core`].
struct State<A, K, V, E> {
    /// Stored values: the memory tier (`None`: a backend without one).
    store: Option<Lru<K, V>>,
    /// Computations running now, one per key, found by the key's hash (stored in each,
    /// so growing the table never rehashes a key).
    flights: HashTable<InFlight<K, V, E>>,
    /// Flights cleared while running that callers still wait on, by flight id: their
    /// leaders settle them here.
    orphans: HashMap<u64, Arc<Flight<V, E>>>,
    /// The next flight id.
    next_flight: u64,
    /// An empty runner left by the last leader, for the next one: a miss allocates no
    /// runner while one is here.
    spare: Option<Runner<A, V, E>>,
    /// Calls served from the store.
    hits: u64,
    /// Calls that found no live stored value.
    misses: u64,
    /// Values pushed out by the limit.
    evictions: u64,
}

/// The events a cache records on its hot paths, each with the `cache` attribute.
struct Events {
    /// `cache.hit`.
    hit: Event,
    /// `cache.miss`.
    miss: Event,
    /// `cache.evict`.
    evict: Event,
}

impl Events {
    /// The events of the cache named `name`.
    fn new(name: Cow<'static, str>) -> Self {
        let event = |event| Event::debug(event).with("cache", name.clone()).long_lived();
        Events {
            hit: event("cache.hit"),
            miss: event("cache.miss"),
            evict: event("cache.evict"),
        }
    }
}

/// A snapshot of a cache's counters.
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

/// One running computation of one key, shared with the callers waiting on it.
pub(crate) struct Flight<V, E> {
    /// Its outcome so far.
    state: Mutex<FlightState<V, E>>,
    /// Wakes the waiters when the outcome is known.
    done: Notify,
}

/// A key being computed: the key, the leader's flight id, and the waiters' shared
/// state, created only when a second caller arrives (an uncontended miss allocates
/// none).
struct InFlight<K, V, E> {
    /// The key; the leader takes it back to store its value under.
    key: K,
    /// The key's hash ([`Core::hash`]).
    hash: u64,
    /// Tells the leader whether the entry is still its own, and finds it for the
    /// leader without comparing keys: ids are unique.
    id: u64,
    /// What waiters wait on; `None` while nobody waits.
    waiters: Option<Arc<Flight<V, E>>>,
}

/// What a waiter finds when it looks at a flight.
pub(crate) enum FlightState<V, E> {
    /// The leader is still computing.
    Running,
    /// The leader finished; waiters take a clone.
    Done(Shared<V, E>),
    /// The leader was cancelled or panicked: waiters start over (one of them leads).
    Abandoned,
}

impl<V: Clone, E> Flight<V, E> {
    fn new() -> Self {
        Flight {
            state: Mutex::new(FlightState::Running),
            done: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FlightState<V, E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The outcome, if the leader has finished or given up.
    pub(crate) fn outcome(&self) -> FlightState<V, E> {
        match &*self.lock() {
            FlightState::Running => FlightState::Running,
            FlightState::Done(result) => FlightState::Done(result.clone()),
            FlightState::Abandoned => FlightState::Abandoned,
        }
    }

    /// A listener for the outcome. Check [`Flight::outcome`] after creating it.
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.done.listen()
    }

    fn settle(&self, outcome: FlightState<V, E>) {
        *self.lock() = outcome;
        self.done.notify(usize::MAX);
    }
}

/// What a call finds when it looks a key up.
pub(crate) enum Found<A, K, V, E> {
    /// A stored value.
    Hit(V),
    /// Another call is computing this key: wait on it.
    Wait(Arc<Flight<V, E>>),
    /// Nobody is: this call leads a new flight.
    Lead(Lead<A, K, V, E>),
}

/// What a leader needs to run the function and settle its flight.
pub(crate) struct Lead<A, K, V, E> {
    /// The flight's id.
    pub(crate) flight: u64,
    /// The key's hash, so settling the flight and storing the value hash nothing.
    pub(crate) hash: u64,
    /// With a backend, a copy of the key for the backend read; `None` without one.
    pub(crate) key: Option<K>,
    /// The runner the last leader left, if any: this leader starts its future in it.
    pub(crate) runner: Option<Runner<A, V, E>>,
}

impl<A, K, V, E> Core<A, K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// `memory`: `None` for no memory tier, `Some(limit)` for one (`Some(None)`:
    /// unbounded).
    pub(crate) fn new(
        name: Cow<'static, str>,
        function: Function<A, V, E>,
        make_key: MakeKey<A, K>,
        memory: Option<Option<NonZeroUsize>>,
        expiration: Option<Duration>,
        clock: Arc<dyn Clock>,
        backend: Option<Arc<dyn DynBackend<K, V>>>,
    ) -> Self {
        let hasher = DefaultHashBuilder::default();
        let store = memory.map(|limit| Lru::with_hasher(limit, hasher.clone()));
        Core {
            events: Events::new(name.clone()),
            name,
            function,
            make_key,
            expiration,
            clock,
            backend,
            hasher,
            clears: Arc::new(AtomicU64::new(0)),
            state: Mutex::new(State {
                store,
                flights: HashTable::new(),
                orphans: HashMap::new(),
                next_flight: 0,
                spare: None,
                hits: 0,
                misses: 0,
                evictions: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<A, K, V, E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The instant expiry is checked against; `None` when nothing expires (no clock read).
    #[inline]
    fn now(&self) -> Option<Instant> {
        self.expiration.map(|_| self.clock.now())
    }

    /// `key`'s hash, for the store and the flights alike.
    #[inline]
    fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Looks `key` up: a stored value, a flight to wait on, or a new flight to lead.
    /// `count`: whether this lookup counts in the stats and events (retries do not).
    ///
    /// The key is hashed once, outside the lock; a miss probes the store and then the
    /// flights once each, and a new flight takes the key (cloned only if borrowed).
    #[inline]
    pub(crate) fn find(&self, key: KeyRef<'_, K>, count: bool) -> Found<A, K, V, E> {
        let hash = self.hash(&key);
        let now = self.now();
        let mut st = self.lock();
        if let Some(Lookup::Hit(value)) = st
            .store
            .as_mut()
            .map(|store| store.get_hashed(hash, &*key, now))
        {
            let value = value.clone();
            if count {
                st.hits += 1;
            }
            drop(st);
            if count {
                self.record(&self.events.hit);
            }
            return Found::Hit(value);
        }
        let state = &mut *st;
        let found = match state.flights.entry(hash, |f| f.key == *key, |f| f.hash) {
            HashEntry::Occupied(mut occupied) => Found::Wait(
                occupied
                    .get_mut()
                    .waiters
                    .get_or_insert_with(|| Arc::new(Flight::new()))
                    .clone(),
            ),
            HashEntry::Vacant(vacant) => {
                let id = state.next_flight;
                state.next_flight = id.wrapping_add(1);
                let key = key.into_owned();
                // The backend read needs the key outside the lock.
                let copy = self.backend.as_ref().map(|_| key.clone());
                vacant.insert(InFlight {
                    key,
                    hash,
                    id,
                    waiters: None,
                });
                Found::Lead(Lead {
                    flight: id,
                    hash,
                    key: copy,
                    runner: state.spare.take(),
                })
            }
        };
        // With a backend, a leader's hit or miss is known only after reading it: see
        // `count_load`.
        let deferred = self.backend.is_some() && matches!(found, Found::Lead(_));
        if count && !deferred {
            st.misses += 1;
        }
        drop(st);
        if count && !deferred {
            self.record(&self.events.miss);
        }
        found
    }

    /// Counts a leader's lookup once its backend read is done: a hit when the backend
    /// had the value, a miss when the function ran.
    pub(crate) fn count_load(&self, computed: bool) {
        {
            let mut st = self.lock();
            if computed {
                st.misses += 1;
            } else {
                st.hits += 1;
            }
        }
        self.record(if computed {
            &self.events.miss
        } else {
            &self.events.hit
        });
    }

    /// The leader's computation finished: store an `Ok` (unless the key was cleared
    /// meanwhile), settle the flight for its waiters, and hand back the shared result,
    /// with the backend write to run when `persist` is set (a computed value) and the
    /// key was not cleared meanwhile.
    ///
    /// `hash` and `flight` are the leader's [`Lead`]: one probe finds the flight by id,
    /// and the value is stored under the key the flight held, with no rehash. `runner`,
    /// emptied, is kept for the next leader if no other is.
    pub(crate) fn complete(
        &self,
        hash: u64,
        flight: u64,
        result: Result<V, E>,
        persist: bool,
        runner: Option<Runner<A, V, E>>,
    ) -> (Shared<V, E>, Option<BoxFut<'static, ()>>) {
        let result = result.map_err(Arc::new);
        let mut evicted = None;
        let mut replaced = None;
        let mut unused_key = None;
        let mut surplus = None;
        let mut write_key = None;
        let waiters = {
            let now = self.now();
            let mut st = self.lock();
            let st = &mut *st;
            if st.spare.is_none() {
                st.spare = runner;
            } else {
                surplus = runner;
            }
            // Still ours? A clear in the meantime removed (or replaced) the entry, and
            // then the result must not come back into the store.
            match st.flights.find_entry(hash, |f| f.id == flight) {
                Ok(entry) => {
                    let (InFlight { key, waiters, .. }, _) = entry.remove();
                    if persist && result.is_ok() && self.backend.is_some() {
                        write_key = Some((key.clone(), self.clears.load(Ordering::Acquire)));
                    }
                    match (&result, st.store.as_mut()) {
                        (Ok(value), Some(store)) => {
                            let expires = now.zip(self.expiration).map(|(now, ttl)| now + ttl);
                            match store.insert_hashed(hash, key, value.clone(), expires) {
                                Insert::Evicted(k, v) => {
                                    st.evictions += 1;
                                    evicted = Some((k, v));
                                }
                                Insert::Replaced(old) => replaced = Some(old),
                                Insert::Inserted => {}
                            }
                        }
                        _ => unused_key = Some(key),
                    }
                    waiters
                }
                Err(_) => st.orphans.remove(&flight),
            }
        };
        if evicted.is_some() {
            self.record(&self.events.evict);
        }
        // Drop the evicted value (and a key not stored) outside the lock: their Drop is
        // user code.
        drop((evicted, replaced, unused_key, surplus));
        if let Some(waiters) = waiters {
            waiters.settle(FlightState::Done(result.clone()));
        }
        // Outside the lock: creating the write runs the backend's code.
        let write = match (write_key, &result) {
            (Some((key, clears)), Ok(value)) => self.persist(key, value.clone(), clears),
            _ => None,
        };
        (result, write)
    }

    /// The leader went away before finishing (cancelled, or its function panicked):
    /// free the key and let the waiters start over. `hash` and `flight` are its
    /// [`Lead`]'s.
    #[cold]
    pub(crate) fn abandon(&self, hash: u64, flight: u64) {
        let (waiters, key) = {
            let mut st = self.lock();
            match st.flights.find_entry(hash, |f| f.id == flight) {
                Ok(entry) => {
                    let (in_flight, _) = entry.remove();
                    (in_flight.waiters, Some(in_flight.key))
                }
                Err(_) => (st.orphans.remove(&flight), None),
            }
        };
        drop(key);
        if let Some(waiters) = waiters {
            waiters.settle(FlightState::Abandoned);
        }
    }

    /// Empties the store and forgets running computations (their results will not be
    /// stored; callers already waiting on them still get them).
    pub(crate) fn clear(&self) {
        let store = {
            let mut st = self.lock();
            self.clears.fetch_add(1, Ordering::AcqRel);
            let st = &mut *st;
            let fresh = st
                .store
                .as_ref()
                .map(|store| Lru::with_hasher(store.limit(), self.hasher.clone()));
            for in_flight in st.flights.drain() {
                if let Some(waiters) = in_flight.waiters {
                    st.orphans.insert(in_flight.id, waiters);
                }
            }
            std::mem::replace(&mut st.store, fresh)
        };
        // Values are dropped outside the lock: their Drop is user code.
        drop(store);
    }

    /// Removes one key's value and forgets its running computation.
    pub(crate) fn clear_key(&self, key: &K) {
        let hash = self.hash(key);
        let removed = {
            let mut st = self.lock();
            self.clears.fetch_add(1, Ordering::AcqRel);
            let st = &mut *st;
            let flight_key = match st.flights.find_entry(hash, |f| f.key == *key) {
                Ok(entry) => {
                    let (
                        InFlight {
                            key, id, waiters, ..
                        },
                        _,
                    ) = entry.remove();
                    if let Some(waiters) = waiters {
                        st.orphans.insert(id, waiters);
                    }
                    Some(key)
                }
                Err(_) => None,
            };
            let value = st
                .store
                .as_mut()
                .and_then(|store| store.remove_hashed(hash, key));
            (flight_key, value)
        };
        // The key and value are dropped outside the lock: their Drop is user code.
        drop(removed);
    }

    pub(crate) fn stats(&self) -> Stats {
        let st = self.lock();
        Stats {
            hits: st.hits,
            misses: st.misses,
            evictions: st.evictions,
            len: st.store.as_ref().map_or(0, Lru::len),
        }
    }

    /// Records one of this cache's events, only when someone listens.
    #[inline]
    fn record(&self, event: &Event) {
        ctx::record_event(event);
    }

    /// Clears the memory tier and the backend (`None`: everything; `Some`: one key).
    pub(crate) fn clear_everywhere(&self, key: Option<K>) -> BoxFut<'_, Result<(), CacheError>> {
        Box::pin(async move {
            self.clear_memory(key.as_ref());
            let Some(backend) = &self.backend else {
                return Ok(());
            };
            let cleared = backend
                .clear(key.as_ref())
                .await
                .map_err(CacheError::from_backend);
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

    /// The leader's work with a backend: read, and on a miss (or a failed read) run the
    /// function. The flag says whether the value came from the function (and so must be
    /// written).
    pub(crate) fn load<'a>(
        &'a self,
        backend: &'a Arc<dyn DynBackend<K, V>>,
        key: K,
        args: A,
    ) -> BoxFut<'a, Result<(V, bool), E>>
    where
        A: Send + 'a,
    {
        Box::pin(async move {
            match backend.read(&key).await {
                Ok(Some(value)) => return Ok((value, false)),
                Ok(None) => {}
                Err(e) => self.record_failure("cache.read_failed", &*e),
            }
            drop(key);
            let mut runner = (self.function)();
            runner.as_mut().start(args);
            std::future::poll_fn(|cx| runner.as_mut().poll_run(cx))
                .await
                .map(|value| (value, true))
        })
    }

    /// The write of a computed value to the backend, recording a failure.
    ///
    /// `clears` is the clear count when the value was computed. A clear after that makes
    /// the value stale: the write is skipped if it has not started, and undone (the key
    /// cleared in the backend) if it landed meanwhile, so a clear is never undone by a
    /// write that was in flight.
    pub(crate) fn persist(&self, key: K, value: V, clears: u64) -> Option<BoxFut<'static, ()>> {
        let backend = self.backend.clone()?;
        let name = self.name.clone();
        let count = self.clears.clone();
        let stale = move || count.load(Ordering::Acquire) != clears;
        Some(Box::pin(async move {
            if stale() {
                return;
            }
            if let Err(e) = backend.clone().write(key.clone(), value).await {
                record_failure(&name, "cache.write_failed", &*e);
                return;
            }
            if stale() {
                if let Err(e) = backend.clear(Some(&key)).await {
                    record_failure(&name, "cache.stale_write", &*e);
                }
            }
        }))
    }

    fn record_failure(&self, event: &'static str, error: &(dyn std::error::Error + 'static)) {
        record_failure(&self.name, event, error);
    }

    #[cfg(fuzzing)]
    pub(crate) fn validate(&self) {
        if let Some(store) = &self.lock().store {
            store.validate();
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
