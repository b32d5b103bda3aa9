//! What a recorder learns of the scope an event was recorded in: [`ScopeInfo`], with
//! the scope's [`ScopeId`] and its tree's [`TraceId`].
//!
//! The context (`crate::ctx`) builds one `ScopeInfo` per scope and lends it with every
//! event; this module knows nothing of the context itself.

use std::fmt;
use std::sync::Arc;

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
    /// The id `id` (never zero: the context draws it).
    pub(crate) const fn new(id: u64) -> Self {
        ScopeId(id)
    }

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
    /// The id `id` (never zero: the context draws it).
    pub(crate) const fn new(id: u128) -> Self {
        TraceId(id)
    }

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

/// What a [`Recorder`](super::Recorder) learns of the scope an event was recorded in:
/// its name, its id, its parent's id and the trace id of its tree.
///
/// Each scope has one, built when the scope starts; recorders get it by reference
/// with every event ([`Recorder::record`](super::Recorder::record)) and when the scope
/// opens ([`Recorder::open_scope`](super::Recorder::open_scope)). Outside a recorder,
/// [`Ctx::info`](crate::Ctx::info) gives the current scope's.
///
/// # Examples
///
/// ```
/// use haiway::{Ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// Scope::new("outer")
///     .run(async {
///         let outer = Ctx::current().info().clone();
///         let inner = Scope::new("inner").run(async { Ctx::current().info().clone() }).await;
///         assert_eq!(inner.name(), "inner");
///         assert_eq!(inner.parent_id(), Some(outer.id()));
///         assert_eq!(inner.trace_id(), outer.trace_id());
///         assert_eq!(outer.parent_id(), None);
///     })
///     .await;
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeInfo {
    /// The scope's name.
    name: Arc<str>,
    /// The scope's id.
    id: ScopeId,
    /// The enclosing scope's id; `None` for a root scope.
    parent_id: Option<ScopeId>,
    /// Shared by the whole tree of scopes.
    trace_id: TraceId,
}

impl ScopeInfo {
    /// The identity of a scope.
    pub(crate) fn new(
        name: Arc<str>,
        id: ScopeId,
        parent_id: Option<ScopeId>,
        trace_id: TraceId,
    ) -> Self {
        ScopeInfo {
            name,
            id,
            parent_id,
            trace_id,
        }
    }

    /// The scope's name.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("job").run(async {
    /// assert_eq!(haiway::Ctx::current().info().name(), "job");
    /// # }));
    /// ```
    #[inline]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scope's name as a shared string: a clone is a reference count, not a copy.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("job").run(async {
    /// let name: std::sync::Arc<str> = haiway::Ctx::current().info().name_arc().clone();
    /// assert_eq!(&*name, "job");
    /// # }));
    /// ```
    #[inline]
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The scope's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("job").run(async {
    /// let ctx = haiway::Ctx::current();
    /// assert_eq!(ctx.info().id(), ctx.id());
    /// # }));
    /// ```
    #[inline]
    pub fn id(&self) -> ScopeId {
        self.id
    }

    /// The id of the enclosing scope, or `None` for a root scope.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("root").run(async {
    /// assert_eq!(haiway::Ctx::current().info().parent_id(), None);
    /// # }));
    /// ```
    #[inline]
    pub fn parent_id(&self) -> Option<ScopeId> {
        self.parent_id
    }

    /// The trace id shared by every scope of the tree.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(haiway::Scope::new("job").run(async {
    /// let ctx = haiway::Ctx::current();
    /// assert_eq!(ctx.info().trace_id(), ctx.trace_id());
    /// # }));
    /// ```
    #[inline]
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
}
