//! A cache shared through Redis: run it twice, or in two terminals, and the second run
//! is served from Redis without calling the slow function.
//!
//! Needs a Redis server and the `redis` feature:
//!
//! ```sh
//! redis-server --port 6379 &            # apt-get install redis-server
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example redis --features redis
//! ```

use std::time::Duration;

use haiway::cache::Cached;
use haiway::cache::redis::RedisBackend;
use haiway::{MemoryRecorder, Scope};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    user_id: String,
    display_name: String,
}

async fn fetch_profile(user_id: String) -> Profile {
    println!("  (calling the slow profile service for {user_id})");
    Profile {
        display_name: user_id.to_uppercase(),
        user_id,
    }
}

fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    smol::block_on(async {
        let backend = match RedisBackend::connect(&url, "haiway-example:profiles:").await {
            Ok(backend) => backend,
            Err(e) => {
                eprintln!("could not reach Redis at {url}: {e}");
                eprintln!(
                    "start one with `redis-server --port 6379` (Debian: apt-get install redis-server),"
                );
                eprintln!("or point REDIS_URL at yours, then run this example again.");
                std::process::exit(1);
            }
        };
        let resolve_profile = Cached::builder()
            .expiration(Duration::from_secs(60)) // also the keys' TTL in Redis
            .limit(100) // a small memory tier in front of Redis
            .backend(backend)
            .build(fetch_profile);

        let recorder = MemoryRecorder::new();
        let cached = resolve_profile.clone();
        let profile = Scope::new("request")
            .recorder(recorder.clone())
            .run(async move { cached.call("ada".to_owned()).await })
            .await;
        println!("profile: {profile:?}");
        println!("events: {:?}", recorder.names());
        println!("run again within 60 s: the profile comes from Redis (no 'calling' line).");
    });
}
