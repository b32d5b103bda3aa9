//! `OpenTelemetryRecorder` prepares each cache's own events (their counter and converted
//! attributes, kept by the events): with many caches alive, and after they are dropped
//! and others made, every count still lands on the right counter. (It once kept at most
//! 1024 such conversions in a process-wide table; the test predates their removal.)
#![cfg(feature = "opentelemetry")]

use futures_lite::future::block_on;
use haiway::cache::Cached;
use haiway::{OpenTelemetryRecorder, Scope};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};

use crate::metrics_support::points;

/// Counter `name`'s value per `cache` attribute in the latest export, sorted.
fn per_cache(exported: &[ResourceMetrics], name: &str) -> Vec<(String, u64)> {
    points(exported, name)
        .into_iter()
        .map(|(attributes, value)| {
            let cache = attributes
                .iter()
                .find_map(|kv| kv.strip_prefix("cache="))
                .expect("a cache attribute");
            (cache.to_owned(), value)
        })
        .collect()
}

/// `count` caches named `<prefix><i>`.
fn caches(prefix: &str, count: usize) -> Vec<Cached<u32, u32>> {
    (0..count)
        .map(|i| {
            Cached::builder()
                .limit(4)
                .name(format!("{prefix}{i:03}"))
                .build(|k: u32| async move { k })
        })
        .collect()
}

#[test]
fn counts_land_with_more_caches_than_kept_conversions_and_after_they_are_dropped() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter.clone())
        .build();
    let recorder = OpenTelemetryRecorder::new(provider.meter("test"));
    // A hit and a miss event per cache: 1200 prepared events.
    let first = caches("a", 600);
    let run = |caches: &[Cached<u32, u32>], hits: u32| {
        block_on(Scope::new("many").recorder(recorder.clone()).run(async {
            for cached in caches {
                for _ in 0..=hits {
                    assert_eq!(cached.call(7).await, 7);
                }
            }
        }));
    };
    run(&first, 2);
    drop(first);
    // Dropped with their preparations; new caches prepare their own.
    let second = caches("b", 300);
    run(&second, 3);
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let hits = per_cache(&exported, "cache.hit");
    let expected: Vec<(String, u64)> = (0..600)
        .map(|i| (format!("a{i:03}"), 2))
        .chain((0..300).map(|i| (format!("b{i:03}"), 3)))
        .collect();
    assert_eq!(hits, expected);
    let misses = per_cache(&exported, "cache.miss");
    assert_eq!(misses.len(), 900);
    assert!(misses.iter().all(|(_, n)| *n == 1));
}
