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
//! real field under its own name, filters by the event's level and the target
//! `"haiway"`, and finds the event's name in both [`Metadata::name`] and the `message`
//! field (which a `message` attribute joins: `task.panicked: boom`).
//!
//! Each callsite is a few hundred bytes that are never freed, so their number is
//! bounded: past [`MAX_EVENT_CALLSITES`] distinct shapes (an application that puts ids
//! in event names, say) events fall back to a fixed callsite per level whose
//! `attributes` field holds every attribute formatted as `key=value`. Scope spans work
//! the same way, one callsite per distinct scope name, up to [`MAX_SPAN_CALLSITES`];
//! then spans are named `haiway.scope` with the scope's name in a `scope` field.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};

use ::tracing::field::{Field, FieldSet, Value as FieldValue, display};
use ::tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use ::tracing::{Metadata, Span};
use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;
use tracing_core::callsite::{self, Callsite};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;

use super::{Event, Level, Recorder, ScopeSpan, Value};
use crate::ctx::Ctx;

/// The target of every event and span this module emits.
const TARGET: &str = "haiway";

/// The fields after an event's attributes, in order.
const SCOPE_FIELDS: [&str; 4] = ["scope", "scope_id", "parent_id", "trace_id"];

/// The fields of a scope span named after its scope.
const SPAN_FIELDS: &[&str] = &["scope_id", "parent_id", "trace_id"];

/// At most this many attributes become fields of their own; an event with more uses
/// the fallback callsite.
const MAX_ATTRIBUTES: usize = 27;

/// How many distinct event shapes (level, name, attribute keys) get a callsite of
/// their own before events fall back to a shared callsite per level.
///
/// # Examples
///
/// ```
/// // Plenty for the cache's events and an application's own.
/// assert!(haiway::event::tracing::MAX_EVENT_CALLSITES >= 1_000);
/// ```
pub const MAX_EVENT_CALLSITES: usize = 1024;

/// How many distinct (span level, scope name) pairs get a span callsite of their own
/// before scope spans fall back to one named `haiway.scope`.
///
/// # Examples
///
/// ```
/// // Scope names are meant to be few: "request", "db", not one per request id.
/// assert!(haiway::event::tracing::MAX_SPAN_CALLSITES >= 100);
/// ```
pub const MAX_SPAN_CALLSITES: usize = 256;

/// A [`Recorder`] that emits each event as a `tracing` event and, by default, enters a
/// `tracing` span for each scope while the scope's code runs.
///
/// Each haiway event becomes one `tracing` event:
///
/// - level: [`Level::Debug`] → `DEBUG`, `Info` → `INFO`, `Warning` → `WARN`, `Error` →
///   `ERROR`; target `"haiway"`;
/// - fields: `message` (the event's name, also the metadata's name; for an event with
///   a `message` attribute, `"<name>: <message>"`, as `task.panicked: boom`), then each
///   other attribute under its own key (`cache = "profiles"`), then `scope` (the
///   scope's name), `scope_id`, `parent_id` (absent for a root scope) and `trace_id`
///   (ids as hex strings, as they display). An attribute named like one of the scope
///   fields is kept, under the same name as that field: avoid those keys.
///
/// Each scope gets a span named after it, with fields `scope_id`, `parent_id` and
/// `trace_id`, at `INFO` unless set with [`span_level`](Self::span_level). Its parent is
/// the span current when [`Scope::run`](crate::Scope::run) is called, so a nested
/// scope's span nests in its parent's, and the scope's events (and anything its code
/// logs with `tracing`) nest in it, in any subscriber. Turn spans off with
/// [`scope_spans(false)`](Self::scope_spans).
///
/// An event that no subscriber wants is never handed over (see
/// [`Recorder::enabled`]): it costs a level check. One that is wanted costs finding
/// its callsite and the `tracing` dispatch. An event recorded again (the cache's hit
/// event) finds its callsite through a number it keeps; a new one, through a hash of
/// its name and keys in a per-thread table. See the [module docs](self) for how
/// attribute keys become real fields.
///
/// `tracing` layers that call [`Ctx::try_current`] while handling these events get
/// `None`: no scope is current while a recorder runs. The scope's name and ids are
/// in the event's fields.
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
    fn record(&self, scope: &Ctx, event: &Event) {
        let level = tracing_level(event.level());
        if !level_enabled(level) {
            return;
        }
        // The event remembers its callsite: recording the same `Event` again (the
        // cache's hit event) skips hashing its name and keys.
        let remembered = match event.tracing_memo() {
            0 => None,
            memo => EVENT_CALLSITES.by_id(memo - 1),
        };
        let callsite = remembered.or_else(|| {
            let attributes = event.attributes();
            if attributes.len() > MAX_ATTRIBUTES {
                return None;
            }
            let callsite =
                EVENT_CALLSITES.get_or_create(level, event.name(), field_keys(attributes))?;
            event.set_tracing_memo(callsite.id + 1);
            Some(callsite)
        });
        match callsite {
            Some(callsite) if callsite.is_never() => {}
            Some(callsite) => dispatch_event(callsite, event, scope),
            None => fallback_event(level, event, scope),
        }
    }

    /// Whether any subscriber may want events at `level` (`tracing`'s global level
    /// filter): a filtered-out `cache.hit` is never built.
    #[inline]
    fn enabled(&self, level: Level) -> bool {
        level_enabled(tracing_level(level))
    }

    fn open_scope(&self, scope: &Ctx) -> Option<Box<dyn ScopeSpan>> {
        let level = self.span_level?;
        if !level_enabled(level) {
            return None;
        }
        let span = match SPAN_CALLSITES.get_or_create(level, scope.name(), std::iter::empty()) {
            Some(callsite) if callsite.is_never() => return None,
            Some(callsite) => new_span(callsite.metadata(), scope),
            None => fallback_span(level, scope),
        };
        if span.is_disabled() {
            return None;
        }
        Some(Box::new(TracingScope(span)))
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

/// The keys of the attributes that become fields of their own: all but a `message`
/// attribute, which joins the `message` field.
fn field_keys<'a>(
    attributes: &'a [(Cow<'static, str>, Value)],
) -> impl Iterator<Item = &'a str> + Clone {
    attributes
        .iter()
        .map(|(key, _)| key.as_ref())
        .filter(|key| *key != MESSAGE)
}

