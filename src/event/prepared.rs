//! [`PreparedEvent`]: an event built once and recorded many times, which keeps what a
//! recorder prepared for it; and [`Recordable`], what the `record_event` functions take.

use std::any::TypeId;
use std::fmt;
use std::sync::OnceLock;

use super::data::Event;
use super::recorder::{Prepared, Recorder};
use super::scope::ScopeInfo;

/// An [`Event`] built once and recorded many times, which keeps what recorders worked
/// out for it ([`Recorder::prepare`]): the cache builds its `cache.hit`, `cache.miss`
/// and `cache.evict` events this way, once per cache.
///
/// The first time a recorder of some type receives the event, it is asked to prepare
/// it; the event keeps that [`Prepared`] under the recorder's type, and from then on
/// each recording by a recorder of that type hands the preparation to
/// [`Recorder::record_prepared`]. So a recorder does its per-event work (finding a
/// `tracing` callsite, converting attributes for OpenTelemetry, copying the event)
/// once per event instead of once per recording, and recorders of different types
/// (a `TracingRecorder` in one scope, a `MemoryRecorder` in another) each keep their
/// own. Record it by reference with [`ctx::record_event`](crate::ctx::record_event).
/// The preparations are dropped with the event; a clone starts with none.
///
/// # Examples
///
/// ```
/// use haiway::event::PreparedEvent;
/// use haiway::{ctx, Event, MemoryRecorder, Scope};
///
/// let tick = PreparedEvent::new(Event::debug("tick").with("worker", "w1"));
/// let recorder = MemoryRecorder::new();
/// # futures_lite::future::block_on(async {
/// Scope::new("jobs")
///     .recorder(recorder.clone())
///     .run(async {
///         for _ in 0..3 {
///             ctx::record_event(&tick);
///         }
///     })
///     .await;
/// # });
/// assert_eq!(recorder.count("tick"), 3);
/// // MemoryRecorder keeps one shared copy of the event.
/// assert!(tick.prepared_by::<MemoryRecorder>().is_some());
/// ```
pub struct PreparedEvent {
    /// The event.
    event: Event,
    /// The preparations recorders made for it, one per recorder type.
    prepared: Preparations,
}

impl PreparedEvent {
    /// Wraps `event`, with no preparation yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::event::PreparedEvent;
    ///
    /// let hit = PreparedEvent::new(haiway::Event::debug("cache.hit"));
    /// assert!(hit.prepared_by::<haiway::MemoryRecorder>().is_none());
    /// ```
    pub fn new(event: Event) -> Self {
        PreparedEvent {
            event,
            prepared: Preparations(OnceLock::new()),
        }
    }

    /// The event.
    ///
    /// # Examples
    ///
    /// ```
    /// let hit = haiway::event::PreparedEvent::new(haiway::Event::debug("cache.hit"));
    /// assert_eq!(hit.event().name(), "cache.hit");
    /// ```
    #[inline]
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The preparation a recorder of type `R` made for the event, if one did.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::event::PreparedEvent;
    /// use haiway::NoopRecorder;
    ///
    /// let hit = PreparedEvent::new(haiway::Event::debug("cache.hit"));
    /// assert!(hit.prepared_by::<NoopRecorder>().is_none()); // no recorder has seen it
    /// ```
    pub fn prepared_by<R: Recorder>(&self) -> Option<&Prepared> {
        self.prepared.get(TypeId::of::<R>())
    }

    /// Hands the event to `recorder`, of type `kind`, recorded in `scope`: with its
    /// preparation when the event keeps one for that type, else asking the recorder
    /// to prepare it first.
    #[inline]
    pub(crate) fn record_to(&self, recorder: &dyn Recorder, kind: TypeId, scope: &ScopeInfo) {
        match self.prepared.get(kind) {
            Some(prepared) => recorder.record_prepared(scope, &self.event, prepared),
            None => self.prepare_and_record(recorder, kind, scope),
        }
    }

