//! The context: [`Ctx`], [`Scope`], spawning and event recording.
//!
//! A [`Scope`] runs a future with a [`Ctx`] current. The `Ctx` carries the scope's
//! identity (name, id, parent, trace id), a spawner and a recorder; code anywhere below
//! reaches it with [`Ctx::current`] or the free functions of this module, which read
//! like haiway's `ctx.spawn` and `ctx.record_event`:
//!
//! ```
//! use haiway::{ctx, Event, MemoryRecorder, Scope};
//!
//! async fn handler() -> u32 {
//!     ctx::record_event(Event::info("handler.start"));
//!     let task = ctx::spawn(async { 40 + 2 });
//!     task.await
//! }
//!
//! let recorder = MemoryRecorder::new();
//! # futures_lite::future::block_on(async {
//! let out = Scope::new("request").recorder(recorder.clone()).run(handler()).await;
//! assert_eq!(out, 42);
//! # });
//! assert_eq!(recorder.names(), ["handler.start"]);
//! ```

mod scope;
mod slot;
mod task;

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

pub use self::scope::{Run, Scope};
pub use self::task::{SpawnError, SpawnErrorKind, Task};

use self::task::TaskSet;
use crate::event::{Event, Level, Recorder, ScopeSpan};
use crate::runtime::Spawn;

/// The identity of one scope, unique within the process (and random across processes).
///
/// # Examples
///
/// ```
/// use haiway::{Ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// Scope::new("job")
///     .run(async {
///         let id = Ctx::current().id();
///         assert_eq!(id.to_string().len(), 16); // 16 hex digits
///     })
///     .await;
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(u64);

impl ScopeId {
    /// The id as a number (never zero).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("a").run(async {
    /// assert_ne!(haiway::Ctx::current().id().get(), 0);
    /// # }));
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The id shared by a root scope and every scope nested in it: one trace.
///
/// Random 128 bits, displayed as 32 hex digits (the W3C trace-context shape).
///
/// # Examples
///
/// ```
/// use haiway::{Ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// Scope::new("outer")
///     .run(async {
///         let outer = Ctx::current().trace_id();
///         let inner = Scope::new("inner").run(async { Ctx::current().trace_id() }).await;
///         assert_eq!(outer, inner);
///         assert_eq!(outer.to_string().len(), 32);
///     })
///     .await;
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// The id as a number (never zero).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("a").run(async {
    /// assert_ne!(haiway::Ctx::current().trace_id().get(), 0);
    /// # }));
    /// ```
    pub fn get(self) -> u128 {
        self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A random non-zero `u64`: std's per-process random hasher keys over a counter.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish().max(1)
}

/// A handle to the context of the scope the code runs in.
///
/// Cheap to clone (one reference count). Holds the scope's identity, its spawner and
/// its recorder. Get the current one with [`Ctx::current`] or [`Ctx::try_current`].
///
/// # Examples
///
/// ```
/// use haiway::{Ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// Scope::new("request")
///     .run(async {
///         let ctx = Ctx::current();
///         assert_eq!(ctx.name(), "request");
///         assert!(ctx.parent_id().is_none());
///     })
///     .await;
/// # });
/// assert!(Ctx::try_current().is_none());
/// ```
#[derive(Clone)]
pub struct Ctx {
    /// Shared by every clone.
    inner: Arc<Inner>,
}

/// What a [`Ctx`] holds.
struct Inner {
    /// The scope's name.
    name: Arc<str>,
    /// The scope's id.
    id: ScopeId,
    /// Shared by the whole tree of scopes.
    trace_id: TraceId,
    /// The enclosing scope, if any.
    parent: Option<Ctx>,
    /// Where spawned tasks run; `None`: the scope drives them itself.
    spawner: Option<Arc<dyn Spawn>>,
    /// Where events go; `None`: nowhere, at no cost.
    recorder: Option<Arc<dyn Recorder>>,
    /// The scope's tasks.
    tasks: Arc<TaskSet>,
    /// What the recorder attached to the scope when it started (a span, say): entered
    /// around every poll of the scope's code. Set at most once, right after creation.
    span: OnceLock<Box<dyn ScopeSpan>>,
}

const _: () = {
    const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Ctx>();
};

impl Ctx {
    /// The current context.
    ///
    /// # Panics
    ///
    /// Outside any scope, with a message that says to wrap the code in
    /// [`Scope::run`]. Use [`Ctx::try_current`] where that can happen. Inside a
    /// [`Recorder`] no scope is current either (see [`Recorder::record`]): use the
    /// `scope` it is given.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// let name = Scope::new("job").run(async { Ctx::current().name().to_owned() }).await;
    /// assert_eq!(name, "job");
    /// # });
    /// ```
    #[track_caller]
    pub fn current() -> Ctx {
        match Ctx::try_current() {
            Some(ctx) => ctx,
            None => no_scope(),
        }
    }

