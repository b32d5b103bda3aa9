//! Instructions per `haiway::cache::Cached` hit with each recorder, counted by callgrind
//! (gungraun): exact and repeatable, whatever else the machine is doing.
//!
//! Run with `cargo bench -p haiway-instructions --bench recorder_instructions` (needs
//! valgrind and `gungraun-runner` 0.20.0). `.ci/run` runs it with `--output-format=json`
//! and hands the lines to `.ci/recorder_instructions.py`, which prints each recorder's
//! hit as a ratio to the hit with no recorder and fails when a target of issue 15 is
//! missed.
//!
//! Each benchmark polls, once, a scope whose body makes `n` hits of a present `u32` key
//! (each hit polled once with `Waker::noop()`). Everything else is built in the setup,
//! which callgrind does not count: the cache, the recorder, the subscriber, the scope,
//! and a first round of hits that creates what a recorder keeps per event. Every line
//! runs at two lengths, 1,000 and 2,000 hits: their difference, divided by 1,000, is
//! the cost of one hit, with the fixed costs (entering and leaving the scope) gone.
//!
//! - `none`: the scope has no recorder.
//! - `noop`: `NoopRecorder`.
//! - `memory`: `MemoryRecorder`, keeping every hit.
//! - `tracing_off`: `TracingRecorder` under a subscriber filtered at `INFO`.
//! - `tracing_on`: `TracingRecorder` under a subscriber at `DEBUG` whose one layer
//!   counts events.
//! - `otel`: `OpenTelemetryRecorder` on an SDK meter whose periodic reader never runs
//!   during the measurement: each hit is one counter `add`.
//!
//! Two reference lines are not cache hits: the floors issue 15 holds the last two
//! recorders to (in time, with criterion, in `benches/recorders.rs`; here in
//! instructions, for information):
//!
//! - `ref_debug`: one `tracing::debug!` with the same six fields as a `cache.hit`
//!   event, under the `tracing_on` subscriber.
//! - `ref_add`: one `Counter::add` with the `cache` attribute on an SDK counter.

use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use gungraun::{library_benchmark, library_benchmark_group, main};
use haiway::cache::Cached;
use haiway::{Ctx, MemoryRecorder, NoopRecorder, OpenTelemetryRecorder, Scope, TracingRecorder};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, layer};

/// A scope's future, ready to make its hits at its first poll.
type Body = Pin<Box<dyn Future<Output = ()>>>;

/// What a benchmark polls, and what must live as long as it (dropped uncounted).
struct Prepared {
    /// The scope making the hits.
    scope: Body,
    /// The cache, the recorder's handles, the meter provider: kept alive.
    _keep: Box<dyn std::any::Any>,
}

/// Polls `future` once with a no-op waker.
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
fn cache() -> Arc<Cached<u32, u32>> {
    let cached = Cached::builder()
        .limit(16)
        .name("profiles")
        .build(|k: u32| async move { k });
    poll_once(cached.call(7));
    Arc::new(cached)
}

/// A scope with `recorder` (or none) whose body makes `n` hits of `cached`.
fn hits(cached: &Arc<Cached<u32, u32>>, scope: Scope, n: u32) -> Body {
    let cached = cached.clone();
    Box::pin(scope.run(async move {
        for _ in 0..n {
            black_box(poll_once(cached.call(black_box(7))));
        }
    }))
}

/// A layer that counts the events it sees and does nothing else.
#[derive(Clone, Default)]
struct CountEvents(Arc<AtomicU64>);

