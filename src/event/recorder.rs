//! The [`Recorder`] trait, what it may keep per event ([`Prepared`]), and closures as
//! recorders. [`ScopeSpan`], what it may attach per scope, is in [`span`](super::span).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::data::Event;
use super::scope::ScopeInfo;
use super::span::ScopeSpan;
use super::value::Level;

/// Receives the events recorded in a scope.
///
/// One required method. Set a recorder with [`Scope::recorder`](crate::Scope::recorder);
/// nested scopes inherit it. A recorder is called on the recording task's thread,
/// synchronously: keep it quick and never block on I/O in it.
///
/// Closures `Fn(&ScopeInfo, &Event)` are recorders too.
///
/// # Examples
///
/// ```
/// use haiway::{Event, Recorder, Scope, ScopeInfo};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// struct Count(Arc<AtomicUsize>);
///
/// impl Recorder for Count {
///     fn record(&self, _scope: &ScopeInfo, _event: &Event) {
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
    /// Handles one event recorded in the scope `scope` describes.
    ///
    /// While `record` runs, no scope is current on this thread: use `scope`, not
    /// [`Ctx::current`](crate::Ctx::current) or the free functions of
    /// [`ctx`](crate::ctx). Every event recorded on this thread while a recorder runs
    /// is dropped (through the free functions, through
    /// [`Ctx::record_event`](crate::Ctx::record_event), and in scopes the recorder
    /// runs itself), so a recorder never calls itself back. (`tracing` treats events
    /// from inside a subscriber the same way.) To ship events somewhere slow, hand them
    /// to a thread or task of the recorder's own.
    fn record(&self, scope: &ScopeInfo, event: &Event);

    /// Whether this recorder wants events at `level`. Asked before each event at or
    /// above [`min_level`](Self::min_level) is handed over, and before a lazily built
    /// one ([`ctx::record_event_with`](crate::ctx::record_event_with)) is built. Called
    /// with the recording scope still current: keep it to a comparison or an atomic
    /// load. It must not record events or poll futures (polling a scope's future here
    /// panics, with a message that says so). The default wants everything.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Event, Level, MemoryRecorder, Recorder, Scope, ScopeInfo};
    ///
    /// /// Keeps warnings and errors only.
    /// #[derive(Clone)]
    /// struct Warnings(MemoryRecorder);
    ///
    /// impl Recorder for Warnings {
    ///     fn record(&self, scope: &ScopeInfo, event: &Event) {
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

    /// The least severe level this recorder wants right now; `None`: no events at all.
    ///
    /// Asked each time the code of a scope that uses this recorder is polled (its
    /// body, each of its tasks), as that scope becomes current. Until the poll ends, an
    /// event below this level costs one thread-local read and a comparison: it is
    /// dropped before [`enabled`](Self::enabled) is asked, and the event given to
    /// [`ctx::record_event_with`](crate::ctx::record_event_with) is not even built. A
    /// recorder that wants no debug events makes a cache hit as cheap as it is with no
    /// recorder. Events at this level and above still go to `enabled`.
    ///
    /// The same rules as `enabled`: keep it to a comparison or an atomic load; it must
    /// not record events or poll futures (polling a scope's future here panics, with a
    /// message that says so). The default, `Some(Level::Debug)`, leaves every level to
    /// `enabled`: override both when `enabled` drops the less severe levels.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Event, Level, Recorder, ScopeInfo};
    ///
    /// /// Warnings and errors only.
    /// struct Warnings;
    ///
    /// impl Recorder for Warnings {
    ///     fn record(&self, _: &ScopeInfo, event: &Event) {
    ///         eprintln!("{}: {}", event.level(), event.name());
    ///     }
    ///     fn enabled(&self, level: Level) -> bool {
    ///         level >= Level::Warning
    ///     }
    ///     fn min_level(&self) -> Option<Level> {
    ///         Some(Level::Warning)
    ///     }
    /// }
    ///
    /// assert_eq!(Warnings.min_level(), Some(Level::Warning));
    /// assert_eq!(haiway::NoopRecorder.min_level(), None);
    /// assert_eq!(haiway::MemoryRecorder::new().min_level(), Some(Level::Debug));
    /// ```
    fn min_level(&self) -> Option<Level> {
        Some(Level::Debug)
    }

    /// Called once when a scope that uses this recorder starts (in
    /// [`Scope::run`](crate::Scope::run)), to attach per-scope state such as a span.
    ///
    /// The returned [`ScopeSpan`] is entered before, and exited after, every poll of
    /// the scope's code: its body and each task spawned in it, on whichever thread
    /// polls them. It is ended once when the scope finishes or its future is dropped,
    /// and dropped with the scope's last [`Ctx`](crate::Ctx). The default attaches
    /// nothing, and a scope with nothing attached pays nothing per poll beyond one
    /// branch.
    ///
    /// `scope` is complete (name, ids, parent) but the scope is not yet current.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Event, Recorder, Scope, ScopeInfo, ScopeSpan};
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
    ///     fn record(&self, _scope: &ScopeInfo, _event: &Event) {}
    ///     fn open_scope(&self, _scope: &ScopeInfo) -> Option<Box<dyn ScopeSpan>> {
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
    fn open_scope(&self, scope: &ScopeInfo) -> Option<Box<dyn ScopeSpan>> {
        let _ = scope;
        None
    }

    /// Works out, once, what this recorder needs to record `event` quickly again and
    /// again: a `tracing` callsite, an OpenTelemetry counter with the attributes
    /// converted, a shared copy of the event. `None` (the default): nothing to keep.
    ///
    /// Asked when a [`PreparedEvent`](super::PreparedEvent) (an event built once and
    /// recorded many times, like a cache's `cache.hit`) reaches this recorder and
    /// keeps no preparation for this recorder's type yet. The event keeps the
    /// preparation under the recorder's type, and every later recording of it by a
    /// recorder of this type calls [`record_prepared`](Self::record_prepared) with it.
    /// Events that are not prepared go to [`record`](Self::record) as usual.
    ///
    /// Called like `record`: no scope is current, and events recorded here are
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::event::{Prepared, PreparedEvent};
    /// use haiway::{Event, Recorder, Scope, ScopeInfo};
    /// use std::sync::Mutex;
    ///
    /// /// Writes each event as a line, formatting each prepared event's text once.
    /// #[derive(Default)]
    /// struct Lines(Mutex<Vec<String>>);
    ///
    /// /// What `Lines` keeps per prepared event.
    /// struct Text(String);
    ///
    /// fn text(event: &Event) -> String {
    ///     format!("{} {:?}", event.name(), event.attributes())
    /// }
    ///
    /// impl Recorder for Lines {
    ///     fn record(&self, scope: &ScopeInfo, event: &Event) {
    ///         self.0.lock().unwrap().push(format!("{}: {}", scope.name(), text(event)));
    ///     }
    ///     fn prepare(&self, event: &Event) -> Option<Prepared> {
    ///         Some(Prepared::new(Text(text(event))))
    ///     }
    ///     fn record_prepared(&self, scope: &ScopeInfo, event: &Event, prepared: &Prepared) {
    ///         match prepared.downcast_ref::<Text>() {
    ///             Some(Text(text)) => self.0.lock().unwrap().push(format!("{}: {text}", scope.name())),
    ///             None => self.record(scope, event),
    ///         }
    ///     }
    /// }
    ///
    /// let tick = PreparedEvent::new(Event::info("tick").with("worker", 1));
    /// let lines = std::sync::Arc::new(Lines::default());
    /// # futures_lite::future::block_on(async {
    /// Scope::new("job")
    ///     .recorder(lines.clone())
    ///     .run(async {
    ///         haiway::ctx::record_event(&tick); // prepared here, then recorded
    ///         haiway::ctx::record_event(&tick); // recorded with the kept text
    ///     })
    ///     .await;
    /// # });
    /// assert!(tick.prepared_by::<std::sync::Arc<Lines>>().is_some());
    /// assert_eq!(lines.0.lock().unwrap().len(), 2);
    /// ```
    fn prepare(&self, event: &Event) -> Option<Prepared> {
        let _ = event;
        None
    }

    /// Handles one recording of a [`PreparedEvent`](super::PreparedEvent), with the
    /// preparation a recorder of this type made for it. The default ignores the
    /// preparation and calls [`record`](Self::record).
    ///
    /// The preparation may come from another recorder of the same type (events keep
    /// one per type): if your recorders differ in what they prepare (one writes to
    /// this file, another to that), put an id of the preparing recorder in it and
    /// check it here, recording as `record` does when it is not yours.
    /// [`Prepared::downcast_ref`] reads it. See [`prepare`](Self::prepare) for an
    /// example.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::event::Prepared;
    /// use haiway::{Event, Recorder, ScopeInfo};
    ///
    /// /// Counts prepared and plain recordings apart.
    /// #[derive(Default)]
    /// struct Split(std::sync::atomic::AtomicUsize, std::sync::atomic::AtomicUsize);
    ///
    /// impl Recorder for Split {
    ///     fn record(&self, _: &ScopeInfo, _: &Event) {
    ///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///     }
    ///     fn record_prepared(&self, _: &ScopeInfo, _: &Event, _: &Prepared) {
    ///         self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///     }
    /// }
    /// # let _ = Split::default();
    /// ```
    fn record_prepared(&self, scope: &ScopeInfo, event: &Event, prepared: &Prepared) {
        let _ = prepared;
        self.record(scope, event);
    }
}

