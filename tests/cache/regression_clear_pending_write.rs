//! Regressions: a backend write still in flight when the cache is cleared must not
//! bring the cleared value back.
//!
//! - The write lands after the clear: it is skipped, or undone (found by review of the
//!   fuzz models).
//! - Between the write landing and its undo, a call that started after the clear read
//!   the old value from the backend, and a memory tier kept it (issue 21, found by a
//!   randomized multi-threaded test): a key with an outdated write in flight is not
//!   read from the backend until the write is undone.

use crate::common;
use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use crate::common::{Gate, yield_n, yield_until};
use futures::poll;
use haiway::Scope;
use haiway::cache::{Backend, BoxError, Cached};

/// A map whose writes land only once `gate` opens (a slow network write).
#[derive(Clone, Default)]
struct SlowWrites {
    map: Arc<Mutex<HashMap<u32, u32>>>,
    gate: Gate,
}

impl Backend<u32, u32> for SlowWrites {
    async fn read(&self, key: &u32) -> Result<Option<u32>, BoxError> {
        Ok(self.map.lock().unwrap().get(key).copied())
    }
    async fn write(&self, key: u32, value: u32) -> Result<(), BoxError> {
        self.gate.wait().await;
        self.map.lock().unwrap().insert(key, value);
        Ok(())
    }
    async fn clear(&self, key: Option<&u32>) -> Result<(), BoxError> {
        let mut map = self.map.lock().unwrap();
        match key {
            Some(key) => drop(map.remove(key)),
            None => map.clear(),
        }
        Ok(())
    }
}

#[test]
fn a_write_in_flight_does_not_survive_clear_cache() {
    let backend = SlowWrites::default();
    let runs = common::Calls::default();
    let counter = runs.clone();
    let cached = Cached::builder()
        .backend(backend.clone())
        .build(move |_key: u32| {
            let run = counter.hit() as u32;
            async move { run }
        });
    let (first, after_clear) = futures_lite::future::block_on(Scope::new("request").run(async {
        // A miss: run 1 is computed and returned; its write is spawned and waits.
        let first = cached.call(7).await;
        // The caller clears the cache after the call returned.
        cached.clear_cache().await.expect("clearable");
        // Now the write lands (as a slow network write would).
        backend.gate.open();
        yield_n(10).await;
        // Everything was cleared, so this must compute again.
        (first, cached.call(7).await)
    }));
    assert_eq!(first, 1);
    assert_eq!(
        after_clear, 2,
        "the value cleared by clear_cache came back from the backend"
    );
}

/// Regression (found in review): the clear count was one for the whole cache, so
/// clearing any key made every write in flight stale; clearing key 8 lost key 7's
/// write (memory held 7, the shared store never got it).
#[test]
fn clearing_one_key_keeps_the_write_of_another_in_flight() {
    let backend = SlowWrites::default();
    let cached = Cached::builder()
        .limit(4)
        .backend(backend.clone())
        .build(|key: u32| async move { key * 10 });
    futures_lite::future::block_on(Scope::new("request").run(async {
        assert_eq!(cached.call(7).await, 70); // its write waits at the gate
        assert_eq!(cached.call(8).await, 80); // so does this one
        cached.clear_call_cache(&8).await.expect("clearable");
        backend.gate.open();
    }));
    // The scope waited for both writes: 7's landed, 8's (cleared) did not.
    let map = backend.map.lock().unwrap();
    assert_eq!(map.get(&7), Some(&70), "the write of 7 was lost");
    assert_eq!(map.get(&8), None, "the cleared 8 came back");
}

/// A gate that can be shut again: backend operations pass it only while it is open.
#[derive(Clone, Default)]
struct Valve(Arc<(Mutex<bool>, event_listener::Event)>);

impl Valve {
    fn hold(&self) {
        *self.0.0.lock().unwrap() = true;
    }
    fn release(&self) {
        *self.0.0.lock().unwrap() = false;
        self.0.1.notify(usize::MAX);
    }
    fn is_held(&self) -> bool {
        *self.0.0.lock().unwrap()
    }
    async fn pass(&self) {
        loop {
            if !self.is_held() {
                return;
            }
            let listener = self.0.1.listen();
            if !self.is_held() {
                return;
            }
            listener.await;
        }
    }
}

