//! [`MemoryRecorder`]: every event kept in memory, for tests to assert on.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::data::Event;
use super::recorder::{Prepared, Recorder};
use super::scope::{ScopeId, ScopeInfo, TraceId};

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
/// assert_eq!(recorded.scope(), "job");
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
    /// The event, shared: every recording of a [`PreparedEvent`](super::PreparedEvent)
    /// (a cache's `cache.hit`, say) shares one copy.
    pub event: Arc<Event>,
}

impl RecordedEvent {
    /// The name of the scope that recorded the event, as a `&str`:
    /// `recorded.scope() == "job"`.
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
    ///     .run(async { haiway::ctx::record_event(Event::info("done").with("n", 1)) })
    ///     .await;
    /// # });
    /// let recorded = &recorder.events()[0];
    /// assert_eq!(recorded.scope(), "job");
    /// assert!(recorded.event.attribute("n").is_some_and(|n| n == 1));
    /// ```
    pub fn scope(&self) -> &str {
        &self.scope_name
    }
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

    /// The list, locked without ever panicking on poison.
    fn lock(&self) -> MutexGuard<'_, Vec<RecordedEvent>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MemoryRecorder {
    /// Keeps `event`, recorded in `scope`.
    #[inline(always)]
    fn keep(&self, scope: &ScopeInfo, event: Arc<Event>) {
        let recorded = RecordedEvent {
            scope_name: scope.name_arc().clone(),
            scope_id: scope.id(),
            trace_id: scope.trace_id(),
            event,
        };
        self.lock().push(recorded);
    }
}

/// What a [`MemoryRecorder`] prepares for a [`PreparedEvent`](super::PreparedEvent):
/// one shared copy of the event, so keeping a recording of it copies nothing.
struct Shared(Arc<Event>);

impl Recorder for MemoryRecorder {
    fn record(&self, scope: &ScopeInfo, event: &Event) {
        self.keep(scope, Arc::new(event.clone()));
    }

    fn prepare(&self, event: &Event) -> Option<Prepared> {
        Some(Prepared::new(Shared(Arc::new(event.clone()))))
    }

    fn record_prepared(&self, scope: &ScopeInfo, event: &Event, prepared: &Prepared) {
        match prepared.downcast_ref::<Shared>() {
            Some(Shared(shared)) => self.keep(scope, shared.clone()),
            None => self.record(scope, event),
        }
    }
}
