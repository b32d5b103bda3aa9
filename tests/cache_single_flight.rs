//! Concurrent calls of one key share one run; different keys never wait for each
//! other; a cancelled or panicking leader hands over to a waiter.

mod common;

use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;

use common::{Calls, Gate, gated};
use futures::{FutureExt, poll};
use haiway::cache::Cached;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_lite::future::block_on(f)
}

#[test]
fn a_hundred_concurrent_calls_of_one_key_run_the_body_once() {
    let gate = Gate::default();
    let (f, calls) = gated(&gate);
    let ex = Arc::new(async_executor::Executor::new());
    let results = block_on(ex.run(async {
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let f = f.clone();
                ex.spawn(async move { f.call(9).await })
            })
            .collect();
        // Let every call start and find the key in flight, then release the body.
        common::yield_until(|| f.stats().misses >= 100).await;
        gate.open();
        futures::future::join_all(tasks).await
    }));
    assert!(results.iter().all(|r| *r == (9, 1)));
    assert_eq!(calls.get(), 1);
    assert_eq!(f.stats().misses, 100);
}

#[test]
fn different_keys_compute_at_the_same_time() {
    // Key a's body waits for a signal that only key b's body sends: if b waited for a,
    // this would never finish.
    let b_ran = Gate::default();
    let g = b_ran.clone();
    let f = Cached::builder().limit(4).build(move |key: char| {
        let g = g.clone();
        async move {
            match key {
                'a' => g.wait().await,
                _ => g.open(),
            }
            key
        }
    });
    block_on(async {
        let mut a = pin!(f.call('a'));
        assert!(poll!(a.as_mut()).is_pending());
        assert_eq!(f.call('b').await, 'b');
        assert_eq!(a.await, 'a');
    });
}

#[test]
fn cancelling_the_leader_hands_over_to_a_waiter() {
    let gate = Gate::default();
    let (f, calls) = gated(&gate);
    block_on(async {
        let mut leader = Box::pin(f.call(1));
        assert!(poll!(leader.as_mut()).is_pending()); // leads, blocked at the gate
        let mut waiter = pin!(f.call(1));
        assert!(poll!(waiter.as_mut()).is_pending()); // waits on the leader
        drop(leader); // cancelled
        gate.open();
        // The waiter takes over: it runs the body itself and gets its own value.
        assert_eq!(waiter.await, (1, 2));
        assert_eq!(f.call(1).await, (1, 2)); // and stored it
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn a_panicking_leader_does_not_hang_the_waiters() {
    let gate = Gate::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = Cached::builder().limit(4).build(move |x: u32| {
        let n = c.hit();
        let g = g.clone();
        async move {
            g.wait().await;
            assert!(n != 1, "leader panics");
            (x, n)
        }
    });
    block_on(async {
        let mut leader = pin!(AssertUnwindSafe(f.call(5)).catch_unwind());
        assert!(poll!(leader.as_mut()).is_pending());
        let mut w1 = pin!(f.call(5));
        let mut w2 = pin!(f.call(5));
        assert!(poll!(w1.as_mut()).is_pending());
        assert!(poll!(w2.as_mut()).is_pending());
        gate.open();
        let payload = leader
            .await
            .expect_err("the leader's panic reaches the leader");
        assert!(common::panic_text(&*payload).contains("leader panics"));
        // One waiter takes over; the other joins it: one more run, same value for both.
        let (a, b) = futures::join!(w1, w2);
        assert_eq!(a, (5, 2));
        assert_eq!(b, (5, 2));
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn waiters_share_the_leaders_error_without_storing_it() {
    let gate = Gate::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = Cached::builder().limit(4).try_build(move |x: u32| {
        let n = c.hit();
        let g = g.clone();
        async move {
            g.wait().await;
            if n == 1 {
                Err(format!("run {n} failed"))
            } else {
                Ok(x)
            }
        }
    });
    block_on(async {
        let mut leader = pin!(f.call(3));
        let mut waiter = pin!(f.call(3));
        assert!(poll!(leader.as_mut()).is_pending());
        assert!(poll!(waiter.as_mut()).is_pending());
        gate.open();
        let (a, b) = futures::join!(leader, waiter);
        let (a, b) = (a.unwrap_err(), b.unwrap_err());
        assert!(Arc::ptr_eq(&a, &b), "one error, shared");
        assert_eq!(f.stats().len, 0);
        assert_eq!(f.call(3).await.unwrap(), 3);
    });
    assert_eq!(calls.get(), 2);
}
