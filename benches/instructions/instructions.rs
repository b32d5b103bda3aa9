//! Instruction counts (valgrind's callgrind, through gungraun) of haiway's cache beside
//! `Mutex<lru::LruCache>` and quick_cache, on the same operations: exact and repeatable
//! on a noisy machine, so `.ci/run` holds the ratios to targets
//! (`.ci/instructions.py` reads this bench's output, divides by [`OPS`], and prints each
//! haiway line as a ratio to the `lru` line).
//!
//! Every line runs [`OPS`] operations in one benchmark function, after a setup that is
//! not counted (building and filling the cache, drawing the keys; the function hands
//! the cache back, so dropping it is not counted either), with `u64` keys and values,
//! capacity 10,000, and a function that returns at once:
//!
//! - `hit`: one present key, again and again.
//! - `miss`: every key new, the cache full, so each miss evicts.
//! - `zipf`: get-or-compute over a Zipf (s = 1.0) sequence on 100,000 keys, after the
//!   first 100,000 draws warmed the cache.
//! - haiway's `hit_noop_scope`: the hit inside a scope whose recorder (`NoopRecorder`)
//!   wants no events; `hit_shards8`: the hit with `shards(8)`.
//! - haiway's `hit_static`: the hit through a handle in a `static` `LazyLock`, as users
//!   keep one; `hit_attribute`: the same hit through a `#[haiway::cache]` function,
//!   whose expansion keeps its handle so (`.ci/instructions.py` holds the two level).
//! - `lru`'s `miss_flight` and `zipf_flight`: the floor under any memoizer with
//!   single-flight, `Mutex<lru::LruCache>` that puts a placeholder on a miss, unlocks,
//!   computes, locks again and fills it (see [`lru_flight_call`]).
//! - `lru_pl` lines (`hit`, `miss`, `zipf`): `lru` behind parking_lot's lock instead
//!   of std's (see [`LruPl`]), the peer of haiway built with its feature `parking_lot`.
//! - `floor` lines (`hit`, `miss`, `zipf`): the floor under a memoizer with haiway's
//!   features, built on `Mutex<lru::LruCache>` at the least cost each feature can have
//!   (see [`Floor`]). The distance from `lru` to `floor` is what the features cost; from
//!   `floor` to haiway, what haiway's engine adds.
//! - `ctx` lines, one read of the context per operation, inside a scope: `is_recording`
//!   (the bare slot read, for scale), `with_state_1` (`ctx::with_state` in a scope with
//!   one value), `with_state_8` and `state_8` (`ctx::with_state` and `ctx::state`, in a
//!   scope with eight, each read in turn), `with_state_missing_8` (a type not there).
//!   The scope's setup (eight allocations) runs inside the count, about 0.1 per read.
//!
//! Run with `cargo bench -p haiway-instructions` (needs valgrind and
//! `gungraun-runner` 0.20.0: `cargo install gungraun-runner --version 0.20.0`).

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::pin::pin;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use gungraun::{library_benchmark, library_benchmark_group, main};
use haiway::cache::Cached;
use haiway::event::PreparedEvent;
use haiway::{Event, NoopRecorder, Scope, ctx};

/// Operations per benchmark function.
const OPS: u64 = 10_000;
/// Capacity of every cache.
const CAPACITY: usize = 10_000;
/// Distinct keys of the Zipf sequence.
const ZIPF_KEYS: usize = 100_000;
/// Draws that warm the cache before the counted ones.
const ZIPF_WARM: usize = 100_000;
/// The key the hit lines look up.
const HOT: u64 = 7;
/// Keys the miss lines fill the cache with first (never looked up again).
const FILL: u64 = 1 << 40;

/// Polls `future` once with a no-op waker: every future here finishes at once.
#[inline(always)]
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("the benchmarked functions return at once"),
    }
}

/// A Zipf (s = 1.0) sequence over [`ZIPF_KEYS`] keys, from a fixed seed (splitmix64).
fn zipf(draws: usize) -> Vec<u64> {
    let mut cdf = Vec::with_capacity(ZIPF_KEYS);
    let mut total = 0.0;
    for k in 1..=ZIPF_KEYS {
        total += 1.0 / k as f64;
        cdf.push(total);
    }
    let mut state = 0x5EED_CAC4_E000_0001_u64;
    (0..draws)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 11) as f64 / (1u64 << 53) as f64 * total;
            cdf.partition_point(|&c| c < u) as u64
        })
        .collect()
}

