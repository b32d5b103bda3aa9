//! A cache hit allocates nothing: with no recorder, and with one (the `cache.hit`
//! event is built once per cache and lent to the recorder).

use crate::common::counting_alloc::allocations_in;
use haiway::Scope;
use haiway::cache::Cached;

/// Polls `future` once with a no-op waker (allocation-free) and returns its output.
fn poll_once<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("a hit must be ready at the first poll"),
    }
}

#[test]
fn a_hit_allocates_nothing_without_a_recorder() {
    let f = Cached::builder()
        .limit(16)
        .expiration(std::time::Duration::from_secs(60))
        .build(|key: u64| async move { std::sync::Arc::new(format!("value {key}")) });
    futures_lite::future::block_on(f.call(7)); // miss: stores
    // Hits outside any scope, polled by hand so no executor allocates. A hit is ready
    // at its first poll.
    let (outside, ()) = allocations_in(|| {
        for _ in 0..100 {
            let value = poll_once(f.call(std::hint::black_box(7)));
            assert_eq!(value.as_str(), "value 7");
        }
    });
    assert_eq!(outside, 0);
    // Hits inside a scope with no recorder.
    let g = f.clone();
    let (inside, ()) = futures_lite::future::block_on(Scope::new("quiet").run(async move {
        allocations_in(|| {
            for _ in 0..100 {
                let value = poll_once(g.call(std::hint::black_box(7)));
                assert_eq!(value.as_str(), "value 7");
            }
        })
    }));
    assert_eq!(inside, 0);
    assert_eq!(f.stats().hits, 200);
}

#[test]
fn a_hit_with_a_recorder_allocates_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let f = Cached::builder()
        .limit(16)
        .name(String::from("owned name")) // not even a `String` name is copied per event
        .build(|key: u64| async move { key * 2 });
    futures_lite::future::block_on(f.call(7)); // miss: stores
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let recorder = move |_: &haiway::ScopeInfo, event: &haiway::Event| {
        if event.name() == "cache.hit" {
            assert_eq!(
                event.attribute("cache"),
                Some(&haiway::Value::from("owned name"))
            );
            counted.fetch_add(1, Ordering::Relaxed);
        }
    };
    let g = f.clone();
    let (allocations, ()) =
        futures_lite::future::block_on(Scope::new("recorded").recorder(recorder).run(async move {
            allocations_in(|| {
                for _ in 0..100 {
                    assert_eq!(poll_once(g.call(std::hint::black_box(7))), 14);
                }
            })
        }));
    assert_eq!(allocations, 0);
    assert_eq!(hits.load(Ordering::Relaxed), 100);
}

#[test]
fn a_miss_at_the_limit_allocates_nothing_without_a_recorder() {
    // A limit of 2 and three keys in turn: from the fourth call on, every call misses
    // and evicts. Once the store, the flights table and the spare runner exist, a miss
    // reuses them: the runner that ran the last miss runs the next one.
    let f = Cached::builder()
        .limit(2)
        .build(|key: u64| async move { key * 10 });
    for key in [1, 2, 3, 1] {
        assert_eq!(poll_once(f.call(key)), key * 10);
    }
    let (misses, ()) = allocations_in(|| {
        for key in (0..99).map(|i| [2, 3, 1][i % 3]) {
            assert_eq!(poll_once(f.call(std::hint::black_box(key))), key * 10);
        }
    });
    assert_eq!(misses, 0);
    let stats = f.stats();
    assert_eq!((stats.hits, stats.misses, stats.len), (0, 103, 2));
}

#[test]
fn a_finished_computation_is_dropped_before_the_call_returns() {
    // The reused runner keeps no trace of the last computation: what its future held
    // is dropped when it finishes, before the caller gets the value.
    let held = std::sync::Arc::new(());
    let probe = held.clone();
    let f = Cached::builder().limit(4).build(move |key: u64| {
        let held = held.clone();
        async move {
            let _held = held;
            key
        }
    });
    for key in 0..3 {
        assert_eq!(poll_once(f.call(key)), key);
        // The closure's own clone and the probe: no future keeps a third.
        assert_eq!(std::sync::Arc::strong_count(&probe), 2);
    }
}

#[test]
fn the_counter_sees_allocations() {
    let (n, v) = allocations_in(|| std::hint::black_box(vec![1u8; 16]));
    drop(v);
    assert!(n >= 1);
}
