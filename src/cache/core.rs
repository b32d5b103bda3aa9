//! The untyped heart of a cached function: the store, the in-flight computations and
//! the counters, under one lock that is never held across an `.await`.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use event_listener::Event as Notify;
use hashbrown::hash_table::Entry as HashEntry;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::backend::{BoxFut, CacheError, DynBackend};
use super::clock::Clock;
use super::lru::{Insert, Lookup, Lru};
use super::run::{Function, Runner};
use super::write::{self, PendingWrite, Writes};
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
    /// The backend writes not finished yet, and the keys the backend may hold a value
    /// of from before a clear: see [`write`](super::write).
    writes: Writes<K>,
    /// Hashes keys for the store and the flights alike, so a call hashes its key once.
    hasher: DefaultHashBuilder,
    /// The mutable part.
    state: Mutex<State<A, K, V, E>>,
    /// How a call lets go of a flight it leads, for the `Drop`s that need no bounds.
    pub(crate) let_go: LetGo<A, K, V, E>,
}

/// [`Core::abandon`] and [`Core::hand_over`], captured where their bounds hold (in
/// [`Core::new`]) so the `Drop`s of a call's guards, which can have none, call them.
pub(crate) struct LetGo<A, K, V, E> {
    /// (core, hash, flight, uncounted).
    pub(crate) abandon: Abandon<A, K, V, E>,
    /// (core, hash, flight, computation).
    pub(crate) hand_over: HandOver<A, K, V, E>,
}

/// [`Core::abandon`].
type Abandon<A, K, V, E> = fn(&Core<A, K, V, E>, u64, u64, bool);

/// [`Core::hand_over`].
type HandOver<A, K, V, E> = fn(&Core<A, K, V, E>, u64, u64, Runner<A, V, E>) -> HandedOver<A, V, E>;