fn haiway(shards: usize) -> Cached<u64, u64> {
    Cached::builder()
        .limit(CAPACITY)
        .shards(shards)
        .build(|k: u64| async move { k })
}

/// The hit line's cache in a `static`, as a user keeps a handle.
static STATIC: LazyLock<Cached<u64, u64>> = LazyLock::new(|| haiway(1));

/// The same cache through the attribute.
#[haiway::cache(limit = CAPACITY)]
async fn attribute(k: u64) -> u64 {
    k
}

type Lru = Mutex<lru::LruCache<u64, u64>>;

fn lru() -> Lru {
    Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(CAPACITY).expect("non-zero"),
    ))
}

type Quick = quick_cache::sync::Cache<u64, u64>;

fn quick() -> Quick {
    quick_cache::sync::Cache::new(CAPACITY)
}

/// The get-or-compute of `lru`: look up, and on a miss put the computed value.
#[inline(always)]
fn lru_call(cache: &Lru, key: u64) -> u64 {
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(&value) = cache.get(&key) {
        return value;
    }
    cache.put(key, key);
    key
}

/// `lru` behind parking_lot's lock, which keeps no poison flag: the lock of quick_cache
/// (its default) and of haiway built with the feature `parking_lot`, so the like-for-like
/// peer of that build. Printed, not held.
type LruPl = parking_lot::Mutex<lru::LruCache<u64, u64>>;

/// [`lru_call`] on [`LruPl`].
#[inline(always)]
fn lru_pl_call(cache: &LruPl, key: u64) -> u64 {
    let mut cache = cache.lock();
    if let Some(&value) = cache.get(&key) {
        return value;
    }
    cache.put(key, key);
    key
}

/// An [`LruPl`] after `keys`.
fn lru_pl_after(keys: impl IntoIterator<Item = u64>) -> LruPl {
    let cache = parking_lot::Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(CAPACITY).expect("non-zero"),
    ));
    for k in keys {
        lru_pl_call(&cache, k);
    }
    cache
}

fn lru_pl_hot() -> LruPl {
    lru_pl_after([HOT])
}

fn lru_pl_full() -> LruPl {
    lru_pl_after((0..CAPACITY as u64).map(|k| FILL + k))
}

fn lru_pl_zipf() -> (LruPl, Vec<u64>) {
    let draws = zipf(ZIPF_WARM + OPS as usize);
    let cache = lru_pl_after(draws[..ZIPF_WARM].iter().copied());
    (cache, draws[ZIPF_WARM..].to_vec())
}

/// `Mutex<lru::LruCache>` made a single-flight memoizer at the least cost it can have:
/// the floor under any cache that computes outside its lock and lets other callers of
/// the key wait for the run. On a miss it puts a placeholder (where the waiters would
/// wait; here no allocation, as haiway keeps a spare flight), unlocks, computes, locks
/// again and stores the value in the placeholder. No waker, no recorder, no stats,
/// no expiry.
type LruFlight = Mutex<lru::LruCache<u64, Slot>>;

/// An entry of [`LruFlight`].
enum Slot {
    /// Computing: callers of the key would wait here.
    Pending,
    /// The value.
    Ready(u64),
}

fn lru_flight() -> LruFlight {
    Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(CAPACITY).expect("non-zero"),
    ))
}

/// The get-or-compute of [`LruFlight`].
#[inline(always)]
fn lru_flight_call(cache: &LruFlight, key: u64) -> u64 {
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    {
        let mut cache = lock();
        match cache.get(&key) {
            Some(&Slot::Ready(value)) => return value,
            Some(Slot::Pending) => unreachable!("one caller at a time here"),
            None => {}
        }
        cache.put(key, Slot::Pending);
    }
    let value = now(async move { key });
    if let Some(slot) = lock().peek_mut(&key) {
        *slot = Slot::Ready(value);
    }
    value
}

