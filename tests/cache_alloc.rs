//! A cache hit allocates nothing: with no recorder, and with one (the `cache.hit`
//! event is built once per cache and lent to the recorder).

mod common;

use common::counting_alloc::{Counting, allocations_in};
use haiway::Scope;
use haiway::cache::Cached;

#[global_allocator]
static ALLOC: Counting = Counting;

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
    let recorder = move |_: &haiway::Ctx, event: &haiway::Event| {
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
fn the_counter_sees_allocations() {
    let (n, v) = allocations_in(|| std::hint::black_box(vec![1u8; 16]));
    drop(v);
    assert!(n >= 1);
}
