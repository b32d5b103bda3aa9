//! Two processes sharing one cache through Redis: the first computes a profile, the
//! second (this example started again as a child) is served it from Redis and keeps it
//! in its memory tier; when the first clears the cache, the second's memory tier drops
//! its copy too (Redis's invalidation messages), and its next call computes anew.
//!
//! Needs a Redis server (6 or later) and the `redis` feature:
//!
//! ```sh
//! redis-server --port 6379 &            # apt-get install redis-server
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example redis --features redis
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use haiway::cache::Cached;
use haiway::cache::redis::{Json, RedisBackend};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    user_id: String,
    display_name: String,
    computed_by: u32,
}

async fn fetch_profile(user_id: String) -> Profile {
    println!(
        "  [{}] calling the slow profile service for {user_id}",
        std::process::id()
    );
    Profile {
        display_name: user_id.to_uppercase(),
        user_id,
        computed_by: std::process::id(),
    }
}

/// The same cache in every process: a memory tier in front of Redis, kept coherent.
async fn profiles(url: &str) -> Cached<String, Profile> {
    // Coherent memory tiers are the default; the lock makes processes missing one key
    // at once compute it once.
    let options = RedisBackend::options().single_flight(Duration::from_secs(5));
    let backend = match RedisBackend::connect_with(url, "haiway-example:profiles:", Json, options)
        .await
    {
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
    Cached::builder()
        .expiration(Duration::from_secs(60)) // also the keys' TTL in Redis
        .limit(100) // a small memory tier in front of Redis
        .backend(backend)
        .build(fetch_profile)
}

/// The second process: answers `call` and `memory` lines on stdin.
async fn child(url: &str) {
    let profiles = profiles(url).await;
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        match line.expect("stdin").as_str() {
            "call" => {
                let profile = profiles.call("ada".to_owned()).await;
                println!("computed by {}", profile.computed_by);
            }
            "memory" => println!("{}", profiles.get("ada").is_some()),
            _ => return,
        }
    }
}

fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    if std::env::args().nth(1).as_deref() == Some("child") {
        return smol::block_on(child(&url));
    }
    smol::block_on(async {
        let profiles = profiles(&url).await;
        profiles
            .clear_cache()
            .await
            .expect("start from an empty cache");
        let me = std::process::id();
        let profile = profiles.call("ada".to_owned()).await;
        println!("[{me}] {profile:?}");

        let mut second = Command::new(std::env::current_exe().expect("this example"))
            .arg("child")
            .env("REDIS_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the second process");
        let pid = second.id();
        let mut to = second.stdin.take().expect("piped");
        let mut from = BufReader::new(second.stdout.take().expect("piped")).lines();
        let mut ask = |command: &str| {
            writeln!(to, "{command}").expect("the second process reads");
            loop {
                let line = from.next().expect("an answer").expect("stdout");
                if !line.starts_with("  [") && line != "ready" {
                    return line;
                }
                println!("{line}");
            }
        };
        println!(
            "[{pid}] served from Redis: {}",
            ask("call") // computed by the first process
        );
        println!("[{pid}] in its memory tier: {}", ask("memory"));

        profiles.clear_cache().await.expect("clear");
        println!("[{me}] cleared the cache");
        // The invalidation reaches the second process in well under a millisecond;
        // look a few times rather than once.
        let mut dropped = false;
        for _ in 0..100 {
            if ask("memory") == "false" {
                dropped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        println!("[{pid}] dropped its copy: {dropped}");
        println!("[{pid}] after the clear: {}", ask("call"));
        drop(to);
        let _ = second.wait();
    });
}
