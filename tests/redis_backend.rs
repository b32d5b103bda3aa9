//! `RedisBackend` against a real `redis-server` that each test starts on loopback.
//!
//! This binary has its own harness (libtest-mimic, `harness = false`): a test decides
//! when it runs whether it can, so without `redis-server` installed each test reports
//! as *ignored* with the reason, in the summary's count, never as passed. With
//! `HAIWAY_REQUIRE_REDIS=1` (as in CI) a missing server fails the tests instead. A test
//! is a `fn(RedisServer)` listed in `main`; `#[test]` does nothing here.

mod common;

use std::time::Duration;

use common::Calls;
use common::redis_server::RedisServer;
use haiway::cache::Cached;
use haiway::cache::redis::RedisBackend;
use haiway::{MemoryRecorder, Scope};
use libtest_mimic::{Arguments, Completion, Trial};
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

/// A trial named after the test function: it starts a server and runs the test, or
/// ends as ignored when `redis-server` is not installed.
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

fn main() {
    // A `#[test]` function in this file would be compiled out without a word.
    assert!(
        !include_str!("redis_backend.rs")
            .lines()
            .any(|line| line.trim() == "#[test]"),
        "tests/redis_backend.rs: list the test in main instead of marking it #[test]"
    );
    let trials = vec![
        trial!(a_struct_round_trips_with_the_expiration_as_ttl),
        trial!(clearing_everything_touches_only_the_prefix),
        trial!(two_handles_share_one_result),
        trial!(a_dead_server_degrades_to_computing_and_a_restarted_one_works_again),
    ];
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}
