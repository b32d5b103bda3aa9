//! `RedisBackend` against a real `redis-server` that each test starts on loopback.
//!
//! This binary has its own harness (libtest-mimic, `harness = false`): a test decides
//! when it runs whether it can, so without `redis-server` installed each test reports
//! as *ignored* with the reason, in the summary's count, never as passed. With
//! `HAIWAY_REQUIRE_REDIS=1` (as in CI) a missing server fails the tests instead. A test
//! is a `fn(RedisServer)` listed in `main`; `#[test]` does nothing here.

#[cfg(feature = "redis-cluster")]
#[path = "redis_backend/cluster.rs"]
mod cluster;
mod common;
#[path = "redis_backend/processes.rs"]
mod processes;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::{Calls, Gate};
use haiway::cache::redis::RedisBackend;
use haiway::cache::{Backend, BoxError, Cached};
use haiway::{MemoryRecorder, Scope};
use libtest_mimic::{Arguments, Completion, Trial};
use processes::{Worker, eventually, sets_run};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    tags: Vec<String>,
}

/// A plain connection for looking at what the backend stored.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn profile_cache(backend: RedisBackend, calls: &Calls) -> Cached<u64, Profile> {
    let c = calls.clone();
    Cached::builder()
        .expiration(Duration::from_secs(60))
        .backend(backend)
        .build(move |id: u64| {
            c.hit();
            async move {
                Profile {
                    id,
                    name: format!("user {id}"),
                    tags: vec!["a".into(), "b".into()],
                }
            }
        })
}

fn a_struct_round_trips_with_the_expiration_as_ttl(server: RedisServer) {
    smol::block_on(async {
        let calls = Calls::default();
        let backend = RedisBackend::connect(&server.url(), "test:profiles:")
            .await
            .unwrap();
        let cached = profile_cache(backend, &calls);
        let c = cached.clone();
        let first = Scope::new("req").run(async move { c.call(7).await }).await;
        let second = cached.call(7).await; // served by Redis
        assert_eq!(first, second);
        assert_eq!(first.name, "user 7");
        assert_eq!(calls.get(), 1);
        let mut conn = raw(&server).await;
        let stored: String = conn.get("test:profiles:7").await.unwrap();
        assert_eq!(
            serde_json::from_str::<Profile>(&stored).unwrap(),
            first,
            "stored as JSON"
        );
        let ttl: i64 = conn.pttl("test:profiles:7").await.unwrap();
        assert!(
            ttl > 0 && ttl <= 60_000,
            "TTL from the expiration, got {ttl} ms"
        );
    });
}

fn clearing_everything_touches_only_the_prefix(server: RedisServer) {
    smol::block_on(async {
        let mut conn = raw(&server).await;
        conn.set::<_, _, ()>("other:keep", "1").await.unwrap();
        conn.set::<_, _, ()>("test:profiles*not-ours", "1")
            .await
            .unwrap();
        let calls = Calls::default();
        let backend = RedisBackend::connect(&server.url(), "test:profiles:")
            .await
            .unwrap();
        let cached = profile_cache(backend, &calls);
        for id in 0..1_200 {
            // Outside a scope: each write is awaited, so all have landed.
            cached.call(id).await;
        }
        let ours: Vec<String> = conn.keys("test:profiles:*").await.unwrap();
        assert_eq!(ours.len(), 1_200);
        cached.clear_call_cache(&5).await.unwrap();
        assert!(!conn.exists::<_, bool>("test:profiles:5").await.unwrap());
        assert!(conn.exists::<_, bool>("test:profiles:6").await.unwrap());
        cached.clear_cache().await.unwrap();
        let ours: Vec<String> = conn.keys("test:profiles:*").await.unwrap();
        assert!(ours.is_empty(), "{} keys left", ours.len());
        assert!(conn.exists::<_, bool>("other:keep").await.unwrap());
        assert!(
            conn.exists::<_, bool>("test:profiles*not-ours")
                .await
                .unwrap()
        );
    });
}

