//! A Redis-backed cache hit (from the memory tier in front of Redis, from Redis, and
//! from a Redis Cluster) against a direct `GET` (plus JSON decode) of the same value on
//! a connection of the same kind, against real servers the bench starts on loopback.
//!
//! Run with `cargo bench -p haiway-benches --bench redis` (without `redis-server`
//! installed it prints that it skipped; without `redis-cli`, it skips the cluster).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use haiway::cache::Cached;
use haiway::cache::redis::{Json, RedisBackend};
use redis::AsyncCommands;

#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

#[path = "../tests/redis_backend/cluster.rs"]
#[allow(dead_code)]
mod cluster;

/// 64 keys, each stored once (outside a scope the write is awaited).
async fn fill(cached: &Cached<u64, u64>) {
    for k in 0..64u64 {
        cached.call(k).await;
    }
}

/// Times `call` over the 64 stored keys, one after the other.
fn over_keys(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mut call: impl FnMut(u64) -> u64,
) {
    group.bench_function(name, |b| {
        let mut k = 0u64;
        b.iter(|| {
            k = (k + 1) % 64;
            black_box(call(black_box(k)))
        })
    });
}

/// A direct `GET` of key `k`'s value and its JSON decode, as the cache's backend does.
fn direct_get(connection: &mut impl AsyncCommands, k: u64) -> u64 {
    let bytes: Vec<u8> = smol::block_on(connection.get(format!("bench:{k}"))).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn redis_hit(c: &mut Criterion) {
    let server = match redis_server::RedisServer::start() {
        Ok(server) => server,
        Err(why) => {
            println!("benches/redis skipped: {why}");
            return;
        }
    };
    let (cached, memory, mut direct) = smol::block_on(async {
        let backend = RedisBackend::connect(&server.url(), "bench:")
            .await
            .unwrap();
        let cached = Cached::builder()
            .backend(backend)
            .build(|k: u64| async move { k * 2 });
        fill(&cached).await;
        // The same keys, through a coherent memory tier in front of Redis.
        let backend = RedisBackend::connect(&server.url(), "bench:")
            .await
            .unwrap();
        let memory = Cached::builder()
            .limit(64)
            .backend(backend)
            .build(|k: u64| async move { k * 2 });
        fill(&memory).await;
        let client = redis::Client::open(server.url()).unwrap();
        let direct = redis::aio::ConnectionManager::new(client).await.unwrap();
        (cached, memory, direct)
    });
    let mut group = c.benchmark_group("redis_hit");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    over_keys(&mut group, "haiway call (memory tier before Redis)", |k| {
        smol::block_on(memory.call(k))
    });
    over_keys(&mut group, "haiway call (RedisBackend)", |k| {
        smol::block_on(cached.call(k))
    });
    over_keys(&mut group, "direct GET + JSON decode", |k| {
        direct_get(&mut direct, k)
    });
    group.finish();
    // No timed call may have missed: all were served by Redis (or the memory tier).
    assert_eq!(cached.stats().misses, 64);
    drop(server);
}

fn cluster_hit(c: &mut Criterion) {
    let cluster = match cluster::RedisCluster::start() {
        Ok(cluster) => cluster,
        Err(why) => {
            println!("benches/redis cluster skipped: {why}");
            return;
        }
    };
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let (cached, mut direct) = smol::block_on(async {
        let options = RedisBackend::options();
        let backend = RedisBackend::connect_cluster_with(&urls, "bench:", Json, options)
            .await
            .unwrap();
        let cached = Cached::builder()
            .backend(backend)
            .build(|k: u64| async move { k * 2 });
        fill(&cached).await;
        let client = redis::cluster::ClusterClient::builder(urls.clone())
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(Duration::from_secs(1))
            .retries(2)
            .build()
            .unwrap();
        (cached, client.get_async_connection().await.unwrap())
    });
    let mut group = c.benchmark_group("redis_cluster_hit");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    over_keys(&mut group, "haiway call (RedisBackend on a cluster)", |k| {
        smol::block_on(cached.call(k))
    });
    over_keys(&mut group, "direct cluster GET + JSON decode", |k| {
        direct_get(&mut direct, k)
    });
    group.finish();
    assert_eq!(cached.stats().misses, 64);
    drop(cluster);
}

criterion_group!(benches, redis_hit, cluster_hit);
criterion_main!(benches);
