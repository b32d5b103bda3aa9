//! Events: what a scope reports, and the [`Recorder`]s that receive them.
//!
//! An [`Event`] is a name, a [`Level`] and a list of attributes. Code records events
//! with [`ctx::record_event`](crate::ctx::record_event); the current scope's
//! [`Recorder`] receives each one together with the [`Ctx`] that recorded it.
//!
//! With no recorder set anywhere up the scope tree, recording is a thread-local read
//! and a branch: it never allocates. Use
//! [`ctx::record_event_with`](crate::ctx::record_event_with) to build an event with
//! attributes only when someone listens.
//!
//! A recorder can also follow the scopes themselves: [`Recorder::open_scope`] attaches
//! a [`ScopeSpan`] to each scope it serves, entered around every poll of the scope's
//! code.
//!
//! Two recorders send events to observability backends, each behind its feature:
//! `event::tracing::TracingRecorder` (feature `tracing`) emits `tracing` events and
//! spans; `event::opentelemetry::OpenTelemetryRecorder` (feature `opentelemetry`)
//! counts events in OpenTelemetry metrics and adds them to the current OpenTelemetry
//! span.

#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
#[cfg(feature = "tracing")]
pub mod tracing;

use std::borrow::Cow;
use std::fmt;
#[cfg(feature = "tracing")]
use std::sync::atomic::AtomicU32;
#[cfg(feature = "opentelemetry")]
use std::sync::atomic::AtomicU64;
#[cfg(any(feature = "tracing", feature = "opentelemetry"))]
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use crate::ctx::{Ctx, ScopeId, TraceId};

/// How important an event is.
///
/// Ordered from least to most severe, so `level >= Level::Warning` works.
///
/// # Examples
///
/// ```
/// use haiway::Level;
///
/// assert!(Level::Error > Level::Info);
/// assert_eq!(Level::Warning.as_str(), "warning");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detailed diagnostics, such as cache hits and misses.
    Debug,
    /// Normal operation worth noting.
    Info,
    /// Something went wrong but the work carried on.
    Warning,
    /// Something failed.
    Error,
}

