//! [`TracingRecorder`]: haiway events as `tracing` events, scopes as `tracing` spans.
//!
//! # Fields, and why callsites are built at run time
//!
//! `tracing` describes every event by a `'static` callsite whose field names are fixed
//! when it is registered; its macros build one per source location. A haiway event's
//! name, level and attribute keys are only known at run time, so this module builds
//! the callsites itself: one per distinct (level, event name, attribute keys), created
//! on first use, registered with `tracing_core::callsite::register` like a macro's, and
//! kept for the life of the process. A subscriber therefore sees every attribute as a
//! real field under its own name, filters by the event's level and target (see
//! [`TracingRecorder`] for how the target is chosen), and finds the event's name in both [`Metadata::name`](::tracing::Metadata::name) and the `message`
//! field (which a `message` attribute joins: `task.panicked: boom`).
//!
//! Each callsite is a few hundred bytes that are never freed, so their number is
//! bounded: past 1,024 distinct shapes (an application that puts ids
//! in event names, say) events fall back to a fixed callsite per level whose
//! `attributes` field holds every attribute formatted as `key=value`. Scope spans work
//! the same way, one callsite per distinct scope name, up to 256;
//! then spans are named `haiway.scope` with the scope's name in a `scope` field.

mod callsite;
mod emit;

use ::tracing::Span;
use ::tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};

use self::callsite::{DynCallsite, EVENT_CALLSITES, SPAN_CALLSITES, TARGET};
use self::emit::{
    PreparedSite, dispatch_event, fallback_event, fallback_span, field_keys, new_span,
};
use crate::event::{Event, Level, Prepared, Recorder, ScopeInfo, ScopeSpan};

/// At most this many attributes become fields of their own; an event with more uses
/// the fallback callsite.
const MAX_ATTRIBUTES: usize = 27;

/// A [`Recorder`] that emits each event as a `tracing` event and, by default, enters a
/// `tracing` span for each scope while the scope's code runs.
///
/// Each haiway event becomes one `tracing` event:
///
/// - level: [`Level::Debug`] → `DEBUG`, `Info` → `INFO`, `Warning` → `WARN`, `Error` →
///   `ERROR`;
/// - target: the event's own ([`Event::with_target`], `module_path!()` typically;
///   haiway's own events name theirs: `"haiway::cache"` for the cache's, `"haiway::ctx"`
///   for `task.panicked` and `background.shutdown`); else the recorder's
///   ([`target`](Self::target)), `"haiway"` by default. So `RUST_LOG=my_service=debug`
///   shows the events of a recorder built with `.target("my_service")`, and
///   `RUST_LOG=haiway::cache=warn` quiets the cache's hits and misses;
/// - fields: `message` (the event's name, also the metadata's name; for an event with
///   a `message` attribute, `"<name>: <message>"`, as `task.panicked: boom`), then each
///   other attribute under its own key (`cache = "profiles"`), then `scope` (the
///   scope's name), `scope_id`, `parent_id` (absent for a root scope) and `trace_id`
///   (ids as hex strings, as they display), unless
///   [`scope_fields(false)`](Self::scope_fields) leaves them to the scope's span. An
///   attribute named like one of the scope fields is kept, under the same name as that
///   field: avoid those keys.
///
/// Each scope gets a span named after it, under the recorder's target, with fields
/// `scope_id`, `parent_id` and `trace_id`, at `INFO` unless set with [`span_level`](Self::span_level). Its parent is
/// the span current when [`Scope::run`](crate::Scope::run) is called, so a nested
/// scope's span nests in its parent's, and the scope's events (and anything its code
/// logs with `tracing`) nest in it, in any subscriber. Turn spans off with
/// [`scope_spans(false)`](Self::scope_spans).
///
/// An event below `tracing`'s global level filter is never handed over (see
/// [`Recorder::min_level`]): it costs a thread-local read and a comparison. One that
/// is wanted costs finding its callsite and the `tracing` dispatch. A
/// [`PreparedEvent`](crate::event::PreparedEvent) (a cache's `cache.hit`) keeps its
/// callsite ([`Recorder::prepare`]); another event finds its own through a hash of its
/// name and keys in a per-thread table. See the [module docs](self) for how attribute
/// keys become real fields.
///
/// `tracing` layers that call [`Ctx::try_current`](crate::Ctx::try_current) while
/// handling these events get `None`: no scope is current while a recorder runs. The
/// scope's name and ids are in the event's fields.
///
/// # Examples
///
/// ```
/// use haiway::cache::Cached;
/// use haiway::{Scope, TracingRecorder};
///
/// let profiles = Cached::builder()
///     .limit(10)
///     .name("profiles")
///     .build(|id: u32| async move { format!("profile {id}") });
///
/// // Any subscriber: here, the `fmt` one, for this thread only.
/// let subscriber = tracing_subscriber::fmt()
///     .with_max_level(tracing::Level::DEBUG)
///     .with_test_writer()
///     .finish();
/// tracing::subscriber::with_default(subscriber, || {
///     futures_lite::future::block_on(Scope::new("request").recorder(TracingRecorder::new()).run(
///         async {
///             profiles.call(1).await; // DEBUG request{..}: haiway: cache.miss cache="profiles" scope="request" ..
///             profiles.call(1).await; // DEBUG request{..}: haiway: cache.hit cache="profiles" ..
///         },
///     ));
/// });
/// assert_eq!(profiles.stats().hits, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracingRecorder {
    /// The level of scope spans; `None`: no scope spans.
    span_level: Option<::tracing::Level>,
    /// The target of scope spans and of events that name none; `None`: `"haiway"`.
    target: Option<&'static str>,
    /// Whether each event repeats its scope's name and ids as fields.
    scope_fields: bool,
}

