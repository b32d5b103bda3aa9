//! [`OpenTelemetryRecorder`]: haiway events as OpenTelemetry counters and span
//! events, scopes as OpenTelemetry spans.
//!
//! Built on the `opentelemetry` API crate only: the application brings the SDK (or any
//! other implementation) and its exporters, and hands the recorder a [`Meter`] (and a
//! [`Tracer`] for scope spans). Nothing here needs an async runtime.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use ::opentelemetry::global::BoxedTracer;
use ::opentelemetry::metrics::{Counter, Meter};
use ::opentelemetry::trace::{SpanBuilder, TraceContextExt, Tracer};
use ::opentelemetry::{Context, ContextGuard, Key, KeyValue, StringValue};
use hashbrown::HashMap;

use crate::event::{Event, Level, Prepared, Recorder, ScopeInfo, ScopeSpan, Value};

/// A [`Recorder`] that counts each event in an OpenTelemetry counter named after it,
/// adds it to the current OpenTelemetry span, and, given a [`Tracer`], opens a span per
/// scope.
///
/// - **Metrics**: each event adds 1 to a `u64` counter named after the event
///   (`cache.hit`, `cache.miss`, `cache.evict`, …), with the event's attributes as the
///   data point's attributes (`cache = "profiles"`). Scope names and ids are *not*
///   added: they would give every scope a time series of its own. Counters are created
///   once per name and kept. A [`PreparedEvent`](crate::event::PreparedEvent) (a
///   cache's `cache.hit`) keeps its counter and converted attributes
///   ([`Recorder::prepare`]), so recording it is one `add`; another event is one
///   lookup in a short per-thread list of counters and one `add`: no lock, and no
///   allocation beyond the event's own.
/// - **Span events**: when an OpenTelemetry span is current and recording, the event is
///   also added to it, with its attributes and a `level` attribute.
/// - **Scope spans**, with [`tracer`](Self::tracer): each scope starts a span named after
///   it, child of the OpenTelemetry context current when
///   [`Scope::run`](crate::Scope::run) is called (so of the enclosing scope's span),
///   attached as the current context around every poll of the scope's code, and ended
///   when the scope finishes. Its attributes: `haiway.scope_id`, `haiway.parent_id`
///   and `haiway.trace_id`. The scope's events, and anything its code records with
///   OpenTelemetry, land in that span.
///
/// Cloning is cheap; clones share the counters.
///
/// # Examples
///
/// ```
/// use haiway::cache::Cached;
/// use haiway::{OpenTelemetryRecorder, Scope};
/// use opentelemetry::metrics::MeterProvider as _;
/// use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
///
/// let exporter = InMemoryMetricExporter::default();
/// let provider = SdkMeterProvider::builder()
///     .with_periodic_exporter(exporter.clone())
///     .build();
/// let recorder = OpenTelemetryRecorder::new(provider.meter("my-service"));
///
/// let profiles = Cached::builder()
///     .limit(10)
///     .name("profiles")
///     .build(|id: u32| async move { format!("profile {id}") });
/// # futures_lite::future::block_on(async {
/// Scope::new("request")
///     .recorder(recorder)
///     .run(async {
///         profiles.call(1).await; // cache.miss {cache="profiles"} += 1
///         profiles.call(1).await; // cache.hit {cache="profiles"} += 1
///     })
///     .await;
/// # });
/// provider.force_flush().unwrap();
/// let exported = exporter.get_finished_metrics().unwrap();
/// let names: Vec<String> = exported
///     .iter()
///     .flat_map(|r| r.scope_metrics())
///     .flat_map(|s| s.metrics())
///     .map(|m| m.name().to_owned())
///     .collect();
/// assert!(names.contains(&"cache.hit".to_owned()));
/// assert!(names.contains(&"cache.miss".to_owned()));
/// ```
#[derive(Clone)]
pub struct OpenTelemetryRecorder {
    /// Shared by every clone.
    inner: Arc<Inner>,
}

/// What an [`OpenTelemetryRecorder`] holds.
struct Inner {
    /// Tells this recorder's meter apart: in the per-thread counter cache, and in what
    /// it prepares for events.
    id: u64,
    /// Where counters come from.
    meter: Meter,
    /// One counter per event name, created on first use.
    counters: RwLock<HashMap<Cow<'static, str>, Counter<u64>>>,
    /// Starts the scope spans; `None`: no scope spans.
    tracer: Option<BoxedTracer>,
}

impl OpenTelemetryRecorder {
    /// A recorder that counts events with counters from `meter` and adds them to the
    /// current span. No scope spans until [`tracer`](Self::tracer) is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::OpenTelemetryRecorder;
    ///
    /// let recorder = OpenTelemetryRecorder::new(opentelemetry::global::meter("my-service"));
    /// let _scope = haiway::Scope::new("job").recorder(recorder);
    /// ```
    pub fn new(meter: Meter) -> Self {
        OpenTelemetryRecorder {
            inner: Arc::new(Inner {
                id: next_id(),
                meter,
                counters: RwLock::new(HashMap::new()),
                tracer: None,
            }),
        }
    }