impl Level {
    /// The level's lower-case name: `"debug"`, `"info"`, `"warning"` or `"error"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Level::Debug.as_str(), "debug");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An attribute value: a bool, an integer, a float or a string.
///
/// Built with `From`, so [`Event::with`] takes plain values.
///
/// # Examples
///
/// ```
/// use haiway::Value;
///
/// assert_eq!(Value::from(3), Value::Int(3));
/// assert_eq!(Value::from("users"), Value::Str("users".into()));
/// assert_eq!(Value::from(true).to_string(), "true");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string; static strings are not copied.
    Str(Cow<'static, str>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Int(i64::from(v))
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    /// Values above `i64::MAX` saturate to `i64::MAX`.
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Value {
    /// Values above `i64::MAX` saturate to `i64::MAX`.
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Str(Cow::Borrowed(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Value::Str(v)
    }
}

impl From<Arc<str>> for Value {
    fn from(v: Arc<str>) -> Self {
        Value::Str(Cow::Owned(v.as_ref().to_owned()))
    }
}

/// One attribute of an event: a key and a value.
type Attribute = (Cow<'static, str>, Value);

/// How many attributes an event holds before it allocates.
const INLINE_ATTRIBUTES: usize = 2;

/// What fills the unused inline places: copies nothing, allocates nothing.
const UNUSED: Attribute = (Cow::Borrowed(""), Value::Bool(false));

/// An event's attributes: the first [`INLINE_ATTRIBUTES`] in place, more on the heap.
///
/// Recording an event on a hot path (a cache hit with its `cache` attribute) must
/// not allocate, so the common small events never touch the heap.
#[derive(Clone)]
enum Attributes {
    /// Up to [`INLINE_ATTRIBUTES`]; the places from `len` on hold [`UNUSED`].
    Inline {
        /// How many places are in use.
        len: usize,
        /// The places.
        items: [Attribute; INLINE_ATTRIBUTES],
    },
    /// More than fit inline.
    Heap(Vec<Attribute>),
}

impl Attributes {
    /// No attributes.
    const fn new() -> Self {
        Attributes::Inline {
            len: 0,
            items: [UNUSED; INLINE_ATTRIBUTES],
        }
    }

    /// Appends one attribute.
    #[inline]
    fn push(&mut self, attribute: Attribute) {
        match self {
            Attributes::Inline { len, items } if *len < INLINE_ATTRIBUTES => {
                items[*len] = attribute;
                *len += 1;
            }
            Attributes::Inline { items, .. } => {
                let mut heap = Vec::with_capacity(2 * INLINE_ATTRIBUTES);
                heap.extend(std::mem::replace(items, [UNUSED; INLINE_ATTRIBUTES]));
                heap.push(attribute);
                *self = Attributes::Heap(heap);
            }
            Attributes::Heap(heap) => heap.push(attribute),
        }
    }

    /// The attributes in use, in order.
    #[inline]
    fn as_slice(&self) -> &[Attribute] {
        match self {
            Attributes::Inline { len, items } => &items[..*len],
            Attributes::Heap(heap) => heap,
        }
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Something that happened: a name, a [`Level`] and attributes.
///
/// Built fluently. An event with a static name and up to two attributes with static
/// keys and non-`String` values does not allocate.
///
/// # Examples
///
/// ```
/// use haiway::{Event, Level, Value};
///
/// let event = Event::info("user.login").with("user", "ada").with("attempt", 2);
/// assert_eq!(event.name(), "user.login");
/// assert_eq!(event.level(), Level::Info);
/// assert_eq!(event.attribute("attempt"), Some(&Value::Int(2)));
/// ```
#[derive(Clone)]
pub struct Event {
    /// The event's name, such as `cache.hit`.
    name: Cow<'static, str>,
    /// How important it is.
    level: Level,
    /// Attributes in the order they were added.
    attributes: Attributes,
    /// What a recorder found out about this event's shape, kept for the next time the
    /// same event is recorded (the cache records one `Event` per hit).
    memo: Memo,
}

impl PartialEq for Event {
    /// Name, level and attributes; not what recorders remembered.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.level == other.level && self.attributes == other.attributes
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .field("level", &self.level)
            .field("attributes", &self.attributes)
            .finish()
    }
}

/// What the built-in recorders store in an event to find their own state for it again
/// without hashing strings. An event's content only changes in [`Event::with`], which
/// starts a fresh memo.
#[derive(Default)]
struct Memo {
    /// `TracingRecorder`'s callsite id + 1 (a callsite depends on the event's name,
    /// level and attribute keys only, so a clone keeps it); `0`: not known yet.
    #[cfg(feature = "tracing")]
    tracing: AtomicU32,
    /// `OpenTelemetryRecorder`'s converted attributes: `0`, none; [`LONG_LIVED`], none
    /// yet but worth keeping; [`NOT_KEPT`], no room was left; otherwise a handle that
    /// `opentelemetry::release` gives back when the event is dropped. A clone starts
    /// with none (the handle has one owner).
    #[cfg(feature = "opentelemetry")]
    opentelemetry: AtomicU64,
}

/// [`Memo::opentelemetry`]: the event is long-lived (the cache's), so its converted
/// attributes are worth keeping from its first recording.
#[cfg(feature = "opentelemetry")]
pub(crate) const LONG_LIVED: u64 = u64::MAX;

/// [`Memo::opentelemetry`]: the event wanted its attributes kept, but no room was left.
#[cfg(feature = "opentelemetry")]
pub(crate) const NOT_KEPT: u64 = u64::MAX - 1;

impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo {
            #[cfg(feature = "tracing")]
            tracing: AtomicU32::new(self.tracing.load(Ordering::Relaxed)),
            #[cfg(feature = "opentelemetry")]
            opentelemetry: AtomicU64::new(0),
        }
    }
}

#[cfg(feature = "opentelemetry")]
impl Drop for Memo {
    #[inline]
    fn drop(&mut self) {
        let handle = *self.opentelemetry.get_mut();
        if handle != 0 && handle != LONG_LIVED && handle != NOT_KEPT {
            opentelemetry::release(handle);
        }
    }
}

impl Event {
    /// Creates an event with no attributes.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Event, Level};
    ///
    /// let event = Event::new(Level::Warning, "disk.low");
    /// assert_eq!(event.level(), Level::Warning);
    /// ```
    #[inline]
    pub fn new(level: Level, name: impl Into<Cow<'static, str>>) -> Self {
        Event {
            name: name.into(),
            level,
            attributes: Attributes::new(),
            memo: Memo::default(),
        }
    }

    /// Creates a [`Level::Debug`] event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::debug("x").level(), haiway::Level::Debug);
    /// ```
    #[inline]
    pub fn debug(name: impl Into<Cow<'static, str>>) -> Self {
        Event::new(Level::Debug, name)
    }

    /// Creates a [`Level::Info`] event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::info("x").level(), haiway::Level::Info);
    /// ```
    #[inline]
    pub fn info(name: impl Into<Cow<'static, str>>) -> Self {
        Event::new(Level::Info, name)
    }

    /// Creates a [`Level::Warning`] event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::warning("x").level(), haiway::Level::Warning);
    /// ```
    #[inline]
    pub fn warning(name: impl Into<Cow<'static, str>>) -> Self {
        Event::new(Level::Warning, name)
    }

    /// Creates a [`Level::Error`] event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::error("x").level(), haiway::Level::Error);
    /// ```
    #[inline]
    pub fn error(name: impl Into<Cow<'static, str>>) -> Self {
        Event::new(Level::Error, name)
    }

    /// Adds an attribute and returns the event.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = haiway::Event::debug("cache.hit").with("cache", "profiles");
    /// assert_eq!(event.attributes().len(), 1);
    /// ```
    #[must_use]
    #[inline]
    pub fn with(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self.memo = Memo::default();
        self
    }

    /// The event's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::info("started").name(), "started");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event's level.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::error("x").level(), haiway::Level::Error);
    /// ```
    pub fn level(&self) -> Level {
        self.level
    }

    /// The attributes, in the order they were added.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = haiway::Event::info("x").with("a", 1).with("b", 2);
    /// let keys: Vec<&str> = event.attributes().iter().map(|(k, _)| k.as_ref()).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn attributes(&self) -> &[(Cow<'static, str>, Value)] {
        self.attributes.as_slice()
    }

    /// The value of the first attribute named `key`, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = haiway::Event::info("x").with("a", 1);
    /// assert_eq!(event.attribute("a"), Some(&haiway::Value::Int(1)));
    /// assert_eq!(event.attribute("b"), None);
    /// ```
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .as_slice()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The name as stored, so a recorder can share a static name instead of copying.
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn name_cow(&self) -> &Cow<'static, str> {
        &self.name
    }

    /// `TracingRecorder`'s callsite id + 1 for this event (see [`Memo`]); `0`: not known.
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn tracing_memo(&self) -> u32 {
        self.memo.tracing.load(Ordering::Relaxed)
    }

    /// Remembers `TracingRecorder`'s callsite id + 1 for this event.
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn set_tracing_memo(&self, value: u32) {
        self.memo.tracing.store(value, Ordering::Relaxed);
    }

    /// `OpenTelemetryRecorder`'s memo of this event (see [`Memo`]).
    #[cfg(feature = "opentelemetry")]
    #[inline]
    pub(crate) fn opentelemetry_memo(&self) -> &AtomicU64 {
        &self.memo.opentelemetry
    }

    /// Marks the event as long-lived: recorded many times, so recorders may keep
    /// what they work out about it (the cache's own events).
    #[must_use]
    pub(crate) fn long_lived(self) -> Self {
        #[cfg(feature = "opentelemetry")]
        self.memo.opentelemetry.store(LONG_LIVED, Ordering::Relaxed);
        self
    }
}

/// Receives the events recorded in a scope.
///
/// One required method. Set a recorder with [`Scope::recorder`](crate::Scope::recorder);
/// nested scopes inherit it. A recorder is called on the recording task's thread,
/// synchronously: keep it quick and never block on I/O in it.
///
/// Closures `Fn(&Ctx, &Event)` are recorders too.
///
/// # Examples
///
/// ```
/// use haiway::{Ctx, Event, Recorder, Scope};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// struct Count(Arc<AtomicUsize>);
///
/// impl Recorder for Count {
///     fn record(&self, _scope: &Ctx, _event: &Event) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let count = Arc::new(AtomicUsize::new(0));
/// # futures_lite::future::block_on(async {
/// Scope::new("job")
///     .recorder(Count(count.clone()))
///     .run(async { haiway::ctx::record_event(Event::info("step")) })
///     .await;
/// # });
/// assert_eq!(count.load(Ordering::Relaxed), 1);
/// ```
pub trait Recorder: Send + Sync + 'static {
    /// Handles one event recorded in `scope`.
    ///
    /// While `record` runs, no scope is current on this thread: use `scope` (for
    /// example [`scope.try_spawn`](Ctx::try_spawn) to ship events in the background),
    /// not [`Ctx::current`] or the free functions of [`ctx`](crate::ctx). Every event
    /// recorded on this thread while a recorder runs is dropped (through the free
    /// functions, through [`Ctx::record_event`], and in scopes the recorder runs
    /// itself), so a recorder never calls itself back. (`tracing` treats events from
    /// inside a subscriber the same way.) Tasks the recorder spawns run later, and
    /// record as usual.
    fn record(&self, scope: &Ctx, event: &Event);