/// The lock-protected part of a [`Core`].
struct State<A, K, V, E> {
    /// Stored values: the memory tier (`None`: a backend without one).
    store: Option<Lru<K, V>>,
    /// Computations running now, one per key, found by the key's hash (stored in each,
    /// so growing the table never rehashes a key).
    flights: HashTable<InFlight<A, K, V, E>>,
    /// Flights cleared while running that callers still wait on, by flight id: their
    /// leaders settle them here.
    orphans: HashMap<u64, Arc<Flight<A, V, E>>>,
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
pub(crate) struct Flight<A, V, E> {
    /// The key's hash ([`Core::hash`]): with `id`, what a waiter that takes the
    /// computation over leads it by.
    pub(crate) hash: u64,
    /// The flight's id.
    pub(crate) id: u64,
    /// Its outcome so far, and how many callers wait on it.
    state: Mutex<FlightInner<A, V, E>>,
    /// Wakes the waiters when the outcome is known, or the computation is handed over.
    done: Notify,
}

/// The lock-protected part of a [`Flight`].
struct FlightInner<A, V, E> {
    /// Where the computation is.
    state: FlightState<A, V, E>,
    /// Callers waiting on it ([`Flight::join`]ed, not yet [`left`](Flight::leave)).
    waiting: usize,
}

/// A key being computed: the key, the leader's flight id, and the waiters' shared
/// state, created only when a second caller arrives (an uncontended miss allocates
/// none).
struct InFlight<A, K, V, E> {
    /// The key; the leader takes it back to store its value under.
    key: K,
    /// The key's hash ([`Core::hash`]).
    hash: u64,
    /// Tells the leader whether the entry is still its own, and finds it for the
    /// leader without comparing keys: ids are unique.
    id: u64,
    /// What waiters wait on; `None` while nobody waits.
    waiters: Option<Arc<Flight<A, V, E>>>,
}

/// Where a flight's computation is.
pub(crate) enum FlightState<A, V, E> {
    /// The leader is still computing.
    Running,
    /// The leader finished; waiters take a clone, made after the flight's lock is
    /// released (a value's `Clone` is user code).
    Done(Arc<Shared<V, E>>),
    /// The leader panicked (or went away with nobody waiting): waiters start over (one
    /// of them leads).
    Abandoned,
    /// The leader went away (cancelled) while callers waited: its computation waits
    /// here for one of them to take it over and drive it on.
    HandedOver(Runner<A, V, E>),
}

/// What [`Core::hand_over`] did: the flight the computation was left in (to wake its
/// waiters), or the computation given back (nobody waits).
pub(crate) type HandedOver<A, V, E> = Result<Arc<Flight<A, V, E>>, Runner<A, V, E>>;

/// What a waiter sees when it looks at a flight ([`Flight::outcome`]).
pub(crate) enum Outcome<V, E> {
    /// Still computing: keep waiting.
    Running,
    /// The result, shared.
    Done(Shared<V, E>),
    /// Start over.
    Abandoned,
    /// Nobody drives the computation: try to [`claim`](Flight::claim) it.
    HandedOver,
}

impl<A, V, E> FlightInner<A, V, E> {
    /// Takes a handed-over computation, if the flight holds one: it is running again
    /// (under whoever took it).
    fn take_handed_over(&mut self) -> Option<Runner<A, V, E>> {
        if !matches!(self.state, FlightState::HandedOver(_)) {
            return None;
        }
        match std::mem::replace(&mut self.state, FlightState::Running) {
            FlightState::HandedOver(runner) => Some(runner),
            _ => unreachable!("checked above"),
        }
    }
}

impl<A, V, E> Flight<A, V, E> {
    fn new(hash: u64, id: u64) -> Self {
        Flight {
            hash,
            id,
            state: Mutex::new(FlightInner {
                state: FlightState::Running,
                waiting: 0,
            }),
            done: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FlightInner<A, V, E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Settles the flight and wakes the waiters. What was there before (a computation
    /// handed over and not taken) is dropped after the lock is released.
    fn settle(&self, outcome: FlightState<A, V, E>) {
        let before = std::mem::replace(&mut self.lock().state, outcome);
        self.done.notify(usize::MAX);
        drop(before);
    }

    /// Counts one more waiter. Every `join` is matched by one [`claim`](Self::claim)
    /// that succeeds or one [`leave`](Self::leave).
    pub(crate) fn join(&self) {
        self.lock().waiting += 1;
    }

    /// A waiter takes the handed-over computation, if nobody took it first, and so
    /// stops waiting: it leads the flight from now on.
    pub(crate) fn claim(&self) -> Option<Runner<A, V, E>> {
        let mut inner = self.lock();
        let runner = inner.take_handed_over()?;
        inner.waiting -= 1;
        Some(runner)
    }

    /// A waiter goes away. If it was the last one and the computation is handed over
    /// with nobody driving it, the computation is returned: the caller leads it out
    /// (cancels it, or hands it to a caller that joined meanwhile).
    pub(crate) fn leave(&self) -> Option<Runner<A, V, E>> {
        let mut inner = self.lock();
        inner.waiting -= 1;
        if inner.waiting > 0 {
            return None;
        }
        inner.take_handed_over()
    }

    /// The leader went away: leaves its computation for the waiters, if any wait (the
    /// leader then [`wake`](Self::wake)s them); gives it back if none does.
    fn offer(&self, runner: Runner<A, V, E>) -> Result<(), Runner<A, V, E>> {
        let mut inner = self.lock();
        if inner.waiting == 0 || !matches!(inner.state, FlightState::Running) {
            return Err(runner);
        }
        inner.state = FlightState::HandedOver(runner);
        Ok(())
    }

    /// Wakes the waiters to take over an [`offer`](Self::offer)ed computation. Called
    /// once the old leader let go of the flight (its guard disarmed), so nothing after
    /// the offer can abandon a flight a waiter may already lead.
    pub(crate) fn wake(&self) {
        self.done.notify(usize::MAX);
    }
}

impl<A, V: Clone, E> Flight<A, V, E> {
    /// What a waiter sees now.
    pub(crate) fn outcome(&self) -> Outcome<V, E> {
        let done = match &self.lock().state {
            FlightState::Running => return Outcome::Running,
            FlightState::Done(result) => result.clone(),
            FlightState::Abandoned => return Outcome::Abandoned,
            FlightState::HandedOver(_) => return Outcome::HandedOver,
        };
        Outcome::Done((*done).clone())
    }

    /// A listener for the outcome. Check [`Flight::outcome`] after creating it.
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.done.listen()
    }
}

/// The waiters of a flight just taken out of the table (if anyone waits), to settle
/// with the leader's outcome. Dropped unsettled (a panic on the way: a value's
/// `Clone`, a recorder, a `Drop`), it settles them `Abandoned`: they start over, one of
/// them leading, instead of waiting forever.
struct Waiters<A, V, E>(Option<Arc<Flight<A, V, E>>>);

impl<A, V, E> Waiters<A, V, E> {
    fn settle(mut self, outcome: impl FnOnce() -> FlightState<A, V, E>) {
        if self.0.is_some() {
            // Computed first: if it panics (a value's `Clone`), `Drop` still settles.
            let outcome = outcome();
            if let Some(flight) = self.0.take() {
                flight.settle(outcome);
            }
        }
    }
}

impl<A, V, E> Drop for Waiters<A, V, E> {
    fn drop(&mut self) {
        if let Some(flight) = self.0.take() {
            flight.settle(FlightState::Abandoned);
        }
    }
}

/// What a call finds when it looks a key up.
pub(crate) enum Found<A, K, V, E> {
    /// A stored value.
    Hit(V),
    /// Another call is computing this key: wait on it. The caller is already counted
    /// among the flight's waiters ([`Flight::join`], under the state lock); it drops
    /// `expired` and records its miss once it holds its own way to leave.
    Wait {
        flight: Arc<Flight<A, V, E>>,
        expired: Option<Box<(K, V)>>,
        record_miss: bool,
    },
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
    /// An expired entry of the key, taken out of the store on the way: for the leader
    /// to drop once its lead guard exists (its `Drop` is user code, and may panic).
    /// Boxed: rare, and it keeps a call's future small for the hot path.
    pub(crate) expired: Option<Box<(K, V)>>,
    /// Whether the leader records `cache.miss`, once its lead guard exists (a recorder
    /// is user code, and may panic).
    pub(crate) record_miss: bool,
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
            writes: Writes::new(),
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
            let_go: LetGo {
                abandon: Core::abandon,
                hand_over: Core::hand_over,
            },
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
        // Declared before the lock: also on a panic under it, dropped after it.
        let mut expired = None;
        let mut st = self.lock();
        let lookup = st
            .store
            .as_mut()
            .map(|store| store.get_hashed(hash, &*key, now));
        match lookup {
            Some(Lookup::Hit(value)) => {
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
            // Dropped once the lock is released: its `Drop` is user code.
            Some(Lookup::Expired) => expired = st.store.as_mut().and_then(Lru::take_expired),
            Some(Lookup::Miss) | None => {}
        }
        let state = &mut *st;
        let found = match state.flights.entry(hash, |f| f.key == *key, |f| f.hash) {
            HashEntry::Occupied(mut occupied) => {
                let in_flight = occupied.get_mut();
                let (hash, id) = (in_flight.hash, in_flight.id);
                let flight = in_flight
                    .waiters
                    .get_or_insert_with(|| Arc::new(Flight::new(hash, id)))
                    .clone();
                // Counted under the state lock: a leader that goes away from now on
                // finds this caller waiting, and hands its run over.
                flight.join();
                Found::Wait {
                    flight,
                    expired: None,
                    record_miss: count,
                }
            }
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
                // With a backend, a leader's hit or miss is known only after reading
                // it: see `count_load`.
                let counted = count && self.backend.is_none();
                if counted {
                    state.misses += 1;
                }
                Found::Lead(Lead {
                    flight: id,
                    hash,
                    key: copy,
                    runner: state.spare.take(),
                    expired: expired.take().map(Box::new),
                    record_miss: counted,
                })
            }
        };
        let mut found = found;
        if let Found::Wait { expired: e, .. } = &mut found {
            if count {
                st.misses += 1;
            }
            *e = expired.take().map(Box::new);
        }
        drop(st);
        // A leader drops the expired entry and records its miss once it holds its lead
        // guard, a waiter once it holds its way to leave the flight: a panic (user code)
        // must not leave a flight nobody leads, nor a waiter counted that never leaves.
        found
    }

    /// Records one `cache.miss` event.
    #[inline]
    pub(crate) fn record_miss(&self) {
        self.record(&self.events.miss);
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
    #[inline(never)]
    pub(crate) fn complete(
        &self,
        hash: u64,
        flight: u64,
        result: Result<V, E>,
        persist: bool,
        runner: Option<Runner<A, V, E>>,
    ) -> (Shared<V, E>, Option<BoxFut<'static, ()>>) {
        let result = result.map_err(Arc::new);
        // Declared before the lock, so also on a panic under it (a value's `Clone`)
        // they are dropped after it is released: their `Drop`, and the waiters' wakers,
        // are user code. A key not stored stays in `unused_key`.
        let mut waiters = Waiters(None);
        let mut unused_key = None;
        let mut evicted = None;
        let mut replaced = None;
        let mut surplus = None;
        let mut write_key = None;
        let mut write = None;
        {
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
                    let (
                        InFlight {
                            key, waiters: w, ..
                        },
                        _,
                    ) = entry.remove();
                    // Settled however this ends, from here on.
                    waiters.0 = w;
                    let key = unused_key.insert(key);
                    if persist && result.is_ok() && self.backend.is_some() {
                        // Registered under the state lock, so a clear after this
                        // point finds it.
                        write_key = Some(key.clone());
                        write = Some(self.writes.start(key.clone()));
                    }
                    // Without a store, or for an error, the key is not stored.
                    if let (Ok(value), Some(store)) = (&result, st.store.as_mut()) {
                        let expires = now.zip(self.expiration).map(|(now, ttl)| now + ttl);
                        let value = value.clone();
                        let key = unused_key.take().expect("the key was just put there");
                        match store.insert_hashed(hash, key, value, expires) {
                            Insert::Evicted(k, v) => {
                                st.evictions += 1;
                                evicted = Some((k, v));
                            }
                            Insert::Replaced(old) => replaced = Some(old),
                            Insert::Inserted => {}
                        }
                    }
                }
                Err(_) => waiters.0 = st.orphans.remove(&flight),
            }
        }
        if evicted.is_some() {
            self.record(&self.events.evict);
        }
        // Drop the evicted value (and a key not stored) outside the lock: their Drop is
        // user code.
        drop((evicted, replaced, unused_key, surplus));
        waiters.settle(|| FlightState::Done(Arc::new(result.clone())));
        // Outside the lock: creating the write runs the backend's code.
        let write = match (write_key.zip(write), &result) {
            (Some((key, pending)), Ok(value)) => self.persist(key, value.clone(), pending),
            _ => None,
        };
        (result, write)
    }

