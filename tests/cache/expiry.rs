//! Expiration on an injected clock: no sleeps.

use std::time::Duration;

use crate::common::{Calls, Gate};
use haiway::cache::{Cached, ManualClock};

#[test]
fn values_expire_after_the_ttl_and_a_hit_does_not_extend_them() {
    let clock = ManualClock::new();
    let calls = Calls::default();
    let c = calls.clone();
    let f = Cached::builder()
        .limit(4)
        .expiration(Duration::from_secs(10))
        .clock(clock.clone())
        .build(move |x: u32| {
            let n = c.hit();
            async move { (x, n) }
        });
    futures_lite::future::block_on(async {
        assert_eq!(f.call(1).await, (1, 1));
        clock.advance(Duration::from_secs(6));
        assert_eq!(f.call(1).await, (1, 1)); // still fresh; this hit does not extend it
        clock.advance(Duration::from_secs(3)); // 9 s after storing
        assert_eq!(f.call(1).await, (1, 1));
        clock.advance(Duration::from_secs(1)); // 10 s: expired
        assert_eq!(f.call(1).await, (1, 2));
        assert_eq!(f.call(1).await, (1, 2)); // the new value is stored again
    });
    assert_eq!(calls.get(), 2);
    let stats = f.stats();
    assert_eq!((stats.hits, stats.misses), (3, 2));
}

#[test]
fn expiry_counts_from_when_the_value_was_stored() {
    // A body that takes 5 s (on the test clock) to finish: its value lives 10 s from
    // when it was stored, not from when the call started.
    let clock = ManualClock::new();
    let gate = Gate::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = Cached::builder()
        .expiration(Duration::from_secs(10))
        .clock(clock.clone())
        .build(move |x: u32| {
            c.hit();
            let g = g.clone();
            async move {
                g.wait().await;
                x
            }
        });
    futures_lite::future::block_on(async {
        let first = f.call(1);
        let mut first = std::pin::pin!(first);
        assert!(futures::poll!(first.as_mut()).is_pending());
        clock.advance(Duration::from_secs(5));
        gate.open();
        assert_eq!(first.await, 1);
        clock.advance(Duration::from_secs(9)); // 14 s after the call, 9 s after storing
        assert_eq!(f.call(1).await, 1);
    });
    assert_eq!(calls.get(), 1);
}

#[test]
fn a_body_slower_than_the_expiration_is_not_cancelled() {
    let clock = ManualClock::new();
    let gate = Gate::default();
    let g = gate.clone();
    let f = Cached::builder()
        .expiration(Duration::from_millis(10))
        .clock(clock.clone())
        .build(move |x: u32| {
            let g = g.clone();
            async move {
                g.wait().await;
                x + 1
            }
        });
    futures_lite::future::block_on(async {
        let call = f.call(1);
        let mut call = std::pin::pin!(call);
        assert!(futures::poll!(call.as_mut()).is_pending());
        clock.advance(Duration::from_secs(60)); // far past the expiration
        assert!(futures::poll!(call.as_mut()).is_pending());
        gate.open();
        assert_eq!(call.await, 2); // finished normally
    });
}
