//! Errors and panics reach the caller and are never stored.

mod common;

use std::panic::AssertUnwindSafe;

use common::Calls;
use futures::FutureExt;
use haiway::cache::{Cached, try_cache};

#[test]
fn errors_reach_the_caller_and_are_not_stored() {
    let calls = Calls::default();
    let c = calls.clone();
    let f = try_cache(move |x: i32| {
        let n = c.hit();
        async move {
            if n == 1 {
                Err(format!("attempt {n} failed"))
            } else {
                Ok(x * 10)
            }
        }
    });
    futures_lite::future::block_on(async {
        let err = f.call(4).await.unwrap_err();
        assert_eq!(*err, "attempt 1 failed");
        assert_eq!(f.call(4).await.unwrap(), 40); // recomputed
        assert_eq!(f.call(4).await.unwrap(), 40); // now stored
    });
    assert_eq!(calls.get(), 2);
    assert_eq!(f.stats().len, 1);
}

#[test]
fn a_panic_reaches_the_caller_and_is_not_stored() {
    let calls = Calls::default();
    let c = calls.clone();
    let f = Cached::builder().limit(4).build(move |x: u32| {
        let n = c.hit();
        async move {
            assert!(n != 1, "first run panics");
            x
        }
    });
    futures_lite::future::block_on(async {
        let payload = AssertUnwindSafe(f.call(7))
            .catch_unwind()
            .await
            .expect_err("the body panicked");
        assert!(common::panic_text(&*payload).contains("first run panics"));
        assert_eq!(f.stats().len, 0);
        assert_eq!(f.call(7).await, 7); // the cache still works
        assert_eq!(f.call(7).await, 7);
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn try_build_stores_only_ok() {
    let f = Cached::builder()
        .limit(8)
        .try_build(|s: &'static str| async move { s.parse::<u8>() });
    futures_lite::future::block_on(async {
        assert!(f.call("x").await.is_err());
        assert_eq!(f.call("5").await.unwrap(), 5);
    });
    assert_eq!(f.stats().len, 1);
}

/// A value whose clones panic once `boom` is armed (the next clone disarms it).
#[derive(Debug)]
struct Fragile {
    n: u32,
    boom: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if self.boom.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("clone failed");
        }
        Fragile {
            n: self.n,
            boom: self.boom.clone(),
        }
    }
}

/// Polls `future` once with a no-op waker.
fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn a_panic_while_the_leader_stores_its_value_hands_over_to_the_waiters() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let gate = common::Gate::default();
    let boom = std::sync::Arc::new(AtomicBool::new(false));
    let (g, b) = (gate.clone(), boom.clone());
    let cached = Cached::builder().limit(4).build(move |n: u32| {
        let (g, boom) = (g.clone(), b.clone());
        async move {
            g.wait().await;
            Fragile { n, boom }
        }
    });
    let mut leader = Box::pin(cached.call(1));
    let mut waiter = Box::pin(cached.call(1));
    assert!(
        poll_once(&mut leader).is_pending(),
        "the leader waits at the gate"
    );
    assert!(
        poll_once(&mut waiter).is_pending(),
        "the waiter waits on the leader"
    );
    gate.open();
    // Storing the value clones it: that clone panics, in the leader's call.
    boom.store(true, Ordering::SeqCst);
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(&mut leader)));
    let payload = panicked.expect_err("the leader's clone panicked");
    assert_eq!(common::panic_text(&*payload), "clone failed");
    // The waiter is not left waiting on a flight nobody settles: it takes over.
    match poll_once(&mut waiter) {
        std::task::Poll::Ready(value) => assert_eq!(value.n, 1),
        std::task::Poll::Pending => panic!("the waiter hangs after the leader panicked"),
    }
}

/// A clock whose readings panic once `boom` is armed.
struct FragileClock {
    boom: std::sync::Arc<std::sync::atomic::AtomicBool>,
    start: std::time::Instant,
}

impl haiway::cache::Clock for FragileClock {
    fn now(&self) -> std::time::Instant {
        if self.boom.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("clock failed");
        }
        self.start
    }
}

#[test]
fn a_panic_before_the_leader_stores_its_value_frees_the_key() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let gate = common::Gate::default();
    let boom = std::sync::Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    let cached = Cached::builder()
        .limit(4)
        .expiration(std::time::Duration::from_secs(60))
        .clock(FragileClock {
            boom: boom.clone(),
            start: std::time::Instant::now(),
        })
        .build(move |n: u32| {
            let g = g.clone();
            async move {
                g.wait().await;
                n * 10
            }
        });
    let mut leader = Box::pin(cached.call(1));
    let mut waiter = Box::pin(cached.call(1));
    assert!(poll_once(&mut leader).is_pending());
    assert!(poll_once(&mut waiter).is_pending());
    gate.open();
    // The leader reads the clock to stamp its value's expiry: that reading panics.
    boom.store(true, Ordering::SeqCst);
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(&mut leader)));
    assert_eq!(common::panic_text(&*panicked.unwrap_err()), "clock failed");
    match poll_once(&mut waiter) {
        std::task::Poll::Ready(value) => assert_eq!(value, 10),
        std::task::Poll::Pending => panic!("the waiter hangs after the leader panicked"),
    }
    // And the key is free: a new call computes instead of waiting on a dead flight.
    let mut next = Box::pin(cached.call(2));
    assert!(matches!(poll_once(&mut next), std::task::Poll::Ready(20)));
}
