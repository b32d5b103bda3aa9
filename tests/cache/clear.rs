//! `clear_cache` and `clear_call_cache`, including during a running computation.

use std::pin::pin;

use crate::common::{Calls, Gate, gated};
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

/// `clear_call_cache` takes borrowed forms of the arguments; `clear_key` takes the key.
mod by_borrowed_forms_and_keys {
    use haiway::cache::{CacheError, Cached};

    use crate::common::Calls;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_lite::future::block_on(f)
    }

    #[test]
    fn a_str_clears_a_call_of_a_string() {
        let cached = Cached::builder()
            .limit(4)
            .build(|name: String| async move { name.len() });
        block_on(async {
            cached.call("ada".to_owned()).await;
            cached.call("grace".to_owned()).await;
            cached.clear_call_cache("ada").await.unwrap();
            cached.clear_call_cache(&"grace".to_owned()).await.unwrap();
        });
        assert_eq!(cached.stats().len, 0);
    }

    #[test]
    fn a_slice_clears_a_call_of_a_vec() {
        let cached = Cached::builder()
            .limit(4)
            .build(|ids: Vec<u32>| async move { ids.len() });
        block_on(async {
            cached.call(vec![1, 2]).await;
            cached.clear_call_cache(&[1, 2][..]).await.unwrap();
        });
        assert_eq!(cached.stats().len, 0);
    }

    #[test]
    fn with_a_key_function_a_call_is_cleared_by_its_arguments_or_its_key() {
        let calls = Calls::default();
        let c = calls.clone();
        let cached = Cached::builder()
            .limit(4)
            .make_key(|user: &String| format!("profile:{}", user.to_lowercase()))
            .build(move |user: String| {
                c.hit();
                async move { format!("profile of {user}") }
            });
        block_on(async {
            cached.call("Ada".to_owned()).await;
            cached.call("Grace".to_owned()).await;
            cached.clear_call_cache("ADA").await.unwrap(); // its key is profile:ada
            assert_eq!(cached.stats().len, 1);
            cached.clear_key(&"profile:grace".to_owned()).await.unwrap();
            assert_eq!(cached.stats().len, 0);
            cached.call("grace".to_owned()).await;
        });
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_cache_keyed_by_its_arguments_is_cleared_by_them_as_its_key() {
        let cached = Cached::builder().limit(4).build(|x: u32| async move { x });
        block_on(async {
            cached.call(1).await;
            cached.clear_key(&1_u32).await.unwrap();
        });
        assert_eq!(cached.stats().len, 0);
    }

    #[test]
    fn a_key_of_another_type_is_an_error_and_clears_nothing() {
        let keyed = Cached::builder()
            .make_key(|id: &u32| u64::from(*id))
            .build(|id: u32| async move { id });
        let plain = Cached::builder().build(|id: u32| async move { id });
        block_on(async {
            keyed.call(1).await;
            plain.call(1).await;
            let err = keyed.clear_key(&1_u32).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    CacheError::KeyType {
                        expected: "u64",
                        found: "u32"
                    }
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("`u64`, not `u32`"), "{err}");
            let err = plain.clear_key(&1_u64).await.unwrap_err();
            assert!(matches!(
                err,
                CacheError::KeyType {
                    expected: "u32",
                    found: "u64"
                }
            ));
        });
        assert_eq!((keyed.stats().len, plain.stats().len), (1, 1));
    }
}
