//! haiway's cache tests, ported as behaviours with a call counter.

use crate::common::Calls;
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
    // Fewer under Miri, where a call costs milliseconds.
    let n = if cfg!(miri) { 100 } else { 1_000 };
    let calls = Calls::default();
    let c = calls.clone();
    let f = Cached::builder().unbounded().build(move |x: u32| {
        c.hit();
        async move { x * 2 }
    });
    block_on(async {
        for round in 0..2 {
            for x in 0..n {
                assert_eq!(f.call(x).await, x * 2, "round {round}");
            }
        }
    });
    assert_eq!(calls.get(), n as usize);
    assert_eq!(f.stats().len, n as usize);
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
        // Fewer under Miri (still about 50 a shard, so that each fills).
        let n: u64 = if cfg!(miri) { 400 } else { 1_000 };
        futures_lite::future::block_on(async {
            for x in 0..n {
                assert_eq!(squares.call(x).await, x * x);
            }
            let stats = squares.stats();
            assert_eq!(stats.len, 64, "each of 8 shards keeps its 8");
            assert_eq!(stats.misses, n);
            assert_eq!(stats.evictions, n - 64);
            // The most recent keys of each shard are still there.
            let last = n - 1;
            assert_eq!(squares.call(last).await, last * last);
            assert_eq!(squares.stats().hits, 1);
            squares.clear_call_cache(&last).await.expect("in memory");
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
        let gate = crate::common::Gate::default();
        let runs = crate::common::Calls::default();
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

/// `Cached::builder()` with the types inferred from `build`, or named up front.
mod builder_forms {
    use haiway::cache::{CacheBuilder, Cached, TryCached};

    #[test]
    fn the_builder_infers_its_types_from_build() {
        let cached = Cached::builder()
            .limit(2)
            .build(|x: u32| async move { x + 1 });
        assert_eq!(super::block_on(cached.call(1)), 2);
    }

    #[test]
    fn the_builder_of_named_types_takes_a_function_of_them() {
        let cached = Cached::<String, usize>::builder()
            .limit(2)
            .build(|s: String| async move { s.len() });
        assert_eq!(super::block_on(cached.call("four".into())), 4);
        let fallible: TryCached<String, u8, std::num::ParseIntError> =
            Cached::<String, u8>::builder().try_build(|s: String| async move { s.parse() });
        assert_eq!(super::block_on(fallible.call("7".into())), Ok(7));
        let _: CacheBuilder<u8, u8> = CacheBuilder::default();
    }
}

/// Functions of none to six arguments, called with a tuple.
mod arguments {
    use haiway::cache::{Cached, cache, try_cache};

    #[test]
    fn a_function_of_two_arguments_is_called_with_a_pair() {
        let add: Cached<(u32, u32), u32> = cache(|a: u32, b: u32| async move { a + b });
        super::block_on(async {
            assert_eq!(add.call((2, 3)).await, 5);
            assert_eq!(add.call((2, 3)).await, 5);
        });
        assert_eq!((add.stats().hits, add.stats().misses), (1, 1));
    }

    #[test]
    fn functions_of_none_to_six_arguments() {
        let zero = cache(|| async { 0 });
        let three = cache(|a: u8, b: u8, c: u8| async move { a + b + c });
        let six = Cached::builder().limit(4).build(
            |a: u8, b: u8, c: u8, d: u8, e: u8, f: String| async move {
                format!("{}{f}", a + b + c + d + e)
            },
        );
        let fallible = try_cache(|a: u8, b: u8| async move { a.checked_sub(b).ok_or("below") });
        super::block_on(async {
            assert_eq!(zero.call(()).await, 0);
            assert_eq!(three.call((1, 2, 3)).await, 6);
            assert_eq!(six.call((1, 1, 1, 1, 1, "!".into())).await, "5!");
            assert_eq!(fallible.call((1, 2)).await, Err("below"));
        });
    }

    #[test]
    fn a_function_of_one_tuple_is_called_as_before() {
        let swap = cache(|(a, b): (u32, u32)| async move { (b, a) });
        assert_eq!(super::block_on(swap.call((1, 2))), (2, 1));
    }
}

/// `get` peeks at a stored value, `insert` primes one: no run, no event, no count.
mod peek_and_prime {
    use haiway::cache::{Cached, ManualClock};
    use haiway::{MemoryRecorder, Scope};
    use std::time::Duration;

    use crate::common::{Calls, Gate};

    #[test]
    fn get_returns_a_stored_value_without_counting_or_recording() {
        let recorder = MemoryRecorder::new();
        let cached = Cached::builder()
            .limit(2)
            .build(|name: String| async move { name.len() });
        super::block_on(Scope::new("test").recorder(recorder.clone()).run(async {
            assert_eq!(cached.get("ada"), None);
            cached.call("ada".to_owned()).await;
            assert_eq!(cached.get("ada"), Some(3));
            assert_eq!(cached.get(&"ada".to_owned()), Some(3));
        }));
        assert_eq!((cached.stats().hits, cached.stats().misses), (0, 1));
        assert_eq!(recorder.names(), ["cache.miss"]);
    }

    #[test]
    fn get_neither_runs_nor_joins_a_run_in_flight() {
        let gate = Gate::default();
        let (cached, calls) = crate::common::gated(&gate);
        super::block_on(async {
            let mut running = std::pin::pin!(cached.call(1));
            assert!(futures::poll!(running.as_mut()).is_pending());
            assert_eq!(cached.get(&1), None, "a run in flight is not a value");
            assert_eq!(cached.get(&2), None);
            gate.open();
            assert_eq!(running.await, (1, 1));
            assert_eq!(cached.get(&1), Some((1, 1)));
        });
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn get_skips_an_expired_value() {
        let clock = ManualClock::new();
        let cached = Cached::builder()
            .expiration(Duration::from_secs(10))
            .clock(clock.clone())
            .build(|x: u32| async move { x });
        super::block_on(cached.call(1));
        assert_eq!(cached.get(&1), Some(1));
        clock.advance(Duration::from_secs(10));
        assert_eq!(cached.get(&1), None);
    }

    #[test]
    fn an_inserted_value_is_a_hit_and_expires_from_its_insert() {
        let clock = ManualClock::new();
        let calls = Calls::default();
        let c = calls.clone();
        let cached = Cached::builder()
            .limit(2)
            .expiration(Duration::from_secs(10))
            .clock(clock.clone())
            .build(move |x: u32| {
                c.hit();
                async move { x }
            });
        super::block_on(async {
            clock.advance(Duration::from_secs(5));
            cached.insert(1, 100).await;
            clock.advance(Duration::from_secs(9)); // 14 s in, 9 s after the insert
            assert_eq!(cached.call(1).await, 100);
            clock.advance(Duration::from_secs(1)); // 10 s after the insert
            assert_eq!(cached.call(1).await, 1);
        });
        assert_eq!(calls.get(), 1);
        assert_eq!((cached.stats().hits, cached.stats().misses), (1, 1));
    }

    #[test]
    fn insert_replaces_a_value_and_evicts_past_the_limit() {
        let cached = Cached::builder().limit(2).build(|x: u32| async move { x });
        super::block_on(async {
            cached.call(1).await;
            cached.insert(1, 10).await;
            assert_eq!(cached.get(&1), Some(10));
            cached.insert(2, 20).await;
            cached.insert(3, 30).await; // evicts 1, the least recently used
        });
        assert_eq!(cached.get(&1), None);
        assert_eq!((cached.stats().len, cached.stats().evictions), (2, 1));
    }

    #[test]
    fn a_run_in_flight_answers_its_callers_but_does_not_replace_an_insert() {
        let gate = Gate::default();
        let (cached, calls) = crate::common::gated(&gate);
        super::block_on(async {
            let mut running = std::pin::pin!(cached.call(1));
            assert!(futures::poll!(running.as_mut()).is_pending());
            cached.insert(1, (1, 100)).await;
            gate.open();
            assert_eq!(running.await, (1, 1), "its caller gets the run's result");
            assert_eq!(cached.call(1).await, (1, 100), "the store keeps the insert");
        });
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn insert_and_get_work_with_a_key_function() {
        let cached = Cached::builder()
            .limit(4)
            .make_key(|name: &String| name.to_lowercase())
            .build(|name: String| async move { name.len() });
        super::block_on(cached.insert("Ada".to_owned(), 99));
        assert_eq!(cached.get("ADA"), Some(99));
        assert_eq!(super::block_on(cached.call("ada".to_owned())), 99);
    }
}

/// The default name in events: the function's own, or `cache` for a closure.
mod names {
    use haiway::cache::{Cached, cache, try_cache};

    async fn fetch_profile(user: u32) -> String {
        format!("profile {user}")
    }

    async fn fetch_checked(user: u32) -> Result<String, String> {
        Ok(format!("profile {user}"))
    }

    #[test]
    fn a_function_names_its_cache() {
        assert_eq!(cache(fetch_profile).name(), "fetch_profile");
        assert_eq!(try_cache(fetch_checked).name(), "fetch_checked");
        let keyed = Cached::builder()
            .make_key(|user: &u32| user / 2)
            .build(fetch_profile);
        assert_eq!(keyed.name(), "fetch_profile");
    }

    #[test]
    fn a_closure_is_named_cache() {
        assert_eq!(cache(|x: u32| async move { x }).name(), "cache");
        assert_eq!(cache(|a: u32, b: u32| async move { a + b }).name(), "cache");
    }

    #[test]
    fn the_name_is_recorded_in_events() {
        let recorder = haiway::MemoryRecorder::new();
        let cached = cache(fetch_profile);
        super::block_on(
            haiway::Scope::new("test")
                .recorder(recorder.clone())
                .run(cached.call(1)),
        );
        let events = recorder.events();
        assert_eq!(
            events[0].event.attribute("cache"),
            Some(&haiway::Value::from("fetch_profile"))
        );
    }
}

/// `Stats` compares and prints.
mod stats {
    use haiway::cache::cache;

    #[test]
    fn stats_compare_and_print_as_the_quickstart_does() {
        let cached = cache(|x: u32| async move { x });
        let before = cached.stats();
        assert_eq!(
            before.to_string(),
            "0 hits, 0 misses (0 coalesced), 0 runs, 0 evictions, 0 stored"
        );
        super::block_on(async {
            cached.call(1).await;
            cached.call(1).await;
            cached.call(2).await;
        });
        let after = cached.stats();
        assert_ne!(after, before);
        assert_eq!(after, cached.stats());
        assert_eq!(
            after.to_string(),
            "1 hits, 2 misses (0 coalesced), 2 runs, 1 evictions, 1 stored"
        );
    }
}

/// `call_owned`: a `'static` call for `tokio::spawn` and `ctx::spawn`.
mod owned_calls {
    use haiway::cache::{cache, try_cache};

    #[test]
    fn an_owned_call_is_spawned_on_tokio() {
        let double = cache(|x: u64| async move { x * 2 });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        let task = runtime.spawn(double.clone().call_owned(21));
        let value = runtime.block_on(task).expect("not cancelled");
        assert_eq!(value, 42);
        assert_eq!(double.stats().len, 1, "the clone shares the cache");
    }

    #[test]
    fn an_owned_call_of_a_fallible_cache_is_spawned_in_a_scope() {
        let checked = try_cache(|x: u8| async move { x.checked_mul(100).ok_or("overflow") });
        let (a, b) = super::block_on(haiway::Scope::new("test").run(async {
            let a = haiway::ctx::spawn(checked.clone().call_owned(2));
            let b = haiway::ctx::spawn(checked.clone().call_owned(3));
            (a.await, b.await)
        }));
        assert_eq!((a, b), (Ok(200), Err("overflow")));
    }
}

/// A handle's type names the arguments and the value, whatever the key or backend.
mod handle_types {
    use haiway::cache::{Backend, BoxError, Cached, TryCached};

    struct Services {
        profiles: Cached<u32, String>,
        checked: TryCached<u32, String, String>,
    }

    struct Never;

    impl Backend<String, String> for Never {
        async fn read(&self, _key: &String) -> Result<Option<String>, BoxError> {
            Ok(None)
        }
        async fn write(&self, _key: String, _value: String) -> Result<(), BoxError> {
            Ok(())
        }
    }

    #[test]
    fn a_field_takes_a_handle_with_a_key_function_or_a_backend() {
        let fetch = |id: u32| async move { format!("profile {id}") };
        let mut services = Services {
            profiles: Cached::builder().build(fetch),
            checked: Cached::builder()
                .make_key(|id: &u32| id.to_string())
                .try_build(|id: u32| async move { Ok(format!("checked {id}")) }),
        };
        services.profiles = Cached::builder()
            .make_key(|id: &u32| format!("profile:{id}"))
            .backend(Never)
            .build(fetch);
        super::block_on(async {
            assert_eq!(services.profiles.call(1).await, "profile 1");
            assert_eq!(services.checked.call(2).await, Ok("checked 2".to_owned()));
        });
    }
}
