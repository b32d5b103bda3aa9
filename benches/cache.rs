//! Measures a `haiway::cache::Cached` hit and a Zipf get-or-insert workload against moka,
//! quick_cache and a `Mutex<lru::LruCache>`.
//!
//! Run with `cargo bench -p haiway-benches --bench cache`. Each comparison sits in one
//! criterion group, so the report shows the lines side by side:
//!
//! - `hit`: one lookup of a present key. 1,024 `u64` keys are stored in each cache and the
//!   bench cycles over them in one fixed shuffled order (the same for every cache), so no
//!   single hot slot stays in L1. The lines: haiway `call` (no expiration, no recorder,
//!   outside any scope), haiway with an `expiration` (adds a clock read), moka's
//!   `future::Cache::get_with`, quick_cache's `sync::Cache::get_or_insert_async`, and
//!   `Mutex<lru::LruCache>` `.lock().get(&k).copied()`.
//!   Every async line is driven in two ways: `poll` polls the future once with
//!   `Waker::noop()` (a hit is `Ready` then), `block_on` hands it to
//!   `futures_lite::future::block_on`, which adds the executor's own overhead.
//! - `zipf`: 200,000 draws over 100,000 keys with exponent 1.0, generated once from a
//!   fixed seed, run as get-or-insert against a fresh cache of capacity 10,000 per
//!   iteration, on the bench thread. Throughput is in calls per second. Before timing,
//!   each cache's hit ratio on the sequence is printed; haiway and `lru` are both exact
//!   LRU, so their ratios must match exactly (the bench panics otherwise). moka's and
//!   quick_cache's ratios move slightly from run to run: their hashers are randomly
//!   seeded and their policies are not pure recency. quick_cache uses the async
//!   `get_or_insert_async` here too, driven like the others. One more `lru` line takes
//!   the lock twice on a miss (look up, release, then lock again to put): the lock
//!   pattern of any cache that runs the function outside its lock, as haiway must, so it
//!   shows how much of the gap to `lru` that alone accounts for.
//!
//! Values are `u64` (the key itself), so a clone is a copy and the lines measure the
//! caches, not the values' reference counting.

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures_lite::future::block_on;
use haiway::cache::Cached;

/// Keys stored for the `hit` group (a power of two, so the cycle index is a mask).
const HIT_KEYS: usize = 1_024;
/// Capacity of every cache in the `hit` group: room to spare, so quick_cache's shards
/// and moka's admission policy keep all [`HIT_KEYS`] keys.
const HIT_CAPACITY: usize = 4 * HIT_KEYS;
/// Distinct keys the Zipf sequence draws from.
const ZIPF_KEYS: usize = 100_000;
/// The Zipf exponent.
const ZIPF_EXPONENT: f64 = 1.0;
/// Length of the Zipf sequence.
const ZIPF_DRAWS: usize = 200_000;
/// Capacity of every cache in the `zipf` group.
const ZIPF_CAPACITY: usize = 10_000;
/// Seed of the one PRNG stream every sequence comes from.
const SEED: u64 = 0x5EED_CAC4_E000_0001;

/// splitmix64: a tiny deterministic generator, so the sequence needs no dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (the modulo bias is irrelevant for `n` this small).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The `hit` keys `0..HIT_KEYS` in one fixed shuffled order (Fisher–Yates).
fn hit_keys() -> Vec<u64> {
    let mut rng = SplitMix64(SEED);
    let mut keys: Vec<u64> = (0..HIT_KEYS as u64).collect();
    for i in (1..keys.len()).rev() {
        keys.swap(i, rng.below(i + 1));
    }
    keys
}

/// `draws` Zipf(`exponent`) samples over keys `0..keys` (key `r` has rank `r + 1`), by
/// inverse CDF: cumulative weights `1 / rank^exponent`, then a binary search per draw.
fn zipf_sequence(keys: usize, exponent: f64, draws: usize) -> Vec<u64> {
    let mut cumulative = Vec::with_capacity(keys);
    let mut total = 0.0_f64;
    for rank in 1..=keys {
        total += 1.0 / (rank as f64).powf(exponent);
        cumulative.push(total);
    }
    let mut rng = SplitMix64(SEED ^ 0x21FF);
    (0..draws)
        .map(|_| {
            let target = rng.next_f64() * total;
            // The first rank whose cumulative weight exceeds the target.
            let idx = cumulative.partition_point(|&c| c <= target);
            idx.min(keys - 1) as u64
        })
        .collect()
}