/// A backend `clear` closure over `map`, passing `valve` first if there is one.
/// What a backend closure returns in these tests.
type Done = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BoxError>> + Send>>;

fn clear_map(
    map: Arc<Mutex<HashMap<u32, u64>>>,
    valve: Option<Valve>,
) -> impl Fn(Option<u32>) -> Done + Send + Sync + 'static {
    move |key: Option<u32>| {
        let (map, valve) = (map.clone(), valve.clone());
        Box::pin(async move {
            if let Some(valve) = valve {
                valve.pass().await;
            }
            let mut map = map.lock().unwrap();
            match key {
                Some(key) => drop(map.remove(&key)),
                None => map.clear(),
            }
            Ok(())
        })
    }
}

/// The function of these tests: the key's generation when the run started.
fn generations(
    generation: Arc<std::sync::atomic::AtomicU64>,
) -> impl Fn(u32) -> std::future::Ready<u64> + Send + Sync + 'static {
    move |_key: u32| std::future::ready(generation.load(std::sync::atomic::Ordering::SeqCst))
}

/// The closure backend of issue 21: a map whose writes and clears can be held back, in
/// front of a function that returns the generation it read when it started.
struct HeldBack {
    map: Arc<Mutex<HashMap<u32, u64>>>,
    generation: Arc<std::sync::atomic::AtomicU64>,
    writes: Valve,
    clears: Valve,
    reads: Arc<std::sync::atomic::AtomicUsize>,
    /// Writes that reached the valve.
    write_attempts: Arc<std::sync::atomic::AtomicUsize>,
}

impl HeldBack {
    fn new() -> Self {
        HeldBack {
            map: Arc::default(),
            generation: Arc::default(),
            writes: Valve::default(),
            clears: Valve::default(),
            reads: Arc::default(),
            write_attempts: Arc::default(),
        }
    }

