//! Quick start: a scope, tasks that inherit its context, events, and a memoized async
//! function whose hits and misses show up as events and in its stats.
//!
//! Run with `cargo run --example quickstart`. No runtime or feature is needed.

use std::sync::Arc;

use haiway::cache::Cached;
use haiway::{Ctx, Event, MemoryRecorder, Scope, ctx};

/// Pretends to fetch a user's profile from a slow service.
async fn fetch_profile(user_id: String) -> Arc<String> {
    ctx::record_event(Event::info("profile.fetch").with("user", user_id.clone()));
    Arc::new(format!("profile of {user_id}"))
}

fn main() {
    // Memoize it. The default limit is 1 entry, as in haiway: ask for more.
    let resolve_profile = Cached::builder()
        .limit(100)
        .name("profiles")
        .build(fetch_profile);

    let recorder = MemoryRecorder::new();
    let cached = resolve_profile.clone(); // handles are cheap clones sharing one cache
    futures_lite::future::block_on(Scope::new("request").recorder(recorder.clone()).run(
        async move {
            let ctx = Ctx::current();
            println!(
                "in scope {:?} (id {}, trace {})",
                ctx.name(),
                ctx.id(),
                ctx.trace_id()
            );

            let first = cached.call("ada".to_owned()).await; // miss: runs fetch_profile
            let again = cached.call("ada".to_owned()).await; // hit: served from memory
            println!("first call: {first}; second call: {again}");

            // Spawned tasks inherit the scope; the scope waits for all of them.
            let tasks: Vec<_> = ["grace", "ada", "alan"]
                .into_iter()
                // `call_owned` owns a clone of the handle: a `'static` future to spawn.
                .map(|user| ctx::spawn(cached.clone().call_owned(user.to_owned())))
                .collect();
            for task in tasks {
                println!("task got: {}", task.await);
            }
        },
    ));

    println!("events recorded:");
    for recorded in recorder.events() {
        let attrs: Vec<String> = recorded
            .event
            .attributes()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "  [{}] {} {}",
            recorded.event.level(),
            recorded.event.name(),
            attrs.join(" ")
        );
    }
    // "stats: 2 hits, 3 misses, 0 evictions, 3 stored"
    println!("stats: {}", resolve_profile.stats());
}