/// Drives `future` to completion: one poll with a no-op waker, which is enough for a
/// hit (and for every call in these benches, which never wait on anything); should a
/// future ever return `Pending`, `block_on` finishes it so the bench stays correct.
#[inline(always)]
fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => block_on(future),
    }
}

/// A haiway cache of `capacity` whose function returns the key.
fn haiway_cache(capacity: usize, expiration: Option<Duration>) -> Cached<u64, u64> {
    let builder = Cached::builder().limit(capacity).name("bench");
    let builder = match expiration {
        Some(ttl) => builder.expiration(ttl),
        None => builder,
    };
    builder.build(|k: u64| async move { k })
}

/// A moka cache of `capacity`.
fn moka_cache(capacity: usize) -> moka::future::Cache<u64, u64> {
    moka::future::Cache::new(capacity as u64)
}

/// A quick_cache cache of `capacity` (unit weights).
fn quick_cache(capacity: usize) -> quick_cache::sync::Cache<u64, u64> {
    quick_cache::sync::Cache::new(capacity)
}

/// A locked `lru` cache of `capacity`.
fn lru_cache(capacity: usize) -> Mutex<lru::LruCache<u64, u64>> {
    let capacity = NonZeroUsize::new(capacity).expect("capacity is positive");
    Mutex::new(lru::LruCache::new(capacity))
}

/// The moka get-or-insert every line uses; counts a miss when the init future runs.
async fn moka_get(cache: &moka::future::Cache<u64, u64>, k: u64, misses: &AtomicU64) -> u64 {
    cache
        .get_with(k, async move {
            misses.fetch_add(1, Ordering::Relaxed);
            k
        })
        .await
}

/// The quick_cache get-or-insert every line uses; counts a miss when the future runs.
async fn quick_get(cache: &quick_cache::sync::Cache<u64, u64>, k: u64, misses: &AtomicU64) -> u64 {
    let inserted = cache.get_or_insert_async(&k, async move {
        misses.fetch_add(1, Ordering::Relaxed);
        Ok::<u64, ()>(k)
    });
    match inserted.await {
        Ok(v) => v,
        Err(()) => unreachable!("the insert future never fails"),
    }
}

/// The locked-lru get-else-put every line uses; counts a miss when it puts.
#[inline(always)]
fn lru_get(cache: &Mutex<lru::LruCache<u64, u64>>, k: u64, misses: &AtomicU64) -> u64 {
    let mut lru = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&v) = lru.get(&k) {
        return v;
    }
    misses.fetch_add(1, Ordering::Relaxed);
    lru.put(k, k);
    k
}

/// [`lru_get`], but a miss releases the lock and takes it again to put, as a cache that
/// computes outside its lock must (without single-flight: nothing else runs here).
#[inline(always)]
fn lru_get_relocking(cache: &Mutex<lru::LruCache<u64, u64>>, k: u64, misses: &AtomicU64) -> u64 {
    let hit = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&k)
        .copied();
    if let Some(v) = hit {
        return v;
    }
    misses.fetch_add(1, Ordering::Relaxed);
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .put(k, k);
    k
}