    /// The cache; `limit`: a memory tier of that size in front of the backend.
    fn cached(&self, limit: Option<usize>) -> Cached<u32, u64> {
        use std::sync::atomic::Ordering::SeqCst;
        let (map, valve, reads) = (self.map.clone(), self.writes.clone(), self.reads.clone());
        let builder = Cached::builder().read(move |key: u32| {
            let map = map.clone();
            reads.fetch_add(1, SeqCst);
            async move { Ok(map.lock().unwrap().get(&key).copied()) }
        });
        let (map, attempts) = (self.map.clone(), self.write_attempts.clone());
        let builder = builder.write(move |key: u32, value: u64| {
            let (map, valve, attempts) = (map.clone(), valve.clone(), attempts.clone());
            async move {
                attempts.fetch_add(1, SeqCst);
                valve.pass().await;
                map.lock().unwrap().insert(key, value);
                Ok(())
            }
        });
        let builder = builder.clear(clear_map(self.map.clone(), Some(self.clears.clone())));
        let builder = match limit {
            Some(limit) => builder.limit(limit),
            None => builder,
        };
        builder.build(generations(self.generation.clone()))
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn stored(&self, key: u32) -> Option<u64> {
        self.map.lock().unwrap().get(&key).copied()
    }
}

/// Issue 21's sequence on one thread, outside any scope (the write is awaited by the
/// call that computed it): a write held back past a clear lands, its undo is held back,
/// and a call that starts after the clear returned must not get the cleared value.
fn a_landed_stale_write_is_not_read_back(limit: Option<usize>) {
    let backend = HeldBack::new();
    let cached = backend.cached(limit);
    futures_lite::future::block_on(async {
        // 1. call(1) computes generation 0; its backend write is held back.
        backend.writes.hold();
        let mut first = pin!(cached.call(1));
        assert!(poll!(first.as_mut()).is_pending());
        // 2. The generation is bumped and the clear completes.
        backend.bump();
        cached.clear_call_cache(&1).await.expect("clearable");
        // 3. The write is released and lands; the cache's undo is held back.
        backend.clears.hold();
        backend.writes.release();
        assert!(poll!(first.as_mut()).is_pending(), "the undo is held back");
        assert_eq!(backend.stored(1), Some(0), "the stale write landed");
        // 4. A call that starts now must not return generation 0.
        assert_eq!(
            cached.call(1).await,
            1,
            "a value computed before the clear came back from the backend"
        );
        // The undo finishes; still nothing from before the clear.
        backend.clears.release();
        assert_eq!(first.await, 0, "the first call returns what it computed");
        assert_eq!(
            cached.call(1).await,
            1,
            "a value computed before the clear came back"
        );
    });
}

#[test]
fn a_landed_stale_write_is_not_read_back_without_a_memory_tier() {
    a_landed_stale_write_is_not_read_back(None);
}

#[test]
fn a_landed_stale_write_is_not_read_back_with_a_memory_tier() {
    a_landed_stale_write_is_not_read_back(Some(4));
}

/// The same inside a scope, where the write runs as a task of the scope.
#[test]
fn a_landed_stale_write_is_not_read_back_inside_a_scope() {
    for limit in [None, Some(4)] {
        let backend = HeldBack::new();
        let cached = backend.cached(limit);
        futures_lite::future::block_on(Scope::new("request").run(async {
            backend.writes.hold();
            assert_eq!(cached.call(1).await, 0, "computed; its write waits");
            // The scope drives the write task while this body yields.
            let attempts = &backend.write_attempts;
            yield_until(|| attempts.load(std::sync::atomic::Ordering::SeqCst) == 1).await;
            backend.bump();
            cached.clear_call_cache(&1).await.expect("clearable");
            backend.clears.hold();
            backend.writes.release();
            yield_until(|| backend.stored(1) == Some(0)).await;
            assert_eq!(cached.call(1).await, 1, "limit {limit:?}: read back");
            backend.clears.release();
            yield_until(|| backend.stored(1) != Some(0)).await;
            assert_eq!(cached.call(1).await, 1, "limit {limit:?}: came back");
        }));
    }
}

/// A stale write whose undo fails leaves the stale value in the backend: the key is read
/// as a miss until a fresh value replaces it, and then read normally again.
#[test]
fn a_failed_undo_keeps_the_stale_value_unread_until_a_fresh_write() {
    a_failed_undo_keeps_the_stale_value_unread(false);
}

/// The same, until a clear of the key succeeds.
#[test]
fn a_failed_undo_keeps_the_stale_value_unread_until_a_clear() {
    a_failed_undo_keeps_the_stale_value_unread(true);
}

fn a_failed_undo_keeps_the_stale_value_unread(then_clear: bool) {
    use std::sync::atomic::Ordering::SeqCst;
    let backend = HeldBack::new();
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (map, valve, fail) = (backend.map.clone(), backend.writes.clone(), failing.clone());
    let reads = backend.reads.clone();
    let generation = backend.generation.clone();
    let m = map.clone();
    let cached = Cached::builder()
        .read(move |key: u32| {
            reads.fetch_add(1, SeqCst);
            let map = m.clone();
            async move { Ok(map.lock().unwrap().get(&key).copied()) }
        })
        .write(move |key: u32, value: u64| {
            let (map, valve) = (map.clone(), valve.clone());
            async move {
                valve.pass().await;
                map.lock().unwrap().insert(key, value);
                Ok(())
            }
        })
        .clear(move |_key: Option<u32>| {
            let fail = fail.load(SeqCst);
            async move {
                if fail {
                    Err(std::io::Error::other("clear refused").into())
                } else {
                    Ok(())
                }
            }
        })
        .build(move |_key: u32| {
            let g = generation.load(SeqCst);
            async move { g }
        });
    futures_lite::future::block_on(async {
        backend.writes.hold();
        let mut first = pin!(cached.call(1));
        assert!(poll!(first.as_mut()).is_pending());
        backend.bump();
        // The clear itself succeeds (the map holds nothing yet), the undo will fail.
        cached.clear_call_cache(&1).await.expect("clearable");
        failing.store(true, SeqCst);
        backend.writes.release();
        assert_eq!(first.await, 0);
        assert_eq!(
            backend.stored(1),
            Some(0),
            "the undo failed: the stale value stays"
        );
        if then_clear {
            failing.store(false, SeqCst);
            cached.clear_call_cache(&1).await.expect("clearable");
            // The fake's clear removes nothing: the clear lifted the suspicion.
        } else {
            let reads_before = backend.reads.load(SeqCst);
            assert_eq!(cached.call(1).await, 1, "the stale value was read back");
            assert_eq!(
                backend.reads.load(SeqCst),
                reads_before,
                "the stale key is not read"
            );
            // That call's fresh write replaced the stale value.
            assert_eq!(backend.stored(1), Some(1));
        }
        backend.map.lock().unwrap().insert(1, 7); // another process writes a newer value
        assert_eq!(cached.call(1).await, 7, "the key stays unread");
    });
}

/// A stale write cancelled once attempted may still land (a command already sent runs
/// all the same): its key is not read until a fresh write replaced what may be there,
/// then read as usual. It is never blocked.
#[test]
fn a_cancelled_stale_write_costs_one_run_and_never_blocks_its_key() {
    use std::sync::atomic::Ordering::SeqCst;
    let backend = HeldBack::new();
    let cached = backend.cached(None);
    futures_lite::future::block_on(async {
        // Cancelled mid-write (outside a scope the call awaits its write).
        backend.writes.hold();
        let mut first = Box::pin(cached.call(1));
        assert!(poll!(first.as_mut()).is_pending());
        backend.bump();
        cached.clear_call_cache(&1).await.expect("clearable");
        drop(first);
        backend.writes.release();
        let reads_before = backend.reads.load(SeqCst);
        assert_eq!(cached.call(1).await, 1, "computed, not read");
        assert_eq!(backend.reads.load(SeqCst), reads_before);
        assert_eq!(backend.stored(1), Some(1), "the fresh write landed");
        backend.map.lock().unwrap().insert(1, 9); // another process's newer value
        assert_eq!(cached.call(1).await, 9, "the key stays unread");
        assert_eq!(backend.reads.load(SeqCst), reads_before + 1);
    });
}

/// A stale write that fails is undone all the same (a lost acknowledgement may hide a
/// landed value), and leaves its key readable.
#[test]
fn a_failed_stale_write_leaves_the_key_readable() {
    use std::sync::atomic::Ordering::SeqCst;
    let map: Arc<Mutex<HashMap<u32, u64>>> = Arc::default();
    let (valve, clears) = (
        Valve::default(),
        Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    );
    let (m, v) = (map.clone(), valve.clone());
    let (m2, view) = (map.clone(), map.clone());
    let c = clears.clone();
    let cached = Cached::builder()
        .read(move |key: u32| {
            let map = m.clone();
            async move { Ok(map.lock().unwrap().get(&key).copied()) }
        })
        .write(move |key: u32, value: u64| {
            let (map, valve) = (m2.clone(), v.clone());
            async move {
                valve.pass().await;
                map.lock().unwrap().insert(key, value); // landed, then the reply is lost
                Err(std::io::Error::other("timed out").into())
            }
        })
        .clear(move |key: Option<u32>| {
            c.fetch_add(1, SeqCst);
            let map = map.clone();
            async move {
                if let Some(key) = key {
                    map.lock().unwrap().remove(&key);
                }
                Ok(())
            }
        })
        .build(|key: u32| async move { u64::from(key) });
    futures_lite::future::block_on(async {
        valve.hold();
        let mut first = Box::pin(cached.call(1));
        assert!(poll!(first.as_mut()).is_pending());
        cached.clear_call_cache(&1).await.expect("clearable");
        assert_eq!(clears.load(SeqCst), 1);
        valve.release();
        assert_eq!(first.await, 1);
        assert_eq!(clears.load(SeqCst), 2, "the failed stale write was undone");
        assert_eq!(view.lock().unwrap().get(&1), None);
        view.lock().unwrap().insert(1, 42); // another process's value
        assert_eq!(cached.call(1).await, 42, "the key is read again");
    });
}

/// Found in review: a stale write whose value landed, dropped before its reply came
/// (its caller gave up, or its scope was cancelled), must not leave the cleared value
/// readable.
mod cancelled_after_landing {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

