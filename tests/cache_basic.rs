//! haiway's cache tests, ported as behaviours with a call counter.

mod common;

use common::Calls;
use haiway::cache::{Cached, cache};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_lite::future::block_on(f)
}

/// A cached function that returns (argument, run number) and counts its runs.
fn numbered(limit: usize) -> (Cached<&'static str, (&'static str, usize)>, Calls) {
    let calls = Calls::default();
    let c = calls.clone();
    let cached = Cached::builder()
        .limit(limit)
        .build(move |arg: &'static str| {
            let n = c.hit();
            async move { (arg, n) }
        });
    (cached, calls)
}

#[test]
fn same_argument_twice_runs_the_body_once() {
    let (f, calls) = numbered(1);
    block_on(async {
        let a = f.call("a").await;
        let b = f.call("a").await;
        assert_eq!(a, b);
    });
    assert_eq!(calls.get(), 1);
}

#[test]
fn a_different_argument_recomputes() {
    let (f, calls) = numbered(1);
    block_on(async {
        assert_eq!(f.call("a").await, ("a", 1));
        assert_eq!(f.call("b").await, ("b", 2));
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn default_limit_is_one() {
    let calls = Calls::default();
    let c = calls.clone();
    let f = cache(move |x: u32| {
        c.hit();
        async move { x }
    });
    block_on(async {
        f.call(1).await;
        f.call(2).await;
        f.call(1).await; // 1 was evicted by 2
    });
    assert_eq!(calls.get(), 3);
    assert_eq!(f.stats().len, 1);
}

#[test]
fn limit_one_a_b_a_recomputes_a() {
    let (f, calls) = numbered(1);
    block_on(async {
        assert_eq!(f.call("a").await, ("a", 1));
        assert_eq!(f.call("b").await, ("b", 2));
        assert_eq!(f.call("a").await, ("a", 3));
    });
    assert_eq!(calls.get(), 3);
}

#[test]
fn limit_two_keeps_the_recently_used_a() {
    let (f, calls) = numbered(2);
    block_on(async {
        assert_eq!(f.call("a").await, ("a", 1));
        assert_eq!(f.call("b").await, ("b", 2));
        assert_eq!(f.call("a").await, ("a", 1)); // hit: a is now most recent
        assert_eq!(f.call("c").await, ("c", 3)); // evicts b
        assert_eq!(f.call("a").await, ("a", 1));
        assert_eq!(f.call("d").await, ("d", 4)); // evicts c
        assert_eq!(f.call("a").await, ("a", 1)); // a survived throughout
        assert_eq!(f.call("b").await, ("b", 5)); // b was evicted
    });
    assert_eq!(calls.get(), 5);
}

#[test]
fn unbounded_keeps_everything() {
    let calls = Calls::default();
    let c = calls.clone();
    let f = Cached::builder().unbounded().build(move |x: u32| {
        c.hit();
        async move { x * 2 }
    });
    block_on(async {
        for round in 0..2 {
            for x in 0..1_000 {
                assert_eq!(f.call(x).await, x * 2, "round {round}");
            }
        }
    });
    assert_eq!(calls.get(), 1_000);
    assert_eq!(f.stats().len, 1_000);
}

#[test]
fn tuple_arguments_are_one_key() {
    let calls = Calls::default();
    let c = calls.clone();
    let add = Cached::builder()
        .limit(10)
        .build(move |(a, b): (i64, i64)| {
            c.hit();
            async move { a + b }
        });
    block_on(async {
        assert_eq!(add.call((1, 2)).await, 3);
        assert_eq!(add.call((1, 2)).await, 3);
        assert_eq!(add.call((2, 1)).await, 3);
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn clones_share_one_cache() {
    let (f, calls) = numbered(4);
    let g = f.clone();
    block_on(async {
        f.call("a").await;
        g.call("a").await;
    });
    assert_eq!(calls.get(), 1);
    assert_eq!(g.stats().hits, 1);
}

#[test]
fn default_name_is_the_function_type() {
    async fn resolve_profile(id: u32) -> u32 {
        id
    }
    let f = cache(resolve_profile);
    assert!(f.name().ends_with("resolve_profile"), "{}", f.name());
}

#[test]
#[should_panic(expected = "limit(0) would keep nothing")]
fn limit_zero_is_a_clear_panic() {
    let _ = Cached::builder().limit(0).build(|x: u8| async move { x });
}

#[test]
#[should_panic(expected = "expiration(Duration::ZERO)")]
fn zero_expiration_is_a_clear_panic() {
    let _ = Cached::builder()
        .expiration(std::time::Duration::ZERO)
        .build(|x: u8| async move { x });
}

/// `shards(n)`: the store split by key hash, each shard an exact LRU of its share of
/// the limit. Calls, limits, clears and single-flight behave as with one shard.
mod sharded {
    use haiway::cache::Cached;

    #[test]
    fn a_sharded_cache_keeps_its_limit_and_serves_every_key() {
        let squares = Cached::builder()
            .limit(64)
            .shards(8)
            .build(|x: u64| async move { x * x });
        futures_lite::future::block_on(async {
            for x in 0..1_000u64 {
                assert_eq!(squares.call(x).await, x * x);
            }
            let stats = squares.stats();
            assert_eq!(stats.len, 64, "each of 8 shards keeps its 8");
            assert_eq!(stats.misses, 1_000);
            assert_eq!(stats.evictions, 1_000 - 64);
            // The most recent keys of each shard are still there.
            assert_eq!(squares.call(999).await, 999 * 999);
            assert_eq!(squares.stats().hits, 1);
            squares.clear_call_cache(&999).await.expect("in memory");
            assert_eq!(squares.stats().len, 63);
            squares.clear_cache().await.expect("in memory");
            assert_eq!(squares.stats().len, 0, "every shard cleared");
        });
    }

    #[test]
    fn shards_never_outnumber_the_limit() {
        // Asked for 16 shards with room for 3 values: rounded down so each keeps one.
        let cached = Cached::builder()
            .limit(3)
            .shards(16)
            .build(|x: u32| async move { x });
        futures_lite::future::block_on(async {
            for x in 0..100 {
                cached.call(x).await;
            }
        });
        assert_eq!(cached.stats().len, 3);
    }

    #[test]
    fn concurrent_calls_of_one_key_share_a_run_in_a_sharded_cache() {
        let gate = super::common::Gate::default();
        let runs = super::common::Calls::default();
        let (g, r) = (gate.clone(), runs.clone());
        let cached = Cached::builder()
            .limit(1_000)
            .shards(4)
            .build(move |x: u32| {
                r.hit();
                let g = g.clone();
                async move {
                    g.wait().await;
                    x + 1
                }
            });
        let values = futures_lite::future::block_on(async {
            let calls = (0..20).map(|_| cached.call(7));
            let all = futures::future::join_all(calls);
            gate.open();
            all.await
        });
        assert!(values.iter().all(|&v| v == 8));
        assert_eq!(runs.get(), 1);
    }
}
