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
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use ::opentelemetry::global::BoxedTracer;
use ::opentelemetry::metrics::{Counter, Meter};
use ::opentelemetry::trace::{SpanBuilder, TraceContextExt, Tracer};
use ::opentelemetry::{Context, ContextGuard, Key, KeyValue, StringValue};
use hashbrown::HashMap;

use super::{Event, LONG_LIVED, Level, NOT_KEPT, Recorder, ScopeSpan, Value};
use crate::ctx::Ctx;

/// A [`Recorder`] that counts each event in an OpenTelemetry counter named after it,
/// adds it to the current OpenTelemetry span, and, given a [`Tracer`], opens a span per
/// scope.
///
/// - **Metrics**: each event adds 1 to a `u64` counter named after the event
///   (`cache.hit`, `cache.miss`, `cache.evict`, …), with the event's attributes as the
///   data point's attributes (`cache = "profiles"`). Scope names and ids are *not*
///   added: they would give every scope a time series of its own. Counters are created
///   once per name and kept, and each thread keeps the ones it uses at hand, so
///   recording is one lookup in a short per-thread list and one `add`: no lock, and no
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
    /// Tells this recorder's entries apart in the per-thread counter cache.
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
            id: next_id(),
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
    fn record(&self, _scope: &Ctx, event: &Event) {
        let name = event.name_cow();
        let level = event.level();
        // The hot path: this thread's counters and converted attributes, no lock and no
        // allocation of ours. Re-entered (never expected) or during thread teardown, the
        // slow path below does the same with the shared map and a fresh `Vec`.
        let done = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return false;
            };
            let local = &mut *local;
            // A long-lived event (the cache's hit event): its counter and attributes
            // were kept the first time this thread recorded it.
            if let Some(handle) = prepared_handle(event) {
                if let Some(prepared) = local.prepared(handle, self, event) {
                    prepared.counter.add(1, &prepared.attributes);
                    add_span_event(name, level, &prepared.attributes);
                    return true;
                }
            }
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

    fn open_scope(&self, scope: &Ctx) -> Option<Box<dyn ScopeSpan>> {
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

/// Adds the event to the current span, if it records: a copy of `attributes` and the
/// event's level.
// A `&Cow` so a static name stays borrowed: the name is copied only for a span that
// records.
#[allow(clippy::ptr_arg)]
fn add_span_event(name: &Cow<'static, str>, level: Level, attributes: &[KeyValue]) {
    Context::map_current(|cx| {
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

/// How many long-lived events, process-wide, get their converted attributes kept at
/// once (a few hundred bytes each, per thread that records them); past that, further
/// events are converted each time. A dropped event gives its place back.
const MAX_PREPARED: u32 = 1024;

/// The places for kept conversions: which are free, and how often each was reused.
struct Places {
    /// Places never used yet start here.
    next: u32,
    /// Places given back.
    free: Vec<u32>,
    /// Per place, how many times it was handed out: part of the handle, so a thread's
    /// conversion kept for an earlier owner of the place is never mistaken for the
    /// current owner's.
    generation: Vec<u32>,
}

static PLACES: Mutex<Places> = Mutex::new(Places {
    next: 0,
    free: Vec::new(),
    generation: Vec::new(),
});

/// The place of a handle.
fn place(handle: u64) -> usize {
    (handle & u64::from(u32::MAX)) as usize
}

/// A handle to a free place (`generation << 32 | place`, never `0`, [`LONG_LIVED`] or
/// [`NOT_KEPT`]), or `None` when all are taken.
#[cold]
fn acquire() -> Option<u64> {
    let mut places = PLACES.lock().unwrap_or_else(PoisonError::into_inner);
    let place = match places.free.pop() {
        Some(place) => place,
        None if places.next < MAX_PREPARED => {
            places.next += 1;
            places.generation.push(0);
            places.next - 1
        }
        None => return None,
    };
    let generation = &mut places.generation[place as usize];
    // Generations run from 1 to 2^31, then start over: a handle is never 0, and never
    // one of the markers (their high halves are all ones).
    *generation = if *generation >= 1 << 31 {
        1
    } else {
        *generation + 1
    };
    Some(u64::from(*generation) << 32 | u64::from(place))
}

/// Gives the place of `handle` back (its event is being dropped).
#[cold]
pub(crate) fn release(handle: u64) {
    let mut places = PLACES.lock().unwrap_or_else(PoisonError::into_inner);
    places.free.push(place(handle) as u32);
}

/// The handle of `event`'s kept conversion, taking a place the first time a
/// long-lived event is recorded; `None` for other events (converted each time).
#[inline]
fn prepared_handle(event: &Event) -> Option<u64> {
    let memo = event.opentelemetry_memo();
    match memo.load(Ordering::Acquire) {
        0 | NOT_KEPT => None,
        LONG_LIVED => {
            let Some(handle) = acquire() else {
                let _ = memo.compare_exchange(
                    LONG_LIVED,
                    NOT_KEPT,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                return None;
            };
            match memo.compare_exchange(LONG_LIVED, handle, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => Some(handle),
                // Another thread took a place for it first: use that one.
                Err(other) => {
                    release(handle);
                    (other != NOT_KEPT).then_some(other)
                }
            }
        }
        handle => Some(handle),
    }
}

/// One thread's view of the counters, and a buffer to build attributes in.
#[derive(Default)]
struct Local {
    /// (recorder id, event name, counter), most often a handful.
    counters: Vec<(u64, Cow<'static, str>, Counter<u64>)>,
    /// Reused for every event, so recording allocates nothing of its own.
    attributes: Vec<KeyValue>,
    /// Long-lived events, converted, by place (see [`prepared_handle`]).
    prepared: Vec<Option<Prepared>>,
}

/// An event as one recorder counts it: its counter and its converted attributes.
struct Prepared {
    /// The event's handle: the place's current owner, if it matches.
    handle: u64,
    /// The recorder it was prepared for.
    recorder: u64,
    /// The counter named after the event.
    counter: Counter<u64>,
    /// The event's attributes, converted.
    attributes: Vec<KeyValue>,
}

impl Local {
    /// The prepared `event` (whose handle is `handle`) for `recorder`, prepared now if
    /// this thread has not yet; `None` if another recorder prepared it here (then
    /// `recorder` converts it each time).
    fn prepared(
        &mut self,
        handle: u64,
        recorder: &OpenTelemetryRecorder,
        event: &Event,
    ) -> Option<&Prepared> {
        let index = place(handle);
        if self.prepared.len() <= index {
            self.prepared.resize_with(index + 1, || None);
        }
        let current = self.prepared[index]
            .as_ref()
            .is_some_and(|prepared| prepared.handle == handle);
        if !current {
            let counter = local_counter(&mut self.counters, recorder, event.name_cow()).clone();
            self.prepared[index] = Some(Prepared {
                handle,
                recorder: recorder.inner.id,
                counter,
                attributes: event.attributes().iter().map(key_value).collect(),
            });
        }
        self.prepared[index]
            .as_ref()
            .filter(|prepared| prepared.recorder == recorder.inner.id)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scope;

    /// Records `event` twice in a scope with a recorder on the no-op global meter.
    fn record_twice(event: &Event) {
        let recorder = OpenTelemetryRecorder::new(::opentelemetry::global::meter("places"));
        futures_lite::future::block_on(Scope::new("places").recorder(recorder).run(async {
            crate::ctx::record_event(event);
            crate::ctx::record_event(event);
        }));
    }

    fn is_free(place_of: u64) -> bool {
        let places = PLACES.lock().unwrap_or_else(PoisonError::into_inner);
        places.free.contains(&(place(place_of) as u32))
    }

    #[test]
    fn a_long_lived_event_holds_a_place_until_dropped_and_the_next_owner_gets_a_new_handle() {
        let event = Event::info("places").with("k", "v").long_lived();
        assert_eq!(
            event.opentelemetry_memo().load(Ordering::Relaxed),
            LONG_LIVED
        );
        record_twice(&event);
        let first = event.opentelemetry_memo().load(Ordering::Relaxed);
        assert!(first != 0 && first != LONG_LIVED && first != NOT_KEPT);
        assert!(!is_free(first));
        // A clone does not share the place; an event built per call never takes one.
        let clone = event.clone();
        assert_eq!(clone.opentelemetry_memo().load(Ordering::Relaxed), 0);
        let plain = Event::info("places").with("k", "v");
        record_twice(&plain);
        assert_eq!(plain.opentelemetry_memo().load(Ordering::Relaxed), 0);
        drop(event);
        assert!(is_free(first), "a dropped event gives its place back");
        let next = Event::info("places").with("k", "w").long_lived();
        record_twice(&next);
        let second = next.opentelemetry_memo().load(Ordering::Relaxed);
        assert_eq!(place(second), place(first), "the freed place is reused");
        assert_ne!(second, first, "under a new generation");
    }
}
