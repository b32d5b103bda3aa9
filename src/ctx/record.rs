//! Recording events: [`record_event`], [`record_event_with`] and
//! [`Ctx::record_event`] hand events to the recorder of a scope.

use super::context::Ctx;
use super::slot;
use crate::event::{Event, Level, PreparedEvent, Recordable};

impl Ctx {
    /// Records `event` (an [`Event`], a reference to one, or a reference to a
    /// [`PreparedEvent`](crate::event::PreparedEvent)) in this scope: hands it to the
    /// scope's recorder, if it has one and that recorder is
    /// [enabled](crate::Recorder::enabled) at the event's level. Unlike [`record_event`],
    /// it works on any `Ctx`, current or not, and asks `enabled` every time.
    ///
    /// While the recorder runs, no scope is current on this thread (see
    /// [`Recorder::record`](crate::Recorder::record)).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Event, MemoryRecorder, Scope};
    ///
    /// let recorder = MemoryRecorder::new();
    /// # futures_lite::future::block_on(async {
    /// Scope::new("job")
    ///     .recorder(recorder.clone())
    ///     .run(async { Ctx::current().record_event(Event::info("step")) })
    ///     .await;
    /// # });
    /// assert_eq!(recorder.count("step"), 1);
    /// ```
    #[inline]
    pub fn record_event(&self, event: impl Recordable) {
        let (event, prepared) = (event.event(), event.prepared_event());
        if let Some(recorder) = self.recorder() {
            // From inside a recorder: dropped, so no recorder calls itself back.
            if slot::ask(|| recorder.get().enabled(event.level())) {
                slot::lend(|_| recorder.record(self.info(), event, prepared));
            }
        }
    }

    /// Records the event built by `make` in this scope, calling `make` only when the
    /// scope's recorder will receive an event at `level` (it has one, and it is
    /// [enabled](crate::Recorder::enabled) at `level`): [`record_event_with`] for any
    /// `Ctx`, current or not. If `make` returns an event at another level, the recorder
    /// is asked again about that level.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Event, Level, MemoryRecorder, Scope};
    ///
    /// let recorder = MemoryRecorder::new();
    /// # futures_lite::future::block_on(async {
    /// let ctx = Scope::new("job")
    ///     .recorder(recorder.clone())
    ///     .run(async { Ctx::current() })
    ///     .await;
    /// // The handle records in its scope from anywhere.
    /// ctx.record_event_with(Level::Info, || Event::info("late").with("step", 3));
    /// # });
    /// assert_eq!(recorder.count("late"), 1);
    ///
    /// // A scope without a recorder never builds the event.
    /// # futures_lite::future::block_on(async {
    /// let quiet = Scope::new("quiet").run(async { Ctx::current() }).await;
    /// quiet.record_event_with(Level::Error, || unreachable!());
    /// # });
    /// ```
    pub fn record_event_with(&self, level: Level, make: impl FnOnce() -> Event) {
        let Some(recorder) = self.recorder() else {
            return;
        };
        // From inside a recorder: dropped, so no recorder calls itself back.
        if !slot::ask(|| recorder.get().enabled(level)) {
            return;
        }
        let event = make();
        let other = event.level();
        if other == level || slot::ask(|| recorder.get().enabled(other)) {
            slot::lend(|_| recorder.record(self.info(), &event, None));
        }
    }
}