fn two_handles_share_one_result(server: RedisServer) {
    smol::block_on(async {
        // Two workers: independent connections and caches, one shared counter.
        let calls = Calls::default();
        let worker_a = profile_cache(
            RedisBackend::connect(&server.url(), "shared:")
                .await
                .unwrap(),
            &calls,
        );
        let worker_b = profile_cache(
            RedisBackend::connect(&server.url(), "shared:")
                .await
                .unwrap(),
            &calls,
        );
        let a = Scope::new("worker-a")
            .run(async move { worker_a.call(42).await })
            .await;
        let b = Scope::new("worker-b")
            .run(async move { worker_b.call(42).await })
            .await;
        assert_eq!(a, b);
        assert_eq!(calls.get(), 1, "the function ran once across both workers");
    });
}

fn a_dead_server_degrades_to_computing_and_a_restarted_one_works_again(mut server: RedisServer) {
    smol::block_on(async {
        let calls = Calls::default();
        let backend = RedisBackend::connect_with(
            &server.url(),
            "faults:",
            haiway::cache::redis::Json,
            RedisBackend::options()
                .timeout(Duration::from_millis(300))
                .retries(1),
        )
        .await
        .unwrap();
        let cached = profile_cache(backend, &calls);
        assert_eq!(cached.call(1).await.id, 1);

        server.kill();
        let recorder = MemoryRecorder::new();
        let c = cached.clone();
        let values = Scope::new("outage")
            .recorder(recorder.clone())
            .run(async move {
                let mut values = Vec::new();
                for id in 2..5 {
                    values.push(c.call(id).await.id);
                }
                values
            })
            .await;
        assert_eq!(values, [2, 3, 4], "calls still return computed values");
        assert_eq!(recorder.count("cache.read_failed"), 3);
        assert_eq!(recorder.count("cache.write_failed"), 3);

        server.restart();
        // The connection comes back by itself: within a few calls a write lands again
        // (the first call after the restart may still see the broken connection).
        let mut conn = raw(&server).await;
        let mut landed = None;
        for id in 100..120 {
            cached.call(id).await;
            if conn
                .exists::<_, bool>(format!("faults:{id}"))
                .await
                .unwrap()
            {
                landed = Some(id);
                break;
            }
        }
        let id = landed.expect("the backend never recovered after the restart");
        // And reads work again: that value is served by Redis, not recomputed.
        let before = calls.get();
        assert_eq!(cached.call(id).await.id, id);
        assert_eq!(calls.get(), before);
    });
}

/// `clear_if` deletes the key only while it holds the given value's bytes.
fn clear_if_deletes_only_the_value_it_is_given(server: RedisServer) {
    smol::block_on(async {
        let backend = RedisBackend::connect(&server.url(), "cad:").await.unwrap();
        let older = Profile {
            id: 1,
            name: "older".into(),
            tags: vec![],
        };
        let newer = Profile {
            name: "newer".into(),
            ..older.clone()
        };
        Backend::write(&backend, 1u64, newer.clone()).await.unwrap();
        Backend::clear_if(&backend, &1u64, &older).await.unwrap();
        let stored: Option<Profile> = Backend::read(&backend, &1u64).await.unwrap();
        assert_eq!(stored, Some(newer.clone()), "another value was deleted");
        Backend::clear_if(&backend, &1u64, &newer).await.unwrap();
        let stored: Option<Profile> = Backend::read(&backend, &1u64).await.unwrap();
        assert_eq!(stored, None, "its own value was kept");
        // A missing key is no error.
        Backend::clear_if(&backend, &1u64, &newer).await.unwrap();
    });
}

/// A `RedisBackend` whose writes, once landed, wait for `reply` before they return (a
/// slow acknowledgement); `landed` opens when one has landed.
struct SlowReply {
    inner: RedisBackend,
    landed: Gate,
    reply: Gate,
}