/// `Mutex<lru::LruCache>` made a memoizer with the features of haiway's `Cached` that
/// its hit and its uncontended miss pay for, each at the least cost it can have:
///
/// - a call is a future ([`FloorCall`]), polled as haiway's is;
/// - expiry: an optional time to live (none here, as in haiway's lines), checked with
///   the clock read only when one is set, and an optional deadline in every entry;
/// - single-flight: a miss puts a placeholder, unlocks, runs the function, locks again
///   and fills it (as [`LruFlight`]); a hit checks it found a value, not a placeholder;
/// - statistics: hits, misses and evictions counted under the lock;
/// - events: `cache.hit`, `cache.miss` and `cache.evict` offered to the scope's recorder
///   (haiway's own check, one thread-local read).
///
/// Its miss path is out of line ([`floor_miss_path`]), as the miss path of any cache
/// whose miss does more than this one's must be, or every call site gets a copy of it.
/// (Inlined, the hit line read 93 instructions, miss 369 and Zipf 170: the out-of-line
/// call costs the hit a context and a future kept in memory, and a merge of the two
/// paths' results.)
///
/// What it leaves out, and haiway pays for: the function is generic and inlined (haiway
/// erases its type, so that `Cached<A, V>` can be named, and keeps its future in a
/// reused box), and nothing is done for other callers (no flight to join, no waker, no
/// hand-over if the call is dropped, no check for tasks the function spawned), for a
/// panic, for shards, for a key function or for a backend.
struct Floor<F> {
    /// The store and the counters.
    state: Mutex<FloorState>,
    /// How long a value lives (`None`: until evicted).
    expiration: Option<Duration>,
    /// The function.
    function: F,
    /// The events, made once.
    hit: PreparedEvent,
    miss: PreparedEvent,
    evict: PreparedEvent,
}

/// The lock-protected part of a [`Floor`].
struct FloorState {
    lru: lru::LruCache<u64, FloorEntry>,
    hits: u64,
    misses: u64,
    evictions: u64,
}

/// An entry of a [`Floor`].
enum FloorEntry {
    /// Being computed.
    Pending,
    /// A value, and when it expires.
    Live(u64, Option<Instant>),
}

/// A call of a [`Floor`]: its argument until it is polled.
struct FloorCall<'a, F> {
    cache: &'a Floor<F>,
    key: Option<u64>,
}

/// The [`Floor`] of the bench's function.
type FloorCache = Floor<fn(u64) -> std::future::Ready<u64>>;

fn floor() -> FloorCache {
    let event = |name| PreparedEvent::new(Event::debug(name).with_target("bench"));
    Floor {
        state: Mutex::new(FloorState {
            lru: lru::LruCache::new(NonZeroUsize::new(CAPACITY).expect("non-zero")),
            hits: 0,
            misses: 0,
            evictions: 0,
        }),
        expiration: None,
        function: |k| std::future::ready(k),
        hit: event("cache.hit"),
        miss: event("cache.miss"),
        evict: event("cache.evict"),
    }
}

impl<F, Fut> Future for FloorCall<'_, F>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64>,
{
    type Output = u64;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let this = self.get_mut();
        let cache = this.cache;
        let key = this.key.take().expect("polled once");
        let now = cache.expiration.map(|_| Instant::now());
        let lock = || cache.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut st = lock();
        match st.lru.get(&key) {
            Some(&FloorEntry::Live(value, expires)) if !matches!((now, expires), (Some(now), Some(at)) if now >= at) =>
            {
                st.hits += 1;
                drop(st);
                ctx::record_event(&cache.hit);
                return Poll::Ready(value);
            }
            Some(FloorEntry::Pending) => unreachable!("one caller at a time here"),
            _ => {}
        }
        floor_miss_path(cache, st, key, now, cx)
    }
}

/// The miss path of a [`FloorCall`], with the lock its lookup took.
#[cold]
#[inline(never)]
fn floor_miss_path<F, Fut>(
    cache: &Floor<F>,
    mut st: std::sync::MutexGuard<'_, FloorState>,
    key: u64,
    now: Option<Instant>,
    cx: &mut Context<'_>,
) -> Poll<u64>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64>,
{
    let lock = || cache.state.lock().unwrap_or_else(PoisonError::into_inner);
    st.misses += 1;
    let evicted = st.lru.push(key, FloorEntry::Pending);
    let evicted = evicted.filter(|&(k, _)| k != key).is_some();
    if evicted {
        st.evictions += 1;
    }
    drop(st);
    ctx::record_event(&cache.miss);
    if evicted {
        ctx::record_event(&cache.evict);
    }
    let mut run = pin!((cache.function)(key));
    let Poll::Ready(value) = run.as_mut().poll(cx) else {
        unreachable!("the bench's function returns at once")
    };
    let expires = now.zip(cache.expiration).map(|(now, ttl)| now + ttl);
    if let Some(entry) = lock().lru.peek_mut(&key) {
        *entry = FloorEntry::Live(value, expires);
    }
    Poll::Ready(value)
}