    /// The current context, or `None` outside any scope.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(haiway::Ctx::try_current().is_none());
    /// ```
    #[inline]
    pub fn try_current() -> Option<Ctx> {
        slot::with(|ctx| ctx.cloned())
    }

    /// Builds the context of a new scope nested in `parent` (or a root scope).
    pub(crate) fn new(
        name: Arc<str>,
        parent: Option<Ctx>,
        spawner: Option<Arc<dyn Spawn>>,
        recorder: Option<Arc<dyn Recorder>>,
    ) -> Ctx {
        let trace_id = match &parent {
            Some(p) => p.inner.trace_id,
            None => TraceId(((random_u64() as u128) << 64) | random_u64() as u128),
        };
        Ctx {
            inner: Arc::new(Inner {
                name,
                id: ScopeId(random_u64()),
                trace_id,
                parent,
                spawner,
                recorder,
                tasks: Arc::new(TaskSet::new()),
                span: OnceLock::new(),
            }),
        }
    }

    /// Asks the recorder, if any, for the scope's [`ScopeSpan`] and attaches it. Called
    /// once, when the scope starts.
    pub(crate) fn open_span(&self) {
        if let Some(recorder) = &self.inner.recorder {
            if let Some(span) = recorder.open_scope(self) {
                // Only the scope's creator calls this, once: the cell is empty.
                let _ = self.inner.span.set(span);
            }
        }
    }

    /// The scope's [`ScopeSpan`], if its recorder attached one.
    #[inline]
    pub(crate) fn span(&self) -> Option<&dyn ScopeSpan> {
        self.inner.span.get().map(|span| &**span)
    }

    /// The scope's name.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("job").run(async {
    /// assert_eq!(haiway::Ctx::current().name(), "job");
    /// # }));
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The scope's name as a shared string (no copy).
    pub(crate) fn name_arc(&self) -> Arc<str> {
        self.inner.name.clone()
    }

    /// The scope's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("job").run(async {
    /// let ctx = haiway::Ctx::current();
    /// assert_eq!(ctx.id(), ctx.clone().id());
    /// # }));
    /// ```
    pub fn id(&self) -> ScopeId {
        self.inner.id
    }

    /// The trace id shared by every scope of this tree.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("job").run(async {
    /// let _trace = haiway::Ctx::current().trace_id();
    /// # }));
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.inner.trace_id
    }

    /// The id of the enclosing scope, or `None` for a root scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("outer")
    ///     .run(async {
    ///         let outer = Ctx::current().id();
    ///         let parent = Scope::new("inner").run(async { Ctx::current().parent_id() }).await;
    ///         assert_eq!(parent, Some(outer));
    ///     })
    ///     .await;
    /// # });
    /// ```
    pub fn parent_id(&self) -> Option<ScopeId> {
        self.inner.parent.as_ref().map(Ctx::id)
    }

    /// The enclosing scope's context, or `None` for a root scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("outer")
    ///     .run(async {
    ///         let parent = Scope::new("inner").run(async { Ctx::current().parent().cloned() }).await;
    ///         assert_eq!(parent.unwrap().name(), "outer");
    ///     })
    ///     .await;
    /// # });
    /// ```
    pub fn parent(&self) -> Option<&Ctx> {
        self.inner.parent.as_ref()
    }