/// What a [`Recorder`] worked out for a [`PreparedEvent`](super::PreparedEvent) in
/// [`Recorder::prepare`], kept by the event: any `Send + Sync` value, read back with
/// [`downcast_ref`](Self::downcast_ref).
///
/// # Examples
///
/// ```
/// use haiway::event::Prepared;
///
/// let prepared = Prepared::new(42_u32);
/// assert_eq!(prepared.downcast_ref::<u32>(), Some(&42));
/// assert_eq!(prepared.downcast_ref::<String>(), None);
/// ```
pub struct Prepared(Box<dyn Any + Send + Sync>);

impl Prepared {
    /// Wraps `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _prepared = haiway::event::Prepared::new(String::from("cache.hit"));
    /// ```
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Prepared(Box::new(value))
    }

    /// The value, if it is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// let prepared = haiway::event::Prepared::new(7_u8);
    /// assert_eq!(prepared.downcast_ref::<u8>(), Some(&7));
    /// ```
    #[inline]
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

impl<F> Recorder for F
where
    F: Fn(&ScopeInfo, &Event) + Send + Sync + 'static,
{
    fn record(&self, scope: &ScopeInfo, event: &Event) {
        self(scope, event)
    }
}

impl<R: Recorder + ?Sized> Recorder for Arc<R> {
    fn record(&self, scope: &ScopeInfo, event: &Event) {
        (**self).record(scope, event);
    }

    fn enabled(&self, level: Level) -> bool {
        (**self).enabled(level)
    }

    fn min_level(&self) -> Option<Level> {
        (**self).min_level()
    }

    fn open_scope(&self, scope: &ScopeInfo) -> Option<Box<dyn ScopeSpan>> {
        (**self).open_scope(scope)
    }

    fn prepare(&self, event: &Event) -> Option<Prepared> {
        (**self).prepare(event)
    }

    fn record_prepared(&self, scope: &ScopeInfo, event: &Event, prepared: &Prepared) {
        (**self).record_prepared(scope, event, prepared);
    }
}