    /// A map whose writes wait twice: before the value is sent, and for the reply once
    /// it has landed.
    struct TwoStep {
        map: Arc<Mutex<HashMap<u32, u64>>>,
        generation: Arc<AtomicU64>,
        send: Valve,
        reply: Valve,
    }

    impl TwoStep {
        fn new() -> Self {
            TwoStep {
                map: Arc::default(),
                generation: Arc::default(),
                send: Valve::default(),
                reply: Valve::default(),
            }
        }

        fn cached(&self, limit: Option<usize>) -> Cached<u32, u64> {
            let map = self.map.clone();
            let builder = Cached::builder().read(move |key: u32| {
                let map = map.clone();
                async move { Ok(map.lock().unwrap().get(&key).copied()) }
            });
            let (map, send, reply) = (self.map.clone(), self.send.clone(), self.reply.clone());
            let builder = builder.write(move |key: u32, value: u64| {
                let (map, send, reply) = (map.clone(), send.clone(), reply.clone());
                async move {
                    send.pass().await;
                    map.lock().unwrap().insert(key, value); // landed
                    reply.pass().await; // the acknowledgement
                    Ok(())
                }
            });
            let builder = builder.clear(clear_map(self.map.clone(), None));
            let builder = match limit {
                Some(l) => builder.limit(l),
                None => builder,
            };
            builder.build(generations(self.generation.clone()))
        }

