//! Quick start: a scope, tasks that inherit its context, and events recorded in it.
//!
//! Run with `cargo run --example quickstart`. No runtime or feature is needed.

use haiway::{Ctx, Event, MemoryRecorder, Scope, ctx};

/// Pretends to load a user's profile; records what it does through the current scope.
async fn load_profile(user: u32) -> String {
    ctx::record_event(Event::info("profile.load").with("user", user));
    format!("profile of user {user}")
}

fn main() {
    let recorder = MemoryRecorder::new();

    let profiles = futures_lite::future::block_on(
        Scope::new("request").recorder(recorder.clone()).run(async {
            let ctx = Ctx::current();
            println!(
                "in scope {:?} (id {}, trace {})",
                ctx.name(),
                ctx.id(),
                ctx.trace_id()
            );

            // Spawned tasks inherit the scope; the scope waits for all of them.
            let tasks: Vec<_> = (1..=3).map(|user| ctx::spawn(load_profile(user))).collect();
            let mut profiles = Vec::new();
            for task in tasks {
                profiles.push(task.await);
            }
            profiles
        }),
    );

    for profile in &profiles {
        println!("loaded: {profile}");
    }
    println!("events recorded:");
    for recorded in recorder.events() {
        let attrs: Vec<String> = recorded
            .event
            .attributes()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "  [{}] {} {} (scope {})",
            recorded.event.level(),
            recorded.event.name(),
            attrs.join(" "),
            recorded.scope_name
        );
    }
}