    /// The leader of flight `flight` (key hash `hash`) was cancelled mid-computation:
    /// if callers wait on the flight (also one cleared meanwhile), its computation is
    /// left to them, and one of them drives it on; the leader disarms its guard, then
    /// [`wake`](Flight::wake)s them. Given back when nobody waits: the leader then drops
    /// it and [`abandon`](Self::abandon)s the flight.
    #[cold]
    pub(crate) fn hand_over(
        &self,
        hash: u64,
        flight: u64,
        runner: Runner<A, V, E>,
    ) -> HandedOver<A, V, E> {
        let waiters = {
            let st = self.lock();
            match st.flights.find(hash, |f| f.id == flight) {
                Some(in_flight) => in_flight.waiters.clone(),
                None => st.orphans.get(&flight).cloned(),
            }
        };
        match waiters {
            Some(waiters) => waiters.offer(runner).map(|()| waiters),
            None => Err(runner),
        }
    }

    /// The leader went away before finishing (cancelled, or its function panicked):
    /// free the key and let the waiters start over. `hash` and `flight` are its
    /// [`Lead`]'s.
    #[cold]
    pub(crate) fn abandon(&self, hash: u64, flight: u64, uncounted: bool) {
        let (waiters, key) = {
            let mut st = self.lock();
            if uncounted {
                st.misses += 1;
            }
            match st.flights.find_entry(hash, |f| f.id == flight) {
                Ok(entry) => {
                    let (in_flight, _) = entry.remove();
                    (Waiters(in_flight.waiters), Some(in_flight.key))
                }
                Err(_) => (Waiters(st.orphans.remove(&flight)), None),
            }
        };
        // The waiters first: the key's `Drop` is user code, and may panic.
        drop(waiters);
        drop(key);
        // Not while unwinding: a recorder that panicked now would abort the process.
        if uncounted && !std::thread::panicking() {
            self.record(&self.events.miss);
        }
    }

