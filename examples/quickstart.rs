//! Quick start: a scope, tasks that inherit its context, events, and a memoized async
//! function whose hits and misses show up as events and in its stats.
//!
//! Run with `cargo run --example quickstart`. No runtime or feature is needed.

use std::sync::Arc;

use haiway::{Ctx, Event, MemoryRecorder, Scope, ctx};

/// Pretends to fetch a user's profile from a slow service, memoized. The default limit
/// is 1 entry, as in haiway: ask for more.
#[haiway::cache(limit = 100, name = "profiles")]
async fn fetch_profile(user_id: String) -> Arc<String> {
    ctx::record_event(Event::info("profile.fetch").with("user", user_id.clone()));
    Arc::new(format!("profile of {user_id}"))
}

fn main() {
    let recorder = MemoryRecorder::new();
    futures_lite::future::block_on(Scope::new("request").recorder(recorder.clone()).run(
        async move {
            let ctx = Ctx::current();
            println!(
                "in scope {:?} (id {}, trace {})",
                ctx.name(),
                ctx.id(),
                ctx.trace_id()
            );

            let first = fetch_profile("ada".to_owned()).await; // miss: runs the body
            let again = fetch_profile("ada".to_owned()).await; // hit: served from memory
            println!("first call: {first}; second call: {again}");

            // Spawned tasks inherit the scope; the scope waits for all of them.
            let tasks: Vec<_> = ["grace", "ada", "alan"]
                .into_iter()
                // A call is a `'static` future: spawn it as it is.
                .map(|user| ctx::spawn(fetch_profile(user.to_owned())))
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
    // "stats: 2 hits, 3 misses (0 coalesced), 3 runs, 0 evictions, 3 stored"
    // `fetch_profile::cached()` is the function's `Cached` handle.
    println!("stats: {}", fetch_profile::cached().stats());
}
