//! Counts cache hits, misses and evictions as OpenTelemetry metrics, and prints what the
//! exporter received.
//!
//! Run with `cargo run --example opentelemetry --features opentelemetry`. The SDK's
//! in-memory exporter stands in for a real one (OTLP, Prometheus, stdout): haiway only
//! needs a `Meter`, so any exporter works the same way.

use std::collections::BTreeMap;

use futures_lite::future::block_on;
use haiway::cache::Cached;
use haiway::{OpenTelemetryRecorder, Scope};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};

async fn fetch_profile(id: u32) -> String {
    format!("profile #{id}")
}

async fn fetch_user(name: &'static str) -> usize {
    name.len()
}

fn main() {
    // The application owns the SDK and its exporter; haiway gets a `Meter`.
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter.clone())
        .build();
    let recorder = OpenTelemetryRecorder::new(provider.meter("haiway-example"));

    let profiles = Cached::builder()
        .limit(2)
        .name("profiles")
        .build(fetch_profile);
    let users = Cached::builder().limit(10).name("users").build(fetch_user);

    block_on(Scope::new("batch").recorder(recorder).run(async {
        for id in [1, 2, 1, 3, 1, 2, 2] {
            profiles.call(id).await;
        }
        for name in ["ada", "bob", "ada", "ada"] {
            users.call(name).await;
        }
    }));

    // Export now instead of waiting for the periodic reader's next tick.
    provider
        .force_flush()
        .expect("the exporter accepts the metrics");
    let exported = exporter
        .get_finished_metrics()
        .expect("the in-memory exporter holds the export");

    // (counter, cache) -> value, from the latest export.
    let mut counters = BTreeMap::new();
    for metric in exported
        .last()
        .into_iter()
        .flat_map(|resource| resource.scope_metrics())
        .flat_map(|scope| scope.metrics())
    {
        if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
            for point in sum.data_points() {
                let cache = point
                    .attributes()
                    .find(|kv| kv.key.as_str() == "cache")
                    .map(|kv| kv.value.to_string())
                    .unwrap_or_default();
                counters.insert((metric.name().to_owned(), cache), point.value());
            }
        }
    }

    println!("{:<12} {:<10} {:>5}", "counter", "cache", "value");
    for ((name, cache), value) in &counters {
        println!("{name:<12} {cache:<10} {value:>5}");
    }
    // The handles count too; the exported numbers agree with them.
    let stats = profiles.stats();
    assert_eq!(
        counters[&("cache.hit".to_owned(), "profiles".to_owned())],
        stats.hits
    );
    assert_eq!(
        counters[&("cache.miss".to_owned(), "profiles".to_owned())],
        stats.misses
    );
    println!(
        "profiles stats: {} hits, {} misses, {} evictions",
        stats.hits, stats.misses, stats.evictions
    );

    provider.shutdown().expect("the meter provider shuts down");
}