        fn stored(&self, key: u32) -> Option<u64> {
            self.map.lock().unwrap().get(&key).copied()
        }
    }

    #[test]
    fn a_stale_write_cancelled_after_landing_is_not_read_back() {
        for limit in [None, Some(4)] {
            let backend = TwoStep::new();
            let cached = backend.cached(limit);
            futures_lite::future::block_on(async {
                backend.send.hold();
                backend.reply.hold();
                let mut first = Box::pin(cached.call(1));
                assert!(poll!(first.as_mut()).is_pending()); // the write waits to be sent
                backend.generation.fetch_add(1, SeqCst);
                cached.clear_call_cache(&1).await.expect("clearable");
                backend.send.release();
                assert!(poll!(first.as_mut()).is_pending());
                assert_eq!(backend.stored(1), Some(0), "the stale write landed");
                drop(first); // the caller gives up
                backend.reply.release();
                assert_eq!(
                    cached.call(1).await,
                    1,
                    "limit {limit:?}: a value computed before the clear came back"
                );
            });
        }
    }

    #[test]
    fn a_stale_write_cancelled_with_its_scope_after_landing_is_not_read_back() {
        for limit in [None, Some(4)] {
            let backend = TwoStep::new();
            let cached = backend.cached(limit);
            futures_lite::future::block_on(async {
                backend.send.hold();
                backend.reply.hold();
                let cached_ref = &cached;
                let mut request = Box::pin(Scope::new("request").run(async move {
                    assert_eq!(cached_ref.call(1).await, 0);
                    std::future::pending::<()>().await;
                }));
                assert!(poll!(request.as_mut()).is_pending());
                backend.generation.fetch_add(1, SeqCst);
                cached.clear_call_cache(&1).await.expect("clearable");
                backend.send.release();
                for _ in 0..10 {
                    assert!(poll!(request.as_mut()).is_pending());
                }
                assert_eq!(backend.stored(1), Some(0), "the stale write landed");
                drop(request); // the request is cancelled, its write with it
                backend.reply.release();
                assert_eq!(
                    cached.call(1).await,
                    1,
                    "limit {limit:?}: a value computed before the clear came back"
                );
            });
        }
    }
}

/// The randomized check of issue 21: several threads on a multi-thread runtime share
/// one cache in front of a backend whose reads, writes and clears are delayed and fail
/// at random (a write may even land and then report a failure). Each key has a
/// generation, bumped before each clear; the function returns the generation it read
/// when it started. A call must never return a generation older than the last clear of
/// its key that completed before the call started.
mod randomized {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

    use haiway::Scope;
    use haiway::cache::{Backend, BoxError, Cached};
    use haiway::runtime::BoxFuture;

    const KEYS: u32 = 4;
    const TASKS: u64 = 4;
    const OPS: u64 = 1_500;

    /// A small deterministic generator (splitmix64) shared by the backend's operations.
    struct Rng(AtomicU64);

    impl Rng {
        fn next(&self) -> u64 {
            let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, SeqCst);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    /// Yields a random number of times: the operation finishes in another order than
    /// it started.
    async fn jitter(rng: &Rng) {
        for _ in 0..rng.next() % 6 {
            tokio::task::yield_now().await;
        }
    }