fn hit(c: &mut Criterion) {
    let keys = hit_keys();
    let mask = HIT_KEYS - 1;
    // Misses counted by the moka, quick_cache and lru closures; must stay 0 while timing.
    let misses = AtomicU64::new(0);

    let plain = haiway_cache(HIT_CAPACITY, None);
    // An hour: nothing expires during the run, but every hit reads the clock.
    let expiring = haiway_cache(HIT_CAPACITY, Some(Duration::from_secs(3_600)));
    let moka = moka_cache(HIT_CAPACITY);
    let quick = quick_cache(HIT_CAPACITY);
    let lru = lru_cache(HIT_CAPACITY);
    for &k in &keys {
        poll_once(plain.call(k));
        poll_once(expiring.call(k));
        poll_once(moka_get(&moka, k, &misses));
        poll_once(quick_get(&quick, k, &misses));
        lru_get(&lru, k, &misses);
    }
    // Let moka apply its pending writes so the hit path is its steady state.
    block_on(moka.run_pending_tasks());
    let filled = misses.swap(0, Ordering::Relaxed);
    assert_eq!(
        filled,
        3 * HIT_KEYS as u64,
        "each peer computes each key once"
    );
    let (plain_before, expiring_before) = (plain.stats(), expiring.stats());

    let mut group = c.benchmark_group("hit");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));

    // Every line takes its keys from this one cycle over the shuffled order; the key
    // and the output go through `black_box`.
    let mut i = 0usize;
    let mut next = move || {
        i = i.wrapping_add(1);
        keys[i & mask]
    };

    group.bench_function("haiway call (poll)", |b| {
        b.iter(|| black_box(poll_once(plain.call(black_box(next())))));
    });
    group.bench_function("haiway call (block_on)", |b| {
        b.iter(|| black_box(block_on(plain.call(black_box(next())))));
    });
    group.bench_function("haiway call + expiration (poll)", |b| {
        b.iter(|| black_box(poll_once(expiring.call(black_box(next())))));
    });
    group.bench_function("haiway call + expiration (block_on)", |b| {
        b.iter(|| black_box(block_on(expiring.call(black_box(next())))));
    });
    group.bench_function("moka get_with (poll)", |b| {
        b.iter(|| black_box(poll_once(moka_get(&moka, black_box(next()), &misses))));
    });
    group.bench_function("moka get_with (block_on)", |b| {
        b.iter(|| black_box(block_on(moka_get(&moka, black_box(next()), &misses))));
    });
    group.bench_function("quick_cache get_or_insert_async (poll)", |b| {
        b.iter(|| black_box(poll_once(quick_get(&quick, black_box(next()), &misses))));
    });
    group.bench_function("quick_cache get_or_insert_async (block_on)", |b| {
        b.iter(|| black_box(block_on(quick_get(&quick, black_box(next()), &misses))));
    });
    group.bench_function("Mutex<lru::LruCache> get", |b| {
        b.iter(|| {
            let k = black_box(next());
            let v = lru
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&k)
                .copied();
            black_box(v)
        });
    });
    group.finish();

    // Every timed call was a hit.
    assert_eq!(
        misses.load(Ordering::Relaxed),
        0,
        "a peer missed during `hit`"
    );
    assert_eq!(
        plain.stats().misses,
        plain_before.misses,
        "haiway missed during `hit`"
    );
    assert_eq!(
        expiring.stats().misses,
        expiring_before.misses,
        "haiway (expiration) missed during `hit`"
    );
}

/// Runs the whole sequence through a haiway cache.
fn run_haiway(cache: &Cached<u64, u64>, seq: &[u64]) {
    for &k in seq {
        black_box(poll_once(cache.call(k)));
    }
}

/// Runs the whole sequence through a moka cache.
fn run_moka(cache: &moka::future::Cache<u64, u64>, seq: &[u64], misses: &AtomicU64) {
    for &k in seq {
        black_box(poll_once(moka_get(cache, k, misses)));
    }
}

/// Runs the whole sequence through a quick_cache cache.
fn run_quick(cache: &quick_cache::sync::Cache<u64, u64>, seq: &[u64], misses: &AtomicU64) {
    for &k in seq {
        black_box(poll_once(quick_get(cache, k, misses)));
    }
}

/// Runs the whole sequence through a locked lru cache.
fn run_lru(cache: &Mutex<lru::LruCache<u64, u64>>, seq: &[u64], misses: &AtomicU64) {
    for &k in seq {
        black_box(lru_get(cache, k, misses));
    }
}

/// The fraction of `seq` served without running the insert closure.
fn ratio(misses: u64, seq: &[u64]) -> f64 {
    1.0 - misses as f64 / seq.len() as f64
}