impl Backend<u64, Profile> for SlowReply {
    async fn read(&self, key: &u64) -> Result<Option<Profile>, BoxError> {
        self.inner.read(key).await
    }
    async fn write(&self, key: u64, value: Profile) -> Result<(), BoxError> {
        let wrote = self.inner.write(key, value).await;
        self.landed.open();
        self.reply.wait().await;
        wrote
    }
    async fn clear(&self, key: Option<&u64>) -> Result<(), BoxError> {
        Backend::<u64, Profile>::clear(&self.inner, key).await
    }
    async fn clear_if(&self, key: &u64, value: &Profile) -> Result<(), BoxError> {
        self.inner.clear_if(key, value).await
    }
}

/// Issue 18: a stale write is undone with compare-and-delete, so a newer value that
/// another process wrote between the clear and the undo stays.
fn an_undo_keeps_a_newer_value_written_after_the_clear(server: RedisServer) {
    smol::block_on(async {
        let (landed, reply) = (Gate::default(), Gate::default());
        let backend = SlowReply {
            inner: RedisBackend::connect(&server.url(), "undo:").await.unwrap(),
            landed: landed.clone(),
            reply: reply.clone(),
        };
        let calls = Calls::default();
        let c = calls.clone();
        // No memory tier: every call reads Redis.
        let cached: Cached<u64, Profile> = Cached::builder().backend(backend).build(move |id| {
            c.hit();
            async move {
                Profile {
                    id,
                    name: "computed".into(),
                    tags: vec![],
                }
            }
        });
        // Outside a scope the call drives its own write: run it as a task.
        let first = smol::spawn({
            let cached = cached.clone();
            async move { cached.call(1).await }
        });
        landed.wait().await;
        let mut conn = raw(&server).await;
        assert!(conn.exists::<_, bool>("undo:1").await.unwrap());
        cached.clear_call_cache(&1).await.unwrap();
        assert!(!conn.exists::<_, bool>("undo:1").await.unwrap());
        // Another process writes a newer value, then the stale write's reply comes.
        let newer = Profile {
            id: 1,
            name: "newer".into(),
            tags: vec![],
        };
        conn.set::<_, _, ()>("undo:1", serde_json::to_string(&newer).unwrap())
            .await
            .unwrap();
        reply.open();
        assert_eq!(first.await.name, "computed");
        let stored: Option<String> = conn.get("undo:1").await.unwrap();
        assert_eq!(
            stored
                .as_deref()
                .map(|s| serde_json::from_str::<Profile>(s).unwrap()),
            Some(newer.clone()),
            "the undo deleted the newer value"
        );
        // The key is read again, not computed.
        assert_eq!(cached.call(1).await, newer);
        assert_eq!(calls.get(), 1);
    });
}

/// A trial named after the test function: it starts a server and runs the test, or
/// ends as ignored when `redis-server` is not installed.
/// The server of `the_attribute_takes_a_redis_backend`, set before its first call.
static ATTRIBUTE_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
static ATTRIBUTE_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Connects once, on the first call, with the expiration as the keys' TTL.
#[haiway::cache(
    expiration = Duration::from_secs(60),
    make_key = |(id, _): &(u64, String)| format!("{id}"),
    backend = async {
        let url = ATTRIBUTE_URL.get().expect("the test sets the URL first");
        RedisBackend::connect(url, "test:attribute:").await.expect("connect")
    },
)]
async fn attribute_profile(id: u64, trace: String) -> Profile {
    ATTRIBUTE_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Profile {
        id,
        name: format!("user {id}"),
        tags: vec![trace],
    }
}