    /// Starts a span with `tracer` for every scope that uses this recorder.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, OpenTelemetryRecorder, Scope};
    /// use opentelemetry::trace::TracerProvider as _;
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    ///
    /// let spans = InMemorySpanExporter::default();
    /// let provider = SdkTracerProvider::builder()
    ///     .with_simple_exporter(spans.clone())
    ///     .build();
    /// let recorder = OpenTelemetryRecorder::new(opentelemetry::global::meter("my-service"))
    ///     .tracer(provider.tracer("my-service"));
    /// # futures_lite::future::block_on(async {
    /// Scope::new("request")
    ///     .recorder(recorder)
    ///     .run(async { haiway::ctx::record_event(haiway::Event::info("started")) })
    ///     .await;
    /// # });
    /// let finished = spans.get_finished_spans().unwrap();
    /// assert_eq!(finished[0].name, "request");
    /// assert_eq!(finished[0].events[0].name, "started");
    /// ```
    #[must_use]
    pub fn tracer<T>(self, tracer: T) -> Self
    where
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        let inner = Inner {
            // The same meter, so the same counters: what was prepared for `self` holds.
            id: self.inner.id,
            meter: self.inner.meter.clone(),
            counters: RwLock::new(self.counters().read().clone()),
            tracer: Some(BoxedTracer::new(Box::new(tracer))),
        };
        OpenTelemetryRecorder {
            inner: Arc::new(inner),
        }
    }

    fn counters(&self) -> Counters<'_> {
        Counters(&self.inner.counters)
    }

    /// Adds 1 to the counter named `name`, created on first use.
    fn count(&self, name: &str, attributes: &[KeyValue]) {
        {
            // `add` under the read lock: it only calls into the metrics SDK, never
            // back into this recorder.
            let counters = self.counters().read();
            if let Some(counter) = counters.get(name) {
                counter.add(1, attributes);
                return;
            }
        }
        self.create_counter(name).add(1, attributes);
    }

    #[cold]
    fn create_counter(&self, name: &str) -> Counter<u64> {
        let mut counters = self.counters().write();
        if let Some(counter) = counters.get(name) {
            return counter.clone();
        }
        let counter = self.inner.meter.u64_counter(name.to_owned()).build();
        counters.insert(Cow::Owned(name.to_owned()), counter.clone());
        counter
    }
}

/// The counter map, locked without ever panicking on poison.
struct Counters<'a>(&'a RwLock<HashMap<Cow<'static, str>, Counter<u64>>>);

impl<'a> Counters<'a> {
    fn read(&self) -> std::sync::RwLockReadGuard<'a, HashMap<Cow<'static, str>, Counter<u64>>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'a, HashMap<Cow<'static, str>, Counter<u64>>> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for OpenTelemetryRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenTelemetryRecorder")
            .field("meter", &self.inner.meter)
            .field("counters", &self.counters().read().len())
            .field("scope_spans", &self.inner.tracer.is_some())
            .finish_non_exhaustive()
    }
}

impl Recorder for OpenTelemetryRecorder {
    fn record(&self, _scope: &ScopeInfo, event: &Event) {
        let name = event.name_cow();
        let level = event.level();
        // This thread's counters and a reused buffer for the attributes: no lock and no
        // allocation of ours. Re-entered (never expected) or during thread teardown,
        // the slow path below does the same with the shared map and a fresh `Vec`.
        let done = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return false;
            };
            let local = &mut *local;
            let buffer = &mut local.attributes;
            buffer.clear();
            buffer.extend(event.attributes().iter().map(key_value));
            let counter = local_counter(&mut local.counters, self, name);
            counter.add(1, &local.attributes);
            add_span_event(name, level, &local.attributes);
            local.attributes.clear();
            true
        });
        if done != Ok(true) {
            let attributes: Vec<KeyValue> = event.attributes().iter().map(key_value).collect();
            self.count(name, &attributes);
            add_span_event(name, level, &attributes);
        }
    }

    /// The event's counter and its attributes converted, once: recording a prepared
    /// event again (a cache's `cache.hit`) is one `add` and no conversion.
    fn prepare(&self, event: &Event) -> Option<Prepared> {
        Some(Prepared::new(Counted {
            recorder: self.inner.id,
            counter: self.create_counter(event.name()),
            attributes: event.attributes().iter().map(key_value).collect(),
        }))
    }

    fn record_prepared(&self, scope: &ScopeInfo, event: &Event, prepared: &Prepared) {
        match prepared.downcast_ref::<Counted>() {
            Some(counted) if counted.recorder == self.inner.id => {
                counted.counter.add(1, &counted.attributes);
                add_span_event(event.name_cow(), event.level(), &counted.attributes);
            }
            // Another `OpenTelemetryRecorder`'s preparation: its counter comes from
            // another meter.
            _ => self.record(scope, event),
        }
    }

    fn open_scope(&self, scope: &ScopeInfo) -> Option<Box<dyn ScopeSpan>> {
        let tracer = self.inner.tracer.as_ref()?;
        let mut attributes = Vec::with_capacity(3);
        attributes.push(KeyValue::new("haiway.scope_id", scope.id().to_string()));
        if let Some(parent) = scope.parent_id() {
            attributes.push(KeyValue::new("haiway.parent_id", parent.to_string()));
        }
        attributes.push(KeyValue::new(
            "haiway.trace_id",
            scope.trace_id().to_string(),
        ));
        let builder = SpanBuilder::from_name(scope.name().to_owned()).with_attributes(attributes);
        let cx = Context::map_current(|parent| {
            let span = tracer.build_with_context(builder, parent);
            parent.with_span(span)
        });
        Some(Box::new(OtelScope { cx }))
    }
}