fn zipf(c: &mut Criterion) {
    let seq = zipf_sequence(ZIPF_KEYS, ZIPF_EXPONENT, ZIPF_DRAWS);
    let misses = AtomicU64::new(0);

    // Hit ratios, once, outside the timing loop: a fresh cache per peer, as in the bench.
    let haiway = haiway_cache(ZIPF_CAPACITY, None);
    run_haiway(&haiway, &seq);
    let stats = haiway.stats();
    assert_eq!(stats.hits + stats.misses, seq.len() as u64);
    let haiway_ratio = stats.hits as f64 / seq.len() as f64;

    let moka = moka_cache(ZIPF_CAPACITY);
    run_moka(&moka, &seq, &misses);
    let moka_ratio = ratio(misses.swap(0, Ordering::Relaxed), &seq);

    let quick = quick_cache(ZIPF_CAPACITY);
    run_quick(&quick, &seq, &misses);
    let quick_ratio = ratio(misses.swap(0, Ordering::Relaxed), &seq);

    let lru = lru_cache(ZIPF_CAPACITY);
    run_lru(&lru, &seq, &misses);
    let lru_misses = misses.swap(0, Ordering::Relaxed);
    let lru_ratio = ratio(lru_misses, &seq);
    drop((haiway, moka, quick, lru));

    println!(
        "zipf hit ratios ({ZIPF_DRAWS} draws, {ZIPF_KEYS} keys, s = {ZIPF_EXPONENT}, \
         capacity {ZIPF_CAPACITY}):"
    );
    println!("  haiway      {haiway_ratio:.6} ({} misses)", stats.misses);
    println!("  lru         {lru_ratio:.6} ({lru_misses} misses)");
    println!("  moka        {moka_ratio:.6}");
    println!("  quick_cache {quick_ratio:.6}");
    assert_eq!(
        stats.misses, lru_misses,
        "haiway and lru are both exact LRU: their misses must be equal"
    );

    let mut group = c.benchmark_group("zipf");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(10);
    group.throughput(Throughput::Elements(seq.len() as u64));

    // A fresh cache per iteration, built outside the timing; the routine returns it so
    // criterion drops it outside the timing too.
    group.bench_function("haiway call", |b| {
        b.iter_batched(
            || haiway_cache(ZIPF_CAPACITY, None),
            |cache| {
                run_haiway(&cache, &seq);
                cache
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("moka get_with", |b| {
        b.iter_batched(
            || moka_cache(ZIPF_CAPACITY),
            |cache| {
                run_moka(&cache, &seq, &misses);
                cache
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("quick_cache get_or_insert_async", |b| {
        b.iter_batched(
            || quick_cache(ZIPF_CAPACITY),
            |cache| {
                run_quick(&cache, &seq, &misses);
                cache
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("Mutex<lru::LruCache> get/put", |b| {
        b.iter_batched(
            || lru_cache(ZIPF_CAPACITY),
            |cache| {
                run_lru(&cache, &seq, &misses);
                cache
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("Mutex<lru::LruCache> get, put under a second lock", |b| {
        b.iter_batched(
            || lru_cache(ZIPF_CAPACITY),
            |cache| {
                for &k in &seq {
                    black_box(lru_get_relocking(&cache, k, &misses));
                }
                cache
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// Runs `seq` split between two threads (each its own half), `run` doing one half.
fn two_threads(seq: &[u64], run: impl Fn(&[u64]) + Sync) {
    let (a, b) = seq.split_at(seq.len() / 2);
    std::thread::scope(|s| {
        s.spawn(|| run(a));
        run(b);
    });
}

/// Issue 12's many-core line: two threads on one handle, Zipf, `shards(8)` against one
/// shard and against quick_cache. Before timing, the sharded hit ratio (one thread,
/// the whole sequence) must be within one percentage point of exact LRU's.
fn zipf_two_threads(c: &mut Criterion) {
    let seq = zipf_sequence(ZIPF_KEYS, ZIPF_EXPONENT, ZIPF_DRAWS);
    let misses = AtomicU64::new(0);
    let sharded = |shards| {
        Cached::builder()
            .limit(ZIPF_CAPACITY)
            .shards(shards)
            .build(|k: u64| async move { k })
    };
    let exact = sharded(1);
    run_haiway(&exact, &seq);
    let eight = sharded(8);
    run_haiway(&eight, &seq);
    let ratio_of = |c: &Cached<u64, u64>| c.stats().hits as f64 / seq.len() as f64;
    let (exact_ratio, eight_ratio) = (ratio_of(&exact), ratio_of(&eight));
    println!("zipf hit ratio: one shard {exact_ratio:.6}, shards(8) {eight_ratio:.6}");
    assert!(
        (exact_ratio - eight_ratio).abs() <= 0.01,
        "shards(8) moved the hit ratio by more than one percentage point"
    );

    let mut group = c.benchmark_group("zipf, two threads");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(10);
    group.throughput(Throughput::Elements(seq.len() as u64));
    for shards in [1, 8] {
        group.bench_function(format!("haiway call, shards({shards})"), |b| {
            b.iter_batched(
                || sharded(shards),
                |cache| {
                    two_threads(&seq, |half| run_haiway(&cache, half));
                    cache
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.bench_function("quick_cache get_or_insert_async", |b| {
        b.iter_batched(
            || quick_cache(ZIPF_CAPACITY),
            |cache| {
                two_threads(&seq, |half| run_quick(&cache, half, &misses));
                cache
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("Mutex<lru::LruCache> get/put", |b| {
        b.iter_batched(
            || lru_cache(ZIPF_CAPACITY),
            |cache| {
                two_threads(&seq, |half| run_lru(&cache, half, &misses));
                cache
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, hit, zipf, zipf_two_threads);
criterion_main!(benches);
