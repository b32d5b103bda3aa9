//! Measures what a recorder adds to a `haiway::cache::Cached` hit: no recorder, a
//! no-op closure recorder, `TracingRecorder` and `OpenTelemetryRecorder`.
//!
//! Run with `cargo bench -p haiway-benches --bench recorders`. All lines sit in the one
//! criterion group `cache_hit_recorder`, so the report shows them side by side. Each
//! line is one hit of a present `u32` key, polled once with `Waker::noop()` inside a
//! running scope (the scope's `Ctx` is current for the whole measurement), so it
//! measures the cache plus its `cache.hit` event:
//!
//! - `no recorder`: the scope has none; the event is never built.
//! - `NoopRecorder`: it wants nothing (`Recorder::min_level` is `None`), so the event
//!   is not handed over at all.
//! - `no-op closure recorder`: the cache's prebuilt `cache.hit` event is lent, with the
//!   scope's identity, to a closure that ignores it: the cost of recording at all,
//!   which every recorder below pays too.
//! - `TracingRecorder, DEBUG enabled`: `tracing_subscriber::registry()` with one layer
//!   that counts events (no formatting, no I/O), filtered at `DEBUG`, so each hit is a
//!   dispatched `tracing` event with its fields.
//! - `TracingRecorder, DEBUG filtered out`: the same subscriber filtered at `INFO`: the
//!   level check rejects the event.
//! - `OpenTelemetryRecorder (SDK meter)`: an `opentelemetry_sdk` `SdkMeterProvider`
//!   with a periodic reader and the in-memory exporter (its interval is long, so no
//!   export runs during the measurement): each hit is one counter `add` with the
//!   `cache` attribute. No span is current, so no span event is added.
//!
//! Two reference lines, not cache hits, give the floor each recorder is held to
//! (issue 15: a recorded hit costs at most 2x one bare `tracing::debug!` over an
//! unrecorded hit with `TracingRecorder`, at most 1.25x one bare `Counter::add` with
//! `OpenTelemetryRecorder`; `.ci/recorder_times.py` reads the ratios off a run):
//!
//! - `reference: tracing::debug! alone`: the macro with the same six fields, under the
//!   same counting subscriber at `DEBUG`.
//! - `reference: Counter::add alone`: one `add` with the `cache` attribute on an SDK
//!   counter.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_lite::future::block_on;
use haiway::cache::Cached;
use haiway::{
    Ctx, Event, NoopRecorder, OpenTelemetryRecorder, Recorder, Scope, ScopeInfo, TracingRecorder,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, layer};

/// Polls `future` once with a no-op waker; a hit is ready at once.
fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a hit is ready at the first poll"),
    }
}

/// A cache holding key 7.
fn cache() -> Cached<u32, u32> {
    let cached = Cached::builder()
        .limit(16)
        .name("profiles")
        .build(|k: u32| async move { k });
    block_on(cached.call(7));
    cached
}

/// A layer that counts the events it sees and does nothing else.
#[derive(Clone, Default)]
struct CountEvents(Arc<AtomicU64>);

impl<S: tracing::Subscriber> Layer<S> for CountEvents {
    fn on_event(&self, _event: &tracing::Event<'_>, _ctx: layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Benches hits of `cached` inside a scope with `recorder` (or none).
fn bench_hits(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    cached: &Cached<u32, u32>,
    recorder: Option<impl Recorder + Clone>,
) {
    group.bench_function(name, |b| {
        let scope = Scope::new("bench");
        let scope = match recorder.clone() {
            Some(recorder) => scope.recorder(recorder),
            None => scope,
        };
        block_on(scope.run(async {
            b.iter(|| poll_once(cached.call(black_box(7))));
        }));
    });
}

fn cache_hit_recorder(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache_hit_recorder");
    let cached = cache();

    bench_hits(&mut group, "no recorder", &cached, None::<TracingRecorder>);

    bench_hits(&mut group, "NoopRecorder", &cached, Some(NoopRecorder));

    bench_hits(
        &mut group,
        "no-op closure recorder",
        &cached,
        Some(|_: &ScopeInfo, event: &Event| {
            black_box(event);
        }),
    );

    for (name, level) in [
        ("TracingRecorder, DEBUG enabled", LevelFilter::DEBUG),
        ("TracingRecorder, DEBUG filtered out", LevelFilter::INFO),
    ] {
        let counted = CountEvents::default();
        let subscriber = tracing_subscriber::registry().with(counted.clone().with_filter(level));
        tracing::subscriber::with_default(subscriber, || {
            bench_hits(&mut group, name, &cached, Some(TracingRecorder::new()));
        });
        let seen = counted.0.load(Ordering::Relaxed);
        // (Zero either way when a name filter on the command line skipped the line.)
        assert!(
            level == LevelFilter::DEBUG || seen == 0,
            "{name}: {seen} events"
        );
    }

    let counted = CountEvents::default();
    let subscriber =
        tracing_subscriber::registry().with(counted.clone().with_filter(LevelFilter::DEBUG));
    tracing::subscriber::with_default(subscriber, || {
        let (id, trace_id) = block_on(Scope::new("bench").run(async {
            let ctx = Ctx::current();
            (ctx.id(), ctx.trace_id())
        }));
        group.bench_function("reference: tracing::debug! alone", |b| {
            b.iter(|| {
                tracing::debug!(
                    target: "haiway::cache",
                    message = black_box("cache.hit"),
                    cache = black_box("profiles"),
                    scope = "bench",
                    scope_id = %id,
                    parent_id = None::<u64>,
                    trace_id = %trace_id,
                )
            });
        });
    });

    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(exporter.clone())
                .with_interval(Duration::from_secs(3_600))
                .build(),
        )
        .build();
    bench_hits(
        &mut group,
        "OpenTelemetryRecorder (SDK meter)",
        &cached,
        Some(OpenTelemetryRecorder::new(provider.meter("bench"))),
    );
    let counter = provider.meter("reference").u64_counter("cache.hit").build();
    group.bench_function("reference: Counter::add alone", |b| {
        b.iter(|| counter.add(1, &[KeyValue::new("cache", black_box("profiles"))]));
    });
    provider.shutdown().expect("the meter provider shuts down");

    group.finish();
}

/// Short runs, no plots, like the other benches: the file takes about half a minute.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = cache_hit_recorder
}
criterion_main!(benches);