impl<S: tracing::Subscriber> Layer<S> for CountEvents {
    fn on_event(&self, _event: &tracing::Event<'_>, _ctx: layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Makes the scopes of one line, and holds what must outlive them.
type Line = (Box<dyn Fn() -> Scope>, Box<dyn std::any::Any>);

/// The scopes of line `line`.
fn line(line: &str) -> Line {
    match line {
        "none" => (Box::new(|| Scope::new("bench")), Box::new(())),
        "noop" => (
            Box::new(|| Scope::new("bench").recorder(NoopRecorder)),
            Box::new(()),
        ),
        "memory" => {
            let recorder = MemoryRecorder::new();
            let kept = recorder.clone();
            (
                Box::new(move || Scope::new("bench").recorder(recorder.clone())),
                Box::new(kept),
            )
        }
        "tracing_off" | "tracing_on" => {
            let level = if line == "tracing_on" {
                LevelFilter::DEBUG
            } else {
                LevelFilter::INFO
            };
            let counted = CountEvents::default();
            let subscriber =
                tracing_subscriber::registry().with(counted.clone().with_filter(level));
            // Each benchmark runs in a process of its own.
            tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
            (
                Box::new(|| Scope::new("bench").recorder(TracingRecorder::new())),
                Box::new(counted),
            )
        }
        "otel" => {
            let provider = SdkMeterProvider::builder()
                .with_reader(
                    // No export runs during the measurement.
                    PeriodicReader::builder(InMemoryMetricExporter::default())
                        .with_interval(Duration::from_secs(3_600))
                        .build(),
                )
                .build();
            let recorder = OpenTelemetryRecorder::new(provider.meter("bench"));
            (
                Box::new(move || Scope::new("bench").recorder(recorder.clone())),
                Box::new(provider),
            )
        }
        other => panic!("no line {other}"),
    }
}

/// The scope of line `name` making `n` hits, warmed up: a first round of hits has
/// already run in a scope like it, so what a recorder keeps per event exists.
fn setup(name: &str, n: u32) -> Prepared {
    let cached = cache();
    let (scope, keep) = line(name);
    poll_once(hits(&cached, scope(), 10));
    Prepared {
        scope: hits(&cached, scope(), n),
        _keep: Box::new((cached, keep)),
    }
}

/// `n` bare `tracing::debug!` events with the fields of a `cache.hit` event, under the
/// `tracing_on` subscriber.
fn setup_ref_debug(n: u32) -> Prepared {
    let (scope, keep) = line("tracing_on");
    let (id, trace_id) = poll_once(scope().run(async {
        let ctx = Ctx::current();
        (ctx.id(), ctx.trace_id())
    }));
    let events = move || {
        tracing::debug!(
            target: "haiway::cache",
            message = black_box("cache.hit"),
            cache = black_box("profiles"),
            scope = "bench",
            scope_id = %id,
            parent_id = None::<u64>,
            trace_id = %trace_id,
        );
    };
    events();
    Prepared {
        scope: Box::pin(async move {
            for _ in 0..n {
                events();
            }
        }),
        _keep: keep,
    }
}

/// `n` bare `Counter::add` calls with the `cache` attribute on an SDK counter.
fn setup_ref_add(n: u32) -> Prepared {
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3_600))
                .build(),
        )
        .build();
    let counter = provider.meter("reference").u64_counter("cache.hit").build();
    counter.add(1, &[KeyValue::new("cache", "profiles")]);
    Prepared {
        scope: Box::pin(async move {
            for _ in 0..n {
                counter.add(1, &[KeyValue::new("cache", black_box("profiles"))]);
            }
        }),
        _keep: Box::new(provider),
    }
}

fn setup_none(n: u32) -> Prepared {
    setup("none", n)
}
fn setup_noop(n: u32) -> Prepared {
    setup("noop", n)
}
fn setup_memory(n: u32) -> Prepared {
    setup("memory", n)
}
fn setup_tracing_off(n: u32) -> Prepared {
    setup("tracing_off", n)
}
fn setup_tracing_on(n: u32) -> Prepared {
    setup("tracing_on", n)
}
fn setup_otel(n: u32) -> Prepared {
    setup("otel", n)
}

// Polls the scope once: its `n` hits.
#[library_benchmark]
#[benches::none(args = [1_000, 2_000], setup = setup_none)]
#[benches::noop(args = [1_000, 2_000], setup = setup_noop)]
#[benches::memory(args = [1_000, 2_000], setup = setup_memory)]
#[benches::tracing_off(args = [1_000, 2_000], setup = setup_tracing_off)]
#[benches::tracing_on(args = [1_000, 2_000], setup = setup_tracing_on)]
#[benches::otel(args = [1_000, 2_000], setup = setup_otel)]
#[benches::ref_debug(args = [1_000, 2_000], setup = setup_ref_debug)]
#[benches::ref_add(args = [1_000, 2_000], setup = setup_ref_add)]
fn hit(mut prepared: Prepared) -> Prepared {
    poll_once(prepared.scope.as_mut());
    prepared
}

library_benchmark_group!(name = recorders, benchmarks = [hit]);

main!(library_benchmark_groups = recorders);
