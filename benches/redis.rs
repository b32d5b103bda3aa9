//! A Redis-backed cache hit against a direct `GET` (plus JSON decode) on a connection of
//! the same kind, against a real `redis-server` that the bench starts on loopback.
//!
//! Run with `cargo bench -p haiway-benches --bench redis` (without `redis-server`
//! installed it prints that it skipped).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use haiway::cache::Cached;
use haiway::cache::redis::RedisBackend;
use redis::AsyncCommands;

#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

fn redis_hit(c: &mut Criterion) {
    let server = match redis_server::RedisServer::start() {
        Ok(server) => server,
        Err(why) => {
            println!("benches/redis skipped: {why}");
            return;
        }
    };
    let (cached, mut direct) = smol::block_on(async {
        let backend = RedisBackend::connect(&server.url(), "bench:")
            .await
            .unwrap();
        let cached = Cached::builder()
            .backend(backend)
            .build(|k: u64| async move { k * 2 });
        // Store the values once (outside a scope the write is awaited).
        for k in 0..64u64 {
            cached.call(k).await;
        }
        let client = redis::Client::open(server.url()).unwrap();
        let direct = redis::aio::ConnectionManager::new(client).await.unwrap();
        (cached, direct)
    });
    let mut group = c.benchmark_group("redis_hit");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("haiway call (RedisBackend)", |b| {
        let mut k = 0u64;
        b.iter(|| {
            k = (k + 1) % 64;
            black_box(smol::block_on(cached.call(black_box(k))))
        })
    });
    group.bench_function("direct GET + JSON decode", |b| {
        let mut k = 0u64;
        b.iter(|| {
            k = (k + 1) % 64;
            let bytes: Vec<u8> =
                smol::block_on(direct.get(format!("bench:{}", black_box(k)))).unwrap();
            black_box(serde_json::from_slice::<u64>(&bytes).unwrap())
        })
    });
    group.finish();
    // No timed call may have missed: all were served by Redis.
    assert_eq!(cached.stats().misses, 64);
    drop(server);
}

criterion_group!(benches, redis_hit);
criterion_main!(benches);