    #[derive(Debug)]
    struct Chaos(&'static str);

    impl std::fmt::Display for Chaos {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "chaos: {}", self.0)
        }
    }

    impl std::error::Error for Chaos {}

    /// A map behind random delays and failures.
    struct Flaky {
        map: Mutex<HashMap<u32, u64>>,
        rng: Rng,
    }

    impl Backend<u32, u64> for Flaky {
        async fn read(&self, key: &u32) -> Result<Option<u64>, BoxError> {
            jitter(&self.rng).await;
            if self.rng.next() % 10 == 0 {
                return Err(Box::new(Chaos("read")));
            }
            let value = self.map.lock().unwrap().get(key).copied();
            jitter(&self.rng).await;
            Ok(value)
        }

        async fn write(&self, key: u32, value: u64) -> Result<(), BoxError> {
            jitter(&self.rng).await;
            if self.rng.next() % 10 == 0 {
                return Err(Box::new(Chaos("write refused")));
            }
            self.map.lock().unwrap().insert(key, value);
            jitter(&self.rng).await;
            if self.rng.next() % 20 == 0 {
                // Landed, but the acknowledgement was lost.
                return Err(Box::new(Chaos("write timed out")));
            }
            Ok(())
        }

        async fn clear(&self, key: Option<&u32>) -> Result<(), BoxError> {
            jitter(&self.rng).await;
            if self.rng.next() % 10 == 0 {
                return Err(Box::new(Chaos("clear")));
            }
            match key {
                Some(key) => drop(self.map.lock().unwrap().remove(key)),
                None => self.map.lock().unwrap().clear(),
            }
            jitter(&self.rng).await;
            Ok(())
        }
    }

    /// What the workers share.
    struct World {
        cached: Cached<u32, u64>,
        /// Per key: bumped before each clear.
        generations: Vec<Arc<AtomicU64>>,
        /// Per key: the newest generation whose clear completed (returned `Ok`).
        cleared: Vec<AtomicU64>,
        /// Results older than the clear that completed before their call started.
        stale: Mutex<Vec<String>>,
        /// Calls checked.
        calls: AtomicU64,
    }