    /// Whether this scope has a recorder: whether recording an event here reaches anyone.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, MemoryRecorder, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// assert!(!Scope::new("a").run(async { Ctx::current().is_recording() }).await);
    /// let on = Scope::new("b").recorder(MemoryRecorder::new());
    /// assert!(on.run(async { Ctx::current().is_recording() }).await);
    /// # });
    /// ```
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.inner.recorder.is_some()
    }

    /// Whether this scope's recorder is [enabled](Recorder::enabled) at `level` (`false`
    /// without one).
    #[inline]
    fn wants(&self, level: Level) -> bool {
        self.inner
            .recorder
            .as_ref()
            .is_some_and(|recorder| recorder.enabled(level))
    }

    /// Records `event` (an [`Event`] or a reference to one) in this scope: hands it to
    /// the scope's recorder, if it has one and that recorder is
    /// [enabled](Recorder::enabled) at the event's level.
    ///
    /// While the recorder runs, no scope is current on this thread (see
    /// [`Recorder::record`]).
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
    pub fn record_event(&self, event: impl Borrow<Event>) {
        let event = event.borrow();
        if let Some(recorder) = &self.inner.recorder {
            // From inside a recorder: dropped, so no recorder calls itself back.
            if recorder.enabled(event.level()) && !slot::lending() {
                slot::lend(|_| recorder.record(self, event));
            }
        }
    }

    /// Spawns `future` as a task of this scope and returns its handle.
    ///
    /// The task runs with this `Ctx` current, on the scope's spawner, or, when no scope
    /// up the tree has one, driven by the scope itself alongside its body. The scope
    /// does not finish before the task does.
    ///
    /// # Panics
    ///
    /// If this `Ctx`'s scope has already finished. Use [`Ctx::try_spawn`] where that can
    /// happen.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// let out = Scope::new("job")
    ///     .run(async { Ctx::current().spawn(async { 1 + 1 }).await })
    ///     .await;
    /// assert_eq!(out, 2);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.try_spawn(future) {
            Ok(task) => task,
            Err(err) => spawn_failed(&err),
        }
    }

    /// Spawns `future` as a task of this scope, or hands it back in an error if the
    /// scope has already finished.
    ///
    /// # Errors
    ///
    /// [`SpawnErrorKind::ScopeEnded`] when the scope has finished or its future was
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx::SpawnErrorKind, Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// let ctx = Scope::new("job").run(async { Ctx::current() }).await;
    /// let err = ctx.try_spawn(async {}).unwrap_err();
    /// assert_eq!(err.kind(), SpawnErrorKind::ScopeEnded);
    /// # });
    /// ```
    pub fn try_spawn<F>(&self, future: F) -> Result<Task<F::Output>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        task::spawn(self, future)
    }

    /// The spawner this scope uses, if any (its own or inherited).
    pub(crate) fn spawner(&self) -> Option<&Arc<dyn Spawn>> {
        self.inner.spawner.as_ref()
    }

    /// The recorder this scope uses, if any (its own or inherited).
    pub(crate) fn recorder(&self) -> Option<&Arc<dyn Recorder>> {
        self.inner.recorder.as_ref()
    }

    /// The scope's task set.
    pub(crate) fn tasks(&self) -> &Arc<TaskSet> {
        &self.inner.tasks
    }
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("name", &self.name())
            .field("id", &self.id())
            .field("trace_id", &self.trace_id())
            .field("parent_id", &self.parent_id())
            .field("has_spawner", &self.inner.spawner.is_some())
            .field("has_recorder", &self.inner.recorder.is_some())
            .field("has_span", &self.inner.span.get().is_some())
            .finish()
    }
}

#[cold]
#[track_caller]
fn no_scope() -> ! {
    if slot::lending() {
        panic!(
            "haiway: no scope is current inside a `Recorder`: use the `scope: &Ctx` argument \
             of `Recorder::record` instead of `Ctx::current()` or the `ctx::` functions"
        )
    }
    panic!(
        "haiway: no scope is current. Wrap this code in `haiway::Scope::new(\"name\").run(async {{ .. }})`, \
         or use `Ctx::try_current()` where running outside a scope is expected"
    )
}

#[cold]
#[track_caller]
fn spawn_failed<F>(err: &SpawnError<F>) -> ! {
    panic!("haiway: {err}. Use `try_spawn` to handle this case")
}

/// Spawns `future` in the current scope; see [`Ctx::spawn`].
///
/// # Panics
///
/// Outside any scope. Use [`try_spawn`] where that can happen.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// let out = Scope::new("job").run(async { ctx::spawn(async { 3 }).await }).await;
/// assert_eq!(out, 3);
/// # });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match try_spawn(future) {
        Ok(task) => task,
        Err(err) => spawn_failed(&err),
    }
}

/// Spawns `future` in the current scope, or hands it back in an error when there is no
/// current scope.
///
/// # Errors
///
/// [`SpawnErrorKind::NoScope`] outside any scope.
///
/// # Examples
///
/// ```
/// use haiway::ctx::{self, SpawnErrorKind};
///
/// assert_eq!(ctx::try_spawn(async {}).unwrap_err().kind(), SpawnErrorKind::NoScope);
/// ```
pub fn try_spawn<F>(future: F) -> Result<Task<F::Output>, SpawnError<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Ctx::try_current() {
        Some(ctx) => ctx.try_spawn(future),
        None => Err(SpawnError::new(SpawnErrorKind::NoScope, future)),
    }
}

