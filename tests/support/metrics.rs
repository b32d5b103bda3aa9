//! Reading counters back from the OpenTelemetry SDK's in-memory metric exporter, for
//! the OpenTelemetry test binaries (`#[path]`-included: it needs the SDK types, which
//! `tests/common` does not).

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};

/// The data points of the u64 counter `name` in the latest export, sorted: each its
/// attributes as sorted `key=value` strings, and its value.
pub fn points(exported: &[ResourceMetrics], name: &str) -> Vec<(Vec<String>, u64)> {
    let mut points: Vec<(Vec<String>, u64)> = exported
        .last()
        .into_iter()
        .flat_map(|last| last.scope_metrics())
        .flat_map(|scope| scope.metrics())
        .filter(|metric| metric.name() == name)
        .flat_map(|metric| match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                assert!(sum.is_monotonic(), "{name} is a counter");
                sum.data_points()
                    .map(|point| {
                        let mut attributes: Vec<String> = point
                            .attributes()
                            .map(|kv| format!("{}={}", kv.key, kv.value))
                            .collect();
                        attributes.sort();
                        (attributes, point.value())
                    })
                    .collect::<Vec<_>>()
            }
            other => panic!("{name} is not a u64 sum: {other:?}"),
        })
        .collect();
    points.sort();
    points
}