fn the_attribute_takes_a_redis_backend(server: RedisServer) {
    ATTRIBUTE_URL.set(server.url()).expect("one test sets it");
    smol::block_on(async {
        let first = attribute_profile(7, "a".into()).await;
        let again = attribute_profile(7, "b".into()).await; // the same key, from Redis
        assert_eq!(first, again);
        assert_eq!(first.tags, ["a"]);
        assert_eq!(ATTRIBUTE_RUNS.load(std::sync::atomic::Ordering::SeqCst), 1);
        let mut conn = raw(&server).await;
        let stored: String = conn.get("test:attribute:7").await.unwrap();
        assert_eq!(serde_json::from_str::<Profile>(&stored).unwrap(), first);
        let ttl: i64 = conn.pttl("test:attribute:7").await.unwrap();
        assert!(
            ttl > 0 && ttl <= 60_000,
            "TTL from the expiration, got {ttl} ms"
        );

        attribute_profile::clear_call_cache(&7, &"z".to_owned())
            .await
            .unwrap();
        let gone: Option<String> = conn.get("test:attribute:7").await.unwrap();
        assert_eq!(gone, None, "cleared in Redis by its key");
        let handle: &Cached<(u64, String), Profile> = attribute_profile::cached().await;
        assert_eq!(handle.stats().hits, 1);
    });
}

/// Issue 17: a value computed by one process is served by the others, and a key
/// changed or cleared by one is dropped from the others' memory tiers.
fn processes_share_values_and_see_each_others_changes(server: RedisServer) {
    let url = server.url();
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| Worker::start(&url, "procs:", 0, false))
        .collect();
    let first = workers[0].call(1);
    assert!(first.starts_with("1/by-"), "{first}");
    for worker in &mut workers[1..] {
        assert_eq!(worker.call(1), first, "served from Redis");
        assert_eq!(worker.computed(), 0);
    }
    // Each of the others comes to hold it in memory (its own read may be followed by
    // the invalidation of the first worker's write, still on its way).
    for worker in &mut workers[1..] {
        eventually("the value is in the memory tier", || {
            worker.call(1) == first && worker.memory(1) == first
        });
    }
    // A clear in one process is seen by the others...
    workers[0].send("clear 1");
    workers[0].expect("cleared");
    for worker in &mut workers[1..] {
        eventually("the clear reached the memory tier", || {
            worker.memory(1) == "-"
        });
    }
    // ...so the next value is computed once more and served to all.
    let second = workers[1].call(1);
    assert_ne!(second, first);
    assert_eq!(workers[2].call(1), second, "an old copy was served");
    // A value written by one replaces the others' copies.
    eventually("the value is in the memory tier", || {
        workers[2].call(1) == second && workers[2].memory(1) == second
    });
    workers[0].send("insert 1 written-by-0");
    workers[0].expect("inserted 1");
    eventually("the write reached the memory tier", || {
        workers[2].memory(1) == "-"
    });
    assert_eq!(workers[2].call(1), "written-by-0");
    // And clearing everything empties the others' memory tiers.
    eventually("the value is in the memory tier", || {
        workers[1].call(1) == "written-by-0" && workers[1].memory(1) == "written-by-0"
    });
    workers[2].send("clear all");
    workers[2].expect("cleared");
    eventually("the clear reached the memory tier", || {
        workers[1].memory(1) == "-"
    });
}

/// Issue 17: three processes missing one key at once compute it three times, or once
/// with the cross-process lock.
fn processes_missing_one_key_compute_it_once_with_the_lock(server: RedisServer) {
    let url = server.url();
    // Without the lock: every function starts (each process missed) before any ends.
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| Worker::start(&url, "nolock:", 0, true))
        .collect();
    for worker in &mut workers {
        worker.send("call 5");
    }
    for worker in &mut workers {
        worker.expect("computing 5");
    }
    for worker in &mut workers {
        worker.send("go");
        worker.expect("value 5");
    }
    let runs: usize = workers.iter_mut().map(Worker::computed).sum();
    assert_eq!(runs, 3);

    // With it: one holds the lock and computes, held until the two others have tried
    // the lock (their `SET NX` is counted by the server) and wait.
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| Worker::start(&url, "lock:", 20_000, true))
        .collect();
    workers[0].send("call 5");
    workers[0].expect("computing 5");
    let sets = sets_run(&url);
    workers[1].send("call 5");
    workers[2].send("call 5");
    eventually("the two others tried the lock", || {
        sets_run(&url) >= sets + 2
    });
    for worker in &mut workers {
        worker.send("go");
    }
    let values: Vec<String> = workers.iter_mut().map(|w| w.expect("value 5")).collect();
    assert_eq!(values[1], values[0]);
    assert_eq!(values[2], values[0]);
    let runs: usize = workers.iter_mut().map(Worker::computed).sum();
    assert_eq!(runs, 1, "computed more than once with the lock");
}