/// The field `tracing` subscribers show as an event's text.
const MESSAGE: &str = "message";

/// The `message` of an event with a `message` attribute: `"<name>: <message>"`.
struct NameAndMessage<'a>(&'a str, &'a Value);

impl fmt::Display for NameAndMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0, self.1)
    }
}

// ----- callsites built at run time -----

/// Interest values, as `DefaultCallsite` stores them.
const INTEREST_NEVER: u8 = 0;
const INTEREST_SOMETIMES: u8 = 1;
const INTEREST_ALWAYS: u8 = 2;

/// A callsite created at run time and leaked, so it is `'static` like a macro's.
struct DynCallsite {
    /// Set once, right after the callsite is leaked: the metadata names the callsite.
    meta: OnceLock<Metadata<'static>>,
    /// The metadata's fields, made once (set with `meta`).
    fields: OnceLock<Box<[Field]>>,
    /// What the subscribers said when the callsite was registered (or since).
    interest: AtomicU8,
    /// The field names, in order.
    names: &'static [&'static str],
    /// The attribute keys among them (none for a span).
    keys: &'static [&'static str],
    /// The lookup hash of (level, name, keys), kept for rehashing.
    hash: u64,
    /// Its number among the callsites of its kind: what an [`Event`]'s memo keeps.
    id: u32,
}

impl DynCallsite {
    fn metadata(&'static self) -> &'static Metadata<'static> {
        self.meta
            .get()
            .expect("metadata is set before the callsite is shared")
    }

    fn is_never(&self) -> bool {
        self.interest.load(Ordering::Relaxed) == INTEREST_NEVER
    }

    /// Whether every subscriber wants this callsite, so `enabled` need not be asked.
    fn is_always(&self) -> bool {
        self.interest.load(Ordering::Relaxed) == INTEREST_ALWAYS
    }

    /// Whether this is the callsite of (level, name, keys).
    fn matches<'k>(
        &'static self,
        level: ::tracing::Level,
        name: &str,
        keys: impl Iterator<Item = &'k str>,
    ) -> bool {
        let meta = self.metadata();
        *meta.level() == level && meta.name() == name && keys.eq(self.keys.iter().copied())
    }
}

