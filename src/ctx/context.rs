//! [`Ctx`]: what a scope's context holds (its identity, spawner, recorder, tasks and
//! span) and tells.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::owner::{Owner, OwnerChoice};
use super::state_map::StateMap;
use super::task_set::TaskSet;
use crate::event::{Level, ScopeId, ScopeInfo, ScopeSpan, SharedRecorder, TraceId};
use crate::runtime::Spawn;

/// A random non-zero `u64`: std's per-process random hasher keys over a counter.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish().max(1)
}

/// What the current scope's recorder wants, as the slot keeps it: the least severe
/// [`Level`] as a number (`Level::Debug as u8` and up), or [`WANTS_NOTHING`].
pub(crate) type Wanted = u8;

/// [`Wanted`]: no event at all (no recorder, or one that wants none).
pub(crate) const WANTS_NOTHING: Wanted = Level::Error as u8 + 1;

/// A handle to the context of the scope the code runs in.
///
/// Cheap to clone (one reference count). Holds the scope's identity, its spawner, its
/// recorder and its [state](Ctx::state). Get the current one with [`Ctx::current`] or
/// [`Ctx::try_current`].
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
    /// The scope's name, id, parent id and trace id: what its recorder learns.
    info: ScopeInfo,
    /// The enclosing scope, if any.
    parent: Option<Ctx>,
    /// Where spawned tasks run; `None`: the scope drives them itself.
    spawner: Option<Arc<dyn Spawn>>,
    /// Where events go; `None`: nowhere, at no cost.
    recorder: Option<SharedRecorder>,
    /// The scope's tasks.
    tasks: Arc<TaskSet>,
    /// What the recorder attached to the scope when it started (a span, say): entered
    /// around every poll of the scope's code. Set at most once, right after creation.
    /// Shared with the contexts [`updated`](Ctx::updated) from this one.
    span: OnceLock<Arc<dyn ScopeSpan>>,
    /// The typed values the scope provides (its own over its parent's).
    state: StateMap,
    /// The nearest background owner: this scope's own (it was marked
    /// [`Scope::background`](crate::Scope::background)) or its parent's; `None`: the
    /// process-wide one.
    background: Option<Arc<Owner>>,
}

const _: () = {
    const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Ctx>();
};

impl Ctx {
    /// Builds the context of a new scope nested in `parent` (or a root scope).
    /// `owner`: where the background tasks spawned below the scope go.
    pub(crate) fn new(
        name: Arc<str>,
        parent: Option<Ctx>,
        spawner: Option<Arc<dyn Spawn>>,
        recorder: Option<SharedRecorder>,
        state: StateMap,
        owner: OwnerChoice,
    ) -> Ctx {
        let trace_id = match &parent {
            Some(p) => p.trace_id(),
            None => TraceId::new(((random_u64() as u128) << 64) | random_u64() as u128),
        };
        let info = ScopeInfo::new(
            name,
            ScopeId::new(random_u64()),
            parent.as_ref().map(Ctx::id),
            trace_id,
        );
        let background = match owner {
            OwnerChoice::Own => Some(Owner::owned_by(&info, spawner.clone(), recorder.clone())),
            OwnerChoice::Given(owner) => Some(owner),
            OwnerChoice::Inherit => parent.as_ref().and_then(|p| p.inner.background.clone()),
        };
        Ctx {
            inner: Arc::new(Inner {
                info,
                parent,
                spawner,
                recorder,
                tasks: Arc::new(TaskSet::new()),
                span: OnceLock::new(),
                state,
                background,
            }),
        }
    }