/// Issue 17: a lock holder that dies releases nothing; the others take the lock when
/// its time runs out, and one of them computes the value for both.
fn killing_the_lock_holder_lets_the_others_finish(server: RedisServer) {
    let url = server.url();
    let mut holder = Worker::start(&url, "dies:", 1_000, true);
    holder.send("call 9");
    holder.expect("computing 9");
    holder.kill();
    let mut others: Vec<Worker> = (0..2)
        .map(|_| Worker::start(&url, "dies:", 1_000, false))
        .collect();
    for worker in &mut others {
        worker.send("call 9");
    }
    let values: Vec<String> = others.iter_mut().map(|w| w.expect("value 9")).collect();
    assert_eq!(values[0], values[1]);
    let runs: usize = others.iter_mut().map(Worker::computed).sum();
    assert_eq!(runs, 1);
}

/// Issue 17: while Redis restarts every call still answers, and once it is back the
/// processes see each other's clears again.
fn restarting_redis_loses_no_call_and_coherence_resumes(mut server: RedisServer) {
    let url = server.url();
    let mut a = Worker::start(&url, "restart:", 0, false);
    let mut b = Worker::start(&url, "restart:", 0, false);
    let first = a.call(1);
    eventually("the value is in b's memory tier", || {
        b.call(1) == first && b.memory(1) == first
    });
    server.kill();
    for id in 2..5 {
        assert!(a.call(id).starts_with(&format!("{id}/")));
        assert!(b.call(id).starts_with(&format!("{id}/")));
    }
    server.restart();
    // Writes land again, and b reads what a wrote...
    eventually("a's value is served to b from Redis", || {
        let value = a.call(10);
        b.call(10) == value && b.memory(10) == value
    });
    // ...and sees a's clear.
    a.send("clear 10");
    a.expect("cleared");
    eventually("the clear reached b's memory tier", || b.memory(10) == "-");
}

