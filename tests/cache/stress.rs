//! Many tasks on two worker threads hammer one cache: every value belongs to its key
//! and the store never exceeds its limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use haiway::cache::Cached;

#[cfg(not(miri))]
const CALLS_PER_TASK: u64 = 2_000;
#[cfg(miri)]
const CALLS_PER_TASK: u64 = 20;

#[test]
fn eight_tasks_on_two_threads_get_only_their_keys_values() {
    const LIMIT: usize = 10;
    let f = Cached::builder().limit(LIMIT).build(|key: u64| async move {
        // Yield inside the body so computations interleave with hits and evictions.
        futures_lite::future::yield_now().await;
        (key, key.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    });
    let ex = Arc::new(async_executor::Executor::new());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (ex, stop) = (ex.clone(), stop.clone());
            std::thread::spawn(move || {
                futures_lite::future::block_on(ex.run(async {
                    while !stop.load(Ordering::Relaxed) {
                        futures_lite::future::yield_now().await;
                    }
                }))
            })
        })
        .collect();
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let f = f.clone();
            ex.spawn(async move {
                // A small deterministic generator per task: 100 keys.
                let mut x = t.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
                for _ in 0..CALLS_PER_TASK {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = x % 100;
                    let (k, v) = f.call(key).await;
                    assert_eq!(k, key, "a value for another key");
                    assert_eq!(v, key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    assert!(f.stats().len <= LIMIT, "store over its limit");
                }
            })
        })
        .collect();
    futures_lite::future::block_on(async {
        for t in tasks {
            t.await;
        }
    });
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("worker thread");
    }
    let stats = f.stats();
    assert_eq!(stats.hits + stats.misses, 8 * CALLS_PER_TASK);
    assert!(stats.len <= LIMIT);
}