/// What an [`OpenTelemetryRecorder`] prepares for an event: its counter and its
/// attributes, converted.
struct Counted {
    /// The recorder it was prepared for (its counters come from that recorder's meter).
    recorder: u64,
    /// The counter named after the event.
    counter: Counter<u64>,
    /// The event's attributes, converted.
    attributes: Vec<KeyValue>,
}

/// Adds the event to the current span, if it records: a copy of `attributes` and the
/// event's level.
// A `&Cow` so a static name stays borrowed: the name is copied only for a span that
// records.
#[allow(clippy::ptr_arg)]
fn add_span_event(name: &Cow<'static, str>, level: Level, attributes: &[KeyValue]) {
    Context::map_current(|cx| {
        // Most events have no span to join: one check, and no lock of the span's.
        if !cx.has_active_span() {
            return;
        }
        let span = cx.span();
        if span.is_recording() {
            let mut attributes = attributes.to_vec();
            attributes.push(KeyValue::new("level", level.as_str()));
            span.add_event(name.clone(), attributes);
        }
    });
}

/// A process-unique recorder id (never reused, unlike an address).
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How many (recorder, event name) counters a thread keeps at hand; past that its
/// cache starts over.
const LOCAL_COUNTERS: usize = 64;

/// One thread's view of the counters, and a buffer to build attributes in.
#[derive(Default)]
struct Local {
    /// (recorder id, event name, counter), most often a handful.
    counters: Vec<(u64, Cow<'static, str>, Counter<u64>)>,
    /// Reused for every event, so recording allocates nothing of its own.
    attributes: Vec<KeyValue>,
}

/// `recorder`'s counter named `name`, from this thread's `counters` first.
// A `&Cow` so a static name stays borrowed when it is kept.
#[allow(clippy::ptr_arg)]
fn local_counter<'a>(
    counters: &'a mut Vec<(u64, Cow<'static, str>, Counter<u64>)>,
    recorder: &OpenTelemetryRecorder,
    name: &Cow<'static, str>,
) -> &'a Counter<u64> {
    let id = recorder.inner.id;
    let found = counters.iter().position(|(i, n, _)| *i == id && n == name);
    let index = match found {
        Some(index) => index,
        None => {
            let counter = recorder.create_counter(name);
            if counters.len() == LOCAL_COUNTERS {
                counters.clear();
            }
            counters.push((id, name.clone(), counter));
            counters.len() - 1
        }
    };
    &counters[index].2
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// An attribute as OpenTelemetry's; static strings are shared, not copied.
#[inline]
fn key_value((key, value): &(Cow<'static, str>, Value)) -> KeyValue {
    let value = match value {
        Value::Bool(v) => ::opentelemetry::Value::Bool(*v),
        Value::Int(v) => ::opentelemetry::Value::I64(*v),
        Value::Float(v) => ::opentelemetry::Value::F64(*v),
        Value::Str(v) => ::opentelemetry::Value::String(StringValue::from(v.clone())),
    };
    KeyValue::new(Key::from(key.clone()), value)
}

/// The span of one scope, as the context to attach around each poll.
struct OtelScope {
    /// The context current when the scope started, with the scope's span.
    cx: Context,
}

thread_local! {
    /// The guards of the scope contexts attached on this thread, innermost last:
    /// `enter` and `exit` nest like the polls they wrap.
    static ATTACHED: RefCell<Vec<ContextGuard>> = const { RefCell::new(Vec::new()) };
}

impl ScopeSpan for OtelScope {
    fn enter(&self) {
        let guard = self.cx.clone().attach();
        ATTACHED.with(|attached| attached.borrow_mut().push(guard));
    }

    fn exit(&self) {
        // Pop first, drop after: dropping the guard runs OpenTelemetry code.
        let guard = ATTACHED.try_with(|attached| attached.borrow_mut().pop());
        drop(guard);
    }

    fn end(&self) {
        self.cx.span().end();
    }
}