    /// Polls `future` until it finishes or has returned `Pending` `polls` times, then
    /// drops it: `None` if it did not finish.
    async fn at_most<F: std::future::Future>(future: F, polls: u64) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        let mut left = polls;
        std::future::poll_fn(move |cx| match future.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending if left == 0 => std::task::Poll::Ready(None),
            std::task::Poll::Pending => {
                left -= 1;
                std::task::Poll::Pending
            }
        })
        .await
    }

    async fn worker(world: Arc<World>, seed: u64, scoped: bool) {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..OPS {
            let r = next();
            let key = (r >> 8) as u32 % KEYS;
            let k = key as usize;
            match r % 100 {
                0..75 => {
                    let floor = world.cleared[k].load(SeqCst);
                    // Some calls are given up after a few polls (a timeout), in a scope
                    // of their own when the worker runs in one: their runs, backend
                    // writes and undos are cancelled at any point.
                    let got = if r % 100 < 60 {
                        Some(world.cached.call(key).await)
                    } else if scoped {
                        let call = Scope::new("cancellable").run(world.cached.call(key));
                        at_most(call, (r >> 40) % 24).await
                    } else {
                        at_most(world.cached.call(key), (r >> 40) % 24).await
                    };
                    world.calls.fetch_add(1, SeqCst);
                    if let Some(got) = got.filter(|&got| got < floor) {
                        world.stale.lock().unwrap().push(format!(
                            "key {key}: got generation {got} after the clear of {floor} completed"
                        ));
                    }
                }
                75..93 => {
                    let generation = world.generations[k].fetch_add(1, SeqCst) + 1;
                    if world.cached.clear_call_cache(&key).await.is_ok() {
                        world.cleared[k].fetch_max(generation, SeqCst);
                    }
                }
                _ => {
                    let generations: Vec<u64> = world
                        .generations
                        .iter()
                        .map(|g| g.fetch_add(1, SeqCst) + 1)
                        .collect();
                    if world.cached.clear_cache().await.is_ok() {
                        for (cleared, generation) in world.cleared.iter().zip(generations) {
                            cleared.fetch_max(generation, SeqCst);
                        }
                    }
                }
            }
        }
    }

    fn run(seed: u64, limit: Option<usize>, scoped: bool) -> u64 {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .expect("tokio runtime");
        let backend = Flaky {
            map: Mutex::default(),
            rng: Rng(AtomicU64::new(seed)),
        };
        let generations: Vec<Arc<AtomicU64>> = (0..KEYS).map(|_| Arc::default()).collect();
        let gens = generations.clone();
        let rng = Arc::new(Rng(AtomicU64::new(!seed)));
        let builder = Cached::builder().backend(backend);
        let builder = match limit {
            Some(limit) => builder.limit(limit),
            None => builder,
        };
        let cached = builder.build(move |key: u32| {
            let generation = gens[key as usize].load(SeqCst);
            let rng = rng.clone();
            async move {
                jitter(&rng).await;
                generation
            }
        });
        let world = Arc::new(World {
            cached,
            cleared: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
            generations,
            stale: Mutex::default(),
            calls: AtomicU64::new(0),
        });
        let handle = runtime.handle().clone();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let work = worker(
                        world.clone(),
                        seed.wrapping_mul(31).wrapping_add(t) | 1,
                        scoped,
                    );
                    let handle = handle.clone();
                    runtime.spawn(async move {
                        if scoped {
                            Scope::new("worker")
                                .spawner(move |f: BoxFuture| drop(handle.spawn(f)))
                                .run(work)
                                .await
                        } else {
                            work.await
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("a worker panicked");
            }
        });
        let stale = world.stale.lock().unwrap();
        assert!(
            stale.is_empty(),
            "seed {seed}, limit {limit:?}, scoped {scoped}: {} stale results, first: {:?}",
            stale.len(),
            &stale[..stale.len().min(5)]
        );
        world.calls.load(SeqCst)
    }

    #[test]
    #[cfg_attr(miri, ignore = "runs a tokio multi-thread runtime")]
    fn no_call_returns_a_value_from_before_a_completed_clear() {
        let mut calls = 0;
        for seed in [0x5EED_0001, 0x5EED_0002, 0x5EED_0003] {
            for limit in [None, Some(2)] {
                for scoped in [false, true] {
                    calls += run(seed, limit, scoped);
                }
            }
        }
        // The check ran: most operations are calls.
        assert!(calls > TASKS * OPS * 12 / 2, "only {calls} calls checked");
    }
}

/// Compare-and-delete (issue 18): the undo of a stale write removes the stale value, and
/// only it. A newer value written between the clear and the undo (by a later call, or
/// by another process) stays, and the key is read again.
mod compare_and_delete {
    use super::*;
    use crate::common::Calls;

    /// A map whose writes wait twice: before they land (`send`), and for their reply
    /// (`reply`). `compares`: it implements `clear_if` as compare-and-delete; else its
    /// `clear_if` clears the key whatever it holds, as the trait's default does.
    #[derive(Clone, Default)]
    struct LateReply {
        map: Arc<Mutex<HashMap<u32, usize>>>,
        send: Valve,
        reply: Valve,
        compares: bool,
    }

    impl Backend<u32, usize> for LateReply {
        async fn read(&self, key: &u32) -> Result<Option<usize>, BoxError> {
            Ok(self.map.lock().unwrap().get(key).copied())
        }
        async fn write(&self, key: u32, value: usize) -> Result<(), BoxError> {
            self.send.pass().await;
            self.map.lock().unwrap().insert(key, value);
            self.reply.pass().await;
            Ok(())
        }
        async fn clear(&self, key: Option<&u32>) -> Result<(), BoxError> {
            let mut map = self.map.lock().unwrap();
            match key {
                Some(key) => drop(map.remove(key)),
                None => map.clear(),
            }
            Ok(())
        }
        async fn clear_if(&self, key: &u32, value: &usize) -> Result<(), BoxError> {
            let mut map = self.map.lock().unwrap();
            if !self.compares || map.get(key) == Some(value) {
                map.remove(key);
            }
            Ok(())
        }
    }