    /// Whether this recorder wants events at `level`. Asked before each event is
    /// handed over, and before a lazily built one
    /// ([`ctx::record_event_with`](crate::ctx::record_event_with)) is built, so a
    /// recorder that drops debug events spares the cache the cost of handing over its
    /// `cache.hit` events. Called on every recorded event, with the recording scope
    /// still current: keep it to a comparison or an atomic load. It must not record
    /// events or poll futures (polling a scope's future here panics, with a message
    /// that says so). The default wants everything.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Event, Level, MemoryRecorder, Recorder, Scope};
    ///
    /// /// Keeps warnings and errors only.
    /// #[derive(Clone)]
    /// struct Warnings(MemoryRecorder);
    ///
    /// impl Recorder for Warnings {
    ///     fn record(&self, scope: &Ctx, event: &Event) {
    ///         self.0.record(scope, event);
    ///     }
    ///     fn enabled(&self, level: Level) -> bool {
    ///         level >= Level::Warning
    ///     }
    /// }
    ///
    /// let kept = MemoryRecorder::new();
    /// # futures_lite::future::block_on(async {
    /// Scope::new("job")
    ///     .recorder(Warnings(kept.clone()))
    ///     .run(async {
    ///         haiway::ctx::record_event(Event::debug("noise"));
    ///         haiway::ctx::record_event_with(Level::Debug, || unreachable!("never built"));
    ///         haiway::ctx::record_event(Event::warning("disk.low"));
    ///     })
    ///     .await;
    /// # });
    /// assert_eq!(kept.names(), ["disk.low"]);
    /// ```
    fn enabled(&self, level: Level) -> bool {
        let _ = level;
        true
    }