impl Callsite for DynCallsite {
    fn set_interest(&self, interest: Interest) {
        let interest = if interest.is_never() {
            INTEREST_NEVER
        } else if interest.is_always() {
            INTEREST_ALWAYS
        } else {
            INTEREST_SOMETIMES
        };
        self.interest.store(interest, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.meta
            .get()
            .expect("metadata is set before the callsite is registered")
    }
}

/// The callsites of one kind (events or spans), found by (level, name, keys).
struct Callsites {
    /// Events or spans.
    kind: Kind,
    /// The leaked callsites, by hash.
    table: RwLock<HashTable<&'static DynCallsite>>,
    /// Hashes (level, name, keys).
    hasher: DefaultHashBuilder,
    /// How many callsites were created (or are being created).
    created: AtomicUsize,
    /// The bound on `created`.
    max: usize,
    /// The callsites in the table, by id (a callsite that lost a creation race has an
    /// id but no place here).
    by_id: RwLock<Vec<Option<&'static DynCallsite>>>,
}

thread_local! {
    /// The callsites this thread has used (events and spans): a lock-free first look.
    static SEEN: RefCell<HashTable<&'static DynCallsite>> = const { RefCell::new(HashTable::new()) };

    /// The event callsites this thread has used, by id: what an event's memo finds.
    static SEEN_BY_ID: RefCell<Vec<Option<&'static DynCallsite>>> = const { RefCell::new(Vec::new()) };
}

static EVENT_CALLSITES: LazyLock<Callsites> =
    LazyLock::new(|| Callsites::new(Kind::EVENT, MAX_EVENT_CALLSITES));

static SPAN_CALLSITES: LazyLock<Callsites> =
    LazyLock::new(|| Callsites::new(Kind::SPAN, MAX_SPAN_CALLSITES));

impl Callsites {
    fn new(kind: Kind, max: usize) -> Self {
        Callsites {
            kind,
            table: RwLock::new(HashTable::new()),
            hasher: DefaultHashBuilder::default(),
            created: AtomicUsize::new(0),
            max,
            by_id: RwLock::new(Vec::new()),
        }
    }

    /// The event callsite with id `id`, from this thread's copy first.
    #[inline]
    fn by_id(&self, id: u32) -> Option<&'static DynCallsite> {
        let id = id as usize;
        if let Ok(Some(callsite)) =
            SEEN_BY_ID.try_with(|seen| seen.try_borrow().ok()?.get(id).copied().flatten())
        {
            return Some(callsite);
        }
        let callsite = {
            let by_id = self.by_id.read().unwrap_or_else(PoisonError::into_inner);
            by_id.get(id).copied().flatten()?
        };
        let _ = SEEN_BY_ID.try_with(|seen| {
            if let Ok(mut seen) = seen.try_borrow_mut() {
                if seen.len() <= id {
                    seen.resize(id + 1, None);
                }
                seen[id] = Some(callsite);
            }
        });
        Some(callsite)
    }

