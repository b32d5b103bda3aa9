//! Hit, miss and evict events reach the recorder; `stats()` counts the same.

use haiway::cache::Cached;
use haiway::{Level, MemoryRecorder, Scope};

#[test]
fn hit_miss_and_evict_events_reach_a_memory_recorder() {
    let recorder = MemoryRecorder::new();
    let f = Cached::builder()
        .limit(1)
        .name("squares")
        .build(|x: u32| async move { x * x });
    futures_lite::future::block_on(Scope::new("test").recorder(recorder.clone()).run(async {
        f.call(2).await; // miss
        f.call(2).await; // hit
        f.call(3).await; // miss, evicts 2
    }));
    assert_eq!(
        recorder.names(),
        ["cache.miss", "cache.hit", "cache.miss", "cache.evict"]
    );
    for recorded in recorder.events() {
        assert_eq!(recorded.event.level(), Level::Debug);
        assert_eq!(recorded.event.attribute_str("cache"), Some("squares"));
        assert_eq!(recorded.scope(), "test");
    }
}

#[test]
fn outside_a_scope_nothing_is_recorded_and_nothing_fails() {
    let f = Cached::builder()
        .limit(1)
        .build(|x: u32| async move { x + 1 });
    futures_lite::future::block_on(async {
        assert_eq!(f.call(1).await, 2);
        assert_eq!(f.call(1).await, 2);
    });
    assert_eq!(f.stats().hits, 1);
}

#[test]
fn stats_count_hits_misses_evictions_and_length() {
    let f = Cached::builder().limit(2).build(|x: u32| async move { x });
    futures_lite::future::block_on(async {
        let s = f.stats();
        assert_eq!((s.hits, s.misses, s.evictions, s.len), (0, 0, 0, 0));
        f.call(1).await;
        f.call(2).await;
        f.call(1).await;
        f.call(3).await; // evicts 2
        f.call(2).await; // miss, evicts 1
        let s = f.stats();
        assert_eq!((s.hits, s.misses, s.evictions, s.len), (1, 4, 2, 2));
        f.clear_cache().await.unwrap();
        assert_eq!(f.stats().len, 0);
    });
}