#[inline(always)]
fn floor_call(cache: &FloorCache, key: u64) -> u64 {
    now(FloorCall {
        cache,
        key: Some(key),
    })
}

#[inline(always)]
fn quick_call(cache: &Quick, key: u64) -> u64 {
    now(cache.get_or_insert_async(&key, async move { Ok::<_, ()>(key) })).unwrap_or(0)
}

// Setups (not counted).

fn haiway_hot(shards: usize) -> Cached<u64, u64> {
    let cache = haiway(shards);
    now(cache.call(HOT));
    cache
}

fn static_hot() {
    now(STATIC.call(HOT));
}

fn attribute_hot() {
    now(attribute(HOT));
}

fn haiway_full() -> Cached<u64, u64> {
    let cache = haiway(1);
    for k in 0..CAPACITY as u64 {
        now(cache.call(FILL + k));
    }
    cache
}

fn haiway_zipf() -> (Cached<u64, u64>, Vec<u64>) {
    let cache = haiway(1);
    let draws = zipf(ZIPF_WARM + OPS as usize);
    for &k in &draws[..ZIPF_WARM] {
        now(cache.call(k));
    }
    (cache, draws[ZIPF_WARM..].to_vec())
}

fn lru_hot() -> Lru {
    let cache = lru();
    lru_call(&cache, HOT);
    cache
}

fn lru_full() -> Lru {
    let cache = lru();
    for k in 0..CAPACITY as u64 {
        lru_call(&cache, FILL + k);
    }
    cache
}

fn lru_zipf() -> (Lru, Vec<u64>) {
    let cache = lru();
    let draws = zipf(ZIPF_WARM + OPS as usize);
    for &k in &draws[..ZIPF_WARM] {
        lru_call(&cache, k);
    }
    (cache, draws[ZIPF_WARM..].to_vec())
}

fn lru_flight_full() -> LruFlight {
    let cache = lru_flight();
    for k in 0..CAPACITY as u64 {
        lru_flight_call(&cache, FILL + k);
    }
    cache
}

fn lru_flight_zipf() -> (LruFlight, Vec<u64>) {
    let cache = lru_flight();
    let draws = zipf(ZIPF_WARM + OPS as usize);
    for &k in &draws[..ZIPF_WARM] {
        lru_flight_call(&cache, k);
    }
    (cache, draws[ZIPF_WARM..].to_vec())
}

fn floor_hot() -> FloorCache {
    let cache = floor();
    floor_call(&cache, HOT);
    cache
}

fn floor_full() -> FloorCache {
    let cache = floor();
    for k in 0..CAPACITY as u64 {
        floor_call(&cache, FILL + k);
    }
    cache
}

fn floor_zipf() -> (FloorCache, Vec<u64>) {
    let cache = floor();
    let draws = zipf(ZIPF_WARM + OPS as usize);
    for &k in &draws[..ZIPF_WARM] {
        floor_call(&cache, k);
    }
    (cache, draws[ZIPF_WARM..].to_vec())
}

fn quick_hot() -> Quick {
    let cache = quick();
    quick_call(&cache, HOT);
    cache
}

fn quick_full() -> Quick {
    let cache = quick();
    for k in 0..CAPACITY as u64 {
        quick_call(&cache, FILL + k);
    }
    cache
}

fn quick_zipf() -> (Quick, Vec<u64>) {
    let cache = quick();
    let draws = zipf(ZIPF_WARM + OPS as usize);
    for &k in &draws[..ZIPF_WARM] {
        quick_call(&cache, k);
    }
    (cache, draws[ZIPF_WARM..].to_vec())
}

// The counted functions.

#[library_benchmark]
#[bench::hit(setup = haiway_hot, args = (1))]
#[bench::hit_shards8(setup = haiway_hot, args = (8))]
fn haiway_hit(cache: Cached<u64, u64>) -> (u64, Cached<u64, u64>) {
    let mut sum = 0;
    for _ in 0..OPS {
        sum += now(cache.call(black_box(HOT)));
    }
    (sum, cache)
}

/// The hit line's cache, and whether its scope has a `NoopRecorder`.
fn haiway_hot_scoped(noop: bool) -> (Cached<u64, u64>, bool) {
    (haiway_hot(1), noop)
}

