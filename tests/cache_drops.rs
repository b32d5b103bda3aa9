//! Keys and values are user types whose `Drop` may do anything, even use the same
//! cache: the cache never drops one while it holds its lock.
//!
//! Each key and value here checks, when dropped, whether its cache's lock is free: it
//! asks another thread for `stats()` (which takes the lock) and waits for the answer.
//! A drop under the lock would block that thread; after 5 s the drop counts as one
//! made under the lock (the test fails; it never passes by waiting).

mod common;

use std::pin::pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use futures::poll;
use haiway::cache::{Cached, ManualClock};

/// One cache per test, found by index from the drops.
static CACHES: [OnceLock<Cached<Key, Val>>; 4] = [const { OnceLock::new() }; 4];
/// Per test, the drops made while the cache's lock was held.
static UNDER_LOCK: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// Counts a drop made under test `i`'s cache lock.
fn check(i: usize) {
    let Some(cache) = CACHES[i].get() else {
        return;
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        cache.stats();
        let _ = tx.send(());
    });
    if rx.recv_timeout(Duration::from_secs(5)).is_err() {
        UNDER_LOCK[i].fetch_add(1, Ordering::SeqCst);
    }
}

/// A key of test `.1`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Key(u32, usize);

/// A value of test `.0`.
#[derive(Debug, Clone)]
struct Val(usize);

impl Drop for Key {
    fn drop(&mut self) {
        check(self.1);
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        check(self.0);
    }
}

#[test]
fn clear_cache_drops_the_keys_of_running_calls_outside_the_lock() {
    let cached = CACHES[0].get_or_init(|| {
        Cached::builder().limit(4).build(|key: Key| async move {
            std::future::pending::<()>().await;
            Val(key.1)
        })
    });
    futures_lite::future::block_on(async {
        let mut call = pin!(cached.call(Key(1, 0)));
        assert!(poll!(call.as_mut()).is_pending());
        cached.clear_cache().await.unwrap();
    });
    assert_eq!(UNDER_LOCK[0].load(Ordering::SeqCst), 0);
}

#[test]
fn an_expired_entry_is_dropped_outside_the_lock() {
    let clock = ManualClock::new();
    let cached = CACHES[1].get_or_init(|| {
        Cached::builder()
            .limit(4)
            .expiration(Duration::from_secs(1))
            .clock(clock.clone())
            .build(|key: Key| async move { Val(key.1) })
    });
    futures_lite::future::block_on(async {
        cached.call(Key(2, 1)).await;
        clock.advance(Duration::from_secs(2));
        cached.call(Key(2, 1)).await;
    });
    assert_eq!(UNDER_LOCK[1].load(Ordering::SeqCst), 0);
}

#[test]
fn clear_call_cache_drops_the_stored_key_and_value_outside_the_lock() {
    let cached = CACHES[2].get_or_init(|| {
        Cached::builder()
            .limit(4)
            .build(|key: Key| async move { Val(key.1) })
    });
    futures_lite::future::block_on(async {
        cached.call(Key(3, 2)).await;
        cached.clear_call_cache(&Key(3, 2)).await.unwrap();
    });
    assert_eq!(UNDER_LOCK[2].load(Ordering::SeqCst), 0);
}

#[test]
fn eviction_and_clear_call_cache_of_a_running_call_drop_outside_the_lock() {
    let gate = common::Gate::default();
    let g = gate.clone();
    let cached = CACHES[3].get_or_init(|| {
        Cached::builder().limit(1).build(move |key: Key| {
            let g = g.clone();
            async move {
                if key.0 == 9 {
                    g.wait().await;
                }
                Val(key.1)
            }
        })
    });
    futures_lite::future::block_on(async {
        cached.call(Key(1, 3)).await;
        cached.call(Key(2, 3)).await; // evicts key 1
        let mut running = pin!(cached.call(Key(9, 3)));
        assert!(poll!(running.as_mut()).is_pending());
        cached.clear_call_cache(&Key(9, 3)).await.unwrap();
        gate.open();
        running.await;
    });
    assert_eq!(UNDER_LOCK[3].load(Ordering::SeqCst), 0);
}