    /// [`record_to`](Self::record_to) with no preparation kept for the recorder's type.
    fn prepare_and_record(&self, recorder: &dyn Recorder, kind: TypeId, scope: &ScopeInfo) {
        let Some(prepared) = recorder.prepare(&self.event) else {
            return recorder.record(scope, &self.event);
        };
        let prepared = self.prepared.insert(kind, prepared);
        recorder.record_prepared(scope, &self.event, prepared);
    }
}

/// The preparations of one event: a list, one node per recorder type, that only grows
/// (one node for the usual single recorder), read without a lock.
struct Preparations(OnceLock<Box<Node>>);

/// One recorder type's preparation of an event.
struct Node {
    /// The recorder's type.
    kind: TypeId,
    /// What it prepared.
    prepared: Prepared,
    /// The next recorder type's.
    next: OnceLock<Box<Node>>,
}

impl Preparations {
    /// The preparation of the recorder type `kind`.
    #[inline]
    fn get(&self, kind: TypeId) -> Option<&Prepared> {
        let mut node = self.0.get();
        while let Some(current) = node {
            if current.kind == kind {
                return Some(&current.prepared);
            }
            node = current.next.get();
        }
        None
    }

    /// Keeps `prepared` for the recorder type `kind`, and returns what is kept: when
    /// two threads prepare for one type at once, the first to finish is kept, for both.
    #[cold]
    fn insert(&self, kind: TypeId, prepared: Prepared) -> &Prepared {
        let mut new = Some(Box::new(Node {
            kind,
            prepared,
            next: OnceLock::new(),
        }));
        let mut place = &self.0;
        loop {
            let node = place.get_or_init(|| new.take().expect("placed at most once"));
            if node.kind == kind {
                return &node.prepared;
            }
            place = &node.next;
        }
    }
}

impl From<Event> for PreparedEvent {
    fn from(event: Event) -> Self {
        PreparedEvent::new(event)
    }
}

impl Clone for PreparedEvent {
    /// The same event, with no preparations.
    fn clone(&self) -> Self {
        PreparedEvent::new(self.event.clone())
    }
}

impl fmt::Debug for PreparedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedEvent")
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

/// What [`ctx::record_event`](crate::ctx::record_event) and
/// [`Ctx::record_event`](crate::Ctx::record_event) take: an [`Event`] (by value or by
/// reference) or a [`PreparedEvent`] (by reference, so it keeps its preparation).
///
/// # Examples
///
/// ```
/// use haiway::event::{PreparedEvent, Recordable};
/// use haiway::Event;
///
/// fn name_of(event: impl Recordable) -> String {
///     event.event().name().to_owned()
/// }
///
/// assert_eq!(name_of(Event::info("a")), "a");
/// assert_eq!(name_of(&Event::info("b")), "b");
/// assert_eq!(name_of(&PreparedEvent::new(Event::info("c"))), "c");
/// ```
pub trait Recordable {
    /// The event to record.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::event::Recordable;
    ///
    /// assert_eq!(haiway::Event::info("a").event().name(), "a");
    /// ```
    fn event(&self) -> &Event;

    /// The event with the place for its preparation, when it has one. The default:
    /// none.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::event::{PreparedEvent, Recordable};
    ///
    /// assert!(haiway::Event::info("a").prepared_event().is_none());
    /// let prepared = PreparedEvent::new(haiway::Event::info("a"));
    /// assert!(prepared.prepared_event().is_some());
    /// ```
    fn prepared_event(&self) -> Option<&PreparedEvent> {
        None
    }
}

impl Recordable for Event {
    #[inline]
    fn event(&self) -> &Event {
        self
    }
}

impl Recordable for PreparedEvent {
    #[inline]
    fn event(&self) -> &Event {
        &self.event
    }

    #[inline]
    fn prepared_event(&self) -> Option<&PreparedEvent> {
        Some(self)
    }
}

impl<T: Recordable + ?Sized> Recordable for &T {
    #[inline]
    fn event(&self) -> &Event {
        (**self).event()
    }

    #[inline]
    fn prepared_event(&self) -> Option<&PreparedEvent> {
        (**self).prepared_event()
    }
}