impl TracingRecorder {
    /// A recorder that emits events and opens an `INFO` span per scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let _scope = haiway::Scope::new("job").recorder(haiway::TracingRecorder::new());
    /// ```
    pub const fn new() -> Self {
        TracingRecorder {
            span_level: Some(::tracing::Level::INFO),
            target: None,
            scope_fields: true,
        }
    }

    /// The `tracing` target of the scope spans and of the events that name none
    /// (default `"haiway"`): your crate's, so that its filter (`RUST_LOG=my_service=debug`)
    /// shows them. haiway's own events keep theirs (`haiway::cache`, `haiway::ctx`).
    ///
    /// # Examples
    ///
    /// ```
    /// let recorder = haiway::TracingRecorder::new().target(module_path!());
    /// # let _ = recorder;
    /// ```
    #[must_use]
    pub const fn target(mut self, target: &'static str) -> Self {
        self.target = Some(target);
        self
    }

    /// Whether each event repeats its scope's name and ids as fields (`scope`,
    /// `scope_id`, `parent_id`, `trace_id`; the default), or leaves them to the scope's
    /// span, which has them already (`false`: shorter lines in `fmt`'s output; keep
    /// [`scope_spans`](Self::scope_spans) on then, or the ids are lost).
    ///
    /// # Examples
    ///
    /// ```
    /// let recorder = haiway::TracingRecorder::new().scope_fields(false);
    /// # let _ = recorder;
    /// ```
    #[must_use]
    pub const fn scope_fields(mut self, on: bool) -> Self {
        self.scope_fields = on;
        self
    }

    /// The target `event` is emitted under (see the type's docs).
    fn target_of(&self, event: &Event) -> &'static str {
        fixed_target(event).unwrap_or(self.span_target())
    }

    /// The target of scope spans, and of events that name none.
    const fn span_target(&self) -> &'static str {
        match self.target {
            Some(target) => target,
            None => TARGET,
        }
    }

    /// Whether each scope enters a span of its own (the default) or only events are
    /// emitted.
    ///
    /// # Examples
    ///
    /// ```
    /// let events_only = haiway::TracingRecorder::new().scope_spans(false);
    /// # let _ = events_only;
    /// ```
    #[must_use]
    pub const fn scope_spans(mut self, on: bool) -> Self {
        self.span_level = if on {
            match self.span_level {
                Some(level) => Some(level),
                None => Some(::tracing::Level::INFO),
            }
        } else {
            None
        };
        self
    }

    /// The level of the scope spans (default `INFO`); turns them on.
    ///
    /// # Examples
    ///
    /// ```
    /// let recorder = haiway::TracingRecorder::new().span_level(tracing::Level::DEBUG);
    /// # let _ = recorder;
    /// ```
    #[must_use]
    pub const fn span_level(mut self, level: ::tracing::Level) -> Self {
        self.span_level = Some(level);
        self
    }
}

impl Default for TracingRecorder {
    fn default() -> Self {
        TracingRecorder::new()
    }
}

impl Recorder for TracingRecorder {
    fn record(&self, scope: &ScopeInfo, event: &Event) {
        let level = tracing_level(event.level());
        if !level_enabled(level) {
            return;
        }
        let callsite = event_callsite(level, self.target_of(event), event);
        emit(callsite, level, event, scope, self.scope_fields);
    }

    /// Whether any subscriber may want events at `level` (`tracing`'s global level
    /// filter): a filtered-out `cache.hit` is never built.
    #[inline]
    fn enabled(&self, level: Level) -> bool {
        level_enabled(tracing_level(level))
    }