    /// Empties the store and forgets running computations (their results will not be
    /// stored; callers already waiting on them still get them).
    pub(crate) fn clear(&self) {
        let store = {
            let mut st = self.lock();
            self.writes.outdate(None);
            let st = &mut *st;
            let fresh = st
                .store
                .as_ref()
                .map(|store| Lru::with_hasher(store.limit(), self.hasher.clone()));
            let mut keys = Vec::with_capacity(st.flights.len());
            for in_flight in st.flights.drain() {
                keys.push(in_flight.key);
                if let Some(waiters) = in_flight.waiters {
                    st.orphans.insert(in_flight.id, waiters);
                }
            }
            (std::mem::replace(&mut st.store, fresh), keys)
        };
        // Keys and values are dropped outside the lock: their Drop is user code.
        drop(store);
    }

    /// Removes one key's value and forgets its running computation.
    pub(crate) fn clear_key(&self, key: &K) {
        let hash = self.hash(key);
        let removed = {
            let mut st = self.lock();
            self.writes.outdate(Some(key));
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
        // The keys and value are dropped outside the lock: their Drop is user code.
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
            // The backend may hold a value from before a clear: not read, a miss.
            if !self.writes.is_suspect(&key) {
                match backend.read(&key).await {
                    Ok(Some(value)) => return Ok((value, false)),
                    Ok(None) => {}
                    Err(e) => self.record_failure("cache.read_failed", &*e),
                }
            }
            drop(key);
            let mut runner = (self.function)();
            runner.as_mut().start(args);
            std::future::poll_fn(|cx| runner.as_mut().poll_run(cx))
                .await
                .map(|value| (value, true))
        })
    }

    /// The write of a computed value to the backend, registered as `pending` when the
    /// value was computed; see [`write::persist`].
    fn persist(&self, key: K, value: V, pending: PendingWrite<K>) -> Option<BoxFut<'static, ()>> {
        let backend = self.backend.clone()?;
        let name = self.name.clone();
        let failed = move |event, error: &(dyn std::error::Error + 'static)| {
            record_failure(&name, event, error);
        };
        Some(write::persist(backend, key, value, pending, failed))
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
