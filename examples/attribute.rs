//! `#[haiway::cache]`: memoizing async functions where they are declared, with the
//! builder's settings as arguments, recursion through the cache, the try form, a key
//! function, and a backend connected on the first call.
//!
//! Run with `cargo run --example attribute`. No runtime or feature is needed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haiway::cache::{Backend, BoxError, CacheError};

/// Several arguments are one key; values live a minute.
#[haiway::cache(limit = 1_000, expiration = Duration::from_secs(60))]
async fn greeting(language: String, name: String) -> String {
    println!("  (composing a greeting for {name} in {language})");
    match language.as_str() {
        "fr" => format!("bonjour, {name}"),
        _ => format!("hello, {name}"),
    }
}

/// Recursion goes through the cache: each `n` runs once.
#[haiway::cache(unbounded)]
async fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1).await + fib(n - 2).await
    }
}

/// A `Result`: only `Ok` values are stored, errors are retried on the next call.
#[haiway::cache(limit = 100)]
async fn parse_port(text: String) -> Result<u16, String> {
    println!("  (parsing {text:?})");
    text.parse().map_err(|e| format!("{text:?}: {e}"))
}

/// A backend standing for a shared store; `connect` stands for a network connection.
#[derive(Clone, Default)]
struct SharedStore(Arc<Mutex<HashMap<String, String>>>);

impl SharedStore {
    async fn connect() -> SharedStore {
        println!("  (connecting to the store, once)");
        SharedStore::default()
    }
}

impl Backend<String, String> for SharedStore {
    async fn read(&self, key: &String) -> Result<Option<String>, BoxError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    async fn write(&self, key: String, value: String) -> Result<(), BoxError> {
        self.0.lock().unwrap().insert(key, value);
        Ok(())
    }
    async fn clear(&self, key: Option<&String>) -> Result<(), BoxError> {
        let mut map = self.0.lock().unwrap();
        match key {
            Some(key) => drop(map.remove(key)),
            None => map.clear(),
        }
        Ok(())
    }
}

/// Keyed by user only (the request id is not part of the key), in front of the store,
/// connected by the first call.
#[haiway::cache(
    limit = 100,
    make_key = |(user, _request): &(u64, u64)| format!("profile:{user}"),
    backend = async { SharedStore::connect().await },
)]
async fn profile(user: u64, request: u64) -> String {
    println!("  (fetching profile {user} for request {request})");
    format!("profile of user {user}")
}

fn main() -> Result<(), CacheError> {
    futures_lite::future::block_on(async {
        println!("greeting:");
        println!("{}", greeting("fr".into(), "ada".into()).await);
        println!("{}", greeting("fr".into(), "ada".into()).await); // a hit
        greeting::clear_call_cache(&"fr".to_owned(), &"ada".to_owned()).await?;
        println!("{}", greeting("fr".into(), "ada".into()).await); // runs again
        println!("  stats: {}", greeting::cached().stats());

        println!("fib:");
        println!("fib(90) = {}", fib(90).await);
        println!("  stats: {} (each n ran once)", fib::cached().stats());

        println!("parse_port:");
        println!("{:?}", parse_port("8080".into()).await);
        println!("{:?}", parse_port("8080".into()).await); // a hit
        println!("{:?}", parse_port("80800".into()).await);
        println!("{:?}", parse_port("80800".into()).await); // errors run again

        println!("profile:");
        println!("{}", profile(7, 1).await);
        println!("{}", profile(7, 2).await); // the same key: a hit
        profile::clear_cache().await?; // memory and the store
        println!("{}", profile(7, 3).await);
        println!("  stats: {}", profile::cached().await.stats());
        Ok(())
    })
}
