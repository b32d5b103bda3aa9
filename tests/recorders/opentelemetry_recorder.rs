//! `OpenTelemetryRecorder`: cache hits and misses read back from the SDK's in-memory
//! exporters as counters with the `cache` attribute, as span events, and scopes as
//! spans.
#![cfg(feature = "opentelemetry")]

use std::sync::Arc;

use futures_lite::future::block_on;
use haiway::cache::Cached;
use haiway::{Event, OpenTelemetryRecorder, Scope, ctx};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanId, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

use crate::metrics_support::points;

/// A meter provider exporting to memory, and its exporter.
fn metrics() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

/// A tracer provider exporting each span to memory as it ends, and its exporter.
fn traces() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

/// The latest export's value of counter `name` for the data point with
/// `cache = <cache>`.
fn counter(exported: &[ResourceMetrics], name: &str, cache: &str) -> Option<u64> {
    let cache = format!("cache={cache}");
    points(exported, name)
        .into_iter()
        .find(|(attributes, _)| attributes.contains(&cache))
        .map(|(_, value)| value)
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn profiles(name: &'static str) -> Cached<u32, u32> {
    Cached::builder()
        .limit(10)
        .name(name)
        .build(|k: u32| async move { k })
}

#[test]
fn exported_counters_read_the_hits_and_misses_per_cache() {
    let (provider, exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(provider.meter("test"));
    let profiles = profiles("profiles");
    let users = self::profiles("users");
    block_on(Scope::new("x").recorder(recorder).run(async {
        for k in [1, 1, 1, 2, 2, 3] {
            assert_eq!(profiles.call(k).await, k);
        }
        users.call(9).await;
        users.call(9).await;
    }));
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    assert_eq!(counter(&exported, "cache.miss", "profiles"), Some(3));
    assert_eq!(counter(&exported, "cache.hit", "profiles"), Some(3));
    assert_eq!(counter(&exported, "cache.miss", "users"), Some(1));
    assert_eq!(counter(&exported, "cache.hit", "users"), Some(1));
    // The handle's own counters agree.
    assert_eq!(profiles.stats().hits, 3);
    assert_eq!(profiles.stats().misses, 3);
}

#[test]
fn counters_keep_counting_across_scopes_and_recorder_clones() {
    let (provider, exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(provider.meter("test"));
    let cached = profiles("shared");
    for _ in 0..3 {
        block_on(
            Scope::new("request")
                .recorder(recorder.clone())
                .run(async { cached.call(5).await }),
        );
    }
    // Outside any scope nothing is recorded.
    block_on(cached.call(5));
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    assert_eq!(counter(&exported, "cache.miss", "shared"), Some(1));
    assert_eq!(counter(&exported, "cache.hit", "shared"), Some(2));
}

#[test]
fn metric_attributes_are_the_event_attributes_only() {
    let (provider, exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(provider.meter("test"));
    block_on(Scope::new("typed").recorder(recorder).run(async {
        ctx::record_event(
            Event::warning("job.retry")
                .with("cache", "jobs")
                .with("attempt", 2)
                .with("backoff", 0.5)
                .with("final", false),
        );
    }));
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let last = exported.last().unwrap();
    let metric = last
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == "job.retry")
        .unwrap();
    let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() else {
        panic!("not a counter")
    };
    let point = sum.data_points().next().unwrap();
    assert_eq!(point.value(), 1);
    let mut attributes: Vec<String> = point
        .attributes()
        .map(|kv| {
            let kind = match &kv.value {
                opentelemetry::Value::Bool(_) => "bool",
                opentelemetry::Value::I64(_) => "i64",
                opentelemetry::Value::F64(_) => "f64",
                opentelemetry::Value::String(_) => "string",
                _ => "other",
            };
            format!("{}={}:{kind}", kv.key, kv.value)
        })
        .collect();
    attributes.sort();
    assert_eq!(
        attributes,
        [
            "attempt=2:i64",
            "backoff=0.5:f64",
            "cache=jobs:string",
            "final=false:bool"
        ]
    );
}

#[test]
fn scopes_become_spans_that_hold_the_events_and_nest() {
    let (provider, spans) = traces();
    let (meters, _exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(meters.meter("test")).tracer(provider.tracer("test"));
    let cached = profiles("profiles");
    let ids = block_on(Scope::new("request").recorder(recorder).run(async {
        cached.call(1).await;
        cached.call(1).await;
        let outer = haiway::Ctx::current().id();
        let inner = Scope::new("db")
            .run(async {
                // The scope's span is the current OpenTelemetry span in its code.
                assert!(Context::map_current(|cx| cx.has_active_span()));
                ctx::record_event(Event::info("query"));
                haiway::Ctx::current().id()
            })
            .await;
        (outer, inner)
    }));
    let finished: Vec<SpanData> = spans.get_finished_spans().unwrap();
    let names: Vec<&str> = finished.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["db", "request"], "spans end as their scopes finish");
    let (db, request) = (&finished[0], &finished[1]);

    assert_eq!(request.parent_span_id, SpanId::INVALID);
    assert_eq!(db.parent_span_id, request.span_context.span_id());
    assert_eq!(db.span_context.trace_id(), request.span_context.trace_id());
    assert_eq!(
        attribute(&request.attributes, "haiway.scope_id"),
        Some(ids.0.to_string())
    );
    assert_eq!(attribute(&request.attributes, "haiway.parent_id"), None);
    assert_eq!(
        attribute(&db.attributes, "haiway.scope_id"),
        Some(ids.1.to_string())
    );
    assert_eq!(
        attribute(&db.attributes, "haiway.parent_id"),
        Some(ids.0.to_string())
    );

    let events: Vec<&str> = request.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(events, ["cache.miss", "cache.hit"]);
    for event in request.events.iter() {
        assert_eq!(
            attribute(&event.attributes, "cache").as_deref(),
            Some("profiles")
        );
        assert_eq!(
            attribute(&event.attributes, "level").as_deref(),
            Some("debug")
        );
    }
    let events: Vec<&str> = db.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(events, ["query"]);
}

#[test]
fn without_a_tracer_events_go_to_the_callers_span() {
    let (provider, spans) = traces();
    let (meters, _exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(meters.meter("test"));
    let cached = profiles("profiles");
    provider.tracer("test").in_span("handler", |_cx| {
        block_on(Scope::new("x").recorder(recorder).run(async {
            cached.call(1).await;
        }));
    });
    let finished = spans.get_finished_spans().unwrap();
    assert_eq!(finished.len(), 1, "no scope spans without a tracer");
    assert_eq!(finished[0].name, "handler");
    let events: Vec<&str> = finished[0].events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(events, ["cache.miss"]);
}

#[test]
fn spawned_tasks_record_into_their_scope_span() {
    let (provider, spans) = traces();
    let (meters, _exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(meters.meter("test")).tracer(provider.tracer("test"));
    let ex = Arc::new(async_executor::Executor::new());
    block_on(
        ex.run(
            Scope::new("parent")
                .spawner(ex.clone())
                .recorder(recorder)
                .run(async {
                    let task = ctx::spawn(async {
                        futures_lite::future::yield_now().await;
                        ctx::record_event(Event::info("in.task"));
                    });
                    task.await;
                }),
        ),
    );
    let finished = spans.get_finished_spans().unwrap();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].name, "parent");
    let events: Vec<&str> = finished[0].events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(events, ["in.task"]);
    // Nothing stays attached on this thread after the scope.
    assert!(!Context::map_current(|cx| cx.has_active_span()));
}

#[test]
fn a_dropped_scope_ends_its_span() {
    let (provider, spans) = traces();
    let (meters, _exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(meters.meter("test")).tracer(provider.tracer("test"));
    let run = Scope::new("abandoned")
        .recorder(recorder)
        .run(std::future::pending::<()>());
    let polled = futures_lite::future::block_on(futures_lite::future::poll_once(run));
    assert!(polled.is_none());
    let finished = spans.get_finished_spans().unwrap();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].name, "abandoned");
}

#[test]
fn two_recorders_on_one_thread_keep_their_counts_apart() {
    let (provider_a, exporter_a) = metrics();
    let (provider_b, exporter_b) = metrics();
    let a = OpenTelemetryRecorder::new(provider_a.meter("a"));
    let b = OpenTelemetryRecorder::new(provider_b.meter("b"));
    let cached = profiles("apart");
    block_on(cached.call(1)); // stored, outside any scope: not counted
    for _ in 0..3 {
        block_on(Scope::new("a").recorder(a.clone()).run(cached.call(1)));
        block_on(Scope::new("b").recorder(b.clone()).run(cached.call(1)));
        block_on(Scope::new("b").recorder(b.clone()).run(cached.call(1)));
    }
    provider_a.force_flush().unwrap();
    provider_b.force_flush().unwrap();
    let (exported_a, exported_b) = (
        exporter_a.get_finished_metrics().unwrap(),
        exporter_b.get_finished_metrics().unwrap(),
    );
    assert_eq!(counter(&exported_a, "cache.hit", "apart"), Some(3));
    assert_eq!(counter(&exported_b, "cache.hit", "apart"), Some(6));
}

#[test]
fn counts_from_many_threads_add_up() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 250;
    let (provider, exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(provider.meter("test"));
    let cached = profiles("threads");
    block_on(cached.call(0));
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let (recorder, cached) = (recorder.clone(), cached.clone());
            s.spawn(move || {
                block_on(Scope::new("worker").recorder(recorder).run(async {
                    for _ in 0..CALLS {
                        cached.call(0).await;
                    }
                }));
            });
        }
    });
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    assert_eq!(
        counter(&exported, "cache.hit", "threads"),
        Some(THREADS * CALLS)
    );
}

#[test]
fn an_event_recorded_again_or_extended_counts_with_its_own_attributes() {
    let (provider, exporter) = metrics();
    let recorder = OpenTelemetryRecorder::new(provider.meter("test"));
    let tick = Event::info("tick").with("worker", "w1");
    block_on(Scope::new("jobs").recorder(recorder).run(async {
        for _ in 0..3 {
            ctx::record_event(&tick); // from the second time on, kept converted
        }
        let extended = tick.clone().with("round", 2);
        ctx::record_event(&extended);
        ctx::record_event(&extended);
        ctx::record_event(tick.clone()); // a clone: same attributes
        for _ in 0..2 {
            ctx::record_event(Event::info("tick").with("worker", "w2"));
        }
    }));
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let expected = vec![
        (vec!["round=2".to_owned(), "worker=w1".to_owned()], 2),
        (vec!["worker=w1".to_owned()], 4),
        (vec!["worker=w2".to_owned()], 2),
    ];
    assert_eq!(points(&exported, "tick"), expected);
}