// Hits awaited in a scope, with a `NoopRecorder` or none: the pair isolates what the
// recorder adds (the loop's shape differs from the `hit` line's, so that line is no
// base for it). (gungraun takes no doc comment here.)
#[library_benchmark]
#[bench::hit_scope(setup = haiway_hot_scoped, args = (false))]
#[bench::hit_noop_scope(setup = haiway_hot_scoped, args = (true))]
fn haiway_scoped((cache, noop): (Cached<u64, u64>, bool)) -> (u64, Cached<u64, u64>) {
    let scope = Scope::new("bench");
    let scope = if noop {
        scope.recorder(NoopRecorder)
    } else {
        scope
    };
    let sum = now(scope.run(async {
        let mut sum = 0;
        for _ in 0..OPS {
            sum += cache.call(black_box(HOT)).await;
        }
        sum
    }));
    (sum, cache)
}

#[library_benchmark]
#[bench::hit_static(setup = static_hot)]
fn haiway_static(_hot: ()) -> u64 {
    let mut sum = 0;
    for _ in 0..OPS {
        sum += now(STATIC.call(black_box(HOT)));
    }
    sum
}

#[library_benchmark]
#[bench::hit_attribute(setup = attribute_hot)]
fn haiway_attribute(_hot: ()) -> u64 {
    let mut sum = 0;
    for _ in 0..OPS {
        sum += now(attribute(black_box(HOT)));
    }
    sum
}

