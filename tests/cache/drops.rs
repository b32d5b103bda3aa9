//! Keys and values are user types whose `Drop` may do anything, even use the same
//! cache: the cache never drops one while it holds its lock.
//!
//! Each key and value here checks, when dropped, whether its cache's lock is free: it
//! asks another thread for `stats()` (which takes the lock) and waits for the answer.
//! A drop under the lock would block that thread; after 5 s the drop counts as one
//! made under the lock (the test fails; it never passes by waiting).

use crate::common;
use std::pin::pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use futures::poll;
use haiway::cache::{Cached, ManualClock};

/// One cache per test, found by index from the drops.
static CACHES: [OnceLock<Cached<Key, Val>>; 7] = [const { OnceLock::new() }; 7];
/// Per test, the drops made while the cache's lock was held.
static UNDER_LOCK: [AtomicUsize; 7] = [const { AtomicUsize::new(0) }; 7];

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
#[derive(Debug, Hash, PartialEq, Eq)]
struct Key(u32, usize);

/// Clones of keys left before one panics (0: never).
static KEY_CLONES_LEFT: AtomicUsize = AtomicUsize::new(0);

impl Clone for Key {
    fn clone(&self) -> Self {
        if KEY_CLONES_LEFT.load(Ordering::SeqCst) > 0
            && KEY_CLONES_LEFT.fetch_sub(1, Ordering::SeqCst) == 1
        {
            panic!("key clone failed");
        }
        Key(self.0, self.1)
    }
}

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

#[test]
fn a_key_clone_panicking_as_the_backend_write_is_prepared_drops_nothing_under_the_lock() {
    use haiway::cache::{Backend, BoxError};
    /// A backend that keeps nothing.
    struct Nowhere;
    impl Backend<Key, Val> for Nowhere {
        async fn read(&self, _: &Key) -> Result<Option<Val>, BoxError> {
            Ok(None)
        }
        async fn write(&self, _: Key, _: Val) -> Result<(), BoxError> {
            Ok(())
        }
    }
    let gate = common::Gate::default();
    let g = gate.clone();
    let cached = CACHES[4].get_or_init(|| {
        Cached::builder()
            .limit(4)
            .backend(Nowhere)
            .build(move |key: Key| {
                let g = g.clone();
                async move {
                    g.wait().await;
                    Val(key.1)
                }
            })
    });
    futures_lite::future::block_on(async {
        let mut leader = pin!(cached.call(Key(1, 4)));
        assert!(poll!(leader.as_mut()).is_pending()); // read missed; at the gate
        gate.open();
        // Preparing the write clones the key twice: the second clone panics.
        KEY_CLONES_LEFT.store(2, Ordering::SeqCst);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures_lite::future::block_on(poll_fn_once(leader.as_mut()))
        }));
        assert_eq!(
            common::panic_text(&*panicked.unwrap_err()),
            "key clone failed"
        );
    });
    KEY_CLONES_LEFT.store(0, Ordering::SeqCst);
    assert_eq!(UNDER_LOCK[4].load(Ordering::SeqCst), 0);
}

/// A cache with a key function: the key it makes for a lookup is dropped outside the
/// lock, on a miss (it becomes the stored key) and on a hit; the key function itself
/// runs outside the lock.
#[test]
fn a_key_function_and_the_keys_it_makes_run_and_drop_outside_the_lock() {
    let cached = CACHES[5].get_or_init(|| {
        Cached::builder()
            .limit(1)
            .make_key(|args: &Key| {
                check(5);
                Key(args.0, 5)
            })
            .build(|key: Key| async move { Val(key.1) })
    });
    futures_lite::future::block_on(async {
        cached.call(Key(1, 5)).await; // a miss
        cached.call(Key(1, 5)).await; // a hit
        cached.call(Key(2, 5)).await; // a miss that evicts key 1
        assert!(cached.get(&Key(1, 5)).is_none()); // a lookup that finds nothing
    });
    assert_eq!(UNDER_LOCK[5].load(Ordering::SeqCst), 0);
}

/// A key with an id whose first drop after [`arm`] panics.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Fragile(u32);

/// Whether the next drop of a [`Fragile`] panics.
static FRAGILE_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Drop for Fragile {
    fn drop(&mut self) {
        if FRAGILE_ARMED.swap(false, Ordering::SeqCst) {
            panic!("key drop failed");
        }
    }
}

/// A key made for a miss that is not stored (the node of an expired entry is reused)
/// and whose `Drop` panics: the call that made it holds the run by then, so the panic
/// frees the key for the next call (it did not, once: the node stayed pending with
/// nobody to run it, and every later call of the key waited forever).
#[test]
fn a_key_whose_drop_panics_on_a_miss_leaves_the_key_free() {
    let clock = ManualClock::new();
    let cached = Cached::builder()
        .limit(4)
        .expiration(Duration::from_secs(1))
        .clock(clock.clone())
        .make_key(|x: &u32| Fragile(*x))
        .build(|x: u32| async move { x * 10 });
    futures_lite::future::block_on(async {
        assert_eq!(cached.call(1).await, 10);
        clock.advance(Duration::from_secs(2));
        FRAGILE_ARMED.store(true, Ordering::SeqCst);
        let mut call = Box::pin(cached.call(1));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures_lite::future::block_on(poll_fn_once(call.as_mut()))
        }));
        assert_eq!(
            common::panic_text(&*panicked.unwrap_err()),
            "key drop failed"
        );
        drop(call);
        // The key is free: the next call runs the function and returns.
        let mut again = pin!(cached.call(1));
        assert_eq!(
            poll!(again.as_mut()),
            std::task::Poll::Ready(10),
            "key 1 is stuck"
        );
    });
}

/// Polls `future` once.
async fn poll_fn_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let _ = future.take().expect("polled once").poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
}