/// Records `event` (an [`Event`] or a reference to one) in the current scope. Outside
/// any scope, with no recorder, or when the recorder is not
/// [enabled](Recorder::enabled) at the event's level, does nothing (and allocates
/// nothing).
///
/// While the recorder runs, no scope is current on this thread (see
/// [`Recorder::record`]).
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Event, MemoryRecorder, Scope};
///
/// ctx::record_event(Event::info("ignored")); // no scope: a no-op
///
/// // Built once, recorded by reference as often as needed.
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
pub fn record_event(event: impl Borrow<Event>) {
    // Until a recorder exists anywhere, this is one relaxed load, inlined into the
    // caller (the cache records on every call); the rest is out of line.
    if ANY_RECORDER.load(Ordering::Relaxed) {
        record_in_scope(event.borrow());
    }
}

/// [`record_event`] once some recorder exists: out of line, so the callers' hot paths
/// carry only the check.
#[inline(never)]
fn record_in_scope(event: &Event) {
    hand_over(event, |ctx| ctx.wants(event.level()));
}

/// Records the event built by `make` in the current scope, calling `make` only when a
/// recorder will receive an event at `level`: there is a current scope, it has a
/// recorder, and the recorder is [enabled](Recorder::enabled) at `level`. Use it for
/// events with attributes on hot paths; `make` should return an event at `level`.
///
/// `make` runs with the scope current, after [`Recorder::enabled`] and before
/// [`Recorder::record`]. If it returns an event at another level, the recorder is asked
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
    if ANY_RECORDER.load(Ordering::Relaxed) && current_wants(level) {
        let event = make();
        hand_over(&event, |ctx| {
            event.level() == level || ctx.wants(event.level())
        });
    }
}

/// Whether the current scope has a recorder: whether an event recorded now would
/// reach one (if the recorder is [enabled](Recorder::enabled) at its level, which
/// this does not ask).
///
/// # Examples
///
/// ```
/// assert!(!haiway::ctx::is_recording());
/// ```
#[inline]
pub fn is_recording() -> bool {
    if !ANY_RECORDER.load(Ordering::Relaxed) {
        return false;
    }
    slot::with(|ctx| ctx.is_some_and(Ctx::is_recording))
}

/// A mark of where spawning stands in the current scope: its id XOR how many tasks
/// were spawned in it so far (0 outside any scope). Two different marks taken by one
/// computation mean it may have spawned into the scope it started in (or moved to
/// another scope) in between. Within one scope the mark changes with every spawn;
/// two scopes (ids are random) give equal marks with probability 2^-64. One word, so
/// a call's lead stays small.
#[inline]
pub(crate) fn spawn_mark() -> u64 {
    slot::with(|ctx| ctx.map_or(0, |ctx| ctx.inner.id.0 ^ ctx.inner.tasks.spawned()))
}

/// Whether any scope with a recorder was ever created in this process. Until then,
/// recording skips even the thread-local read.
static ANY_RECORDER: AtomicBool = AtomicBool::new(false);

/// Notes that a recorder exists (called when a scope gets one).
pub(crate) fn recorder_set() {
    if !ANY_RECORDER.load(Ordering::Relaxed) {
        ANY_RECORDER.store(true, Ordering::Relaxed);
    }
}

// `ANY_RECORDER` is read with `Relaxed`: a scope's recorder is set before its body
// runs, and the body is polled after the `Scope` was built (a happens-before edge of
// its own).

/// Whether the current scope's recorder is [enabled](Recorder::enabled) at `level`.
/// Asked with the slot borrowed (cheaper than lending it), which `enabled`'s contract
/// allows: it only compares levels.
fn current_wants(level: Level) -> bool {
    // While a recorder runs, events are dropped: not worth building.
    !slot::lending() && slot::with(|ctx| ctx.is_some_and(|ctx| ctx.wants(level)))
}

/// Hands `event` to the current scope's recorder if `wants` (asked with the scope's
/// `Ctx`) says so. The context is lent, not cloned: no reference counting on the way
/// to the recorder, and one visit to the thread-local for the question and the loan.
#[inline]
fn hand_over(event: &Event, wants: impl FnOnce(&Ctx) -> bool) {
    slot::lend_if(wants, |ctx| {
        if let Some(recorder) = &ctx.inner.recorder {
            recorder.record(ctx, event);
        }
    });
}