    /// The context a background task of `origin` runs in: a child of `origin` with its
    /// name and trace id (and an id of its own), its recorder, span and state, but the task set of its owner
    /// (`tasks`) and the spawner the owner picked, so the tasks it spawns belong to the
    /// owner too. `origin` is `None` outside any scope: a root scope named
    /// `"background"`.
    pub(crate) fn for_background(
        origin: Option<&Ctx>,
        tasks: Arc<TaskSet>,
        spawner: Arc<dyn Spawn>,
        background: Option<Arc<Owner>>,
    ) -> Ctx {
        let Some(origin) = origin else {
            let root = Ctx::new(
                Arc::from("background"),
                None,
                Some(spawner),
                None,
                StateMap::default(),
                OwnerChoice::Inherit,
            );
            let mut inner = Arc::into_inner(root.inner).expect("not shared yet");
            inner.tasks = tasks;
            inner.background = background;
            return Ctx {
                inner: Arc::new(inner),
            };
        };
        let from = &origin.inner;
        let span = OnceLock::new();
        if let Some(s) = from.span.get() {
            let _ = span.set(s.clone());
        }
        // A scope of its own under `origin`, with its name and trace id: events read
        // as the request's, and what tells scopes apart by id (the cache's spawn
        // marks) sees a scope whose tasks are not `origin`'s.
        let info = ScopeInfo::new(
            from.info.name_arc().clone(),
            ScopeId::new(random_u64()),
            Some(from.info.id()),
            from.info.trace_id(),
        );
        Ctx {
            inner: Arc::new(Inner {
                info,
                parent: Some(origin.clone()),
                spawner: Some(spawner),
                recorder: from.recorder.clone(),
                tasks,
                span,
                state: from.state.clone(),
                background,
            }),
        }
    }

    /// The nearest background owner (`None`: the process-wide one).
    #[inline]
    pub(crate) fn background_owner(&self) -> Option<&Arc<Owner>> {
        self.inner.background.as_ref()
    }

    /// The same scope (name, id, parent, spawner, recorder, task set and span) with
    /// `state` instead of its own: what [`ctx::updating`](crate::ctx::updating) runs in.
    pub(crate) fn updated(&self, state: StateMap) -> Ctx {
        let inner = &self.inner;
        let span = OnceLock::new();
        if let Some(s) = inner.span.get() {
            let _ = span.set(s.clone());
        }
        Ctx {
            inner: Arc::new(Inner {
                info: inner.info.clone(),
                parent: inner.parent.clone(),
                spawner: inner.spawner.clone(),
                recorder: inner.recorder.clone(),
                tasks: inner.tasks.clone(),
                span,
                state,
                background: inner.background.clone(),
            }),
        }
    }

    /// The typed values this scope provides.
    #[inline]
    pub(crate) fn state_set(&self) -> &StateMap {
        &self.inner.state
    }

    /// Asks the recorder, if any, for the scope's [`ScopeSpan`] and attaches it. Called
    /// once, when the scope starts.
    pub(crate) fn open_span(&self) {
        if let Some(recorder) = &self.inner.recorder {
            if let Some(span) = recorder.get().open_scope(&self.inner.info) {
                // Only the scope's creator calls this, once: the cell is empty.
                let _ = self.inner.span.set(Arc::from(span));
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
        self.inner.info.name()
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
        self.inner.info.id()
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
        self.inner.info.trace_id()
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
        self.inner.info.parent_id()
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

    /// What this scope's recorder learns of it: its name, id, parent id and trace id.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("job")
    ///     .run(async {
    ///         let ctx = Ctx::current();
    ///         assert_eq!(ctx.info().name(), "job");
    ///         assert_eq!(ctx.info().id(), ctx.id());
    ///     })
    ///     .await;
    /// # });
    /// ```
    #[inline]
    pub fn info(&self) -> &ScopeInfo {
        &self.inner.info
    }

    /// Whether this scope's recorder is [enabled](crate::Recorder::enabled) at `level` (`false`
    /// without one).
    #[inline]
    pub(crate) fn wants(&self, level: Level) -> bool {
        self.inner
            .recorder
            .as_ref()
            .is_some_and(|recorder| recorder.get().enabled(level))
    }

    /// What this scope's recorder wants right now ([`Recorder::min_level`](crate::Recorder::min_level)), as the
    /// slot keeps it while the scope's code runs.
    #[inline]
    pub(crate) fn wanted(&self) -> Wanted {
        match &self.inner.recorder {
            None => WANTS_NOTHING,
            Some(recorder) => recorder
                .get()
                .min_level()
                .map_or(WANTS_NOTHING, |level| level as Wanted),
        }
    }

    /// The spawner this scope uses, if any (its own or inherited).
    #[inline]
    pub(crate) fn spawner(&self) -> Option<&Arc<dyn Spawn>> {
        self.inner.spawner.as_ref()
    }

    /// The recorder this scope uses, if any (its own or inherited).
    #[inline]
    pub(crate) fn recorder(&self) -> Option<&SharedRecorder> {
        self.inner.recorder.as_ref()
    }

    /// The scope's task set.
    #[inline]
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
            .field("state", &self.inner.state)
            .finish()
    }
}
