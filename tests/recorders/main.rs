//! The `tracing` and OpenTelemetry recorders. (`tracing_level_gate` is a binary of its
//! own: `tracing`'s level hint is process-wide.)

#[cfg(feature = "opentelemetry")]
#[path = "../support/metrics.rs"]
mod metrics_support;

mod opentelemetry_many_caches;
mod opentelemetry_recorder;
mod tracing_recorder;