    /// Called once when a scope that uses this recorder starts (in
    /// [`Scope::run`](crate::Scope::run)), to attach per-scope state such as a span.
    ///
    /// The returned [`ScopeSpan`] is entered before, and exited after, every poll of
    /// the scope's code: its body and each task spawned in it, on whichever thread
    /// polls them. It is ended once when the scope finishes or its future is dropped,
    /// and dropped with the scope's last [`Ctx`]. The default attaches nothing, and a
    /// scope with nothing attached pays nothing per poll beyond one branch.
    ///
    /// `scope` is complete (name, ids, parent) but not yet current.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Event, Recorder, Scope, ScopeSpan};
    /// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    /// use std::sync::Arc;
    ///
    /// /// Counts the polls of scope code, and the scopes that ended.
    /// #[derive(Default)]
    /// struct Counts {
    ///     enters: AtomicUsize,
    ///     exits: AtomicUsize,
    ///     ends: AtomicUsize,
    /// }
    ///
    /// struct Polls(Arc<Counts>);
    ///
    /// impl ScopeSpan for Polls {
    ///     fn enter(&self) {
    ///         self.0.enters.fetch_add(1, Relaxed);
    ///     }
    ///     fn exit(&self) {
    ///         self.0.exits.fetch_add(1, Relaxed);
    ///     }
    ///     fn end(&self) {
    ///         self.0.ends.fetch_add(1, Relaxed);
    ///     }
    /// }
    ///
    /// struct PollCounter(Arc<Counts>);
    ///
    /// impl Recorder for PollCounter {
    ///     fn record(&self, _scope: &Ctx, _event: &Event) {}
    ///     fn open_scope(&self, _scope: &Ctx) -> Option<Box<dyn ScopeSpan>> {
    ///         Some(Box::new(Polls(self.0.clone())))
    ///     }
    /// }
    ///
    /// let counts = Arc::new(Counts::default());
    /// # futures_lite::future::block_on(async {
    /// Scope::new("job")
    ///     .recorder(PollCounter(counts.clone()))
    ///     .run(async { haiway::ctx::spawn(async {}).await })
    ///     .await;
    /// # });
    /// assert!(counts.enters.load(Relaxed) >= 2); // the body and the task, at least
    /// assert_eq!(counts.enters.load(Relaxed), counts.exits.load(Relaxed));
    /// assert_eq!(counts.ends.load(Relaxed), 1);
    /// ```
    fn open_scope(&self, scope: &Ctx) -> Option<Box<dyn ScopeSpan>> {
        let _ = scope;
        None
    }
}