    /// The callsite of (level, name, keys), created and registered on first use; `None`
    /// once `max` callsites exist.
    fn get_or_create<'k, I>(
        &self,
        level: ::tracing::Level,
        name: &str,
        keys: I,
    ) -> Option<&'static DynCallsite>
    where
        I: Iterator<Item = &'k str> + Clone,
    {
        let mut hasher = self.hasher.build_hasher();
        self.kind.is_span().hash(&mut hasher);
        level.as_str().hash(&mut hasher);
        name.hash(&mut hasher);
        for key in keys.clone() {
            key.hash(&mut hasher);
        }
        let hash = hasher.finish();
        let is_span = self.kind.is_span();
        let eq = |cs: &&'static DynCallsite| {
            cs.metadata().is_span() == is_span && cs.matches(level, name, keys.clone())
        };
        // This thread's copy first: no lock, no shared cache line. Callsites are never
        // freed, so a copied reference stays valid.
        let local = SEEN.try_with(|seen| seen.borrow().find(hash, eq).copied());
        if let Ok(Some(callsite)) = local {
            return Some(callsite);
        }
        let found = {
            let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
            table.find(hash, eq).copied()
        };
        let callsite = match found {
            Some(callsite) => callsite,
            None => self.create(level, name, keys, hash)?,
        };
        let _ = SEEN.try_with(|seen| {
            if let Ok(mut seen) = seen.try_borrow_mut() {
                seen.insert_unique(hash, callsite, |cs| cs.hash);
            }
        });
        Some(callsite)
    }

    #[cold]
    fn create<'k>(
        &self,
        level: ::tracing::Level,
        name: &str,
        keys: impl Iterator<Item = &'k str> + Clone,
        hash: u64,
    ) -> Option<&'static DynCallsite> {
        let id = self.created.fetch_add(1, Ordering::Relaxed);
        if id >= self.max {
            self.created.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let names: Vec<&'static str> = if self.kind.is_span() {
            SPAN_FIELDS.to_vec()
        } else {
            std::iter::once(MESSAGE)
                .chain(keys.clone().map(leak_str))
                .chain(SCOPE_FIELDS)
                .collect()
        };
        let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
        let own_keys = if self.kind.is_span() {
            &[]
        } else {
            &names[1..names.len() - SCOPE_FIELDS.len()]
        };
        let callsite: &'static DynCallsite = Box::leak(Box::new(DynCallsite {
            meta: OnceLock::new(),
            fields: OnceLock::new(),
            interest: AtomicU8::new(INTEREST_SOMETIMES),
            names,
            keys: own_keys,
            hash,
            id: u32::try_from(id).expect("at most `max` callsites"),
        }));
        let fields = FieldSet::new(callsite.names, tracing_core::identify_callsite!(callsite));
        let meta = Metadata::new(
            leak_str(name),
            TARGET,
            level,
            None,
            None,
            None,
            fields,
            self.kind.clone(),
        );
        let _ = callsite.meta.set(meta);
        let _ = callsite
            .fields
            .set(callsite.metadata().fields().iter().collect());
        // Registering asks every subscriber for its interest: user code, so no lock
        // of ours is held.
        callsite::register(callsite);

        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let eq = |cs: &&'static DynCallsite| cs.matches(level, name, keys.clone());
        if let Some(&existing) = table.find(hash, eq) {
            // Another thread made the same callsite meanwhile: use the one in the
            // table (ours stays registered, unused; a race costs one callsite).
            return Some(existing);
        }
        table.insert_unique(hash, callsite, |cs| cs.hash);
        if !self.kind.is_span() {
            // Only events are found by id (through their memo).
            let mut by_id = self.by_id.write().unwrap_or_else(PoisonError::into_inner);
            if by_id.len() <= id {
                by_id.resize(id + 1, None);
            }
            by_id[id] = Some(callsite);
        }
        Some(callsite)
    }
}

/// A `'static` copy of `s` (leaked: callsites live for the process).
fn leak_str(s: &str) -> &'static str {
    Box::leak(Box::<str>::from(s))
}

// ----- emitting -----

