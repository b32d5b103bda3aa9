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
            async move { Ok::<_, std::io::Error>(value) }
        })
        .write(move |cache_key: String, value: String| {
            write_store.lock().unwrap().insert(cache_key, value);
            async { Ok::<_, std::io::Error>(()) }
        })
        .clear(move |cache_key: Option<String>| {
            let mut map = clear_store.lock().unwrap();
            match cache_key {
                Some(key) => drop(map.remove(&key)),
                None => map.clear(),
            }
            async { Ok::<_, std::io::Error>(()) }
        })
        .build(fetch_profile);

    let recorder = MemoryRecorder::new();
    let cached = resolve_profile.clone();
    futures_lite::future::block_on(Scope::new("request").recorder(recorder.clone()).run(
        async move {
            println!("first call:");
            let profile = cached.call("ada".to_owned()).await;
            println!("  got {profile} (the write to the store runs in the background)");
        },
    ));
    // The scope waited for the background write.
    println!("store after the scope: {:?}", store.lock().unwrap());

    futures_lite::future::block_on(async {
        println!("second call (another request, same store):");
        let profile = resolve_profile.call("ada".to_owned()).await;
        println!("  got {profile} from the store, without calling the service");

        resolve_profile
            .clear_call_cache(&"ada".to_owned())
            .await
            .expect("the backend can clear");
        println!("after clear_call_cache: {:?}", store.lock().unwrap());
    });
    println!("events: {:?}", recorder.names());
}