/// Issue 17: on a Redis Cluster the keys spread over the primaries, and clearing
/// deletes the prefix's keys on every one of them (and nothing else).
#[cfg(feature = "redis-cluster")]
fn a_cluster_spreads_keys_and_clears_the_prefix_on_every_primary(cluster: cluster::RedisCluster) {
    smol::block_on(async {
        let urls = cluster.urls();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        let backend = RedisBackend::connect_cluster_with(
            &urls,
            "cl:",
            haiway::cache::redis::Json,
            RedisBackend::options(),
        )
        .await
        .unwrap();
        let calls = Calls::default();
        let cached = profile_cache(backend, &calls);
        for id in 0..300 {
            cached.call(id).await;
        }
        let mut whole = redis::cluster::ClusterClient::new(urls.clone())
            .unwrap()
            .get_async_connection()
            .await
            .unwrap();
        for other in ["other:a", "other:b", "other:c", "cl*not-ours"] {
            whole.set::<_, _, ()>(other, "keep").await.unwrap();
        }
        let mut nodes = Vec::new();
        for url in &urls {
            let node = redis::Client::open(*url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            nodes.push(node);
        }
        for node in &mut nodes {
            let ours: Vec<String> = node.keys("cl:*").await.unwrap();
            assert!(!ours.is_empty(), "a primary holds none of the keys");
        }
        assert_eq!(cached.call(7).await.id, 7);
        assert_eq!(calls.get(), 300, "served from the cluster");
        cached.clear_call_cache(&5).await.unwrap();
        assert!(!whole.exists::<_, bool>("cl:5").await.unwrap());
        assert!(whole.exists::<_, bool>("cl:6").await.unwrap());
        cached.clear_cache().await.unwrap();
        let mut others = 0;
        for node in &mut nodes {
            let ours: Vec<String> = node.keys("cl:*").await.unwrap();
            assert!(ours.is_empty(), "{} keys left on a primary", ours.len());
            others += node.keys::<_, Vec<String>>("other:*").await.unwrap().len();
        }
        assert_eq!(others, 3, "another key was cleared");
        assert!(whole.exists::<_, bool>("cl*not-ours").await.unwrap());
    });
}

/// Issue 17: on a cluster too a clear in one handle reaches another's memory tier,
/// and a handle missing a key that another is computing under the lock waits for it.
#[cfg(feature = "redis-cluster")]
fn a_cluster_keeps_memory_tiers_coherent_and_single_flight(cluster: cluster::RedisCluster) {
    smol::block_on(async {
        let urls = cluster.urls();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        let connect = || {
            RedisBackend::connect_cluster_with(
                &urls,
                "clc:",
                haiway::cache::redis::Json,
                RedisBackend::options().single_flight(Duration::from_secs(20)),
            )
        };
        let (started, go) = (Gate::default(), Gate::default());
        let runs = Calls::default();
        let handle = |backend: RedisBackend| -> Cached<u64, String> {
            let (started, go, runs) = (started.clone(), go.clone(), runs.clone());
            Cached::builder()
                .limit(100)
                .backend(backend)
                .build(move |id: u64| {
                    let run = runs.hit();
                    let (started, go) = (started.clone(), go.clone());
                    async move {
                        started.open();
                        go.wait().await;
                        format!("{id} #{run}")
                    }
                })
        };
        let a = handle(connect().await.unwrap());
        let b = handle(connect().await.unwrap());
        let leader = smol::spawn({
            let a = a.clone();
            async move { a.call(1).await }
        });
        started.wait().await;
        let sets = cluster_sets(&urls).await;
        let follower = smol::spawn({
            let b = b.clone();
            async move { b.call(1).await }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while cluster_sets(&urls).await < sets + 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "b never tried the lock"
            );
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        go.open();
        let value = leader.await;
        assert_eq!(follower.await, value);
        assert_eq!(runs.get(), 1, "computed twice with the lock");
        // b holds the value in memory; a clear in a reaches it.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !(b.call(1).await == value && b.get(&1).as_ref() == Some(&value)) {
            assert!(
                std::time::Instant::now() < deadline,
                "b never kept the value"
            );
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        a.clear_call_cache(&1).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while b.get(&1).is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the clear never reached b"
            );
            smol::Timer::after(Duration::from_millis(10)).await;
        }
    });
}

/// How many `SET` commands the cluster's nodes have run, in all.
#[cfg(feature = "redis-cluster")]
async fn cluster_sets(urls: &[&str]) -> u64 {
    urls.iter().map(|url| sets_run(url)).sum()
}

/// Issue 17: coherence needs `CLIENT TRACKING` (Redis 6); without it `connect` says
/// so and what to do, and `coherent(false)` goes without.
fn a_server_without_tracking_is_a_clear_error(_server: RedisServer) {
    let Ok(server) = RedisServer::start_with(&["--rename-command", "CLIENT", ""]) else {
        unreachable!("the trial's server started")
    };
    smol::block_on(async {
        let err = RedisBackend::connect(&server.url(), "old:")
            .await
            .expect_err("connected without tracking");
        let text = err.to_string();
        assert!(
            text.contains("Redis 6") && text.contains("coherent(false)"),
            "{text}"
        );
        let options = RedisBackend::options().coherent(false);
        let backend =
            RedisBackend::connect_with(&server.url(), "old:", haiway::cache::redis::Json, options)
                .await
                .expect("connects without coherence");
        let calls = Calls::default();
        let cached = profile_cache(backend, &calls);
        assert_eq!(cached.call(3).await.id, 3);
    });
}

