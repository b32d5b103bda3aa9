//! [`PreparedEvent`]: an event built once and recorded many times, which keeps what a
//! recorder prepared for it; and [`Recordable`], what the `record_event` functions take.

use std::fmt;
use std::sync::OnceLock;

use super::data::Event;
use super::recorder::{Prepared, Recorder};
use super::scope::ScopeInfo;

/// An [`Event`] built once and recorded many times, which keeps what the recorder
/// worked out for it ([`Recorder::prepare`]): the cache builds its `cache.hit`,
/// `cache.miss` and `cache.evict` events this way, once per cache.
///
/// The first recorder that receives the event and prepares something for it leaves
/// its [`Prepared`] here; from then on each recording hands that preparation to
/// [`Recorder::record_prepared`], so a recorder does its per-event work (finding a
/// `tracing` callsite, converting attributes for OpenTelemetry, copying the event)
/// once per event instead of once per recording. Record it by reference with
/// [`ctx::record_event`](crate::ctx::record_event). The preparation is dropped with
/// the event; a clone starts with none.
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
/// assert!(tick.prepared().is_some()); // MemoryRecorder keeps one shared copy
/// ```
pub struct PreparedEvent {
    /// The event.
    event: Event,
    /// The first preparation a recorder made for it.
    prepared: OnceLock<Prepared>,
}

impl PreparedEvent {
    /// Wraps `event`, with no preparation yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let hit = haiway::event::PreparedEvent::new(haiway::Event::debug("cache.hit"));
    /// assert!(hit.prepared().is_none());
    /// ```
    pub fn new(event: Event) -> Self {
        PreparedEvent {
            event,
            prepared: OnceLock::new(),
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

    /// The preparation kept for the event, if a recorder made one.
    ///
    /// # Examples
    ///
    /// ```
    /// let hit = haiway::event::PreparedEvent::new(haiway::Event::debug("cache.hit"));
    /// assert!(hit.prepared().is_none()); // no recorder has seen it
    /// ```
    #[inline]
    pub fn prepared(&self) -> Option<&Prepared> {
        self.prepared.get()
    }

    /// Hands the event to `recorder`, recorded in `scope`: with its preparation when it
    /// keeps one, else asking `recorder` to prepare it first.
    #[inline]
    pub(crate) fn record_to(&self, recorder: &dyn Recorder, scope: &ScopeInfo) {
        match self.prepared.get() {
            Some(prepared) => recorder.record_prepared(scope, &self.event, prepared),
            None => self.prepare_and_record(recorder, scope),
        }
    }

    /// [`record_to`](Self::record_to) with no preparation kept yet.
    fn prepare_and_record(&self, recorder: &dyn Recorder, scope: &ScopeInfo) {
        let Some(prepared) = recorder.prepare(&self.event) else {
            return recorder.record(scope, &self.event);
        };
        // Two threads may prepare at once: the first to finish is kept, for both.
        let prepared = match self.prepared.set(prepared) {
            Ok(()) | Err(_) => self.prepared.get().expect("a preparation was just kept"),
        };
        recorder.record_prepared(scope, &self.event, prepared);
    }
}

impl From<Event> for PreparedEvent {
    fn from(event: Event) -> Self {
        PreparedEvent::new(event)
    }
}

impl Clone for PreparedEvent {
    /// The same event, with no preparation yet.
    fn clone(&self) -> Self {
        PreparedEvent::new(self.event.clone())
    }
}

impl fmt::Debug for PreparedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedEvent")
            .field("event", &self.event)
            .field("prepared", &self.prepared.get().is_some())
            .finish()
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
