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