/// Emits `event` at its own callsite, whose fields are `message`, the attributes and
/// the scope fields.
fn dispatch_event(callsite: &'static DynCallsite, event: &Event, scope: &Ctx) {
    let meta = callsite.metadata();
    let always = callsite.is_always();
    // `tracing` takes a field-value array of a length known at compile time: pick the
    // instance for this event's number of fields.
    macro_rules! by_len {
        ($($n:literal)*) => {
            match meta.fields().len() {
                $($n => dispatch_n::<$n>(callsite, meta, always, event, scope),)*
                _ => unreachable!("events have 5 to 32 fields"),
            }
        };
    }
    by_len!(5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
}

/// [`dispatch_event`] for an event with `N` fields (`N - 5` attributes). `always`: the
/// callsite's interest says every subscriber wants it.
fn dispatch_n<const N: usize>(
    callsite: &'static DynCallsite,
    meta: &'static Metadata<'static>,
    always: bool,
    event: &Event,
    scope: &Ctx,
) {
    let fields = meta.fields();
    let field = callsite
        .fields
        .get()
        .expect("fields are set before the callsite is shared");
    let name = event.name();
    // One pass over the attributes: those with fields of their own go in field order
    // (from index 1); the first `message` joins the text. String values need a place
    // to live as `&str` (what `tracing` records).
    let mut text = None;
    let mut by_field: [Option<&Value>; N] = [None; N];
    let mut strs: [&str; N] = [""; N];
    let mut count = 0;
    for (key, value) in event.attributes() {
        if key == MESSAGE {
            if text.is_none() {
                text = Some(display(NameAndMessage(name, value)));
            }
            continue;
        }
        count += 1;
        by_field[count] = Some(value);
        if let Value::Str(s) = value {
            strs[count] = s;
        }
    }
    debug_assert_eq!(count + 5, N);
    let scope_name = scope.name();
    let scope_id = display(scope.id());
    let parent_id = scope.parent_id().map(display);
    let trace_id = display(scope.trace_id());
    let values: [(&Field, Option<&dyn FieldValue>); N] = std::array::from_fn(|i| {
        let value: Option<&dyn FieldValue> = if i == 0 {
            match &text {
                Some(text) => Some(text),
                None => Some(&name),
            }
        } else if i <= count {
            by_field[i].map(|value| -> &dyn FieldValue {
                match value {
                    Value::Bool(v) => v,
                    Value::Int(v) => v,
                    Value::Float(v) => v,
                    Value::Str(_) => &strs[i],
                }
            })
        } else {
            match i - count {
                1 => Some(&scope_name),
                2 => Some(&scope_id),
                3 => parent_id.as_ref().map(|id| id as &dyn FieldValue),
                _ => Some(&trace_id),
            }
        };
        (&field[i], value)
    });
    let values = fields.value_set(&values);
    // What the macros do: ask the subscriber unless its interest was `always` (per-layer
    // filters decide here), then hand it the event. `Event::dispatch` would skip the
    // question.
    ::tracing::dispatcher::get_default(|dispatch| {
        if always || dispatch.enabled(meta) {
            dispatch.event(&::tracing::Event::new(meta, &values));
        }
    });
}

/// A span at its own callsite, named after the scope.
fn new_span(meta: &'static Metadata<'static>, scope: &Ctx) -> Span {
    if !::tracing::dispatcher::get_default(|dispatch| dispatch.enabled(meta)) {
        return Span::none();
    }
    let fields = meta.fields();
    let mut iter = fields.iter();
    let field: [Field; 3] = std::array::from_fn(|_| iter.next().expect("3 fields"));
    let scope_id = display(scope.id());
    let parent_id = scope.parent_id().map(display);
    let trace_id = display(scope.trace_id());
    let values: [(&Field, Option<&dyn FieldValue>); 3] = [
        (&field[0], Some(&scope_id)),
        (
            &field[1],
            parent_id.as_ref().map(|id| id as &dyn FieldValue),
        ),
        (&field[2], Some(&trace_id)),
    ];
    Span::new(meta, &fields.value_set(&values))
}

/// Every attribute as `key=value`, for the fallback callsite.
struct Attributes<'a>(&'a [(Cow<'static, str>, Value)]);

impl fmt::Display for Attributes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match value {
                Value::Str(s) => write!(f, "{key}={s:?}")?,
                other => write!(f, "{key}={other}")?,
            }
        }
        Ok(())
    }
}

/// Expands `$body` with `$lvl` bound to each `tracing` level as a constant (the macros
/// need one).
macro_rules! with_const_level {
    ($level:expr, $lvl:ident => $body:expr) => {
        match $level {
            ::tracing::Level::ERROR => {
                const $lvl: ::tracing::Level = ::tracing::Level::ERROR;
                $body
            }
            ::tracing::Level::WARN => {
                const $lvl: ::tracing::Level = ::tracing::Level::WARN;
                $body
            }
            ::tracing::Level::INFO => {
                const $lvl: ::tracing::Level = ::tracing::Level::INFO;
                $body
            }
            ::tracing::Level::DEBUG => {
                const $lvl: ::tracing::Level = ::tracing::Level::DEBUG;
                $body
            }
            _ => {
                const $lvl: ::tracing::Level = ::tracing::Level::TRACE;
                $body
            }
        }
    };
}

/// Emits `event` at a fixed callsite per level, its attributes in one field.
#[cold]
fn fallback_event(level: ::tracing::Level, event: &Event, scope: &Ctx) {
    let attributes = Attributes(event.attributes());
    let parent_id = scope.parent_id().map(display);
    with_const_level!(level, LEVEL => ::tracing::event!(
        target: TARGET,
        LEVEL,
        message = event.name(),
        attributes = %attributes,
        scope = scope.name(),
        scope_id = %scope.id(),
        parent_id = parent_id,
        trace_id = %scope.trace_id(),
    ));
}

/// A span at a fixed callsite per level, named `haiway.scope`.
#[cold]
fn fallback_span(level: ::tracing::Level, scope: &Ctx) -> Span {
    let parent_id = scope.parent_id().map(display);
    with_const_level!(level, LEVEL => ::tracing::span!(
        target: TARGET,
        LEVEL,
        "haiway.scope",
        scope = scope.name(),
        scope_id = %scope.id(),
        parent_id = parent_id,
        trace_id = %scope.trace_id(),
    ))
}