#[library_benchmark]
#[bench::miss(setup = haiway_full)]
fn haiway_miss(cache: Cached<u64, u64>) -> (u64, Cached<u64, u64>) {
    let mut sum = 0;
    for k in 0..OPS {
        sum += now(cache.call(black_box(k)));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::zipf(setup = haiway_zipf)]
fn haiway_zipf_calls((cache, keys): (Cached<u64, u64>, Vec<u64>)) -> (u64, Cached<u64, u64>) {
    let mut sum = 0;
    for &k in &keys {
        sum += now(cache.call(black_box(k)));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::hit(setup = lru_hot)]
fn lru_hit(cache: Lru) -> (u64, Lru) {
    let mut sum = 0;
    for _ in 0..OPS {
        sum += lru_call(&cache, black_box(HOT));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::miss(setup = lru_full)]
fn lru_miss(cache: Lru) -> (u64, Lru) {
    let mut sum = 0;
    for k in 0..OPS {
        sum += lru_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::zipf(setup = lru_zipf)]
fn lru_zipf_calls((cache, keys): (Lru, Vec<u64>)) -> (u64, Lru) {
    let mut sum = 0;
    for &k in &keys {
        sum += lru_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::hit(setup = lru_pl_hot)]
fn lru_pl_hit(cache: LruPl) -> (u64, LruPl) {
    let mut sum = 0;
    for _ in 0..OPS {
        sum += lru_pl_call(&cache, black_box(HOT));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::miss(setup = lru_pl_full)]
fn lru_pl_miss(cache: LruPl) -> (u64, LruPl) {
    let mut sum = 0;
    for k in 0..OPS {
        sum += lru_pl_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::zipf(setup = lru_pl_zipf)]
fn lru_pl_zipf_calls((cache, keys): (LruPl, Vec<u64>)) -> (u64, LruPl) {
    let mut sum = 0;
    for &k in &keys {
        sum += lru_pl_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::miss_flight(setup = lru_flight_full)]
fn lru_flight_miss(cache: LruFlight) -> (u64, LruFlight) {
    let mut sum = 0;
    for k in 0..OPS {
        sum += lru_flight_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::zipf_flight(setup = lru_flight_zipf)]
fn lru_flight_zipf_calls((cache, keys): (LruFlight, Vec<u64>)) -> (u64, LruFlight) {
    let mut sum = 0;
    for &k in &keys {
        sum += lru_flight_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::hit(setup = floor_hot)]
fn floor_hit(cache: FloorCache) -> (u64, FloorCache) {
    let mut sum = 0;
    for _ in 0..OPS {
        sum += floor_call(&cache, black_box(HOT));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::miss(setup = floor_full)]
fn floor_miss(cache: FloorCache) -> (u64, FloorCache) {
    let mut sum = 0;
    for k in 0..OPS {
        sum += floor_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::zipf(setup = floor_zipf)]
fn floor_zipf_calls((cache, keys): (FloorCache, Vec<u64>)) -> (u64, FloorCache) {
    let mut sum = 0;
    for &k in &keys {
        sum += floor_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::hit(setup = quick_hot)]
fn quick_hit(cache: Quick) -> (u64, Quick) {
    let mut sum = 0;
    for _ in 0..OPS {
        sum += quick_call(&cache, black_box(HOT));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::miss(setup = quick_full)]
fn quick_miss(cache: Quick) -> (u64, Quick) {
    let mut sum = 0;
    for k in 0..OPS {
        sum += quick_call(&cache, black_box(k));
    }
    (sum, cache)
}

#[library_benchmark]
#[bench::zipf(setup = quick_zipf)]
fn quick_zipf_calls((cache, keys): (Quick, Vec<u64>)) -> (u64, Quick) {
    let mut sum = 0;
    for &k in &keys {
        sum += quick_call(&cache, black_box(k));
    }
    (sum, cache)
}

// The context lines.

/// Eight state types for the `ctx` lines.
macro_rules! state_types {
    ($($name:ident),*) => {
        $(struct $name(u64);)*
        /// A scope with one value of each.
        fn scope8() -> Scope {
            Scope::new("bench")$(.state($name(1)))*
        }
        /// Reads all eight with `ctx::with_state`.
        #[inline(always)]
        fn with8() -> u64 {
            0 $(+ ctx::with_state(|v: Option<&$name>| v.map_or(0, |v| v.0)))*
        }
        /// Reads all eight with `ctx::state`.
        #[inline(always)]
        fn arc8() -> u64 {
            0 $(+ ctx::state::<$name>().map_or(0, |v| v.0))*
        }
    };
}
state_types!(S0, S1, S2, S3, S4, S5, S6, S7);

/// Not in any scope.
struct Absent;

#[library_benchmark]
#[bench::is_recording()]
fn ctx_is_recording() -> u64 {
    now(Scope::new("bench").run(async {
        let mut sum = 0;
        for _ in 0..OPS {
            sum += u64::from(black_box(ctx::is_recording()));
        }
        sum
    }))
}

#[library_benchmark]
#[bench::with_state_1()]
fn ctx_with_state_1() -> u64 {
    now(Scope::new("bench").state(S0(1)).run(async {
        let mut sum = 0;
        for _ in 0..OPS {
            sum += black_box(ctx::with_state(|v: Option<&S0>| v.map_or(0, |v| v.0)));
        }
        sum
    }))
}

#[library_benchmark]
#[bench::with_state_8()]
fn ctx_with_state_8() -> u64 {
    now(scope8().run(async {
        let mut sum = 0;
        for _ in 0..OPS / 8 {
            sum += black_box(with8());
        }
        sum
    }))
}

#[library_benchmark]
#[bench::state_8()]
fn ctx_state_8() -> u64 {
    now(scope8().run(async {
        let mut sum = 0;
        for _ in 0..OPS / 8 {
            sum += black_box(arc8());
        }
        sum
    }))
}

#[library_benchmark]
#[bench::with_state_missing_8()]
fn ctx_with_state_missing_8() -> u64 {
    now(scope8().run(async {
        let mut sum = 0;
        for _ in 0..OPS {
            sum += u64::from(black_box(ctx::with_state(|v: Option<&Absent>| v.is_none())));
        }
        sum
    }))
}

library_benchmark_group!(
    name = ctx_lines;
    benchmarks = ctx_is_recording, ctx_with_state_1, ctx_with_state_8, ctx_state_8,
        ctx_with_state_missing_8
);

library_benchmark_group!(
    name = haiway_lines;
    benchmarks = haiway_hit, haiway_scoped, haiway_static, haiway_attribute, haiway_miss,
        haiway_zipf_calls
);

library_benchmark_group!(
    name = lru_lines;
    benchmarks = lru_hit, lru_miss, lru_zipf_calls, lru_flight_miss, lru_flight_zipf_calls
);

library_benchmark_group!(
    name = lru_pl_lines;
    benchmarks = lru_pl_hit, lru_pl_miss, lru_pl_zipf_calls
);

library_benchmark_group!(
    name = floor_lines;
    benchmarks = floor_hit, floor_miss, floor_zipf_calls
);

library_benchmark_group!(
    name = quick_cache_lines;
    benchmarks = quick_hit, quick_miss, quick_zipf_calls
);

main!(
    library_benchmark_groups = haiway_lines,
    lru_lines,
    lru_pl_lines,
    floor_lines,
    quick_cache_lines,
    ctx_lines
);