    impl LateReply {
        fn stored(&self, key: u32) -> Option<usize> {
            self.map.lock().unwrap().get(&key).copied()
        }
    }

    /// A cache with no memory tier in front of `backend` (every call reads it), whose
    /// function returns its run number (1 for the first).
    fn cached(backend: &LateReply) -> (Cached<u32, usize>, Calls) {
        let runs = Calls::default();
        let counter = runs.clone();
        let cached = Cached::builder()
            .backend(backend.clone())
            .build(move |_key: u32| {
                let run = counter.hit();
                async move { run }
            });
        (cached, runs)
    }

    /// Run 1's write lands and its reply is held; the key is cleared (the backend too);
    /// `newer` writes another value; then run 1's reply comes and its now stale write
    /// is undone. Outside any scope, so the first call drives its own write.
    fn undo_after_a_newer_value(
        backend: &LateReply,
        cached: &Cached<u32, usize>,
        newer: impl Future<Output = ()>,
    ) {
        futures_lite::future::block_on(async {
            backend.reply.hold();
            let mut first = pin!(cached.call(1));
            assert!(poll!(first.as_mut()).is_pending(), "its reply is held");
            assert_eq!(backend.stored(1), Some(1), "run 1's write landed");
            cached.clear_call_cache(&1).await.expect("clearable");
            assert_eq!(backend.stored(1), None, "the clear removed it");
            backend.reply.release();
            newer.await;
            // Run 1's reply comes: its write is stale, and undone.
            assert_eq!(first.await, 1);
        });
    }

    fn comparing() -> LateReply {
        LateReply {
            compares: true,
            ..LateReply::default()
        }
    }

    #[test]
    fn an_undo_keeps_a_newer_value_of_a_later_call() {
        let backend = comparing();
        let (cached, runs) = cached(&backend);
        undo_after_a_newer_value(&backend, &cached, async {
            // The key is suspect: this call runs the function, and its write lands.
            assert_eq!(cached.call(1).await, 2);
            assert_eq!(backend.stored(1), Some(2));
        });
        assert_eq!(
            backend.stored(1),
            Some(2),
            "the undo removed the newer value"
        );
        // The key is no longer suspect: it is read, not computed.
        assert_eq!(futures_lite::future::block_on(cached.call(1)), 2);
        assert_eq!(runs.get(), 2, "the key stayed suspect after its undo");
    }

    #[test]
    fn an_undo_keeps_a_newer_value_of_another_process() {
        let backend = comparing();
        let (cached, runs) = cached(&backend);
        undo_after_a_newer_value(&backend, &cached, async {
            backend.map.lock().unwrap().insert(1, 99);
        });
        assert_eq!(
            backend.stored(1),
            Some(99),
            "the undo removed the newer value"
        );
        assert_eq!(futures_lite::future::block_on(cached.call(1)), 99);
        assert_eq!(runs.get(), 1, "the key stayed suspect after its undo");
    }

    /// The write lands after the clear: the backend still holds the stale value, and
    /// the undo removes it.
    #[test]
    fn an_undo_removes_the_stale_value_still_there() {
        let backend = comparing();
        let (cached, runs) = cached(&backend);
        futures_lite::future::block_on(async {
            backend.send.hold();
            let mut first = pin!(cached.call(1));
            assert!(poll!(first.as_mut()).is_pending(), "its write waits");
            cached.clear_call_cache(&1).await.expect("clearable");
            backend.send.release();
            assert_eq!(first.await, 1);
            assert_eq!(backend.stored(1), None, "the stale value stayed");
            assert_eq!(cached.call(1).await, 2, "a value from before the clear");
        });
        assert_eq!(runs.get(), 2);
    }

    /// A backend that cannot compare (the trait's default) clears the key whatever it
    /// holds: the newer value goes too, and the next call runs the function.
    #[test]
    fn without_compare_and_delete_an_undo_clears_the_key() {
        let backend = LateReply::default();
        let (cached, runs) = cached(&backend);
        undo_after_a_newer_value(&backend, &cached, async {
            assert_eq!(cached.call(1).await, 2);
        });
        assert_eq!(backend.stored(1), None);
        assert_eq!(futures_lite::future::block_on(cached.call(1)), 3);
        assert_eq!(runs.get(), 3);
    }
}