/// Records `event` (an [`Event`], a reference to one, or a reference to a
/// [`PreparedEvent`](crate::event::PreparedEvent)) in the current scope. Outside any
/// scope (see [the rule there](crate::ctx#outside-a-scope)), with no recorder, or when the recorder does not want the event's level
/// ([`Recorder::min_level`](crate::Recorder::min_level), then [`Recorder::enabled`](crate::Recorder::enabled)), does nothing (and allocates
/// nothing): an event below the recorder's [`min_level`](crate::Recorder::min_level) costs
/// one thread-local read and a comparison, inlined here.
///
/// While the recorder runs, no scope is current on this thread (see
/// [`Recorder::record`](crate::Recorder::record)).
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Event, MemoryRecorder, Scope};
///
/// ctx::record_event(Event::info("ignored")); // no scope: a no-op
///
/// // Built once, recorded by reference as often as needed (a `PreparedEvent` also
/// // keeps what the recorder works out for it).
/// let tick = Event::debug("tick").with("worker", "w1");
///
/// let recorder = MemoryRecorder::new();
/// # futures_lite::future::block_on(async {
/// Scope::new("job")
///     .recorder(recorder.clone())
///     .run(async {
///         ctx::record_event(Event::info("seen"));
///         ctx::record_event(&tick);
///         ctx::record_event(&tick);
///     })
///     .await;
/// # });
/// assert_eq!(recorder.names(), ["seen", "tick", "tick"]);
/// ```
#[inline(always)]
pub fn record_event(event: impl Recordable) {
    // One thread-local read and a comparison, inlined into the caller (the cache
    // records on every call); the rest is out of line.
    let level = event.event().level();
    if slot::wants(level) {
        record_current(event.event(), event.prepared_event());
    }
}

/// [`record_event`] of a prepared event at [`Level::Debug`] (the cache's hit, miss and
/// evict): the level is known here, so the check is one thread-local comparison with a
/// constant.
#[inline(always)]
pub(crate) fn record_debug(event: &PreparedEvent) {
    debug_assert_eq!(event.event().level(), Level::Debug, "a debug event");
    if slot::wants(Level::Debug) {
        record_current(event.event(), Some(event));
    }
}

/// [`record_event`] once the current scope's recorder wants the event's level: out of
/// line, so the callers' hot paths carry only the check.
#[inline(never)]
fn record_current(event: &Event, prepared: Option<&PreparedEvent>) {
    slot::lend_if(
        |ctx| ctx.wants(event.level()),
        |ctx| {
            if let Some(recorder) = ctx.recorder() {
                recorder.record(ctx.info(), event, prepared);
            }
        },
    );
}

/// Records the event built by `make` in the current scope, calling `make` only when a
/// recorder will receive an event at `level`: there is a current scope, it has a
/// recorder, and the recorder is [enabled](crate::Recorder::enabled) at `level`. Use it for
/// events with attributes on hot paths; `make` should return an event at `level`.
///
/// `make` runs with the scope current, after [`Recorder::enabled`](crate::Recorder::enabled) and before
/// [`Recorder::record`](crate::Recorder::record). If it returns an event at another level, the recorder is asked
/// again about that level.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Event, Level, MemoryRecorder, Scope};
///
/// // No scope: `make` is never called, nothing is allocated.
/// ctx::record_event_with(Level::Debug, || unreachable!());
///
/// let recorder = MemoryRecorder::new();
/// # futures_lite::future::block_on(async {
/// Scope::new("job")
///     .recorder(recorder.clone())
///     .run(async {
///         ctx::record_event_with(Level::Debug, || {
///             Event::debug("cache.hit").with("cache", "users")
///         })
///     })
///     .await;
/// # });
/// assert_eq!(recorder.names(), ["cache.hit"]);
/// ```
#[inline]
pub fn record_event_with(level: Level, make: impl FnOnce() -> Event) {
    if slot::wants(level) && current_wants(level) {
        let event = make();
        let other = event.level();
        slot::lend_if(
            |ctx| other == level || (slot::wants(other) && ctx.wants(other)),
            |ctx| {
                if let Some(recorder) = ctx.recorder() {
                    recorder.record(ctx.info(), &event, None);
                }
            },
        );
    }
}

/// Whether the current scope has a recorder: whether an event recorded now would
/// reach one (if the recorder is [enabled](crate::Recorder::enabled) at its level, which
/// this does not ask).
///
/// # Examples
///
/// ```
/// assert!(!haiway::ctx::is_recording());
/// ```
#[inline]
pub fn is_recording() -> bool {
    slot::with(|ctx| ctx.is_some_and(Ctx::is_recording))
}

/// Whether the current scope's recorder is [enabled](crate::Recorder::enabled) at `level`.
/// Asked with the slot borrowed (cheaper than lending it), which `enabled`'s contract
/// allows: it only compares levels.
fn current_wants(level: Level) -> bool {
    // While a recorder runs, events are dropped: not worth building.
    slot::ask(|| slot::with(|ctx| ctx.is_some_and(|ctx| ctx.wants(level))))
}