/// Issue 17: `FLUSHDB` (any client's) is pushed as a null, and empties the memory tier;
/// a key changed by a plain client (not haiway) is dropped too.
fn a_flush_or_a_foreign_write_reaches_the_memory_tier(server: RedisServer) {
    smol::block_on(async {
        let backend = RedisBackend::connect(&server.url(), "flush:")
            .await
            .unwrap();
        let calls = Calls::default();
        let c = calls.clone();
        let cached: Cached<u64, String> =
            Cached::builder()
                .limit(10)
                .backend(backend)
                .build(move |id: u64| {
                    let run = c.hit();
                    async move { format!("{id} #{run}") }
                });
        let mut conn = raw(&server).await;
        // Kept in memory once read back from Redis (its own write invalidated it).
        let first = cached.call(1).await;
        eventually("the value is in the memory tier", || {
            smol::block_on(cached.call(1)) == first && cached.get(&1).as_ref() == Some(&first)
        });
        conn.set::<_, _, ()>("flush:1", "\"from elsewhere\"")
            .await
            .unwrap();
        eventually("the foreign write reached the memory tier", || {
            cached.get(&1).is_none()
        });
        assert_eq!(cached.call(1).await, "from elsewhere");
        eventually("the value is in the memory tier", || {
            smol::block_on(cached.call(1)) == "from elsewhere" && cached.get(&1).is_some()
        });
        redis::cmd("FLUSHDB").exec_async(&mut conn).await.unwrap();
        eventually("the flush reached the memory tier", || {
            cached.stats().len == 0
        });
        assert_eq!(calls.get(), 1);
    });
}

macro_rules! trial {
    ($test:ident) => {
        Trial::ignorable_test(stringify!($test), || match RedisServer::start() {
            Ok(server) => {
                $test(server);
                Ok(Completion::Completed)
            }
            Err(why) => Ok(Completion::ignored_with(why)),
        })
    };
}

/// A trial on a Redis Cluster of three primaries, ignored when `redis-server` or
/// `redis-cli` is not installed.
#[cfg(feature = "redis-cluster")]
macro_rules! cluster_trial {
    ($test:ident) => {
        Trial::ignorable_test(stringify!($test), || match cluster::RedisCluster::start() {
            Ok(cluster) => {
                $test(cluster);
                Ok(Completion::Completed)
            }
            Err(why) => Ok(Completion::ignored_with(why)),
        })
    };
}

fn main() {
    // Started by a test as one of its processes: serve, then exit.
    processes::run_worker_if_asked();
    // A `#[test]` function in this file would be compiled out without a word.
    assert!(
        !include_str!("redis_backend.rs")
            .lines()
            .any(|line| line.trim() == "#[test]"),
        "tests/redis_backend.rs: list the test in main instead of marking it #[test]"
    );
    #[allow(unused_mut)]
    let mut trials = vec![
        trial!(a_struct_round_trips_with_the_expiration_as_ttl),
        trial!(clearing_everything_touches_only_the_prefix),
        trial!(two_handles_share_one_result),
        trial!(a_dead_server_degrades_to_computing_and_a_restarted_one_works_again),
        trial!(clear_if_deletes_only_the_value_it_is_given),
        trial!(an_undo_keeps_a_newer_value_written_after_the_clear),
        trial!(the_attribute_takes_a_redis_backend),
        trial!(processes_share_values_and_see_each_others_changes),
        trial!(processes_missing_one_key_compute_it_once_with_the_lock),
        trial!(killing_the_lock_holder_lets_the_others_finish),
        trial!(restarting_redis_loses_no_call_and_coherence_resumes),
        trial!(a_server_without_tracking_is_a_clear_error),
        trial!(a_flush_or_a_foreign_write_reaches_the_memory_tier),
    ];
    #[cfg(feature = "redis-cluster")]
    trials.extend([
        cluster_trial!(a_cluster_spreads_keys_and_clears_the_prefix_on_every_primary),
        cluster_trial!(a_cluster_keeps_memory_tiers_coherent_and_single_flight),
    ]);
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}