    /// The least severe level `tracing`'s global level filter lets through, read when
    /// a scope's code is polled: under a subscriber at `INFO`, a `cache.hit` costs what
    /// it costs with no recorder.
    #[inline]
    fn min_level(&self) -> Option<Level> {
        let max = STATIC_MAX_LEVEL.min(LevelFilter::current());
        [Level::Debug, Level::Info, Level::Warning, Level::Error]
            .into_iter()
            .find(|&level| tracing_level(level) <= max)
    }

    fn open_scope(&self, scope: &ScopeInfo) -> Option<Box<dyn ScopeSpan>> {
        let level = self.span_level?;
        if !level_enabled(level) {
            return None;
        }
        let target = self.span_target();
        let span =
            match SPAN_CALLSITES.get_or_create(level, target, scope.name(), std::iter::empty()) {
                Some(callsite) if callsite.is_never() => return None,
                Some(callsite) => new_span(callsite.metadata(), scope),
                None => fallback_span(level, scope),
            };
        if span.is_disabled() {
            return None;
        }
        Some(Box::new(TracingScope(span)))
    }

    /// The event's callsite and the values of its fields, worked out once: recording
    /// a prepared event again (a cache's `cache.hit`) skips hashing its name and keys
    /// and converting its attributes. `None` for an event with too many attributes, or
    /// once 1,024 exist.
    fn prepare(&self, event: &Event) -> Option<Prepared> {
        let callsite = event_callsite(tracing_level(event.level()), self.target_of(event), event)?;
        let fixed = fixed_target(event).is_some();
        Some(Prepared::new(PreparedSite::new(callsite, event, fixed)))
    }

    fn record_prepared(&self, scope: &ScopeInfo, event: &Event, prepared: &Prepared) {
        // Callsites are shared by every `TracingRecorder`: any one's preparation does,
        // if it chose the same target.
        let site = prepared
            .downcast_ref::<PreparedSite>()
            .filter(|site| site.fixed() || same_target(site.target(), self.span_target()));
        let Some(site) = site else {
            // Not one of ours (the method called directly with something else), or
            // one of a recorder with another target.
            return self.record(scope, event);
        };
        // No level check of ours: the recording asked `enabled` just before, and the
        // subscriber is asked anyway (unless its interest is `always`).
        site.dispatch(scope, self.scope_fields);
    }
}

/// The target of `event` whatever the recorder: its own, if it names one (haiway's
/// own events do: `haiway::cache`, `haiway::ctx`).
#[inline]
fn fixed_target(event: &Event) -> Option<&'static str> {
    event.target()
}

/// Whether two targets are the same: usually the same `&'static str` (compared by
/// address first, then by text).
#[inline]
fn same_target(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// The callsite of `event` at `level`, found or created; `None` for an event with too
/// many attributes, or once 1,024 exist.
fn event_callsite(
    level: ::tracing::Level,
    target: &'static str,
    event: &Event,
) -> Option<&'static DynCallsite> {
    let attributes = event.attributes();
    if attributes.len() > MAX_ATTRIBUTES {
        return None;
    }
    EVENT_CALLSITES.get_or_create(level, target, event.name(), field_keys(attributes))
}

/// Emits `event` at `callsite`, or at the fallback callsite of `level` without one.
#[inline]
fn emit(
    callsite: Option<&'static DynCallsite>,
    level: ::tracing::Level,
    event: &Event,
    scope: &ScopeInfo,
    scope_fields: bool,
) {
    match callsite {
        Some(callsite) if callsite.is_never() => {}
        Some(callsite) => dispatch_event(callsite, event, scope, scope_fields),
        None => fallback_event(level, event, scope),
    }
}

/// The span of one scope, entered around each poll of the scope's code.
struct TracingScope(Span);

impl ScopeSpan for TracingScope {
    #[inline]
    fn enter(&self) {
        self.0.with_subscriber(|(id, dispatch)| dispatch.enter(id));
    }

    #[inline]
    fn exit(&self) {
        self.0.with_subscriber(|(id, dispatch)| dispatch.exit(id));
    }
}

/// The `tracing` level of a haiway level.
#[inline]
fn tracing_level(level: Level) -> ::tracing::Level {
    match level {
        Level::Debug => ::tracing::Level::DEBUG,
        Level::Info => ::tracing::Level::INFO,
        Level::Warning => ::tracing::Level::WARN,
        Level::Error => ::tracing::Level::ERROR,
    }
}

/// Whether any subscriber may want something at `level`: the check the macros make
/// first.
#[inline]
fn level_enabled(level: ::tracing::Level) -> bool {
    level <= STATIC_MAX_LEVEL && level <= LevelFilter::current()
}