/// Per-scope state a [`Recorder`] attaches to a scope with [`Recorder::open_scope`]:
/// typically a span, made current while the scope's code runs.
///
/// `enter` and `exit` come in pairs on one thread, nested like the polls they wrap:
/// a scope polled inside another is entered after it and exited before it. Different
/// threads may enter the same scope at the same time (its body on one, a task on
/// another). Keep both quick, and never panic in them.
///
/// # Examples
///
/// ```
/// use haiway::ScopeSpan;
/// use std::sync::atomic::{AtomicIsize, Ordering};
///
/// /// How many polls of the scope are under way right now.
/// struct Active(AtomicIsize);
///
/// impl ScopeSpan for Active {
///     fn enter(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn exit(&self) {
///         self.0.fetch_sub(1, Ordering::Relaxed);
///     }
/// }
///
/// let active = Active(AtomicIsize::new(0));
/// active.enter();
/// active.exit();
/// active.end();
/// assert_eq!(active.0.load(Ordering::Relaxed), 0);
/// ```
pub trait ScopeSpan: Send + Sync + 'static {
    /// Called on the polling thread just before a poll of the scope's code.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// thread_local!(static DEPTH: Cell<u32> = const { Cell::new(0) });
    ///
    /// struct Depth;
    /// impl haiway::ScopeSpan for Depth {
    ///     fn enter(&self) {
    ///         DEPTH.with(|d| d.set(d.get() + 1));
    ///     }
    ///     fn exit(&self) {
    ///         DEPTH.with(|d| d.set(d.get() - 1));
    ///     }
    /// }
    ///
    /// haiway::ScopeSpan::enter(&Depth);
    /// assert_eq!(DEPTH.with(Cell::get), 1);
    /// haiway::ScopeSpan::exit(&Depth);
    /// assert_eq!(DEPTH.with(Cell::get), 0);
    /// ```
    fn enter(&self);

    /// Called on the same thread just after that poll, also when it panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// struct Flag(AtomicBool);
    /// impl haiway::ScopeSpan for Flag {
    ///     fn enter(&self) {
    ///         self.0.store(true, Ordering::Relaxed);
    ///     }
    ///     fn exit(&self) {
    ///         self.0.store(false, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let flag = Flag(AtomicBool::new(false));
    /// haiway::ScopeSpan::enter(&flag);
    /// haiway::ScopeSpan::exit(&flag);
    /// assert!(!flag.0.load(Ordering::Relaxed));
    /// ```
    fn exit(&self);

    /// Called once when the scope has finished (its body and all its tasks), or when
    /// its future is dropped before that. The default does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// struct Nothing;
    /// impl haiway::ScopeSpan for Nothing {
    ///     fn enter(&self) {}
    ///     fn exit(&self) {}
    /// }
    /// haiway::ScopeSpan::end(&Nothing);
    /// ```
    fn end(&self) {}
}

