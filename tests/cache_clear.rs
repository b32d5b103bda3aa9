//! `clear_cache` and `clear_call_cache`, including during a running computation.

mod common;

use std::pin::pin;

use common::{Calls, Gate, gated};
use futures::poll;
use haiway::cache::Cached;

fn counted(limit: usize) -> (Cached<u32, (u32, usize)>, Calls) {
    let calls = Calls::default();
    let c = calls.clone();
    let f = Cached::builder().limit(limit).build(move |x: u32| {
        let n = c.hit();
        async move { (x, n) }
    });
    (f, calls)
}

#[test]
fn clear_cache_forces_a_recompute() {
    let (f, calls) = counted(4);
    futures_lite::future::block_on(async {
        f.call(1).await;
        f.call(2).await;
        f.clear_cache().await.unwrap();
        assert_eq!(f.stats().len, 0);
        assert_eq!(f.call(1).await, (1, 3));
        assert_eq!(f.call(2).await, (2, 4));
    });
    assert_eq!(calls.get(), 4);
}

#[test]
fn clear_call_cache_removes_only_that_call() {
    let (f, calls) = counted(4);
    futures_lite::future::block_on(async {
        f.call(1).await;
        f.call(2).await;
        f.clear_call_cache(&1).await.unwrap();
        assert_eq!(f.call(2).await, (2, 2)); // still stored
        assert_eq!(f.call(1).await, (1, 3)); // recomputed
    });
    assert_eq!(calls.get(), 3);
}

#[test]
fn clear_cache_during_a_run_does_not_resurrect_its_result() {
    let gate = Gate::default();
    let (f, calls) = gated(&gate);
    futures_lite::future::block_on(async {
        let mut running = pin!(f.call(1));
        assert!(poll!(running.as_mut()).is_pending());
        f.clear_cache().await.unwrap();
        gate.open();
        // The caller that started before the clear still gets its value...
        assert_eq!(running.await, (1, 1));
        // ...but it was not stored: the next call computes again.
        assert_eq!(f.stats().len, 0);
        assert_eq!(f.call(1).await, (1, 2));
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn clear_call_cache_during_a_run_does_not_resurrect_its_result() {
    let gate = Gate::default();
    let (f, calls) = gated(&gate);
    futures_lite::future::block_on(async {
        let mut running = pin!(f.call(1));
        assert!(poll!(running.as_mut()).is_pending());
        f.clear_call_cache(&1).await.unwrap();
        // A call after the clear starts its own computation rather than joining the
        // stale one.
        let mut fresh = pin!(f.call(1));
        assert!(poll!(fresh.as_mut()).is_pending());
        gate.open();
        assert_eq!(running.await, (1, 1));
        assert_eq!(fresh.await, (1, 2));
        // The fresh value is the one stored.
        assert_eq!(f.call(1).await, (1, 2));
    });
    assert_eq!(calls.get(), 2);
}
