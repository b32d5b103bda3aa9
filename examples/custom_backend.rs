//! A custom cache backend: haiway's `resolve_profile` example, line by line, with an
//! in-memory map standing in for the shared store (Redis, a database, ...).
//!
//! Run with `cargo run --example custom_backend`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use haiway::cache::Cached;
use haiway::{MemoryRecorder, Scope};

/// Stands in for a shared store such as Redis.
type Store = Arc<Mutex<HashMap<String, String>>>;

/// The slow call being cached.
async fn fetch_profile(user_id: String) -> String {
    println!("  calling the external service for {user_id}");
    format!("{{\"user\": \"{user_id}\"}}")
}

fn main() {
    let store: Store = Arc::default();
    let (read_store, write_store, clear_store) = (store.clone(), store.clone(), store.clone());

    let resolve_profile = Cached::builder()
        .make_key(|user_id: &String| format!("profile:{user_id}"))
        .read(move |cache_key: String| {
            let value = read_store.lock().unwrap().get(&cache_key).cloned();
            async move { Ok(value) }
        })
        .write(move |cache_key: String, value: String| {
            write_store.lock().unwrap().insert(cache_key, value);
            async { Ok(()) }
        })
        .clear(move |cache_key: Option<String>| {
            let mut map = clear_store.lock().unwrap();
            match cache_key {
                Some(key) => drop(map.remove(&key)),
                None => map.clear(),
            }
            async { Ok(()) }
        })
        .build(fetch_profile);

    // Each request runs in its own scope; one recorder collects what both recorded.
    let recorder = MemoryRecorder::new();
    let request = |name: &'static str| Scope::new(name).recorder(recorder.clone());

    let cached = resolve_profile.clone();
    futures_lite::future::block_on(request("first request").run(async move {
        println!("first request:");
        let profile = cached.call("ada".to_owned()).await;
        println!("  got {profile} (the write to the store runs in the background)");
    }));
    // The scope waited for the background write.
    println!("store after the first request: {:?}", store.lock().unwrap());
    println!("  events so far: {:?}", recorder.names());

    let cached = resolve_profile.clone();
    futures_lite::future::block_on(request("second request").run(async move {
        println!("second request (same store):");
        let profile = cached.call("ada".to_owned()).await;
        println!("  got {profile} from the store, without calling the service");
    }));
    println!("  events so far: {:?}", recorder.names());
    // A miss for the first request, a hit (from the store) for the second.
    assert_eq!(recorder.names(), ["cache.miss", "cache.hit"]);

    futures_lite::future::block_on(resolve_profile.clear_call_cache("ada"))
        .expect("the backend can clear");
    println!("after clear_call_cache: {:?}", store.lock().unwrap());
}