impl<F> Recorder for F
where
    F: Fn(&Ctx, &Event) + Send + Sync + 'static,
{
    fn record(&self, scope: &Ctx, event: &Event) {
        self(scope, event)
    }
}

/// A recorder that drops every event.
///
/// Setting it on a scope stops the events of that scope (and the scopes nested in it)
/// from reaching a recorder set further out.
///
/// # Examples
///
/// ```
/// use haiway::{NoopRecorder, Scope};
///
/// # futures_lite::future::block_on(async {
/// Scope::new("quiet")
///     .recorder(NoopRecorder)
///     .run(async { haiway::ctx::record_event(haiway::Event::info("ignored")) })
///     .await;
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopRecorder;

impl Recorder for NoopRecorder {
    fn record(&self, _scope: &Ctx, _event: &Event) {}
}

/// An event as a [`MemoryRecorder`] kept it, with the identity of the recording scope.
///
/// # Examples
///
/// ```
/// use haiway::{Event, MemoryRecorder, Scope};
///
/// let recorder = MemoryRecorder::new();
/// # futures_lite::future::block_on(async {
/// Scope::new("job")
///     .recorder(recorder.clone())
///     .run(async { haiway::ctx::record_event(Event::info("done")) })
///     .await;
/// # });
/// let recorded = &recorder.events()[0];
/// assert_eq!(recorded.scope_name.as_ref(), "job");
/// assert_eq!(recorded.event.name(), "done");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedEvent {
    /// The name of the scope that recorded the event.
    pub scope_name: Arc<str>,
    /// The id of the scope that recorded the event.
    pub scope_id: ScopeId,
    /// The trace id of that scope's tree.
    pub trace_id: TraceId,
    /// The event.
    pub event: Event,
}

/// A recorder that keeps every event in memory, in order, for tests to assert on.
///
/// Cloning is cheap and clones share the same list: keep one clone, give another to
/// [`Scope::recorder`](crate::Scope::recorder).
///
/// # Examples
///
/// ```
/// use haiway::{Event, MemoryRecorder, Scope};
///
/// let recorder = MemoryRecorder::new();
/// # futures_lite::future::block_on(async {
/// Scope::new("test")
///     .recorder(recorder.clone())
///     .run(async {
///         haiway::ctx::record_event(Event::debug("a"));
///         haiway::ctx::record_event(Event::debug("b"));
///     })
///     .await;
/// # });
/// assert_eq!(recorder.names(), ["a", "b"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryRecorder {
    /// The shared list of recorded events.
    events: Arc<Mutex<Vec<RecordedEvent>>>,
}

impl MemoryRecorder {
    /// Creates an empty recorder.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(haiway::MemoryRecorder::new().events().is_empty());
    /// ```
    pub fn new() -> Self {
        MemoryRecorder::default()
    }

    /// A copy of every event recorded so far, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::MemoryRecorder::new().events().len(), 0);
    /// ```
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.lock().clone()
    }

    /// The names of the events recorded so far, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(haiway::MemoryRecorder::new().names().is_empty());
    /// ```
    pub fn names(&self) -> Vec<String> {
        self.lock()
            .iter()
            .map(|r| r.event.name().to_owned())
            .collect()
    }

    /// How many recorded events are named `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::MemoryRecorder::new().count("cache.hit"), 0);
    /// ```
    pub fn count(&self, name: &str) -> usize {
        self.lock()
            .iter()
            .filter(|r| r.event.name() == name)
            .count()
    }

    /// Removes and returns every event recorded so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let recorder = haiway::MemoryRecorder::new();
    /// assert!(recorder.take().is_empty());
    /// ```
    pub fn take(&self) -> Vec<RecordedEvent> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedEvent>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Recorder for MemoryRecorder {
    fn record(&self, scope: &Ctx, event: &Event) {
        let recorded = RecordedEvent {
            scope_name: scope.name_arc(),
            scope_id: scope.id(),
            trace_id: scope.trace_id(),
            event: event.clone(),
        };
        self.lock().push(recorded);
    }
}
